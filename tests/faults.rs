//! The fault matrix, crash points and duplicate deliveries: the real binaries under
//! the runtime emulator against a local AWS world of their own (faults there hit
//! nobody else). For each mutating action the clean run's call log gives its AWS
//! call sequence; then each call in turn is broken with each fault kind, on every
//! attempt the SDK makes (so the function itself sees the failure). Every case must
//! end completed, or consistent with the failure reported, and healed by the next
//! scheduled run (and, where nothing was written, by the caller's retry). The world
//! counts each fault it injected and names the calls it hit; every case checks that
//! its fault fired on the call it targets. Failover's matrix is in `faults/failover.rs`,
//! the crash points in `faults/crash.rs`; every matrix closes with the suite's line in
//! `target/reliability/faults.txt` (see docs/RELIABILITY.md).

use crate::e2e::binary;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use testkit::runtime::{FunctionProcess, Reply};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

mod crash;
mod failover;

/// The attempt timeout the functions run with here; a timeout fault delays a call longer.
pub const ATTEMPT_TIMEOUT_MS: u64 = 1000;
const TIMEOUT_LATENCY_MS: u64 = 1500;
/// Every attempt of the call (shared::aws::MAX_ATTEMPTS).
const ATTEMPTS: u64 = shared::aws::MAX_ATTEMPTS as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    Throttle,
    Error5xx,
    Timeout,
    Drop,
    /// The call takes effect, the answer is lost (the SDK retries it).
    DropAfter,
    /// The call takes effect, its answer is held, and the process is killed meanwhile
    /// (crash points; not one of the matrix's kinds).
    Crash,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Throttle,
        FaultKind::Error5xx,
        FaultKind::Timeout,
        FaultKind::Drop,
        FaultKind::DropAfter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "throttle",
            FaultKind::Error5xx => "5xx",
            FaultKind::Timeout => "timeout",
            FaultKind::Drop => "drop",
            FaultKind::DropAfter => "drop-after",
            FaultKind::Crash => "crash",
        }
    }

    /// The localaws fault breaking the `skip`-th matching call on `attempts` attempts.
    pub fn spec(self, call: &Call, account: &str, skip: usize, attempts: u64) -> Value {
        let mut spec = json!({
            "service": call.service, "operation": call.operation, "account": account,
            "skip": skip, "count": attempts,
        });
        let extra = match self {
            FaultKind::Throttle => json!({"kind": "throttle"}),
            FaultKind::Error5xx => json!({"kind": "error5xx", "status": 503}),
            FaultKind::Timeout => json!({"kind": "latency", "latencyMs": TIMEOUT_LATENCY_MS}),
            FaultKind::Drop => json!({"kind": "drop"}),
            // Only the first answer is lost: the retry meets the effect of the first try.
            FaultKind::DropAfter => json!({"kind": "drop", "after": true, "count": 1}),
            // Held far longer than the test takes to kill the process; clearing the
            // fault releases it.
            FaultKind::Crash => {
                json!({"kind": "latency", "latencyMs": 30000, "after": true, "count": 1})
            }
        };
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    }
}

/// One AWS call of an action, as the call log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.operation)
    }
}

/// The calls made by `account` since `seq`, in order.
pub async fn calls_since(world: &LocalAws, account: &str, seq: u64) -> Vec<Call> {
    logged_calls(world, account, seq, |_| true).await
}

/// The calls a clean run made, without those the world refused unasked (its own
/// internal error, or a throttle): the SDK retried each, and the retry is the call the
/// run makes. Fault cases target the calls that remain, so a transient in the clean run
/// does not shift every later case by one.
pub async fn answered_calls_since(world: &LocalAws, account: &str, seq: u64) -> Vec<Call> {
    logged_calls(world, account, seq, |c| {
        !matches!(c["outcome"].as_str(), Some("throttled" | "localaws-error"))
    })
    .await
}

/// The call log's entries for `account` since `seq` that `keep` accepts, in order.
async fn logged_calls(
    world: &LocalAws,
    account: &str,
    seq: u64,
    keep: impl Fn(&Value) -> bool,
) -> Vec<Call> {
    let v = world
        .get(&format!("/calls?account={account}&since={seq}"))
        .await;
    v["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| keep(c))
        .map(|c| Call {
            service: c["service"].as_str().unwrap_or("").to_string(),
            operation: c["operation"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

pub async fn last_seq(world: &LocalAws) -> u64 {
    world.get("/calls/counters").await["lastSeq"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until every call since `seq` has been answered (or dropped): a delayed call
/// still takes effect after its caller gave up, and the heal must see that effect.
pub async fn settle(world: &LocalAws, seq: u64) {
    for _ in 0..200 {
        let v = world.get(&format!("/calls?since={seq}")).await;
        let pending = v["calls"].as_array().is_some_and(|calls| {
            calls.iter().any(|c| {
                c["status"].is_null()
                    && !c["outcome"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("fault:drop"))
            })
        });
        if !pending {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("calls since {seq} never settled");
}

/// The control plane's announcements the world holds for an account, oldest first:
/// each event put on a bus (`Region Evacuated us-east-1`), and each announcement a
/// notice names (its subject lists them: `[service] Drill Started us-east-1, Region
/// Evacuated us-east-1`). Both as the world recorded them when the call took effect.
#[derive(Debug, Default, Clone)]
pub struct Announced {
    pub events: Vec<String>,
    pub notices: Vec<String>,
}

impl Announced {
    pub async fn read(world: &LocalAws, account: &str) -> Announced {
        let events = world
            .get(&format!(
                "/events/put-events?account={account}&source=controlplane.failover"
            ))
            .await;
        let messages = world.get(&format!("/sns/messages?account={account}")).await;
        let list = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
        Announced {
            events: list(&events, "events")
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["detailType"].as_str().unwrap_or("?"),
                        e["detail"]["region"].as_str().unwrap_or("?")
                    )
                })
                .collect(),
            notices: list(&messages, "messages")
                .iter()
                .filter_map(|m| m["subject"].as_str())
                .filter_map(|s| s.split_once("] ").map(|(_, items)| items.to_string()))
                .flat_map(|items| {
                    items
                        .split(", ")
                        .filter(|i| i.starts_with("Region ") || i.starts_with("Drill "))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    /// What was announced after `earlier` was read.
    pub fn since(&self, earlier: &Announced) -> Announced {
        Announced {
            events: self.events[earlier.events.len().min(self.events.len())..].to_vec(),
            notices: self.notices[earlier.notices.len().min(self.notices.len())..].to_vec(),
        }
    }

    /// What of `clean` is missing here: each announcement must have gone out, as an
    /// event and in a notice, at least once.
    pub fn missing(&self, clean: &Announced) -> Vec<String> {
        let mut out = Vec::new();
        for e in &clean.events {
            if !self.events.contains(e) {
                out.push(format!("event {e}"));
            }
        }
        for n in &clean.notices {
            if !self.notices.contains(n) {
                out.push(format!("notice of {n}"));
            }
        }
        out.dedup();
        out
    }
}

/// How many earlier calls of the same operation precede call `i`.
pub fn occurrence(sequence: &[Call], i: usize) -> usize {
    sequence[..i].iter().filter(|c| **c == sequence[i]).count()
}

/// A local AWS world for one test alone, warmed up (moto imports a service's code
/// on its first call, which can outlast a short attempt timeout on a busy machine).
pub async fn private_world() -> LocalAws {
    let world = LocalAws::start().await.unwrap_or_else(|e| panic!("{e}"));
    let r53 = aws_sdk_route53::Client::new(&world.sdk_config(testkit::PROD, SECONDARY));
    let _ = r53.list_hosted_zones().send().await;
    world
}

pub fn env_for(world: &LocalAws, topology: &Topology, config: &Value) -> Vec<(String, String)> {
    env_in(world, topology, config, PRIMARY)
}

/// The environment of the copy in `region`.
pub fn env_in(
    world: &LocalAws,
    topology: &Topology,
    config: &Value,
    region: &str,
) -> Vec<(String, String)> {
    let mut env = world.function_env(&topology.spec.account, region);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    env.push((
        shared::aws::ATTEMPT_TIMEOUT_ENV.into(),
        ATTEMPT_TIMEOUT_MS.to_string(),
    ));
    env
}

/// The binary the suite runs for `function`: the workspace's build, or for failover
/// the one `FAULTS_FAILOVER_BIN` names (`make faults-broken` points it at a build
/// without the min_active_regions rule, to show the matrix catches it).
pub fn function_binary(function: &str) -> std::path::PathBuf {
    match std::env::var_os("FAULTS_FAILOVER_BIN") {
        Some(path) if function == "failover" => path.into(),
        _ => binary(function),
    }
}

/// `function`, the real binary, in `topology`'s account under `config`.
async fn spawn_in(
    world: &LocalAws,
    topology: &Topology,
    config: &Value,
    function: &str,
) -> FunctionProcess {
    spawn_copy(world, topology, config, function, PRIMARY).await
}

/// The copy of `function` in `region`.
pub async fn spawn_copy(
    world: &LocalAws,
    topology: &Topology,
    config: &Value,
    function: &str,
    region: &str,
) -> FunctionProcess {
    FunctionProcess::spawn(
        &function_binary(function),
        function,
        &env_in(world, topology, config, region),
    )
    .await
    .unwrap_or_else(|e| panic!("{function} starts: {e}"))
}

/// A call sequence, printable.
fn call_list(sequence: &[Call]) -> String {
    sequence
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A call that changes something (as opposed to a read).
pub fn is_write(call: &Call) -> bool {
    ["Change", "Update", "Put", "Publish", "Create", "Delete"]
        .iter()
        .any(|w| call.operation.starts_with(w))
}

/// The fault kinds for call `i`: all of them under `FAULTS_FULL=1` (make soak); in
/// make test one kind per call, rotating, and a lost answer for every write too.
pub fn kinds_for(offset: usize, i: usize, call: &Call) -> Vec<FaultKind> {
    if std::env::var("FAULTS_FULL").is_ok_and(|v| v == "1") {
        return FaultKind::ALL.to_vec();
    }
    let mut kinds = vec![FaultKind::ALL[(offset + i) % FaultKind::ALL.len()]];
    if is_write(call) && !kinds.contains(&FaultKind::DropAfter) {
        kinds.push(FaultKind::DropAfter);
    }
    kinds
}

/// What the matrix saw.
#[derive(Default)]
pub struct Matrix {
    /// (action, call index, call, fault kind, outcome)
    pub rows: Vec<(String, usize, String, &'static str, String)>,
    pub invariants: usize,
    /// Faults the local world reports it injected (its per-fault counters).
    pub injected: u64,
    /// Every invariant that did not hold, with its case.
    pub violations: Vec<String>,
}

impl Matrix {
    pub fn add(&mut self, action: &str, i: usize, call: &Call, kind: FaultKind, outcome: String) {
        self.rows
            .push((action.into(), i, call.to_string(), kind.name(), outcome));
    }

    /// Checks one invariant. A broken one is recorded (and printed) and the run goes
    /// on, so the closing line counts every violation; `finish` then fails the test.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        self.invariants += 1;
        if !ok {
            let what = what();
            eprintln!("invariant broken: {what}");
            self.violations.push(what);
        }
        ok
    }

    /// Reads and clears the faults of a case in the world, adds what the world counts
    /// as injected, and checks that the fault fired on the very call it targets: the
    /// `skip`-th call of `call` by `account` since `seq` (the world's per-fault counters
    /// name the calls each fault hit).
    pub async fn fired(
        &mut self,
        world: &LocalAws,
        account: &str,
        seq: u64,
        call: &Call,
        skip: usize,
        ctx: impl Fn() -> String,
    ) {
        let faults = world.clear_faults().await;
        let injected: u64 = faults
            .iter()
            .map(|f| f["injected"].as_u64().unwrap_or(0))
            .sum();
        self.injected += injected;
        let first = faults
            .iter()
            .filter_map(|f| f["injectedSeqs"].as_array()?.first()?.as_u64())
            .min();
        let targeted = world
            .get(&format!(
                "/calls?account={account}&service={}&operation={}&since={seq}",
                call.service, call.operation
            ))
            .await["calls"]
            .as_array()
            .and_then(|calls| calls.get(skip)?["seq"].as_u64());
        self.check(injected > 0 && first.is_some() && first == targeted, || {
            format!(
                "{}: the fault did not fire on its call (injected {injected}, first on call {first:?}, targeted call {targeted:?})",
                ctx()
            )
        });
    }

    /// Prints the matrix and its closing line, adds it to the suite's totals
    /// (`target/reliability/faults.txt`) and fails the test on any violation.
    pub fn finish(&self, title: &str) -> String {
        let mut out = format!("== {title}: action x call x fault -> outcome\n");
        for (action, i, call, kind, outcome) in &self.rows {
            let _ = writeln!(
                out,
                "{action:<26} #{i:<2} {call:<44} {kind:<10} -> {outcome}"
            );
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (.., outcome) in &self.rows {
            let class = outcome.split(':').next().unwrap_or(outcome);
            *counts.entry(class).or_default() += 1;
        }
        for v in &self.violations {
            let _ = writeln!(out, "VIOLATED: {v}");
        }
        let _ = writeln!(
            out,
            "== {title}: {}; {}",
            closing_line(
                self.rows.len(),
                self.injected,
                self.invariants,
                self.violations.len()
            ),
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("{out}");
        write_summary(&summary_name(title), &out);
        let total = totals(title, self);
        eprintln!("{total}");
        assert!(
            self.violations.is_empty(),
            "{title}: {} invariant(s) violated:\n{}",
            self.violations.len(),
            self.violations.join("\n")
        );
        out
    }
}

/// Where a summary goes: `broken-<name>` when the suite runs against the broken build
/// (`make faults-broken`), so it never overwrites the normal run's.
fn summary_name(name: &str) -> String {
    if std::env::var_os("FAULTS_FAILOVER_BIN").is_some() {
        format!("broken-{name}")
    } else {
        name.to_string()
    }
}

/// The suite's closing line, in the one form CI prints.
pub fn closing_line(cases: usize, injected: u64, invariants: usize, violated: usize) -> String {
    format!(
        "faults: {cases} cases, {injected} injected (counted by the local AWS world), {invariants} invariants checked, {violated} violated"
    )
}

/// Adds one finished matrix to this run's totals and writes the closing line over
/// every matrix finished so far to `target/reliability/faults.txt` (the matrices run
/// in parallel: the last to finish writes the whole run's line). Returns that line.
fn totals(title: &str, m: &Matrix) -> String {
    static TOTALS: std::sync::Mutex<BTreeMap<String, (usize, u64, usize, usize)>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut all = TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    all.insert(
        title.to_string(),
        (m.rows.len(), m.injected, m.invariants, m.violations.len()),
    );
    let sum = all.values().fold((0, 0, 0, 0), |a, b| {
        (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
    });
    let line = closing_line(sum.0, sum.1, sum.2, sum.3);
    let parts = all
        .iter()
        .map(|(k, v)| format!("  {k}: {}", closing_line(v.0, v.1, v.2, v.3)))
        .collect::<Vec<_>>()
        .join("\n");
    write_summary(&summary_name("faults-by-matrix"), &format!("{parts}\n"));
    write_summary(&summary_name("faults"), &format!("{line}\n"));
    line
}

// ---------------------------------------------------------------------------
// failover

fn manual(action: &str, extra: Value) -> Value {
    let mut v = json!({"action": action, "reason": "reliability suite"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn tick() -> Value {
    json!({"task": "tick", "schedule_arn": "arn:aws:scheduler:eu-central-1:333333333333:schedule/default/failover-tick"})
}

/// The routing state as the matrix compares it: evacuated regions and drill phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub evacuated: Vec<String>,
    pub drill: Option<String>,
    pub gates_match: bool,
    /// Announcements (events and their notice) written in the state, not yet sent.
    pub owed: usize,
}

impl View {
    fn same_state(&self, other: &View) -> bool {
        self.evacuated == other.evacuated && self.drill == other.drill
    }
}

pub async fn invoke_ok(f: &mut FunctionProcess, payload: Value) -> Value {
    match f.invoke(payload.clone()).await {
        Ok(Reply::Ok(v)) => v,
        other => panic!(
            "{payload} -> {other:?}\n{}",
            f.output()[f.output().len().saturating_sub(20)..].join("\n")
        ),
    }
}

/// Sends `payload` to failover as it arrives in AWS: a routing action through the
/// function URL, signed by `operator` (a session of an operator role); anything else
/// (status, ticks, other functions' payloads) by Invoke.
pub async fn send(
    f: &mut FunctionProcess,
    operator: &str,
    payload: Value,
) -> Result<Reply, String> {
    let action = payload["action"].as_str().unwrap_or_default();
    if ::failover::request::ROUTING_ACTIONS.contains(&action) {
        f.invoke_as(operator, payload).await
    } else {
        f.invoke(payload).await
    }
}

/// [`send`], answered with a decision record.
pub async fn send_ok(f: &mut FunctionProcess, operator: &str, payload: Value) -> Value {
    match send(f, operator, payload.clone()).await {
        Ok(Reply::Ok(v)) => v,
        other => panic!(
            "{payload} -> {other:?}\n{}",
            f.output()[f.output().len().saturating_sub(20)..].join("\n")
        ),
    }
}

pub async fn view(f: &mut FunctionProcess) -> View {
    let mut status = invoke_ok(f, json!({"action": "status"})).await;
    // Right after a burst of runs, the status's reads can meet Route 53's 5 requests a
    // second past the SDK's retries (the local world enforces the quota): it is asked
    // again once the account's bucket has refilled, as an operator would run it again.
    for _ in 0..5 {
        let throttled =
            status["outcome"] == "failed" && status["errors"].to_string().contains("(throttling)");
        if !throttled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        status = invoke_ok(f, json!({"action": "status"})).await;
    }
    assert_eq!(status["outcome"], "noop", "status: {status}");
    let routing = &status["state"]["routing"];
    let mut evacuated: Vec<String> = routing["evacuated"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    evacuated.sort();
    let regions = status["state"]["regions"].as_object().unwrap();
    View {
        evacuated,
        drill: routing["drill"]["phase"].as_str().map(str::to_string),
        gates_match: regions
            .values()
            .all(|r| r["gate_matches_state"] == json!(true)),
        owed: routing["unannounced"].as_array().map_or(0, Vec::len),
    }
}

/// Did the action report its failure (decision record or function error)?
fn reported(reply: &Reply) -> bool {
    match reply {
        Reply::Error { .. } => true,
        Reply::Ok(r) => {
            r["outcome"] == "failed"
                || r["errors"].as_array().is_some_and(|e| !e.is_empty())
                || r["reason"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("drill aborted"))
        }
    }
}

fn outcome_of(reply: &Reply) -> String {
    match reply {
        Reply::Error { error_type, .. } => format!("error {error_type}"),
        Reply::Ok(r) => r["outcome"].as_str().unwrap_or("?").to_string(),
    }
}

/// Keeps the last printed matrix under target/ for docs/RELIABILITY.md.
pub fn write_summary(name: &str, text: &str) {
    let dir = testkit::repo_root().join("target/reliability");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.txt")), text);
}

// ---------------------------------------------------------------------------
// concurrency-scheduler

fn evacuated_event(region: &str) -> Value {
    json!({"version": "0", "id": "rel-1", "detail-type": "Region Evacuated", "source": "controlplane.failover",
           "account": "333333333333", "time": chrono::Utc::now().to_rfc3339(), "region": PRIMARY,
           "resources": [], "detail": {"region": region, "epoch": 1, "reason": "reliability suite"}})
}

pub async fn set_routing(world: &LocalAws, topology: &Topology, evacuated: Option<&str>) {
    use shared::aws::route53::{CasResult, Route53, StateStore};
    let r53 = Route53::new(
        &world.sdk_config(&topology.spec.account, SECONDARY),
        &topology.zone_id,
        &topology.state_record,
    );
    let current = r53.read().await.expect("read routing state");
    let mut next = current.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
    next.epoch += 1;
    next.evacuated.clear();
    next.drill = None;
    if let Some(region) = evacuated {
        next.evacuated.insert(
            shared::Region::parse(region).unwrap(),
            shared::routing::Evacuation {
                since: chrono::Utc::now(),
                by: "reliability suite".into(),
                reason: "arranged".into(),
                automatic: false,
                drill_id: None,
            },
        );
    }
    let swapped = r53
        .swap(current.as_ref().map(|(_, v)| v), &next)
        .await
        .expect("swap routing state");
    assert_eq!(swapped, CasResult::Swapped);
}

/// (requested, status) of the target's provisioned concurrency, once it has settled.
pub async fn pc(world: &LocalAws, topology: &Topology) -> Option<(i32, String)> {
    let lambda = aws_sdk_lambda::Client::new(&world.sdk_config(&topology.spec.account, PRIMARY));
    for _ in 0..100 {
        let out = lambda
            .get_provisioned_concurrency_config()
            .function_name(&topology.spec.workload_functions[0])
            .qualifier("live")
            .send()
            .await
            .ok()?;
        let status = out
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if status != "IN_PROGRESS" {
            return Some((
                out.requested_provisioned_concurrent_executions()
                    .unwrap_or(0),
                status,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("provisioned concurrency stayed IN_PROGRESS");
}

pub async fn scheduler_world(suffix: &str) -> (LocalAws, Topology, Value) {
    let world = private_world().await;
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.2}),
        )
        .await;
    let topology = Topology::create(&world, Spec::new(suffix))
        .await
        .expect("topology");
    let mut config = topology.config();
    config["concurrency"]["windows"] = json!([]);
    config["concurrency"]["ready_timeout"] = json!("1s");
    (world, topology, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix_concurrency_scheduler() {
    let (world, topology, config) = scheduler_world("fms").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let mut f = spawn_in(world, &topology, &config, "concurrency-scheduler").await;
    let _ = f.invoke(json!({"action": "plan"})).await;
    let mut matrix = Matrix::default();
    let name = "scheduler surge 2->4";

    async fn arrange(f: &mut FunctionProcess, world: &LocalAws, topology: &Topology) {
        set_routing(world, topology, None).await;
        invoke_ok(f, tick()).await;
        assert_eq!(pc(world, topology).await, Some((2, "READY".into())));
        set_routing(world, topology, Some(SECONDARY)).await;
    }

    arrange(&mut f, world, &topology).await;
    let seq = last_seq(world).await;
    let clean = invoke_ok(&mut f, evacuated_event(SECONDARY)).await;
    let sequence = answered_calls_since(world, &account, seq).await;
    assert_eq!(clean["outcome"], "applied", "{clean}");
    assert_eq!(pc(world, &topology).await, Some((4, "READY".into())));
    println!(
        "{name}: {} AWS calls: {}",
        sequence.len(),
        call_list(&sequence)
    );
    for (i, call) in sequence.iter().enumerate() {
        for kind in kinds_for(0, i, call) {
            arrange(&mut f, world, &topology).await;
            let seq = last_seq(world).await;
            world
                .post(
                    "/faults",
                    kind.spec(call, &account, occurrence(&sequence, i), ATTEMPTS),
                )
                .await;
            let reply = f
                .invoke(evacuated_event(SECONDARY))
                .await
                .expect("the function answers");
            let ctx = || format!("{name} #{i} {call} {}: {reply:?}", kind.name());
            matrix
                .fired(world, &account, seq, call, occurrence(&sequence, i), ctx)
                .await;
            settle(world, seq).await;
            let now = pc(world, &topology).await;
            matrix.check(matches!(&now, Some((2 | 4, s)) if s == "READY"), || {
                format!("{}: provisioned concurrency is {now:?}", ctx())
            });
            let done = now == Some((4, "READY".into()));
            if !done {
                matrix.check(reported(&reply), || {
                    format!("{}: not at 4 and not reported", ctx())
                });
            }
            let healed = invoke_ok(&mut f, tick()).await;
            matrix.check(healed["outcome"] != "failed", || {
                format!("{}: the reconcile failed: {healed}", ctx())
            });
            let after = pc(world, &topology).await;
            matrix.check(after == Some((4, "READY".into())), || {
                format!("{}: the next reconcile left {after:?}: {healed}", ctx())
            });
            let outcome = if done {
                format!("completed: {}", outcome_of(&reply))
            } else {
                format!("healed by reconcile: {}", outcome_of(&reply))
            };
            matrix.add(name, i, call, kind, outcome);
        }
    }
    f.stop().await;
    matrix.finish("concurrency-scheduler");
}

// ---------------------------------------------------------------------------
// replication-monitor

pub async fn monitor_world(suffix: &str) -> (LocalAws, Topology, Value) {
    let world = private_world().await;
    let topology = Topology::create(&world, Spec::new(suffix))
        .await
        .expect("topology");
    let mut config = topology.config();
    config["replication"]["window"] = json!("1h");
    config["replication"]["secrets"]["lag_threshold"] = json!("3s");
    (world, topology, config)
}

async fn replica(world: &LocalAws, topology: &Topology, status: &str) {
    world
        .post(
            "/secretsmanager/replica-status",
            json!({"secretId": topology.spec.secrets[0], "region": SECONDARY, "status": status,
                   "message": "reliability suite"}),
        )
        .await;
}

async fn alerts(world: &LocalAws, topology: &Topology, what: &str) -> usize {
    let v = world
        .get(&format!(
            "/sns/messages?topicArn={}",
            topology.topics[PRIMARY]
        ))
        .await;
    v["messages"].as_array().map_or(0, |m| {
        m.iter()
            .filter(|x| x["subject"].as_str().is_some_and(|s| s.contains(what)))
            .count()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix_replication_monitor() {
    let (world, topology, config) = monitor_world("fmm").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let mut f = spawn_in(world, &topology, &config, "replication-monitor").await;
    let _ = f.invoke(json!({"action": "check", "dry_run": true})).await;
    let mut matrix = Matrix::default();
    let name = "monitor secrets alert";
    let breach = "secrets replication over threshold";

    async fn arrange(f: &mut FunctionProcess, world: &LocalAws, topology: &Topology) {
        replica(world, topology, "InSync").await;
        let r = invoke_ok(f, tick()).await;
        assert_ne!(r["outcome"], "failed", "{r}");
        replica(world, topology, "Failed").await;
    }

    arrange(&mut f, world, &topology).await;
    let seq = last_seq(world).await;
    let before = alerts(world, &topology, breach).await;
    let clean = invoke_ok(&mut f, tick()).await;
    let sequence = answered_calls_since(world, &account, seq).await;
    assert_eq!(
        alerts(world, &topology, breach).await,
        before + 1,
        "{clean}"
    );
    println!(
        "{name}: {} AWS calls: {}",
        sequence.len(),
        call_list(&sequence)
    );
    for (i, call) in sequence.iter().enumerate() {
        for kind in kinds_for(0, i, call) {
            arrange(&mut f, world, &topology).await;
            let before = alerts(world, &topology, breach).await;
            let seq = last_seq(world).await;
            world
                .post(
                    "/faults",
                    kind.spec(call, &account, occurrence(&sequence, i), ATTEMPTS),
                )
                .await;
            let reply = f.invoke(tick()).await.expect("the function answers");
            let ctx = || format!("{name} #{i} {call} {}: {reply:?}", kind.name());
            matrix
                .fired(world, &account, seq, call, occurrence(&sequence, i), ctx)
                .await;
            settle(world, seq).await;
            let sent = alerts(world, &topology, breach).await - before;
            // An SNS Publish whose answer was lost is sent again by the SDK's retry:
            // alerts are at least once (a standard topic cannot deduplicate).
            let lost_publish = kind == FaultKind::DropAfter && call.operation == "Publish";
            if sent != 1 && !lost_publish {
                matrix.check(reported(&reply), || {
                    format!("{}: {sent} alert(s) and not reported", ctx())
                });
            }
            let healed = invoke_ok(&mut f, tick()).await;
            matrix.check(healed["outcome"] != "failed", || {
                format!("{}: the next check failed: {healed}", ctx())
            });
            let total = alerts(world, &topology, breach).await - before;
            matrix.check(total >= 1, || {
                format!("{}: the crossing was never alerted", ctx())
            });
            // A third run sends nothing more: once per crossing.
            invoke_ok(&mut f, tick()).await;
            let settled = alerts(world, &topology, breach).await - before;
            matrix.check(settled == total, || {
                format!("{}: alerted again without a new crossing", ctx())
            });
            if total > 1 {
                matrix.check(reported(&reply) || lost_publish, || {
                    format!("{}: {total} alerts for one crossing, unreported", ctx())
                });
            }
            let outcome = match (sent, total) {
                (1, 1) => format!("completed: {}", outcome_of(&reply)),
                (0, 1) => format!("healed by next check: {}", outcome_of(&reply)),
                (_, n) => format!("alerted {n}x (at least once): {}", outcome_of(&reply)),
            };
            matrix.add(name, i, call, kind, outcome);
        }
    }
    f.stop().await;
    matrix.finish("replication-monitor");
}

// ---------------------------------------------------------------------------
// duplicates and order against the local world

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_make_the_changes_of_one_delivery() {
    let world = &private_world().await;
    let topology = Topology::create(world, Spec::new("dup"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let config = topology.config();
    let mut f = spawn_in(world, &topology, &config, "failover").await;
    let alarm = {
        let mut a = crate::e2e::fixture("cloudwatch-alarm-state-change.json");
        testkit::address_alarm_event(
            &mut a,
            &topology.alarm_arn(&format!("orders-health-{SECONDARY}-dup")),
        );
        a
    };
    // The alarm is in ALARM as CloudWatch holds it (failover decides on that, not on the
    // fixture's date).
    topology.set_region_endpoints(world, SECONDARY, false).await;
    topology.evaluate_alarms(world).await;
    let seq = last_seq(world).await;
    let mut applied = 0;
    for _ in 0..20 {
        let r = invoke_ok(&mut f, alarm.clone()).await;
        if r["outcome"] == "applied" {
            applied += 1;
        } else {
            assert_eq!(r["outcome"], "noop", "{r}");
        }
    }
    let writes = |calls: &[Call], op: &str| calls.iter().filter(|c| c.operation == op).count();
    let calls = calls_since(world, &account, seq).await;
    assert_eq!(applied, 1);
    assert_eq!(
        writes(&calls, "ChangeResourceRecordSets"),
        2,
        "one CAS, and its announcement recorded as sent"
    );
    assert_eq!(writes(&calls, "UpdateHealthCheck"), 1, "one gate update");
    assert_eq!(writes(&calls, "PutEvents"), 1, "one Region Evacuated");
    let v = view(&mut f).await;
    assert_eq!(v.evacuated, vec![SECONDARY.to_string()]);
    f.stop().await;

    // The scheduler: Region Evacuated and Drill Started, each many times, shuffled.
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.2}),
        )
        .await;
    let mut config = config;
    config["concurrency"]["windows"] = json!([]);
    config["concurrency"]["ready_timeout"] = json!("1s");
    let mut s = spawn_in(world, &topology, &config, "concurrency-scheduler").await;
    let _ = s.invoke(json!({"action": "plan"})).await;
    let mut events: Vec<Value> = Vec::new();
    for i in 0..10 {
        let mut e = evacuated_event(SECONDARY);
        if i % 3 == 0 {
            e["detail-type"] = json!("Drill Started");
        }
        events.push(e);
    }
    // A fixed shuffle (deterministic): reverse interleave.
    let (a, b): (Vec<_>, Vec<_>) = events
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let shuffled: Vec<Value> = b.into_iter().rev().chain(a).map(|(_, e)| e).collect();
    let seq = last_seq(world).await;
    for e in shuffled {
        let r = invoke_ok(&mut s, e).await;
        assert_ne!(r["outcome"], "failed", "{r}");
    }
    let calls = calls_since(world, &account, seq).await;
    assert_eq!(
        writes(&calls, "PutProvisionedConcurrencyConfig"),
        1,
        "one put for ten deliveries"
    );
    assert_eq!(pc(world, &topology).await, Some((4, "READY".into())));
    s.stop().await;
}

/// With manual failback, an evacuated region whose alarm goes OK is told to a person:
/// once per OK state change. EventBridge delivers at least once, so the same OK event
/// may come many times; its repeats are not news and notify nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_ok_alarm_notifies_once_per_state_change() {
    let world = &private_world().await;
    let topology = Topology::create(world, Spec::new("okn"))
        .await
        .expect("topology");
    let config = topology.config();
    let mut f = spawn_in(world, &topology, &config, "failover").await;
    let evacuated = send_ok(
        &mut f,
        &topology.operator(),
        manual("evacuate", json!({"region": SECONDARY})),
    )
    .await;
    assert_eq!(evacuated["outcome"], "applied", "{evacuated}");
    // The region's endpoints are healthy and CloudWatch holds its alarm OK.
    topology.set_region_endpoints(world, SECONDARY, true).await;
    topology.evaluate_alarms(world).await;
    let arn = topology.alarm_arn(&format!("orders-health-{SECONDARY}-okn"));
    let recovered = || async {
        world
            .get(&format!(
                "/sns/messages?topicArn={}",
                topology.topics[PRIMARY]
            ))
            .await["messages"]
            .as_array()
            .map_or(0, |m| {
                m.iter()
                    .filter(|x| {
                        x["subject"]
                            .as_str()
                            .is_some_and(|s| s.contains("recovered"))
                    })
                    .count()
            })
    };
    let ok = testkit::alarm_event(&arn, "OK");
    for _ in 0..5 {
        let r = invoke_ok(&mut f, ok.clone()).await;
        assert_eq!(r["outcome"], "noop", "{r}");
    }
    assert_eq!(
        recovered().await,
        1,
        "five deliveries of one OK change: one notice"
    );
    // The region fails again and recovers again: a new OK state change, told once more.
    topology.set_region_endpoints(world, SECONDARY, false).await;
    topology.evaluate_alarms(world).await;
    invoke_ok(&mut f, testkit::alarm_event(&arn, "ALARM")).await;
    topology.set_region_endpoints(world, SECONDARY, true).await;
    topology.evaluate_alarms(world).await;
    let later = testkit::alarm_event(&arn, "OK");
    for _ in 0..3 {
        invoke_ok(&mut f, later.clone()).await;
    }
    assert_eq!(
        recovered().await,
        2,
        "a new OK state change: one more notice"
    );
    let v = view(&mut f).await;
    assert_eq!(
        v.evacuated,
        vec![SECONDARY.to_string()],
        "failback stays manual"
    );
    f.stop().await;
}

// ---------------------------------------------------------------------------
// bad input to the binaries, and security

/// Payloads every function must reject without touching AWS.
fn rejected_payloads() -> Vec<Value> {
    let mut out = vec![
        json!(null),
        json!(42),
        json!("evacuate"),
        json!([{"action": "status"}]),
        json!({}),
        json!({"hello": "world"}),
        json!({"action": 7}),
        json!({"action": "launch_missiles"}),
        json!({"action": "status", "surprise": true}),
        json!({"detail-type": "Unknown Thing", "source": "x", "detail": {}}),
        json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch"}),
        json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {"state": {"value": "MAYBE"}}}),
        json!({"alarmData": "no"}),
        json!({"task": "explode"}),
        json!({"task": 5}),
        json!({"detail-type": "Region Evacuated", "source": "evil.source", "detail": {"region": "us-east-1"}}),
        json!({"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": []}),
    ];
    // Mutated fixtures: required fields removed or retyped.
    for (name, path) in [
        ("cloudwatch-alarm-state-change.json", "detail"),
        ("scheduler-tick.json", "task"),
        ("ecr-image-action.json", "detail"),
        ("controlplane-region-evacuated.json", "detail"),
    ] {
        let mut v = crate::e2e::fixture(name);
        v[path] = json!(["not", "an", "object"]);
        out.push(v);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_input_makes_no_aws_call_and_manual_actions_need_a_reason() {
    let (world, topology, config) = monitor_world("bad").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let mut summary = String::new();
    for name in ["failover", "concurrency-scheduler", "replication-monitor"] {
        let mut f = spawn_in(world, &topology, &config, name).await;
        // Cold start work (config, clients) first, so only invocations are counted.
        let _ = f.invoke(json!({"action": "plan"})).await;
        let seq = last_seq(world).await;
        let mut rejected = 0;
        for payload in rejected_payloads() {
            match f.invoke(payload.clone()).await.unwrap() {
                Reply::Error {
                    error_type,
                    error_message,
                } => {
                    assert_eq!(
                        error_type, "NonRetryable",
                        "{name} {payload}: {error_message}"
                    );
                    assert!(
                        error_message.len() > 10,
                        "{name} {payload}: {error_message:?}"
                    );
                    rejected += 1;
                }
                Reply::Ok(r) => panic!("{name} accepted {payload}: {r}"),
            }
        }
        let calls = calls_since(world, &account, seq).await;
        assert!(
            calls.is_empty(),
            "{name} called AWS for rejected input: {calls:?}"
        );
        let _ = writeln!(
            summary,
            "{name}: {rejected} malformed payloads rejected, 0 AWS calls"
        );
        f.stop().await;
    }

    // Manual actions that change something need a reason; the caller is recorded.
    let mut f = spawn_in(world, &topology, &config, "failover").await;
    let by = topology.operator();
    for payload in [
        json!({"action": "evacuate", "region": SECONDARY}),
        json!({"action": "restore", "region": SECONDARY}),
        json!({"action": "drill", "region": SECONDARY}),
        json!({"action": "end_drill"}),
        json!({"action": "evacuate", "region": SECONDARY, "reason": "  "}),
    ] {
        match f.invoke_as(&by, payload.clone()).await.unwrap() {
            Reply::Error { error_message, .. } => {
                assert!(
                    error_message.contains("reason"),
                    "{payload}: {error_message}"
                )
            }
            Reply::Ok(r) => panic!("{payload} accepted without a reason: {r}"),
        }
    }
    let r = send_ok(
        &mut f,
        &by,
        json!({"action": "evacuate", "region": SECONDARY, "reason": "suite", "dry_run": true}),
    )
    .await;
    assert_eq!(r["requested_by"], by.as_str(), "{r}");
    let r = send_ok(
        &mut f,
        &by,
        json!({"action": "evacuate", "region": SECONDARY, "reason": "suite"}),
    )
    .await;
    assert_eq!(
        (r["outcome"].as_str(), r["requested_by"].as_str()),
        (Some("applied"), Some(by.as_str())),
        "{r}"
    );
    let status = invoke_ok(&mut f, json!({"action": "status"})).await;
    assert_eq!(
        status["state"]["routing"]["evacuated"][SECONDARY]["by"],
        by.as_str(),
        "{status}"
    );
    f.stop().await;
    let mut s = spawn_in(world, &topology, &config, "concurrency-scheduler").await;
    match s
        .invoke(json!({"action": "override", "function": topology.spec.workload_functions[0], "level": 3, "until": "1h"}))
        .await
        .unwrap()
    {
        Reply::Error { error_message, .. } => assert!(error_message.contains("reason"), "{error_message}"),
        Reply::Ok(r) => panic!("override accepted without a reason: {r}"),
    }
    s.stop().await;
    println!("{summary}");
    write_summary("bad-input-binaries", &summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_reaches_logs_or_decision_records() {
    let (world, topology, config) = monitor_world("sec").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let secret = format!(
        "S3CRET-{}-do-not-log",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let sm = aws_sdk_secretsmanager::Client::new(&world.sdk_config(&account, PRIMARY));
    sm.put_secret_value()
        .secret_id(&topology.spec.secrets[0])
        .secret_string(&secret)
        .send()
        .await
        .unwrap();
    let seq = last_seq(world).await;
    let mut records = Vec::new();
    let mut lines = Vec::new();
    for (name, payloads) in [
        (
            "replication-monitor",
            vec![json!({"action": "check"}), tick()],
        ),
        (
            "failover",
            vec![
                json!({"action": "status"}),
                manual("evacuate", json!({"region": SECONDARY})),
                tick(),
            ],
        ),
        (
            "concurrency-scheduler",
            vec![json!({"action": "plan"}), tick()],
        ),
    ] {
        let mut f = spawn_in(world, &topology, &config, name).await;
        for p in payloads {
            records.push(send_ok(&mut f, &topology.operator(), p).await.to_string());
        }
        // Also a secret in a rejected payload is not echoed back.
        match f
            .invoke(json!({"action": "status", "password": secret.clone()}))
            .await
            .unwrap()
        {
            Reply::Error { error_message, .. } => records.push(error_message),
            Reply::Ok(v) => panic!("{name} accepted an unknown field: {v}"),
        }
        lines.extend(f.output());
        f.stop().await;
    }
    assert!(lines.len() > 5, "captured output: {lines:?}");
    for text in records.iter().chain(&lines) {
        assert!(!text.contains(&secret), "secret value leaked: {text}");
    }
    let calls = calls_since(world, &account, seq).await;
    assert!(
        !calls.iter().any(|c| c.operation == "GetSecretValue"),
        "no function reads secret values"
    );
    write_summary(
        "secrets",
        &format!(
            "secret value scanned for in {} decision records/errors and {} log lines: absent; 0 GetSecretValue calls\n",
            records.len(),
            lines.len()
        ),
    );
}
