//! The whole system's monthly cost: every AWS call the three
//! functions make over a simulated slice of a day at the deployed schedules
//! (infra/modules/control-plane/main.tf: failover `rate(1 minute)`, the other two
//! `rate(5 minutes)`), counted at the local AWS world's call log by region, scaled to
//! a month; the standing resources counted from the Terraform; each priced at AWS's
//! list prices (us-east-1, the sources named on each row), for dev and for prod; and
//! the cuts that would pay, each priced before and after.
//!
//! Only counts are measured here. The prices are constants with their sources; where
//! no pricing page could be read the row says so (`confirmed: false`).

use super::round;
use super::Options;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::runtime::FunctionProcess;
use testkit::topology::{Spec, Topology, REGIONS};
use testkit::LocalAws;

pub const DAYS_PER_MONTH: f64 = 30.0;
pub const MINUTES_PER_DAY: f64 = 1440.0;
/// Both environments deploy the same stack (infra/stack), each in its own account.
pub const ENVIRONMENTS: [&str; 2] = ["dev", "prod"];

/// The deployed schedule of each function (minutes between ticks).
pub fn schedule_minutes(function: &str) -> usize {
    match function {
        "failover" => 1,
        _ => 5,
    }
}

// ---------------------------------------------------------------- prices (USD)

const CW_PRICING: &str = "https://aws.amazon.com/cloudwatch/pricing/";
const R53_PRICING: &str = "https://aws.amazon.com/route53/pricing/";
const DDB_PRICING: &str = "https://aws.amazon.com/dynamodb/pricing/on-demand/";
const LAMBDA_PRICING: &str = "https://aws.amazon.com/lambda/pricing/";
const EB_PRICING: &str = "https://aws.amazon.com/eventbridge/pricing/";
const SNS_PRICING: &str = "https://aws.amazon.com/sns/pricing/";
const SM_PRICING: &str = "https://aws.amazon.com/secrets-manager/pricing/";
const SSM_THROUGHPUT: &str =
    "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html";
const DT_PRICING: &str = "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer";
const ARC_PRICING: &str = "https://aws.amazon.com/application-recovery-controller/pricing/";

/// A unit price with its source and whether a pricing page (or a transcription of
/// it) was read to confirm it.
#[derive(Debug, Clone, Copy)]
pub struct Price {
    pub usd: f64,
    pub per: f64,
    pub unit: &'static str,
    pub source: &'static str,
    pub confirmed: bool,
    pub note: &'static str,
}

const fn price(
    usd: f64,
    per: f64,
    unit: &'static str,
    source: &'static str,
    confirmed: bool,
    note: &'static str,
) -> Price {
    Price {
        usd,
        per,
        unit,
        source,
        confirmed,
        note,
    }
}

/// The price of one AWS call kind (`service:operation`), per call.
pub fn call_price(key: &str) -> Price {
    match key {
        "cloudwatch:PutMetricData" => price(0.01, 1000.0, "requests", CW_PRICING, true, "API requests $0.01 per 1,000"),
        // Priced per metric requested: see `month` for how many each call asks for.
        "cloudwatch:GetMetricData" => price(0.01, 1000.0, "metrics requested", CW_PRICING, true, "$0.01 per 1,000 metrics requested"),
        "cloudwatch:DescribeAlarms" => price(0.0, 1.0, "requests", CW_PRICING, false, "not in the priced API list as transcribed (upper bound if priced like other API requests: $0.01 per 1,000)"),
        "cloudwatch:ListMetrics" => price(0.01, 1000.0, "requests", CW_PRICING, true, "API requests $0.01 per 1,000"),
        "dynamodb:GetItem" => price(0.125, 1e6, "read request units", DDB_PRICING, false, "strongly consistent read of an item under 4 KB: 1 RRU; $0.125 per million RRU (us-east-1, figure from a secondary source)"),
        "dynamodb:PutItem" => price(0.625, 1e6, "write request units", DDB_PRICING, false, "item under 1 KB: 1 WRU; $0.625 per million WRU (us-east-1, figure from a secondary source)"),
        "events:PutEvents" => price(1.0, 1e6, "events", EB_PRICING, false, "custom events $1.00 per million"),
        "sns:Publish" => price(0.5, 1e6, "requests", SNS_PRICING, false, "price not confirmed"),
        "secretsmanager:DescribeSecret" | "secretsmanager:GetSecretValue" => price(0.05, 10_000.0, "API calls", SM_PRICING, false, "price not confirmed"),
        "s3:GetObject" | "s3:HeadObject" => price(0.0004, 1000.0, "requests", "https://aws.amazon.com/s3/pricing/", false, "price not confirmed"),
        "s3:ListObjectsV2" | "s3:ListObjects" => price(0.005, 1000.0, "requests", "https://aws.amazon.com/s3/pricing/", false, "price not confirmed"),
        k if k.starts_with("ssm:") => price(0.0, 1.0, "requests", SSM_THROUGHPUT, true, "standard parameters at the default (standard) throughput: no additional cost"),
        k if k.starts_with("route53:") => price(0.0, 1.0, "requests", R53_PRICING, true, "no API request line on the Route 53 pricing page"),
        k if k.starts_with("lambda:") => price(0.0, 1.0, "requests", LAMBDA_PRICING, true, "control-plane API calls are not billed; Lambda bills invocations and duration"),
        k if k.starts_with("ecr:") => price(0.0, 1.0, "requests", "https://aws.amazon.com/ecr/pricing/", false, "ECR bills storage and transfer, not API calls (not confirmed)"),
        k if k.starts_with("sts:") => price(0.0, 1.0, "requests", "https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html", false, "no charge (not confirmed)"),
        _ => price(0.0, 1.0, "requests", "", false, "price not confirmed"),
    }
}

const CUSTOM_METRIC: Price = price(0.30, 1.0, "metric-months", CW_PRICING, true, "first 10,000 metrics $0.30 per metric per month; a metric is namespace + name + dimensions, per region");
const ALARM_METRIC: Price = price(
    0.10,
    1.0,
    "alarm metric-months",
    CW_PRICING,
    true,
    "standard resolution $0.10 per alarm metric per month (a metric-math alarm pays per metric)",
);
const DASHBOARD: Price = price(
    3.0,
    1.0,
    "dashboard-months",
    CW_PRICING,
    true,
    "$3 per dashboard per month after the first 3 per account (free tier)",
);
const HEALTH_CHECK_BASIC: Price = price(
    0.50,
    1.0,
    "check-months",
    R53_PRICING,
    true,
    "basic health check, AWS endpoint, $0.50 per month",
);
const HEALTH_CHECK_FEATURE: Price = price(1.0, 1.0, "feature-months", R53_PRICING, true, "optional feature, AWS endpoint, $1.00 per feature per month (which features: HTTPS, string matching, fast interval, latency measurement — list not in the text read)");
const HEALTH_CHECK_OTHER: Price = price(
    0.50,
    1.0,
    "check-months",
    R53_PRICING,
    false,
    "calculated and CloudWatch-metric checks billed as basic AWS-endpoint checks: not confirmed",
);
const HOSTED_ZONE: Price = price(
    0.50,
    1.0,
    "zone-months",
    R53_PRICING,
    true,
    "$0.50 per hosted zone per month (first 25)",
);
const LAMBDA_REQUEST: Price = price(
    0.20,
    1e6,
    "invocations",
    LAMBDA_PRICING,
    false,
    "$0.20 per million requests (the existing Lambda table's constant)",
);
const LAMBDA_GB_S: Price = price(
    0.000_013_333_4,
    1.0,
    "GB-seconds",
    LAMBDA_PRICING,
    false,
    "arm64 $0.0000133334 per GB-second (the existing Lambda table's constant)",
);
const SCHEDULER: Price = price(
    1.0,
    1e6,
    "invocations",
    EB_PRICING,
    false,
    "Scheduler: 14 million invocations per month free, then $1.00 per million",
);
const LOG_INGEST: Price = price(
    0.50,
    1.0,
    "GB",
    CW_PRICING,
    true,
    "Logs ingestion $0.50 per GB (standard)",
);
const DATA_TRANSFER: Price = price(
    0.09,
    1.0,
    "GB",
    DT_PRICING,
    false,
    "internet egress of the probed endpoint's region (first 10 TB); price not confirmed",
);
const ARC_CLUSTER: Price = price(2.50, 1.0, "cluster-hours", ARC_PRICING, false, "price not confirmed: the ARC pricing page was not found by the search; figure from the issue's brief");
const KMS_KEY: Price = price(
    1.0,
    1.0,
    "key-months",
    "https://aws.amazon.com/kms/pricing/",
    false,
    "$1 per customer managed key per month: price not confirmed (rotated key material may add to it)",
);
const SQS_QUEUE: Price = price(
    0.0,
    1.0,
    "queue-months",
    "https://aws.amazon.com/sqs/pricing/",
    false,
    "no standing charge; requests $0.40 per million after 1 million free (not confirmed)",
);
const SNS_TOPIC: Price = price(
    0.0,
    1.0,
    "topic-months",
    SNS_PRICING,
    false,
    "no standing charge (not confirmed)",
);

// ------------------------------------------------------------ the simulation

/// Drives the three functions' ticks in both regions over `options.cost_minutes`
/// simulated minutes at the deployed schedules (failover every minute, the others
/// every 5), against a topology with the data-plane path on, and counts every AWS call
/// by region from the call log; lists the custom metrics they published.
pub async fn simulate(options: &Options, world: &LocalAws, run: &str) -> Value {
    let mut spec = Spec::new(&format!("bench-cost-{run}"));
    spec.data_plane = true;
    let topology = Topology::create(world, spec).await.expect("topology");
    let account = topology.spec.account.clone();
    let mut config = topology.config();
    // As deployed: infra/modules/control-plane/variables.tf defaults
    // failover.require_replication_ready to true (the test topology turns it off), so
    // failover reads ReplicationReady (one GetMetricData of one metric per region).
    config["failover"]["readiness"]["require_replication_ready"] = json!(true);
    // The slice runs a minute's ticks in a fraction of a second: AWS's request-rate
    // quotas (on in the local world) would throttle what, 60 s apart, they never do.
    // Off for this world's account only; a throttled call would be counted apart.
    world
        .post(
            "/throttling",
            json!({"service": "*", "enabled": false, "account": account}),
        )
        .await;
    let probes: BTreeMap<String, usize> = topology
        .data_plane
        .as_ref()
        .map(|dp| {
            dp.probes
                .iter()
                .map(|(r, urls)| (r.clone(), urls.len()))
                .collect()
        })
        .unwrap_or_default();

    // One warm process per function and region, as Lambda keeps them.
    let mut procs: Vec<(String, String, FunctionProcess)> = Vec::new();
    for region in REGIONS {
        for name in super::FUNCTIONS {
            let mut env = world.function_env(&account, region);
            env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
            let f = FunctionProcess::spawn(&options.binary(name), name, &env)
                .await
                .unwrap_or_else(|e| panic!("{name} in {region} does not start: {e}"));
            procs.push((name.to_string(), region.to_string(), f));
        }
    }
    let tick = |name: &str, region: &str| json!({"task": "tick", "schedule_arn": format!("arn:aws:scheduler:{region}:{account}:schedule/default/{name}-tick")});
    // A first tick of each: the setup a deployment does once (the local store's first
    // item, …), not counted.
    for (name, region, f) in procs.iter_mut() {
        invoke(f, tick(name, region)).await;
    }
    let mut log_bytes_before: BTreeMap<String, usize> = BTreeMap::new();
    for (name, _, f) in &procs {
        *log_bytes_before.entry(name.clone()).or_default() += bytes(&f.output());
    }

    let minutes = options.cost_minutes.max(5);
    let mut seq = super::calls::last_seq(world).await;
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut throttled = 0u64;
    let mut ticks: BTreeMap<String, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for minute in 0..minutes {
        for (name, region, f) in procs.iter_mut() {
            if minute % schedule_minutes(name) != 0 {
                continue;
            }
            let out = invoke(f, tick(name, region)).await;
            *ticks.entry(name.clone()).or_default() += 1;
            let outcome = out["outcome"].as_str().unwrap_or("?").to_string();
            *outcomes
                .entry(name.clone())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
        // Read the log every 10 minutes: it keeps the last 50,000 calls.
        if minute % 10 == 9 || minute + 1 == minutes {
            let (next, t) = drain(world, &account, seq, &mut counts).await;
            seq = next;
            throttled += t;
        }
    }
    let mut log_bytes: BTreeMap<String, f64> = BTreeMap::new();
    for (name, _, f) in &procs {
        *log_bytes.entry(name.clone()).or_default() += bytes(&f.output()) as f64;
    }
    for (name, b) in log_bytes.iter_mut() {
        *b = round((*b - log_bytes_before[name] as f64) / ticks[name].max(1) as f64);
    }
    for (_, _, f) in procs {
        f.stop().await;
    }
    let metrics = custom_metrics(world, &account, &topology.metrics_namespace()).await;

    // Scale: a day holds MINUTES_PER_DAY / minutes slices; a month 30 days.
    let scale = MINUTES_PER_DAY / minutes as f64 * DAYS_PER_MONTH;
    let calls: Vec<Value> = counts
        .iter()
        .map(|((region, key), n)| {
            json!({"region": region, "call": key, "slice": n, "per_month": (*n as f64 * scale).round()})
        })
        .collect();
    json!({
        "simulated_minutes": minutes,
        "scale_to_month": round(scale),
        "data_plane": topology.data_plane.is_some(),
        // Children of each gate (ALB + API endpoint checks, + the data-plane check):
        // every gate read (one GetHealthCheck) is followed by one GetMetricData asking
        // for each child's HealthCheckStatus (shared/src/aws/route53.rs children_healthy).
        "gate_children": 2 + usize::from(topology.data_plane.is_some()),
        "ticks_in_slice": ticks,
        "outcomes": outcomes,
        "throttled": throttled,
        "calls": calls,
        "custom_metrics": metrics,
        "log_bytes_per_invocation": log_bytes,
        "probe_urls_per_tick": probes,
    })
}

async fn invoke(f: &mut FunctionProcess, event: Value) -> Value {
    match f.invoke_with_timeout(event, Duration::from_secs(120)).await {
        Ok(reply) => reply
            .ok()
            .unwrap_or_else(|e| panic!("{} failed: {e}\n{}", f.name, f.output().join("\n"))),
        Err(e) => panic!("{}: {e}\n{}", f.name, f.output().join("\n")),
    }
}

fn bytes(lines: &[String]) -> usize {
    lines.iter().map(|l| l.len() + 1).sum()
}

/// Adds the calls of `account` after `since` to `counts` ((region, service:operation)
/// -> n); the last seq read and how many were throttled.
async fn drain(
    world: &LocalAws,
    account: &str,
    since: u64,
    counts: &mut BTreeMap<(String, String), u64>,
) -> (u64, u64) {
    let log = world
        .get(&format!("/calls?since={since}&account={account}"))
        .await;
    let mut last = since;
    let mut throttled = 0;
    for c in log["calls"].as_array().cloned().unwrap_or_default() {
        let key = format!(
            "{}:{}",
            c["service"].as_str().unwrap_or("?"),
            c["operation"].as_str().unwrap_or("?")
        );
        let region = c["region"].as_str().unwrap_or("?").to_string();
        if c["outcome"] == "throttled" {
            throttled += 1;
        } else {
            *counts.entry((region, key)).or_insert(0) += 1;
        }
        last = last.max(c["seq"].as_u64().unwrap_or(last));
    }
    // Calls of other accounts move the log on too: start from the world's last seq.
    (last.max(super::calls::last_seq(world).await), throttled)
}

/// The distinct custom metrics (name + dimensions) in `namespace`, per region, as
/// CloudWatch's ListMetrics answers after the run: what CloudWatch bills monthly.
async fn custom_metrics(world: &LocalAws, account: &str, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for region in REGIONS {
        let cw = aws_sdk_cloudwatch::Client::new(&world.sdk_config(account, region));
        let mut token = None;
        loop {
            let page = cw
                .list_metrics()
                .namespace(namespace)
                .set_next_token(token.clone())
                .send()
                .await
                .expect("ListMetrics");
            for m in page.metrics() {
                let dims: BTreeMap<String, String> = m
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (
                            d.name().unwrap_or("").to_string(),
                            d.value().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                out.push(json!({"region": region, "name": m.metric_name(), "dimensions": dims}));
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    // ListMetrics may answer a metric more than once (moto: once per datapoint).
    out.sort_by_key(|v| v.to_string());
    out.dedup();
    out
}

// ------------------------------------------------------------------ standing

/// What the Terraform creates per environment (infra/stack with its modules, both
/// regions), counted by hand from the resources' `for_each`; the custom metrics come
/// from the simulation.
fn standing(sim: &Value) -> Vec<(String, f64, Price, String)> {
    let metrics = sim["custom_metrics"].as_array().map(Vec::len).unwrap_or(0) as f64;
    vec![
        (
            "Route 53 endpoint health checks (HTTPS, ALB + API per region)".into(),
            4.0,
            HEALTH_CHECK_BASIC,
            "global-routing/main.tf aws_route53_health_check.endpoint: 2 regions x {alb, api}".into(),
        ),
        (
            "  optional features: HTTPS + latency measurement".into(),
            8.0,
            HEALTH_CHECK_FEATURE,
            "type = \"HTTPS\", measure_latency default true (global-routing/variables.tf): 2 features x 4 checks".into(),
        ),
        (
            "Route 53 calculated gate checks".into(),
            2.0,
            HEALTH_CHECK_OTHER,
            "global-routing/main.tf aws_route53_health_check.gate: 1 per region".into(),
        ),
        (
            "Route 53 CLOUDWATCH_METRIC data-plane gate checks".into(),
            2.0,
            HEALTH_CHECK_OTHER,
            "global-routing/main.tf aws_route53_health_check.data_plane_gate: 1 per region".into(),
        ),
        (
            "Route 53 private hosted zone (routing state)".into(),
            1.0,
            HOSTED_ZONE,
            "global-routing/main.tf aws_route53_zone.state (the public zone is the service's, passed in)".into(),
        ),
        (
            "CloudWatch alarms, control plane".into(),
            34.0,
            ALARM_METRIC,
            "control-plane/main.tf per region: region_active 2, replication_ready 2, replication_lag 3, dlq_depth 1, action_failed 3, lambda errors+throttles 6 = 17, x 2 regions".into(),
        ),
        (
            "CloudWatch alarms, global routing".into(),
            8.0,
            ALARM_METRIC,
            "global-routing/main.tf: endpoint 4 + region_health 2 metric-math alarms of 2 metrics each (4)".into(),
        ),
        (
            "CloudWatch alarms, data plane".into(),
            4.0,
            ALARM_METRIC,
            "data-plane/main.tf per region: probe 1 + data_plane_gate 1, x 2 regions".into(),
        ),
        (
            "CloudWatch custom metrics".into(),
            metrics,
            CUSTOM_METRIC,
            "distinct name + dimensions per region the simulated day published (ListMetrics)".into(),
        ),
        (
            "CloudWatch custom metrics, S3 replication kind".into(),
            6.0,
            CUSTOM_METRIC,
            "the deployed stack replicates S3 too (stack/main.tf replication.s3.rules), the test topology does not: ReplicationLagSeconds, ReplicationPending, ReplicationFailed {Kind=s3} x 2 regions, by rule (its S3 reads are not counted)".into(),
        ),
        (
            "CloudWatch dashboard".into(),
            0.0,
            DASHBOARD,
            "stack/dashboard.tf: 1 per environment account, within the 3 free".into(),
        ),
        (
            "KMS keys of the control plane (Logs + SNS)".into(),
            2.0,
            KMS_KEY,
            "control-plane/main.tf aws_kms_key.this: 1 per region (the replication module's keys encrypt the workload's bundles and secrets: not counted)".into(),
        ),
        (
            "SQS dead-letter queues".into(),
            2.0,
            SQS_QUEUE,
            "control-plane/main.tf aws_sqs_queue.dlq: 1 per region".into(),
        ),
        (
            "SNS alert topics".into(),
            2.0,
            SNS_TOPIC,
            "control-plane/main.tf aws_sns_topic.alerts: 1 per region".into(),
        ),
    ]
}

// ------------------------------------------------------------------- pricing

/// The warm billed duration (ms) of each function's tick: this run's if it measured
/// them, else docs/bench/results.json's.
pub fn warm_ms(results: Option<&Value>) -> BTreeMap<String, f64> {
    let from_file;
    let r = match results {
        Some(r) if r["ticks"].is_array() => r,
        _ => {
            let path = testkit::repo_root().join("docs/bench/results.json");
            from_file = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .unwrap_or(Value::Null);
            &from_file
        }
    };
    r["ticks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["function"].as_str()?.to_string(),
                t["latency"]["median_us"].as_f64()? / 1000.0,
            ))
        })
        .collect()
}

fn row(item: &str, units: f64, p: Price, basis: &str) -> Value {
    let usd = units / p.per * p.usd;
    json!({
        "item": item, "units_per_month": if units >= 10.0 { units.round() } else { (units * 1000.0).round() / 1000.0 }, "unit": p.unit,
        "unit_price": if p.per == 1.0 { format!("${} per {}", p.usd, p.unit.trim_end_matches('s')) } else { format!("${} per {} {}", p.usd, thousands(p.per), p.unit) },
        "usd_per_month": (usd * 100.0).round() / 100.0, "usd_exact": usd,
        "source": p.source, "confirmed": p.confirmed, "note": p.note, "basis": basis,
    })
}

/// The month of one environment: per call kind, per standing resource, Lambda.
/// `adjust` applies a cut to the counts (call kind -> factor) and standing units.
fn month(sim: &Value, warm: &BTreeMap<String, f64>, cut: &Cut) -> Vec<Value> {
    let mut by_call: BTreeMap<String, f64> = BTreeMap::new();
    for c in sim["calls"].as_array().into_iter().flatten() {
        let key = c["call"].as_str().unwrap_or("?").to_string();
        *by_call.entry(key).or_default() += c["per_month"].as_f64().unwrap_or(0.0);
    }
    let mut rows = Vec::new();
    // GetMetricData is billed per metric requested: each gate read (one
    // route53:GetHealthCheck) asks for its children's HealthCheckStatus in one call; the
    // other calls (failover's ReplicationReady) ask for one metric each.
    let gate_reads = by_call
        .get("route53:GetHealthCheck")
        .copied()
        .unwrap_or(0.0);
    let children = sim["gate_children"].as_f64().unwrap_or(3.0);
    for (key, n) in &by_call {
        let n = n * cut.call_factor.get(key.as_str()).copied().unwrap_or(1.0);
        if key == "cloudwatch:GetMetricData" {
            let one_metric_calls =
                (n - gate_reads).max(0.0) * if cut.no_readiness_reads { 0.0 } else { 1.0 };
            let per_gate = cut.gate_metrics_per_read.unwrap_or(children);
            rows.push(row(
                &format!("{key} ({children} metrics per gate read, 1 per readiness read)"),
                gate_reads * per_gate + one_metric_calls,
                call_price(key),
                "call log; metrics per call from the code",
            ));
            continue;
        }
        rows.push(row(key, n, call_price(key), "call log, both regions"));
    }
    for (item, units, p, basis) in standing(sim) {
        let delta = cut
            .standing_delta
            .get(item.as_str())
            .copied()
            .unwrap_or(0.0);
        rows.push(row(&item, units + delta, p, &basis));
    }
    // Lambda: invocations of both regions and their warm billed duration.
    let gb = super::MEMORY_MB / 1024.0;
    let mut invocations_total = 0.0;
    let mut log_gb = 0.0;
    for name in super::FUNCTIONS {
        let inv =
            DAYS_PER_MONTH * MINUTES_PER_DAY / schedule_minutes(name) as f64 * REGIONS.len() as f64;
        invocations_total += inv;
        let ms = warm.get(name).copied().unwrap_or(0.0).ceil();
        rows.push(row(
            &format!("Lambda {name} requests"),
            inv,
            LAMBDA_REQUEST,
            &format!("rate({} min) x 2 regions", schedule_minutes(name)),
        ));
        rows.push(row(
            &format!("Lambda {name} duration (256 MB, {ms} ms billed warm)"),
            inv * ms / 1000.0 * gb,
            LAMBDA_GB_S,
            "warm tick p50 of the bench's ticks",
        ));
        // Each invocation logs its decision line(s) plus Lambda's START/END/REPORT
        // (about 300 bytes: an estimate).
        let per = sim["log_bytes_per_invocation"][name]
            .as_f64()
            .unwrap_or(0.0)
            + 300.0;
        log_gb += inv * per / 1e9;
    }
    rows.push(row(
        "EventBridge Scheduler invocations (within the 14 M free)",
        invocations_total,
        price(
            0.0,
            1.0,
            "invocations",
            SCHEDULER.source,
            false,
            SCHEDULER.note,
        ),
        "one per scheduled tick",
    ));
    rows.push(row(
        "CloudWatch Logs ingestion (decision lines + ~300 B platform lines)",
        log_gb,
        LOG_INGEST,
        "bytes each function wrote per tick in the simulation",
    ));
    // Probes: failover in the observer region GETs the peer's public health URLs
    // every tick; about 2 KB each way (TLS handshake on a warm connection excluded).
    let probes: f64 = sim["probe_urls_per_tick"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_f64).sum())
        .unwrap_or(0.0);
    let probe_gb = probes * DAYS_PER_MONTH * MINUTES_PER_DAY * 2_000.0 / 1e9;
    rows.push(row(
        &format!("Data transfer: probes ({probes} URLs per minute, ~2 KB answer each)"),
        probe_gb,
        DATA_TRANSFER,
        "failover.data_plane.probes of the topology; answer size estimated",
    ));
    rows
}

/// A cut that does not pay its way: what changes in the counts, and the product change
/// that would make it (none of these is in bench/: they are proposed, priced here).
#[derive(Default)]
pub struct Cut {
    pub name: &'static str,
    pub change: &'static str,
    pub call_factor: BTreeMap<&'static str, f64>,
    pub standing_delta: BTreeMap<&'static str, f64>,
    /// Metrics each gate read asks GetMetricData for (None: the gate's children).
    pub gate_metrics_per_read: Option<f64>,
    /// No ReplicationReady GetMetricData on quiet ticks.
    pub no_readiness_reads: bool,
}

/// The cuts, each measured against the simulation's counts.
pub fn cuts(sim: &Value) -> Vec<Cut> {
    let metrics = sim["custom_metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |names: &[&str]| {
        metrics
            .iter()
            .filter(|m| names.contains(&m["name"].as_str().unwrap_or("")))
            .count() as f64
    };
    vec![
        Cut {
            name: "no latency measurement on the endpoint checks",
            change: "infra/modules/global-routing/variables.tf: health_check.measure_latency default true -> false (latency-based records use Route 53's own latency data, not the checks' latency graphs; nothing here reads those)",
            standing_delta: BTreeMap::from([("  optional features: HTTPS + latency measurement", -4.0)]),
            ..Default::default()
        },
        Cut {
            name: "one metric per gate read",
            change: "shared/src/aws/route53.rs Route53::children_healthy: read the calculated gate's own AWS/Route53 ChildHealthCheckHealthyCount (1 metric) instead of HealthCheckStatus of each child (3 metrics with the data-plane child); same answer, one third of the metrics requested (ChildHealthCheckHealthyCount: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/appinsights-metrics-health-check.html; the local world must publish it too: not checked)",
            gate_metrics_per_read: Some(1.0),
            ..Default::default()
        },
        Cut {
            name: "read ReplicationReady only when a decision needs it",
            change: "functions/failover/src/cas.rs gather_health: call World::replication_ready (one GetMetricData per region per tick, each copy in its own region) only for a region the tick would evacuate towards or restore, not on every quiet tick",
            no_readiness_reads: true,
            ..Default::default()
        },
        Cut {
            name: "no ReplicationPending / ReplicationFailed series",
            change: "functions/replication-monitor/src/decide/report.rs: stop publishing ReplicationPending and ReplicationFailed (no alarm, no dashboard widget, no reader; ReplicationLagSeconds and ReplicationReady carry the decision); drop them from shared/src/metrics.rs PUBLISHED",
            standing_delta: BTreeMap::from([
                (
                    "CloudWatch custom metrics",
                    -count(&["ReplicationPending", "ReplicationFailed"]),
                ),
                ("CloudWatch custom metrics, S3 replication kind", -4.0),
            ]),
            ..Default::default()
        },
        Cut {
            name: "ActionFailed only when something failed",
            change: "replication-monitor (src/decide/report.rs) and concurrency-scheduler (src/report.rs): publish ActionFailed only when > 0, as failover already does (its alarms treat missing data as notBreaching); CloudWatch bills a custom metric only for the hours it is published (proration: not confirmed)",
            standing_delta: BTreeMap::from([("CloudWatch custom metrics", -count(&["ActionFailed"]))]),
            ..Default::default()
        },
    ]
}

fn total(rows: &[Value]) -> f64 {
    rows.iter()
        .map(|r| r["usd_exact"].as_f64().unwrap_or(0.0))
        .sum()
}

/// Prices the simulation for dev and prod, before and after each cut.
pub fn price_month(sim: &Value, warm: &BTreeMap<String, f64>) -> Value {
    let before = month(sim, warm, &Cut::default());
    let before_total = total(&before);
    let all_cuts = cuts(sim);
    let mut combined = Cut::default();
    let mut cut_rows = Vec::new();
    for cut in &all_cuts {
        let after = total(&month(sim, warm, cut));
        cut_rows.push(json!({
            "name": cut.name, "change": cut.change,
            "usd_before": (before_total * 100.0).round() / 100.0,
            "usd_after": (after * 100.0).round() / 100.0,
            "saves_per_environment": ((before_total - after) * 100.0).round() / 100.0,
        }));
        combined.call_factor.extend(cut.call_factor.clone());
        combined.gate_metrics_per_read =
            combined.gate_metrics_per_read.or(cut.gate_metrics_per_read);
        combined.no_readiness_reads |= cut.no_readiness_reads;
        for (item, d) in &cut.standing_delta {
            *combined.standing_delta.entry(item).or_default() += d;
        }
    }
    let after_all = month(sim, warm, &combined);
    let after_total = total(&after_all);
    let arc = ARC_CLUSTER.usd * 24.0 * DAYS_PER_MONTH;
    // dev and prod run the same stack and schedules: the control plane's calls and the
    // standing resources are the same. What differs (prod's business-hours concurrency
    // window: 2 alias writes per workday per region, uncounted here; the workload's
    // provisioned concurrency itself) is not the control plane's bill.
    let envs: serde_json::Map<String, Value> = ENVIRONMENTS
        .iter()
        .map(|e| {
            (
                e.to_string(),
                json!({"usd_per_month": (before_total * 100.0).round() / 100.0,
                       "usd_per_month_after_cuts": (after_total * 100.0).round() / 100.0}),
            )
        })
        .collect();
    json!({
        "rows": before,
        "rows_after_cuts": after_all,
        "usd_per_environment": (before_total * 100.0).round() / 100.0,
        "usd_per_environment_after_cuts": (after_total * 100.0).round() / 100.0,
        "environments": envs,
        "usd_both_environments": (before_total * 2.0 * 100.0).round() / 100.0,
        "usd_both_environments_after_cuts": (after_total * 2.0 * 100.0).round() / 100.0,
        "cuts": cut_rows,
        "arc_comparison": {
            "usd_per_cluster_month": arc, "unit_price": "$2.50 per cluster-hour",
            "source": ARC_CLUSTER.source, "confirmed": false,
            "note": "one cluster can serve both environments (RAM sharing); routing controls' health checks extra",
        },
    })
}

/// The markdown table docs/BENCHMARKS.md carries ("Monthly cost"), generated.
pub fn markdown(cost: &Value) -> String {
    let p = &cost["priced"];
    let sim = &cost["simulation"];
    let mut s = String::new();
    s += &format!(
        "Simulated: {} minutes of both regions' ticks (failover every minute, replication-monitor and concurrency-scheduler every 5), data-plane path {}, scaled x{} to a 30-day month. Per environment (dev = prod):\n\n",
        sim["simulated_minutes"], if sim["data_plane"] == true { "on" } else { "off" }, sim["scale_to_month"]
    );
    s += "| item | calls or units / month | unit price | USD / month | after cuts | source |\n|---|---:|---|---:|---:|---|\n";
    let after: BTreeMap<String, f64> = p["rows_after_cuts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["item"].as_str().unwrap_or("").to_string(),
                r["usd_per_month"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    for r in p["rows"].as_array().into_iter().flatten() {
        let item = r["item"].as_str().unwrap_or("");
        let usd = r["usd_per_month"].as_f64().unwrap_or(0.0);
        let a = after.get(item).copied().unwrap_or(usd);
        let mark = if r["confirmed"] == true {
            ""
        } else {
            " (price not confirmed)"
        };
        s += &format!(
            "| {} | {} {} | {} | {:.2} | {} | [{}]({}){} |\n",
            item.trim(),
            units(&r["units_per_month"]),
            r["unit"].as_str().unwrap_or(""),
            r["unit_price"].as_str().unwrap_or(""),
            usd,
            if (a - usd).abs() > 0.004 {
                format!("**{a:.2}**")
            } else {
                format!("{a:.2}")
            },
            host(r["source"].as_str().unwrap_or("")),
            r["source"].as_str().unwrap_or(""),
            mark
        );
    }
    s += &format!(
        "| **total per environment** | | | **{:.2}** | **{:.2}** | |\n| **dev + prod** | | | **{:.2}** | **{:.2}** | |\n| Route 53 ARC, for comparison: 1 cluster | 720 cluster-hours | $2.50 per hour | {:.2} | | [ARC pricing]({}) (price not confirmed) |\n",
        p["usd_per_environment"].as_f64().unwrap_or(0.0),
        p["usd_per_environment_after_cuts"].as_f64().unwrap_or(0.0),
        p["usd_both_environments"].as_f64().unwrap_or(0.0),
        p["usd_both_environments_after_cuts"].as_f64().unwrap_or(0.0),
        p["arc_comparison"]["usd_per_cluster_month"].as_f64().unwrap_or(0.0),
        ARC_PRICING,
    );
    s += "\nCuts (per environment; none is in bench/, each is a product change):\n\n| cut | product change | before | after | saves |\n|---|---|---:|---:|---:|\n";
    for c in p["cuts"].as_array().into_iter().flatten() {
        s += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |\n",
            c["name"].as_str().unwrap_or(""),
            c["change"].as_str().unwrap_or(""),
            c["usd_before"].as_f64().unwrap_or(0.0),
            c["usd_after"].as_f64().unwrap_or(0.0),
            c["saves_per_environment"].as_f64().unwrap_or(0.0),
        );
    }
    s
}

fn thousands(n: f64) -> String {
    let digits = format!("{}", n.round() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn units(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n >= 10.0 => thousands(n),
        Some(n) => format!("{n}"),
        None => "-".into(),
    }
}

fn host(url: &str) -> &str {
    url.trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or(url)
}

/// Prints the calls counted and the priced table.
pub fn print(cost: &Value) {
    let sim = &cost["simulation"];
    println!(
        "\n== whole-system monthly cost: {} simulated minutes x{} (ticks {}; outcomes {}; throttled {})",
        sim["simulated_minutes"], sim["scale_to_month"], sim["ticks_in_slice"], sim["outcomes"], sim["throttled"]
    );
    println!(
        "{:<14} {:<46} {:>8} {:>12}",
        "region", "call", "slice", "per month"
    );
    for c in sim["calls"].as_array().into_iter().flatten() {
        println!(
            "{:<14} {:<46} {:>8} {:>12}",
            c["region"].as_str().unwrap_or(""),
            c["call"].as_str().unwrap_or(""),
            c["slice"],
            c["per_month"]
        );
    }
    println!(
        "custom metrics ({}): {}",
        sim["custom_metrics"].as_array().map(Vec::len).unwrap_or(0),
        sim["custom_metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!(
                "{}:{}{}",
                m["region"].as_str().unwrap_or(""),
                m["name"].as_str().unwrap_or(""),
                m["dimensions"]
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "log bytes per invocation {}; probe URLs per tick {}",
        sim["log_bytes_per_invocation"], sim["probe_urls_per_tick"]
    );
    println!();
    println!("{}", markdown(cost));
}
