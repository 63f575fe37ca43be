//! Issue #16 end to end: one region dark (the local world's region-outage switch:
//! its API calls fail, its public endpoints fail, and with us-east-1 every Route 53
//! control-plane call fails), with the data-plane path on (`Spec::data_plane`). The real
//! binaries under the runtime emulator, deployed in both regions; the harness plays
//! EventBridge Scheduler (ticks) and CloudWatch's evaluation clock (evaluate-alarms).
//!
//! Each test prints its recovery timeline as `timeline: <what> +<ms> ms` (ms since the
//! failure was injected) and writes it to `target/reliability/recovery-<scenario>.txt`
//! (docs/BENCHMARKS.md quotes it).

use crate::e2e::fixture;
use serde_json::{json, Value};
use shared::aws::route53::{Route53, StateStore};
use shared::Region;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::deploy::{self, Deployment};
use testkit::runtime::{FunctionProcess, Reply};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// A local world of this module's own: the outage switch is world-wide, and the
/// scenarios' timings should not depend on what other modules run beside them.
async fn world() -> &'static LocalAws {
    static WORLD: tokio::sync::OnceCell<LocalAws> = tokio::sync::OnceCell::const_new();
    WORLD
        .get_or_init(|| async { LocalAws::start().await.unwrap_or_else(|e| panic!("{e}")) })
        .await
}

/// One dark region at a time in this module's world.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Route 53 calls time out quickly (the product's 5 s attempt timeout would make each
/// tick take 15 s while us-east-1 holds the connections).
const ATTEMPT_TIMEOUT_MS: &str = "800";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        chrono::Utc::now().timestamp_micros() % 100_000_000
    )
}

/// The recovery timeline: ms since the failure was injected.
pub struct Timeline {
    scenario: String,
    t0: Instant,
    t0_utc: chrono::DateTime<chrono::Utc>,
    /// (ms, line)
    lines: Vec<(u128, String)>,
}

impl Timeline {
    pub fn start(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_string(),
            t0: Instant::now(),
            t0_utc: chrono::Utc::now(),
            lines: Vec::new(),
        }
    }

    /// Records `what` now; returns the ms since the failure.
    pub fn mark(&mut self, what: &str) -> u128 {
        let ms = self.t0.elapsed().as_millis();
        self.push(what, ms)
    }

    /// Records `what` at `at` (RFC 3339: a time a function logged in its decision record).
    pub fn mark_at(&mut self, what: &str, at: &str) -> Option<u128> {
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        let ms = (at.with_timezone(&chrono::Utc) - self.t0_utc)
            .num_milliseconds()
            .max(0) as u128;
        Some(self.push(what, ms))
    }

    fn push(&mut self, what: &str, ms: u128) -> u128 {
        let line = format!("timeline: {what} +{ms} ms");
        println!("{line}");
        self.lines.push((ms, line));
        ms
    }

    pub fn ms(&self) -> u128 {
        self.t0.elapsed().as_millis()
    }

    /// `target/reliability/recovery-<scenario>.txt`.
    pub fn write(&self) {
        let dir = testkit::debug_dir()
            .parent()
            .map(|p| p.join("reliability"))
            .unwrap_or_else(|| testkit::repo_root().join("target/reliability"));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("recovery-{}.txt", self.scenario));
        let mut lines = self.lines.clone();
        lines.sort_by_key(|(ms, _)| *ms);
        let text = format!(
            "# recovery timeline: {} (ms since the failure was injected; the harness ticks \
             back to back and has CloudWatch evaluate right after each tick, where AWS runs \
             both once a minute)\n{}\n",
            self.scenario,
            lines
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// A deployed world with the data-plane path on.
struct Dark {
    world: &'static LocalAws,
    topology: Topology,
    deployment: Deployment,
    ctl_env: Vec<(String, String)>,
    /// Alarm name -> its state, as the evaluations so far left it.
    alarms: BTreeMap<String, String>,
    /// Every failover decision record seen, in order.
    records: Vec<Value>,
}

impl Dark {
    async fn new(prefix: &str) -> Self {
        let world = world().await;
        // A test that failed midway may have left a region dark.
        world.delete("/regions/outage").await;
        let mut spec = Spec::new(&unique(prefix));
        spec.data_plane = true;
        let topology = Topology::create(world, spec).await.expect("topology");
        let mut config = topology.config();
        config["concurrency"]["windows"] = json!([]);
        config["concurrency"]["ready_timeout"] = json!("30s");
        let extra = [(
            shared::aws::ATTEMPT_TIMEOUT_ENV.to_string(),
            ATTEMPT_TIMEOUT_MS.to_string(),
        )];
        let deployment = Deployment::start_with_env(world, &topology, &config, &extra)
            .await
            .expect("deployment");
        // The operator's session is made now: STS's global endpoint is us-east-1's.
        let ctl_env = deploy::ctl_env(world, &topology, PRIMARY).await;
        Self {
            world,
            topology,
            deployment,
            ctl_env,
            alarms: BTreeMap::new(),
            records: Vec::new(),
        }
    }

    fn f(&mut self, function: &str, region: &str) -> &mut FunctionProcess {
        self.deployment.function(function, region)
    }

    async fn invoke(&mut self, function: &str, region: &str, payload: Value) -> Value {
        let f = self.f(function, region);
        match f.invoke(payload).await.expect("invoke") {
            Reply::Ok(v) => v,
            Reply::Error {
                error_type,
                error_message,
            } => panic!(
                "{function} in {region}: {error_type}: {error_message}\n{}",
                f.output().join("\n")
            ),
        }
    }

    /// failover's tick in `region`; the record is kept.
    async fn failover_tick(&mut self, region: &str) -> Value {
        let record = self
            .invoke("failover", region, fixture("scheduler-tick.json"))
            .await;
        self.records.push(record.clone());
        record
    }

    async fn scheduler_tick(&mut self, region: &str) -> Value {
        self.invoke(
            "concurrency-scheduler",
            region,
            fixture("scheduler-tick.json"),
        )
        .await
    }

    /// An operator's request through failover's function URL in `region`.
    async fn operator(&mut self, region: &str, body: Value) -> Value {
        let operator = self.topology.operator();
        let f = self.f("failover", region);
        f.invoke_as(&operator, body)
            .await
            .expect("invoke")
            .ok()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Evaluates the data-plane alarms (probe, data-plane gate) in both regions, and with
    /// `health` also the Route 53 region-health alarms (us-east-1); returns the changes.
    async fn evaluate(&mut self, health: bool) -> Vec<Value> {
        let mut changes = self.topology.evaluate_data_plane_alarms(self.world).await;
        if health {
            changes.extend(self.topology.evaluate_alarms(self.world).await);
        }
        for c in &changes {
            if let (Some(name), Some(state)) = (c["alarmName"].as_str(), c["state"].as_str()) {
                self.alarms.insert(name.to_string(), state.to_string());
            }
        }
        changes
    }

    fn alarm(&self, name: &str) -> &str {
        self.alarms
            .get(name)
            .map_or("INSUFFICIENT_DATA", String::as_str)
    }

    fn probe_alarm(&self, region: &str) -> String {
        self.topology.dp().probe_alarms[region].clone()
    }

    fn gate_alarm(&self, region: &str) -> String {
        self.topology.dp().gate_alarms[region].clone()
    }

    fn health_alarm(&self, region: &str) -> String {
        format!("orders-health-{region}-{}", self.topology.spec.suffix)
    }

    /// `region`'s provisioned concurrency on the first workload alias: (requested, status).
    async fn pc(&self, region: &str) -> Option<(i32, String)> {
        let lambda = aws_sdk_lambda::Client::new(
            &self.world.sdk_config(&self.topology.spec.account, region),
        );
        let out = lambda
            .get_provisioned_concurrency_config()
            .function_name(&self.topology.spec.workload_functions[0])
            .qualifier("live")
            .send()
            .await
            .ok()?;
        Some((
            out.requested_provisioned_concurrent_executions()
                .unwrap_or(0),
            out.status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        ))
    }

    /// Waits (at most 30 s) for `region`'s provisioned concurrency to be READY at `level`.
    async fn pc_ready(&self, region: &str, level: i32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.pc(region).await == Some((level, "READY".into())) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The shared routing state (Route 53 TXT record).
    async fn shared_state(&self) -> shared::routing::RoutingState {
        let r53 = Route53::new(
            &self
                .world
                .sdk_config(&self.topology.spec.account, SECONDARY),
            &self.topology.zone_id,
            &self.topology.state_record,
        );
        r53.read()
            .await
            .expect("read routing state")
            .map(|(s, _)| s)
            .unwrap_or_default()
    }

    async fn last_seq(&self) -> u64 {
        self.world.get("/calls/counters").await["lastSeq"]
            .as_u64()
            .unwrap_or(0)
    }

    /// This world's AWS calls after `since` (exclusive) up to `until` (inclusive).
    async fn calls(&self, since: u64, until: u64) -> Vec<Value> {
        let v = self
            .world
            .get(&format!(
                "/calls?account={}&since={since}",
                self.topology.spec.account
            ))
            .await;
        v["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["seq"].as_u64().is_some_and(|s| s > since && s <= until))
            .collect()
    }

    /// Darkens `region`: its API calls held unanswered (2 s, longer than the functions'
    /// attempt timeout), its public endpoints (those the topology's health checks and
    /// probes use) failing; with us-east-1, Route 53's control plane too.
    async fn darken(&self, region: &str) {
        let endpoints: Vec<&String> = self.topology.endpoints[region]
            .iter()
            .map(|(_, fqdn)| fqdn)
            .collect();
        self.world
            .post(
                "/regions/outage",
                json!({"region": region, "dark": true, "mode": "timeout", "holdSeconds": 2,
                       "endpoints": endpoints}),
            )
            .await;
    }

    async fn bring_back(&self, region: &str) {
        self.world
            .post("/regions/outage", json!({"region": region, "dark": false}))
            .await;
    }

    /// Ticks both failovers and evaluates every alarm until they are all OK (both regions
    /// probed healthy, no gate closed), the scheduler at its baseline READY; returns
    /// the baseline.
    async fn steady(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            self.failover_tick(PRIMARY).await;
            self.failover_tick(SECONDARY).await;
            self.evaluate(true).await;
            let names: Vec<String> = [PRIMARY, SECONDARY]
                .iter()
                .flat_map(|r| [self.probe_alarm(r), self.health_alarm(r)])
                .collect();
            let answering = self.topology.answering_regions(self.world).await;
            let both = answering == vec![PRIMARY.to_string(), SECONDARY.to_string()];
            if both && names.iter().all(|n| self.alarm(n) == "OK") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the steady state is not reached: answering {answering:?}, alarms {:?}, \
                 health checks {}",
                self.alarms,
                self.world.get("/route53/health-checks").await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for region in [PRIMARY, SECONDARY] {
            assert_eq!(self.topology.gate_threshold(self.world, region).await, 3);
            self.scheduler_tick(region).await;
        }
        let (baseline, _) = self.pc(PRIMARY).await.expect("baseline provisioned");
        assert!(self.pc_ready(PRIMARY, baseline).await);
        assert!(self.pc_ready(SECONDARY, baseline).await);
        baseline
    }

    /// After `region` is back: ticks `observer`'s failover and evaluates every alarm
    /// until `region`'s alarms (probe, data-plane gate, Route 53 health) are OK, then
    /// restores it through `observer`'s function URL (the usual rules: its endpoints
    /// healthy, all of its gate's children included). Returns the restore's record.
    async fn failback(&mut self, region: &str, observer: &str, timeline: &mut Timeline) -> Value {
        let deadline = Instant::now() + Duration::from_secs(100);
        let names = [
            self.probe_alarm(region),
            self.gate_alarm(region),
            self.health_alarm(region),
        ];
        let mut ok_marked = false;
        loop {
            self.failover_tick(observer).await;
            self.evaluate(true).await;
            let all_ok = names
                .iter()
                .all(|n| matches!(self.alarm(n), "OK" | "INSUFFICIENT_DATA"))
                && self.alarm(&names[0]) == "OK";
            if all_ok {
                if !ok_marked {
                    timeline.mark(&format!(
                        "{region}'s alarms OK again (probe, data-plane gate, Route 53 health)"
                    ));
                    ok_marked = true;
                }
                let restored = self
                    .operator(
                        observer,
                        json!({"action": "restore", "region": region, "reason": "region back"}),
                    )
                    .await;
                if restored["outcome"] == "applied" {
                    return restored;
                }
                println!("restore not yet: {restored}");
            }
            assert!(
                Instant::now() < deadline,
                "{region}'s alarms did not go OK: {:?}",
                self.alarms
            );
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
    }
}

fn evacuated(record: &Value, region: &str) -> bool {
    record["changes"].as_array().is_some_and(|changes| {
        changes.iter().any(|c| {
            c.to_string().contains(&format!("region:{region}"))
                && c.to_string().contains("evacuated")
        })
    })
}

/// When the record's first step containing `needle` was taken (RFC 3339).
fn step_at(record: &Value, needle: &str) -> Option<String> {
    record["timeline"].as_array()?.iter().find_map(|s| {
        s["step"]
            .as_str()
            .is_some_and(|t| t.contains(needle))
            .then(|| s["at"].as_str().map(str::to_string))
            .flatten()
    })
}

fn said(record: &Value) -> String {
    format!(
        "{} [{}] {}",
        record["outcome"].as_str().unwrap_or("?"),
        record["path"].as_str().unwrap_or("-"),
        record["reason"].as_str().unwrap_or("")
    )
}

/// us-east-1 dark (and with it Route 53's control plane): eu-central-1's copies detect
/// it, evacuate it, surge and report with data-plane operations only; then us-east-1
/// comes back, the decision is reconciled into the shared state, and failback follows
/// the usual rules.
#[tokio::test(flavor = "multi_thread")]
async fn us_east_1_dark_eu_central_1_evacuates_surges_and_reports_on_the_data_plane() {
    let _turn = TURN.lock().await;
    let mut d = Dark::new("dk-us").await;
    let baseline = d.steady().await;
    let surge = baseline * 2;

    let seq0 = d.last_seq().await;
    d.darken(SECONDARY).await;
    let mut tl = Timeline::start("us-east-1-dark");
    tl.mark("us-east-1 dark (API calls held, endpoints failing, Route 53's control plane down)");

    // eu-central-1's failover ticks (Scheduler's minute, here back to back) and CloudWatch
    // evaluates: the probe alarm (in eu) fires, the tick evacuates on the data plane,
    // DataPlaneGateClosed=1 closes us-east-1's gate child.
    let probe = d.probe_alarm(SECONDARY);
    let gate_alarm = d.gate_alarm(SECONDARY);
    let child = d.topology.dp().gate_children[SECONDARY].clone();
    let (mut detected, mut decided, mut gate_closed, mut child_down, mut resolver) =
        (None, None, None, None, None);
    let mut decision = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(60);
    while detected.is_none()
        || decided.is_none()
        || gate_closed.is_none()
        || child_down.is_none()
        || resolver.is_none()
    {
        assert!(
            Instant::now() < deadline,
            "not done within 60 s: detected {detected:?}, decided {decided:?}, gate alarm \
             {gate_closed:?}, child {child_down:?}, resolver {resolver:?}; records:\n{:#?}",
            d.records
        );
        if resolver.is_none() && d.topology.answering_regions(d.world).await == [PRIMARY] {
            // us-east-1's endpoint checks fail as soon as its endpoints do: Route 53's own
            // data plane drops it at once; the data-plane gate child keeps it out once its
            // endpoints answer again, until a person restores it.
            resolver = Some(
                tl.mark("resolver answers eu-central-1 only (us-east-1's endpoint checks fail)"),
            );
        }
        let record = d.failover_tick(PRIMARY).await;
        println!("eu-central-1 tick +{} ms: {}", tl.ms(), said(&record));
        if decided.is_none() && record["outcome"] == "applied" && evacuated(&record, SECONDARY) {
            assert_eq!(record["path"], "data plane", "{record:#}");
            if let Some(at) = step_at(&record, "local store written") {
                tl.mark_at(
                    "eu-central-1's failover decides on the data plane (local store written)",
                    &at,
                );
            }
            decided = Some(tl.mark(
                "eu-central-1's tick returns: us-east-1 evacuated, DataPlaneGateClosed=1 published \
                 (before its one re-probe of Route 53, which then times out)",
            ));
            decision = record;
        }
        d.evaluate(false).await;
        if detected.is_none() && d.alarm(&probe) == "ALARM" {
            detected = Some(tl.mark(&format!("detected: {probe} (eu-central-1) ALARM")));
        }
        if gate_closed.is_none() && d.alarm(&gate_alarm) == "ALARM" {
            gate_closed = Some(tl.mark(&format!("gate closed: {gate_alarm} (eu-central-1) ALARM")));
        }
        if child_down.is_none() && d.topology.check_healthy(d.world, &child).await == Some(false) {
            child_down = Some(tl.mark("us-east-1's gate child (CLOUDWATCH_METRIC) unhealthy"));
        }
    }
    assert!(
        decided >= detected,
        "decided before the probe alarm fired: {decision:#}"
    );
    let step_text = decision["timeline"].to_string();
    assert!(
        step_text.contains("local store written"),
        "the decision is kept in eu-central-1's local store: {decision:#}"
    );
    let failover_done = d.last_seq().await;

    // eu-central-1's scheduler: the local store says Route 53 is down, so it surges from
    // the local view without calling Route 53.
    let tick = d.scheduler_tick(PRIMARY).await;
    let scheduler_done = d.last_seq().await;
    println!("eu-central-1 scheduler: {tick}");
    assert!(
        tick.to_string().contains("routing from the local store"),
        "{tick:#}"
    );
    assert!(
        d.pc_ready(PRIMARY, surge).await,
        "{:?}",
        d.pc(PRIMARY).await
    );
    tl.mark(&format!(
        "eu-central-1 provisioned concurrency READY at its surge level ({baseline} -> {surge})"
    ));

    // No call of the path reached us-east-1 or Route 53 and succeeded; Route 53 was only
    // tried, and failed; the scheduler did not call it at all.
    let calls = d.calls(seq0, scheduler_done).await;
    let succeeded: Vec<&Value> = calls
        .iter()
        .filter(|c| {
            (c["service"] == "route53" || c["region"] == SECONDARY) && c["outcome"] != "outage"
        })
        .collect();
    assert!(
        succeeded.is_empty(),
        "calls to us-east-1 or Route 53 answered: {succeeded:#?}"
    );
    let route53_tries = calls.iter().filter(|c| c["service"] == "route53").count();
    let us_tries = calls
        .iter()
        .filter(|c| c["region"] == SECONDARY && c["service"] != "route53")
        .count();
    let scheduler_route53: Vec<&Value> = calls
        .iter()
        .filter(|c| {
            c["seq"].as_u64().is_some_and(|s| s > failover_done) && c["service"] == "route53"
        })
        .collect();
    assert!(
        scheduler_route53.is_empty(),
        "the scheduler called Route 53 while the local store says it is down: {scheduler_route53:#?}"
    );
    println!(
        "call log: {} calls on the path, none answered by us-east-1 or Route 53 ({route53_tries} \
         Route 53 tries and {us_tries} other us-east-1 tries, all failed: outage)",
        calls.len()
    );

    // ctl status through eu-central-1: the routing from the local store, what could not
    // be read marked.
    let mut env = d.ctl_env.clone();
    env.retain(|(k, _)| k != "AWS_REGION");
    let run = deploy::ctl(&env, &["status", "--region", PRIMARY])
        .await
        .expect("ctl");
    println!(
        "$ ctl status --region {PRIMARY} → exit {}\n{}{}",
        run.code, run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(&format!("local store in {PRIMARY}")),
        "{}",
        run.stdout
    );
    let us_row = run
        .stdout
        .lines()
        .find(|l| l.starts_with(SECONDARY))
        .unwrap_or_default();
    assert!(us_row.contains("evacuated"), "{}", run.stdout);
    assert!(
        run.stdout.contains("closed on the data plane"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("unreadable") || run.stdout.contains("?"),
        "unreadable parts are marked: {}",
        run.stdout
    );
    tl.mark(&format!(
        "ctl status --region {PRIMARY} answered from the local store"
    ));

    // us-east-1 back: the next tick re-probes Route 53, reconciles the data-plane decision
    // into the shared state by compare-and-swap, closes the gate the normal way
    // (threshold children + 1 = 4) and opens the data-plane child's metric again.
    d.bring_back(SECONDARY).await;
    tl.mark("us-east-1 back");
    let record = d.failover_tick(PRIMARY).await;
    println!("eu-central-1 tick: {record:#}");
    assert!(
        record
            .to_string()
            .contains("reconciled the data plane's decisions"),
        "{record:#}"
    );
    let state = d.shared_state().await;
    assert!(
        state.is_evacuated(&Region::parse(SECONDARY).unwrap()),
        "{state:?}"
    );
    assert_eq!(d.topology.gate_threshold(d.world, SECONDARY).await, 4);
    let closed = d
        .topology
        .latest_metric(
            d.world,
            "DataPlaneGateClosed",
            &[("Region", SECONDARY)],
            // The reconciling tick published 1 (before it tried Route 53) and then 0:
            // the minute's Minimum is the 0 it ended on.
            "Minimum",
        )
        .await
        .expect("metric");
    assert_eq!(closed, Some(0.0), "DataPlaneGateClosed back to 0");
    tl.mark(
        "reconciled: shared state has us-east-1 evacuated, gate threshold 4, DataPlaneGateClosed 0",
    );

    let restored = d.failback(SECONDARY, PRIMARY, &mut tl).await;
    assert_eq!(restored["path"], "control plane", "{restored:#}");
    assert_eq!(d.topology.gate_threshold(d.world, SECONDARY).await, 3);
    assert_eq!(
        d.topology.answering_regions(d.world).await,
        vec![PRIMARY.to_string(), SECONDARY.to_string()]
    );
    tl.mark("failback: us-east-1 restored by an operator, resolver answers both regions");
    let after = d.failover_tick(PRIMARY).await;
    assert_ne!(after["outcome"], "failed", "{after:#}");
    assert!(
        !d.shared_state()
            .await
            .is_evacuated(&Region::parse(SECONDARY).unwrap()),
        "the tick after the restore did not evacuate again: {after:#}"
    );
    tl.write();
    d.deployment.stop().await;
}

/// eu-central-1 dark (Route 53's control plane answers): us-east-1's copy evacuates it
/// the normal way once its own probe alarm fires, without waiting on the alarms that
/// live in eu-central-1 (they time out); us-east-1's scheduler surges; then failback.
#[tokio::test(flavor = "multi_thread")]
async fn eu_central_1_dark_us_east_1_evacuates_it_through_route_53_and_surges() {
    let _turn = TURN.lock().await;
    let mut d = Dark::new("dk-eu").await;
    let baseline = d.steady().await;
    let surge = baseline * 2;

    let seq0 = d.last_seq().await;
    d.darken(PRIMARY).await;
    let mut tl = Timeline::start("eu-central-1-dark");
    tl.mark("eu-central-1 dark (API calls held, endpoints failing)");

    // Only the data-plane alarms are evaluated here: eu-central-1's Route 53 health alarm
    // (us-east-1) would fire too, and is left out so that the probe's path is what shows.
    let probe = d.probe_alarm(PRIMARY);
    let (mut detected, mut decided, mut resolver) = (None, None, None);
    let mut decision = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(60);
    while detected.is_none() || decided.is_none() || resolver.is_none() {
        assert!(
            Instant::now() < deadline,
            "not done within 60 s: detected {detected:?}, decided {decided:?}, resolver \
             {resolver:?}; records:\n{:#?}",
            d.records
        );
        if resolver.is_none() && d.topology.answering_regions(d.world).await == [SECONDARY] {
            resolver = Some(
                tl.mark("resolver answers us-east-1 only (eu-central-1's endpoint checks fail)"),
            );
        }
        let record = d.failover_tick(SECONDARY).await;
        println!("us-east-1 tick +{} ms: {}", tl.ms(), said(&record));
        if decided.is_none() && record["outcome"] == "applied" && evacuated(&record, PRIMARY) {
            assert_eq!(record["path"], "control plane", "{record:#}");
            if let Some(at) = step_at(&record, "closed") {
                tl.mark_at(
                    "us-east-1's failover closes eu-central-1's gate (UpdateHealthCheck)",
                    &at,
                );
            }
            decided = Some(tl.mark(
                "us-east-1's failover evacuates eu-central-1 through Route 53 (gate threshold 4)",
            ));
            decision = record;
        }
        d.evaluate(false).await;
        if detected.is_none() && d.alarm(&probe) == "ALARM" {
            detected = Some(tl.mark(&format!("detected: {probe} (us-east-1) ALARM")));
        }
    }
    assert!(decided >= detected, "{decision:#}");
    assert!(
        decision.to_string().contains("not read"),
        "eu-central-1's alarms were not read (they time out) and did not hold the decision: {decision:#}"
    );
    assert_eq!(d.topology.gate_threshold(d.world, PRIMARY).await, 4);
    let failover_done = d.last_seq().await;

    let tick = d.scheduler_tick(SECONDARY).await;
    println!("us-east-1 scheduler: {tick}");
    assert!(
        d.pc_ready(SECONDARY, surge).await,
        "{:?}",
        d.pc(SECONDARY).await
    );
    tl.mark(&format!(
        "us-east-1 provisioned concurrency READY at its surge level ({baseline} -> {surge})"
    ));
    let done = d.last_seq().await;
    let calls = d.calls(seq0, done).await;
    let answered: Vec<&Value> = calls
        .iter()
        .filter(|c| c["region"] == PRIMARY && c["outcome"] != "outage")
        .collect();
    assert!(
        answered.is_empty(),
        "calls answered by eu-central-1: {answered:#?}"
    );
    println!(
        "call log: {} calls on the path ({} by the scheduler), none answered by eu-central-1",
        calls.len(),
        calls
            .iter()
            .filter(|c| c["seq"].as_u64().is_some_and(|s| s > failover_done))
            .count()
    );

    d.bring_back(PRIMARY).await;
    tl.mark("eu-central-1 back");
    let restored = d.failback(PRIMARY, SECONDARY, &mut tl).await;
    assert_eq!(restored["path"], "control plane", "{restored:#}");
    assert_eq!(d.topology.gate_threshold(d.world, PRIMARY).await, 3);
    assert_eq!(
        d.topology.answering_regions(d.world).await,
        vec![PRIMARY.to_string(), SECONDARY.to_string()]
    );
    tl.mark("failback: eu-central-1 restored by an operator, resolver answers both regions");
    let after = d.failover_tick(SECONDARY).await;
    assert_ne!(after["outcome"], "failed", "{after:#}");
    assert!(
        !d.shared_state()
            .await
            .is_evacuated(&Region::parse(PRIMARY).unwrap()),
        "{after:#}"
    );
    tl.write();
    d.deployment.stop().await;
}
