//! The demo scenario: the control plane's real binaries, deployed into the local
//! AWS world (one copy per region, reachable through Lambda `Invoke`), driven
//! through a failover by real event payloads and by the operator's `ctl`.
//! `make demo` prints it; the end-to-end tests run it and require every step green.

use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use testkit::deploy::{self, CtlRun, Deployment};
use testkit::runtime::{FunctionProcess, Reply};
use testkit::topology::{Spec, Topology};
use testkit::{fixture, LocalAws, PRIMARY, SECONDARY};

/// How long the demo waits for an effect (a delivery, an alert) before calling the step failed.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// One step of the scenario and whether it behaved as expected.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub ms: u128,
}

#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn failed(&self) -> Vec<&Step> {
        self.steps.iter().filter(|s| !s.ok).collect()
    }

    /// The closing summary table.
    pub fn summary(&self) -> String {
        let mut out = format!("{:<48} {:<6} {:>8}\n", "step", "result", "ms");
        for s in &self.steps {
            out.push_str(&format!(
                "{:<48} {:<6} {:>8}\n",
                s.name,
                if s.ok { "ok" } else { "FAIL" },
                s.ms
            ));
        }
        let failed = self.failed().len();
        out.push_str(&format!(
            "\n{} passed, {} failed\n",
            self.steps.len() - failed,
            failed
        ));
        out
    }
}

struct Run {
    started: Instant,
    report: Report,
}

impl Run {
    fn step(&mut self, name: &str, ok: bool, detail: String, since: Instant) {
        let ms = since.elapsed().as_millis();
        println!(
            "[{:>6.1}s] {} {name}: {detail} ({ms} ms)",
            self.started.elapsed().as_secs_f64(),
            if ok { "ok  " } else { "FAIL" }
        );
        self.report.steps.push(Step {
            name: name.to_string(),
            ok,
            detail,
            ms,
        });
    }

    /// Runs `ctl`, prints what it printed under the step, and records the step.
    async fn ctl(
        &mut self,
        name: &str,
        env: &[(String, String)],
        args: &[&str],
        expect: impl Fn(&CtlRun) -> bool,
    ) -> Option<CtlRun> {
        let t = Instant::now();
        match deploy::ctl(env, args).await {
            Ok(run) => {
                let ok = expect(&run);
                let first = run
                    .stdout
                    .lines()
                    .next()
                    .or(run.stderr.lines().next())
                    .unwrap_or("")
                    .to_string();
                self.step(
                    name,
                    ok,
                    format!("$ ctl {} → exit {}: {first}", args.join(" "), run.code),
                    t,
                );
                for line in run.stdout.lines().skip(1).chain(run.stderr.lines()) {
                    println!("           │ {line}");
                }
                Some(run)
            }
            Err(e) => {
                self.step(name, false, e, t);
                None
            }
        }
    }
}

async fn invoke(f: &mut FunctionProcess, payload: Value) -> Value {
    match f.invoke(payload).await {
        Ok(Reply::Ok(v)) => v,
        Ok(Reply::Error {
            error_type,
            error_message,
        }) => json!({"outcome": "error", "reason": format!("{error_type}: {error_message}")}),
        Err(e) => json!({"outcome": "error", "reason": e}),
    }
}

fn said(v: &Value) -> String {
    format!(
        "{} — {}",
        v["outcome"].as_str().unwrap_or("?"),
        v["reason"].as_str().unwrap_or("")
    )
}

/// The table row of `region` in `ctl status` text output.
fn row<'a>(run: &'a CtlRun, region: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.starts_with(region))
        .unwrap_or("")
}

/// The configuration the demo deploys: the topology's, with an event bus and a
/// metrics namespace of its own (worlds side by side do not hear each other), a
/// drill that waits for the peer's surge, and an ECR lag threshold of seconds.
pub fn demo_config(topology: &Topology) -> Value {
    let s = &topology.spec.suffix;
    let mut config = topology.config();
    config["event_bus_name"] = json!(format!("controlplane-{s}"));
    config["metrics_namespace"] = json!(format!("ControlPlane-{s}"));
    config["failover"]["drill"]["surge_wait"] = json!("30s");
    config["replication"]["window"] = json!("1h");
    config["replication"]["ecr"]["lag_threshold"] = json!("2s");
    config
}

/// EventBridge's deliveries to the deployed functions, as the local world records them.
struct Deliveries<'a> {
    world: &'a LocalAws,
    topology: &'a Topology,
    seen: HashSet<String>,
}

impl Deliveries<'_> {
    /// Waits (at most [`WAIT_LIMIT`]) until `expect` new deliveries of `detail_type` to
    /// this topology's functions have finished (delivered or failed); returns them.
    async fn wait(&mut self, detail_type: &str, expect: usize) -> Vec<Value> {
        let (world, topology) = (self.world, self.topology);
        let prefix = format!("{}-", topology.service_name());
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let all = world
                .get(&format!(
                    "/events/lambda-deliveries?account={}",
                    topology.spec.account
                ))
                .await;
            let new: Vec<Value> = all["deliveries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| {
                    d["function"]
                        .as_str()
                        .is_some_and(|f| f.starts_with(&prefix))
                        && d["event"]["detail-type"] == detail_type
                        && !self.seen.contains(&Self::key(d))
                })
                .cloned()
                .collect();
            let finished = new.len() >= expect && new.iter().all(|d| d["status"] != "pending");
            if finished || Instant::now() > deadline {
                self.seen.extend(new.iter().map(Self::key));
                return new;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn key(d: &Value) -> String {
        format!("{}/{}", d["event"]["id"], d["function"])
    }
}

/// One delivery as a line: which region's copy, what it decided.
fn delivered(d: &Value) -> String {
    let answer = match d["status"].as_str() {
        Some("delivered") => said(&d["result"]),
        other => format!(
            "{} after {} attempt(s): {}",
            other.unwrap_or("?"),
            d["attempts"],
            d["error"].as_str().unwrap_or("")
        ),
    };
    format!("{} → {answer}", d["functionRegion"].as_str().unwrap_or("?"))
}

fn delivered_all(ds: &[Value]) -> String {
    ds.iter().map(delivered).collect::<Vec<_>>().join("; ")
}

/// The delivery to `region`'s copy whose function answered `outcome`.
fn answered<'a>(ds: &'a [Value], region: &str, outcome: &str) -> Option<&'a Value> {
    ds.iter().find(|d| {
        d["status"] == "delivered"
            && d["functionRegion"] == region
            && d["result"]["outcome"] == outcome
    })
}

/// CloudWatch evaluates the region-health alarms (us-east-1) over what Route 53 has
/// published of the endpoint checks' `HealthCheckStatus`; returns the state changes.
/// The local EventBridge Scheduler's firing of the end schedule of `drill_id` into this
/// topology's failover, once it has finished (at most the drill's length plus
/// Scheduler's minute of precision and [`WAIT_LIMIT`]); `Null` if it never fired.
async fn wait_for_firing(world: &LocalAws, topology: &Topology, drill_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120) + WAIT_LIMIT;
    loop {
        let all = world
            .get(&format!(
                "/scheduler/firings?account={}",
                topology.spec.account
            ))
            .await;
        let done = all["firings"].as_array().into_iter().flatten().find(|f| {
            !drill_id.is_empty()
                && f["input"]["drill_id"] == drill_id
                && matches!(
                    f["status"].as_str(),
                    Some("delivered" | "failed" | "undelivered")
                )
        });
        if let Some(f) = done {
            return f.clone();
        }
        if Instant::now() > deadline {
            return Value::Null;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How long the newest provisioned-concurrency change of the topology's first workload
/// alias in `region` took to allocate, as the local world timed it.
async fn allocation_seconds(world: &LocalAws, topology: &Topology, region: &str) -> Option<f64> {
    let all = world.get("/lambda/provisioned-concurrency").await;
    let function = topology.spec.workload_functions.first()?;
    all["configs"].as_array()?.iter().find_map(|c| {
        (c["account"] == topology.spec.account.as_str()
            && c["region"] == region
            && c["functionName"] == function.as_str())
        .then(|| Some(c["readyAt"].as_f64()? - c["requestedAt"].as_f64()?))
        .flatten()
    })
}

/// Alarm state changes as `name: A → B` lines.
fn transitions(changes: &[Value]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c["alarmName"].as_str().unwrap_or("?"),
                c["previousState"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Subjects of the alerts on the primary region's topic that contain `needle`.
async fn alerts(world: &LocalAws, topology: &Topology, needle: &str) -> Vec<String> {
    let out = world
        .get(&format!(
            "/sns/messages?topicArn={}",
            topology.topics[PRIMARY]
        ))
        .await;
    out["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["subject"].as_str())
        .filter(|s| s.contains(needle))
        .map(str::to_string)
        .collect()
}

/// `stat` of the `ReplicationReady` values the monitor published for `region` in the
/// latest second it published any (it ticks twice a second while the demo polls it:
/// `Minimum` says whether it fell to 0, `Maximum` whether it came back to 1).
async fn replication_ready(
    world: &LocalAws,
    topology: &Topology,
    region: &str,
    stat: &str,
) -> Option<f64> {
    let dimensions = [("DestinationRegion", region)];
    topology
        .latest_metric(world, "ReplicationReady", &dimensions, stat)
        .await
        .ok()
        .flatten()
}

/// Ticks the replication-monitor until `alerts` with `needle` appear on the topic
/// (at most [`WAIT_LIMIT`]); returns the last tick's answer.
async fn tick_until_alert(
    world: &LocalAws,
    topology: &Topology,
    monitor: &mut FunctionProcess,
    needle: &str,
) -> Value {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let v = invoke(monitor, json!({"task": "tick"})).await;
        if !alerts(world, topology, needle).await.is_empty() || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `ctl status` succeeded and shows both regions active.
fn both_active(r: &CtlRun) -> bool {
    r.code == 0 && row(r, PRIMARY).contains("active") && row(r, SECONDARY).contains("active")
}

/// Which regions the data plane answers in, as the step `step` expects (`ok`).
async fn answers(
    run: &mut Run,
    world: &LocalAws,
    topology: &Topology,
    step: &str,
    ok: impl FnOnce(&[String]) -> bool,
) {
    let t = Instant::now();
    let regions = topology.answering_regions(world).await;
    run.step(step, ok(&regions), regions.join(", "), t);
}

/// The step `step`: `event` reaches both regions' schedulers and the one in `region`
/// acts on it.
async fn schedulers_hear(
    run: &mut Run,
    deliveries: &mut Deliveries<'_>,
    event: &str,
    region: &str,
    step: &str,
) {
    let t = Instant::now();
    let ds = deliveries.wait(event, 2).await;
    run.step(
        step,
        ds.len() == 2 && answered(&ds, region, "applied").is_some(),
        delivered_all(&ds),
        t,
    );
}

/// us-east-1's endpoints recover: Route 53 sees it, its alarm goes back to OK, and
/// both failovers hear of it and change nothing (failback is manual).
async fn secondary_recovers(run: &mut Run, deliveries: &mut Deliveries<'_>, step: &str) {
    let (world, topology) = (deliveries.world, deliveries.topology);
    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, true).await;
    let changes = topology.evaluate_alarms(world).await;
    let ds = deliveries.wait("CloudWatch Alarm State Change", 2).await;
    run.step(
        step,
        changes.iter().any(|c| c["state"] == "OK")
            && ds.len() == 2
            && ds.iter().all(|d| d["result"]["outcome"] == "noop"),
        format!(
            "{}; failover: {}",
            transitions(&changes),
            delivered_all(&ds)
        ),
        t,
    );
}

/// Runs the whole scenario against `world` (a fresh topology, named by `suffix`).
pub async fn run(world: &LocalAws, suffix: &str) -> Report {
    let mut run = Run {
        started: Instant::now(),
        report: Report::default(),
    };
    let t = Instant::now();
    let healthy = world.healthy().await;
    let scale = if healthy {
        world.time_scale().await
    } else {
        1.0
    };
    run.step(
        "local AWS world",
        healthy,
        format!(
            "{} (as strict as AWS: quotas on, limits enforced; time scale {scale}: a minute of AWS time lasts {:.1} s)",
            world.url,
            60.0 * scale
        ),
        t,
    );

    let t = Instant::now();
    // With the data-plane path: local stores, probe and data-plane-gate
    // alarms, and each gate's CLOUDWATCH_METRIC child; the last act uses them.
    let mut spec = Spec::new(suffix);
    spec.data_plane = true;
    let topology = match Topology::create(world, spec).await {
        Ok(topology) => topology,
        Err(e) => {
            run.step("topology", false, e.to_string(), t);
            return run.report;
        }
    };
    run.step(
        "topology",
        true,
        format!(
            "zone {} with gates, endpoint checks, alarms, ECR, secrets, alias live; data plane: \
             local stores, probe and data-plane-gate alarms, each gate's metric child",
            topology.domain
        ),
        t,
    );

    let t = Instant::now();
    let config = demo_config(&topology);
    let mut deployment = match Deployment::start_with(world, &topology, &config).await {
        Ok(d) => d,
        Err(e) => {
            run.step("deploy the functions", false, e, t);
            return run.report;
        }
    };
    run.step(
        "deploy the functions",
        true,
        format!(
            "{} in both regions (e.g. {}), reachable through Lambda Invoke",
            deploy::FUNCTIONS.join(", "),
            topology.function_name("failover", PRIMARY)
        ),
        t,
    );
    let t = Instant::now();
    let bus = config["event_bus_name"].as_str().unwrap_or("default");
    let wired = deploy::create_event_rules(world, &topology, bus).await;
    let replicated = testkit::topology::replicate_ecr(world).await;
    run.step(
        "EventBridge rules and ECR replication",
        wired.is_ok() && replicated.is_ok(),
        match (&wired, &replicated) {
            (Ok(()), Ok(())) => format!(
                "failover events (bus {bus}) → concurrency-scheduler, region-health alarms → failover, \
                 both forwarded to the peer region; ECR {PRIMARY} → {SECONDARY}"
            ),
            (Err(e), _) | (_, Err(e)) => e.clone(),
        },
        t,
    );
    let mut deliveries = Deliveries {
        world,
        topology: &topology,
        seen: HashSet::new(),
    };
    let env = deploy::ctl_env(world, &topology, PRIMARY).await;

    for region in [PRIMARY, SECONDARY] {
        let t = Instant::now();
        let v = invoke(
            deployment.function("concurrency-scheduler", region),
            fixture("scheduler-tick.json"),
        )
        .await;
        // The tick follows the alias to READY: provisioned concurrency takes AWS's
        // minute or two to allocate, here at the world's time scale.
        let allocation = allocation_seconds(world, &topology, region).await;
        run.step(
            &format!("scheduler tick in {region}"),
            v["outcome"] == "applied" || v["outcome"] == "noop",
            format!(
                "{}; allocation took {}",
                said(&v),
                allocation.map_or("?".into(), |s| format!(
                    "{s:.1} s here, {:.0} s of AWS time",
                    s / scale
                ))
            ),
            t,
        );
    }

    // The data-plane probes: each failover's tick probes its peer's
    // endpoints and publishes EndpointProbeHealthy in its own region; the probe alarms
    // (mapped to their region like the Route 53 health alarms) need a first verdict, or
    // failover counts the region's alarms as not all reporting.
    let t = Instant::now();
    for region in [PRIMARY, SECONDARY] {
        invoke(
            deployment.function("failover", region),
            fixture("scheduler-tick.json"),
        )
        .await;
    }
    let changes = topology.evaluate_data_plane_alarms(world).await;
    let probes_ok = topology.data_plane.as_ref().is_some_and(|dp| {
        dp.probe_alarms.values().all(|name| {
            changes
                .iter()
                .any(|c| c["alarmName"] == name.as_str() && c["state"] == "OK")
        })
    });
    run.step(
        "data-plane probes: each region probes its peer",
        probes_ok,
        transitions(&changes),
        t,
    );

    // A new alarm is INSUFFICIENT_DATA until CloudWatch first evaluates it; its first
    // OK reaches both failover copies, which have nothing to do.
    let t = Instant::now();
    let changes = topology.evaluate_alarms(world).await;
    let ds = deliveries
        .wait("CloudWatch Alarm State Change", 2 * changes.len())
        .await;
    run.step(
        "region-health alarms evaluated",
        changes.len() == topology.alarms.len()
            && changes.iter().all(|c| c["state"] == "OK")
            && ds.len() == 2 * changes.len()
            && ds
                .iter()
                .all(|d| d["status"] == "delivered" && d["result"]["outcome"] == "noop"),
        format!(
            "{}; failover: {}",
            transitions(&changes),
            delivered_all(&ds)
        ),
        t,
    );

    run.ctl("steady state: ctl status", &env, &["status"], |r| {
        both_active(r)
    })
    .await;
    answers(&mut run, world, &topology, "data plane answers", |r| {
        r.len() == 2
    })
    .await;

    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, false).await;
    let changes = topology.evaluate_alarms(world).await;
    let alarm_name = topology
        .alarms
        .iter()
        .find(|(_, r)| r.as_str() == SECONDARY)
        .map(|(a, _)| a.clone())
        .unwrap_or_default();
    run.step(
        "us-east-1 endpoints fail",
        changes.len() == 1
            && changes[0]["alarmName"] == alarm_name.as_str()
            && changes[0]["state"] == "ALARM",
        format!(
            "Route 53's checkers see them fail and publish HealthCheckStatus 0; {}",
            transitions(&changes)
        ),
        t,
    );

    // EventBridge delivers the alarm's state change to failover in us-east-1 and,
    // forwarded, in eu-central-1: the copies race on the state record, one evacuates.
    let t = Instant::now();
    let ds = deliveries.wait("CloudWatch Alarm State Change", 2).await;
    let applied = ds
        .iter()
        .filter(|d| d["result"]["outcome"] == "applied")
        .count();
    let rest_noop = ds.iter().all(|d| {
        d["status"] == "delivered"
            && matches!(d["result"]["outcome"].as_str(), Some("applied" | "noop"))
    });
    run.step(
        "failover evacuates us-east-1",
        ds.len() == 2 && applied == 1 && rest_noop,
        format!("alarm delivered by EventBridge: {}", delivered_all(&ds)),
        t,
    );
    let alarm = ds
        .first()
        .map(|d| d["event"].clone())
        .unwrap_or(Value::Null);
    answers(
        &mut run,
        world,
        &topology,
        "data plane answers only eu-central-1",
        |r| r == [PRIMARY],
    )
    .await;

    let (event, step) = (
        "Region Evacuated",
        "Region Evacuated reaches both schedulers: eu-central-1 surges",
    );
    schedulers_hear(&mut run, &mut deliveries, event, PRIMARY, step).await;

    let t = Instant::now();
    let v = invoke(deployment.function("failover", PRIMARY), alarm).await;
    run.step(
        "same alarm delivered again",
        v["outcome"] == "noop",
        said(&v),
        t,
    );

    run.ctl("after the evacuation: ctl status", &env, &["status"], |r| {
        r.code == 0
            && row(r, SECONDARY).contains("evacuated")
            && row(r, PRIMARY).contains("(surge)")
    })
    .await;

    // ECR replication into us-east-1 lags: one alert when it crosses the threshold,
    // one when it recovers, and ReplicationReady follows.
    let t = Instant::now();
    let repo = topology.spec.ecr_repositories[0].clone();
    world
        .post("/ecr/replication", json!({"lagSeconds": {SECONDARY: 5}}))
        .await;
    let pushed = testkit::topology::push_image(world, &repo, "2026.11.27-1").await;
    world
        .post("/ecr/replication", json!({"lagSeconds": {SECONDARY: 0}}))
        .await;
    let digest = pushed.clone().unwrap_or_default();
    let mut event = fixture("ecr-image-action.json");
    event["detail"]["repository-name"] = json!(repo);
    event["detail"]["image-digest"] = json!(digest);
    event["time"] = json!(chrono::Utc::now().to_rfc3339());
    let v = invoke(deployment.function("replication-monitor", PRIMARY), event).await;
    run.step(
        "ECR push in shared-services eu-central-1",
        pushed.is_ok() && v["trigger"] == "ecr_push" && v["outcome"] != "failed",
        match &pushed {
            Ok(d) => format!(
                "{repo}@{}… replicates to {SECONDARY} in 5 s; ECR Image Action → replication-monitor: {}",
                &d[..d.len().min(19)],
                said(&v)
            ),
            Err(e) => e.clone(),
        },
        t,
    );
    let t = Instant::now();
    let over = "ecr replication over threshold";
    let monitor = deployment.function("replication-monitor", PRIMARY);
    let v = tick_until_alert(world, &topology, monitor, over).await;
    let again = invoke(monitor, json!({"task": "tick"})).await;
    let sent = alerts(world, &topology, over).await;
    let ready = replication_ready(world, &topology, SECONDARY, "Minimum").await;
    run.step(
        "ECR replication lags: the monitor alerts once",
        sent.len() == 1
            && v["state"]["regions"][SECONDARY]["verdict"] == "not_ready"
            && again["outcome"] == "noop"
            && ready == Some(0.0),
        format!(
            "{}; next tick {}; alerts: {sent:?}; ReplicationReady {SECONDARY} = {}",
            said(&v),
            again["outcome"].as_str().unwrap_or("?"),
            ready.map_or("none".into(), |r| r.to_string())
        ),
        t,
    );
    run.ctl("while ECR lags: ctl status", &env, &["status"], |r| {
        r.code == 0 && r.stdout.contains("ecr not_ready")
    })
    .await;
    let t = Instant::now();
    let recovered = "ecr replication recovered";
    let monitor = deployment.function("replication-monitor", PRIMARY);
    let v = tick_until_alert(world, &topology, monitor, recovered).await;
    let back = alerts(world, &topology, recovered).await;
    let over_total = alerts(world, &topology, over).await.len();
    let ready = replication_ready(world, &topology, SECONDARY, "Maximum").await;
    run.step(
        "ECR replicates: the monitor recovers",
        back.len() == 1
            && over_total == 1
            && v["state"]["regions"][SECONDARY]["verdict"] == "ready"
            && ready == Some(1.0),
        format!(
            "{}; alerts: {back:?}; ReplicationReady {SECONDARY} = {}",
            said(&v),
            ready.map_or("none".into(), |r| r.to_string())
        ),
        t,
    );
    run.ctl("after ECR caught up: ctl status", &env, &["status"], |r| {
        r.code == 0 && row(r, SECONDARY).contains("ecr ready")
    })
    .await;

    secondary_recovers(
        &mut run,
        &mut deliveries,
        "us-east-1 endpoints recover: its alarm goes OK",
    )
    .await;
    run.ctl(
        "us-east-1 recovers: ctl restore",
        &env,
        &["restore", SECONDARY, "--reason", "endpoints recovered"],
        |r| r.code == 0 && r.stdout.starts_with("applied"),
    )
    .await;
    answers(
        &mut run,
        world,
        &topology,
        "data plane answers both regions",
        |r| r.len() == 2,
    )
    .await;
    let (event, step) = (
        "Region Restored",
        "Region Restored reaches both schedulers: eu-central-1 to baseline",
    );
    schedulers_hear(&mut run, &mut deliveries, event, PRIMARY, step).await;
    run.ctl("after the restore: ctl status", &env, &["status"], |r| {
        both_active(r) && !row(r, PRIMARY).contains("(surge)")
    })
    .await;

    run.ctl(
        "drill on eu-central-1: ctl drill",
        &env,
        &["drill", PRIMARY, "--duration", "1m", "--reason", "game day"],
        |r| r.code == 0 && r.stdout.starts_with("applied") && r.stdout.contains("peer surge READY"),
    )
    .await;
    let t = Instant::now();
    let started = deliveries.wait("Drill Started", 2).await;
    let evacuated = deliveries.wait("Region Evacuated", 2).await;
    run.step(
        "Drill Started reaches both schedulers: us-east-1 surges",
        started.len() == 2
            && answered(&started, SECONDARY, "applied").is_some()
            && evacuated.len() == 2,
        format!(
            "Drill Started: {}; Region Evacuated: {}",
            delivered_all(&started),
            delivered_all(&evacuated)
        ),
        t,
    );
    let t = Instant::now();
    let status = invoke(
        deployment.function("failover", PRIMARY),
        json!({"action": "status"}),
    )
    .await;
    let drill_id = status["state"]["routing"]["drill"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // EventBridge Scheduler fires the drill's one-time schedule at its end (within
    // the minute after, as AWS does) into failover, asynchronously: wait for it.
    let fired = wait_for_firing(world, &topology, &drill_id).await;
    let v = fired["result"].clone();
    run.step(
        "drill ends itself (its schedule fires)",
        !drill_id.is_empty() && fired["status"] == "delivered" && v["outcome"] == "applied",
        format!(
            "schedule {} fired {} (due {}): {}",
            fired["name"].as_str().unwrap_or("?"),
            fired["firedAt"]
                .as_f64()
                .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| "?".into()),
            fired["scheduledTime"].as_str().unwrap_or("?"),
            said(&v)
        ),
        t,
    );
    let (event, step) = (
        "Drill Ended",
        "Drill Ended reaches both schedulers: us-east-1 to baseline",
    );
    schedulers_hear(&mut run, &mut deliveries, event, SECONDARY, step).await;
    run.ctl("after the drill: ctl status", &env, &["status"], |r| {
        both_active(r) && !r.stdout.contains("drill drill-") && !r.stdout.contains("(surge)")
    })
    .await;

    // A stop condition: a second drill, and the region serving during it fails.
    run.ctl(
        "second drill on eu-central-1: ctl drill",
        &env,
        &[
            "drill",
            PRIMARY,
            "--duration",
            "15m",
            "--reason",
            "stop-condition drill",
        ],
        |r| r.code == 0 && r.stdout.starts_with("applied"),
    )
    .await;
    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, false).await;
    let changes = topology.evaluate_alarms(world).await;
    let ds = deliveries.wait("CloudWatch Alarm State Change", 2).await;
    let stopped = ds.iter().find(|d| {
        d["result"]["outcome"] == "applied"
            && d["result"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("stopped"))
    });
    let v = invoke(
        deployment.function("failover", PRIMARY),
        json!({"action": "status"}),
    )
    .await;
    run.step(
        "us-east-1 fails during the drill: the drill stops, eu-central-1 comes back",
        changes.iter().any(|c| c["state"] == "ALARM")
            && stopped.is_some()
            && v["state"]["routing"]["drill"].is_null()
            && v["state"]["routing"]["evacuated"]
                .as_object()
                .is_none_or(|e| e.is_empty()),
        format!(
            "{}; failover: {}",
            transitions(&changes),
            stopped.map_or_else(|| delivered_all(&ds), |d| said(&d["result"]))
        ),
        t,
    );
    secondary_recovers(
        &mut run,
        &mut deliveries,
        "us-east-1 recovers: its alarm goes OK, routing unchanged",
    )
    .await;

    let t = Instant::now();
    let v = invoke(
        deployment.function("failover", PRIMARY),
        fixture("scheduler-tick.json"),
    )
    .await;
    run.step(
        "scheduled tick reconciles",
        v["outcome"] != "failed" && v["outcome"] != "error",
        said(&v),
        t,
    );
    let t = Instant::now();
    let v = invoke(
        deployment.function("replication-monitor", PRIMARY),
        json!({"action": "check"}),
    )
    .await;
    run.step(
        "replication-monitor check",
        !matches!(v["outcome"].as_str(), Some("error" | "failed")),
        said(&v),
        t,
    );
    run.ctl(
        "concurrency-scheduler plan: ctl plan",
        &env,
        &["plan"],
        |r| r.code == 0 && r.stdout.starts_with("REGION"),
    )
    .await;

    us_east_1_goes_dark(&mut run, world, &topology, &mut deployment, &env).await;

    deployment.stop().await;
    run.report
}

/// The last act: us-east-1 goes dark, and with it Route 53's control plane.
/// eu-central-1's copies see it, evacuate it, surge and report with data-plane
/// operations only; us-east-1 comes back, the decision is reconciled into the shared
/// state, and an operator fails back by the usual rules. Prints the recovery timeline.
async fn us_east_1_goes_dark(
    run: &mut Run,
    world: &LocalAws,
    topology: &Topology,
    deployment: &mut Deployment,
    env: &[(String, String)],
) {
    let Some(dp) = topology.data_plane.as_ref() else {
        return;
    };
    let (probe, gate_alarm) = (&dp.probe_alarms[SECONDARY], &dp.gate_alarms[SECONDARY]);
    let child = dp.gate_children[SECONDARY].clone();
    let account = topology.spec.account.clone();
    let mut states: std::collections::BTreeMap<String, String> = Default::default();
    let evaluate = |states: &mut std::collections::BTreeMap<String, String>,
                    changes: Vec<Value>| {
        for c in changes {
            if let (Some(n), Some(s)) = (c["alarmName"].as_str(), c["state"].as_str()) {
                states.insert(n.to_string(), s.to_string());
            }
        }
    };
    let seq = |v: Value| v["lastSeq"].as_u64().unwrap_or(0);
    let baseline = level(world, topology, PRIMARY).await.map_or(0, |(l, _)| l);
    let mut timeline: Vec<String> = Vec::new();

    // Failure injected: the outage switch in `error` mode (every us-east-1 API call
    // answers 503, Route 53's with it), us-east-1's public endpoints failing.
    let t = Instant::now();
    let seq0 = seq(world.get("/calls/counters").await);
    let endpoints: Vec<&String> = topology.endpoints[SECONDARY]
        .iter()
        .map(|(_, fqdn)| fqdn)
        .collect();
    world
        .post(
            "/regions/outage",
            json!({"region": SECONDARY, "dark": true, "mode": "error", "endpoints": endpoints}),
        )
        .await;
    let t0 = Instant::now();
    let mut mark = |what: &str| {
        let line = format!("timeline: {what} +{} ms", t0.elapsed().as_millis());
        println!("           │ {line}");
        timeline.push(line);
    };
    mark("us-east-1 dark");
    run.step(
        "us-east-1 goes dark",
        true,
        "every us-east-1 API call answers 503 (Route 53's control plane with it); its \
         endpoints fail"
            .into(),
        t,
    );

    // eu-central-1's failover ticks (here back to back; Scheduler runs it every minute)
    // and CloudWatch evaluates its alarms (here right after each tick).
    let t = Instant::now();
    let mut decision = Value::Null;
    let (mut detected, mut closed) = (false, false);
    let deadline = Instant::now() + WAIT_LIMIT;
    while !(detected && closed && !decision.is_null()) && Instant::now() < deadline {
        let v = invoke(
            deployment.function("failover", PRIMARY),
            fixture("scheduler-tick.json"),
        )
        .await;
        if decision.is_null() && v["outcome"] == "applied" && v["path"] == "data plane" {
            mark("eu-central-1's failover evacuates us-east-1 on the data plane");
            decision = v;
        }
        evaluate(
            &mut states,
            topology.evaluate_data_plane_alarms(world).await,
        );
        if !detected && states.get(probe).is_some_and(|s| s == "ALARM") {
            mark(&format!("detected: {probe} ALARM (in eu-central-1)"));
            detected = true;
        }
        if !closed
            && states.get(gate_alarm).is_some_and(|s| s == "ALARM")
            && topology.check_healthy(world, &child).await == Some(false)
        {
            mark("gate closed: data-plane gate alarm ALARM, us-east-1's metric child unhealthy");
            closed = true;
        }
    }
    run.step(
        "eu-central-1 evacuates us-east-1 on the data plane",
        detected && closed && decision["path"] == "data plane",
        format!(
            "probe alarm {}; failover: {}; {gate_alarm} {}",
            states.get(probe).map_or("?", String::as_str),
            said(&decision),
            states.get(gate_alarm).map_or("?", String::as_str),
        ),
        t,
    );
    let regions = topology.answering_regions(world).await;
    mark("resolver answers eu-central-1 only");
    run.step(
        "data plane answers only eu-central-1",
        regions == [PRIMARY],
        regions.join(", "),
        Instant::now(),
    );

    let t = Instant::now();
    let failover_done = seq(world.get("/calls/counters").await);
    let v = invoke(
        deployment.function("concurrency-scheduler", PRIMARY),
        fixture("scheduler-tick.json"),
    )
    .await;
    let surged = level(world, topology, PRIMARY).await;
    let ok = surged
        .as_ref()
        .is_some_and(|(l, s)| *l > baseline && s == "READY")
        && v.to_string().contains("routing from the local store");
    if ok {
        mark("eu-central-1 provisioned concurrency READY at its surge level");
    }
    run.step(
        "eu-central-1 surges from its local store",
        ok,
        format!(
            "{}; provisioned concurrency {baseline} → {}{}",
            said(&v),
            surged.map_or("?".into(), |(l, s)| format!("{l} {s}")),
            if v["outcome"] == "noop" {
                " (the Region Evacuated event failover emitted in eu-central-1 reached this \
                 scheduler first; both read the local store)"
            } else {
                ""
            }
        ),
        t,
    );

    // The call log: nothing on the path was answered by us-east-1 or Route 53; the
    // scheduler did not even try Route 53.
    let t = Instant::now();
    let calls = world
        .get(&format!("/calls?account={account}&since={seq0}"))
        .await;
    let calls: Vec<Value> = calls["calls"].as_array().cloned().unwrap_or_default();
    let answered = calls
        .iter()
        .filter(|c| {
            (c["service"] == "route53" || c["region"] == SECONDARY) && c["outcome"] != "outage"
        })
        .count();
    let tried = calls
        .iter()
        .filter(|c| c["service"] == "route53" || c["region"] == SECONDARY)
        .count();
    let by_scheduler = calls
        .iter()
        .filter(|c| {
            c["service"] == "route53" && c["seq"].as_u64().is_some_and(|s| s > failover_done)
        })
        .count();
    run.step(
        "no call to us-east-1 or Route 53 on the path",
        answered == 0 && by_scheduler == 0,
        format!(
            "{} calls since the outage; {tried} tried us-east-1 or Route 53 and failed (503), \
             {answered} answered; the scheduler tried Route 53 {by_scheduler} times",
            calls.len()
        ),
        t,
    );

    let mut status_env = env.to_vec();
    status_env.retain(|(k, _)| k != "AWS_REGION");
    run.ctl(
        "us-east-1 dark: ctl status --region eu-central-1",
        &status_env,
        &["status", "--region", PRIMARY],
        |r| {
            r.stdout.contains("local store in eu-central-1")
                && row(r, SECONDARY).contains("evacuated")
                && r.stdout.contains("closed on the data plane")
        },
    )
    .await;
    mark("ctl status answered from eu-central-1's local store");

    // us-east-1 back: the next tick reconciles the data plane's decision into the shared
    // state by compare-and-swap and closes the gate the normal way.
    let t = Instant::now();
    world
        .post(
            "/regions/outage",
            json!({"region": SECONDARY, "dark": false}),
        )
        .await;
    mark("us-east-1 back");
    let v = invoke(
        deployment.function("failover", PRIMARY),
        fixture("scheduler-tick.json"),
    )
    .await;
    let reconciled = v
        .to_string()
        .contains("reconciled the data plane's decisions");
    let threshold = topology.gate_threshold(world, SECONDARY).await;
    if reconciled {
        mark("reconciled into the shared state; us-east-1's gate closed through Route 53");
    }
    run.step(
        "us-east-1 back: the decision is reconciled",
        reconciled && threshold == 4 && v["state"]["routing"]["evacuated"][SECONDARY].is_object(),
        format!("{}; gate threshold {threshold}", said(&v)),
        t,
    );

    // Failback by the usual rules: once us-east-1's alarms are OK again (CloudWatch needs
    // a minute of healthy datapoints) and all of its gate's children are healthy.
    let t = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(100);
    let names = [probe.clone(), gate_alarm.clone()];
    let ready = loop {
        invoke(
            deployment.function("failover", PRIMARY),
            fixture("scheduler-tick.json"),
        )
        .await;
        evaluate(
            &mut states,
            topology.evaluate_data_plane_alarms(world).await,
        );
        evaluate(&mut states, topology.evaluate_alarms(world).await);
        let status = invoke(
            deployment.function("failover", PRIMARY),
            json!({"action": "status"}),
        )
        .await;
        let gate = &status["state"]["regions"][SECONDARY]["gate"];
        let alarms_ok = names
            .iter()
            .all(|n| states.get(n).is_some_and(|s| s == "OK"));
        if alarms_ok && gate["children_healthy"] == gate["children"] {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if ready {
        mark("us-east-1's alarms OK, its gate's children healthy");
    }
    run.step(
        "us-east-1's alarms OK again",
        ready,
        names
            .iter()
            .map(|n| format!("{n} {}", states.get(n).map_or("?", String::as_str)))
            .collect::<Vec<_>>()
            .join(", "),
        t,
    );
    run.ctl(
        "failback: ctl restore us-east-1",
        env,
        &["restore", SECONDARY, "--reason", "us-east-1 is back"],
        |r| r.code == 0 && r.stdout.starts_with("applied"),
    )
    .await;
    let regions = topology.answering_regions(world).await;
    if regions.len() == 2 {
        mark("failback: resolver answers both regions");
    }
    run.step(
        "data plane answers both regions",
        regions.len() == 2,
        regions.join(", "),
        Instant::now(),
    );
    println!("recovery timeline (us-east-1 dark; ms since the failure was injected):");
    for line in &timeline {
        println!("  {line}");
    }
}

/// The first workload alias's provisioned concurrency in `region`: (requested, status),
/// as the local world has it (its admin view: no API call).
async fn level(world: &LocalAws, topology: &Topology, region: &str) -> Option<(i32, String)> {
    let all = world.get("/lambda/provisioned-concurrency").await;
    let function = topology.spec.workload_functions.first()?;
    all["configs"].as_array()?.iter().find_map(|c| {
        (c["account"] == topology.spec.account.as_str()
            && c["region"] == region
            && c["functionName"] == function.as_str()
            && c["qualifier"] == "live")
            .then(|| {
                Some((
                    i32::try_from(c["RequestedProvisionedConcurrentExecutions"].as_i64()?).ok()?,
                    c["Status"].as_str()?.to_string(),
                ))
            })
            .flatten()
    })
}
