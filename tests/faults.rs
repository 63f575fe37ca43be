//! The fault matrix, crash points and duplicate deliveries: the real binaries under
//! the runtime emulator against a local AWS world of their own (faults there hit
//! nobody else). For each mutating action the clean run's call log gives its AWS
//! call sequence; then each call in turn is broken with each fault kind, on every
//! attempt the SDK makes (so the function itself sees the failure). Every case must
//! end completed, or consistent with the failure reported, and healed by the next
//! scheduled run (and, where nothing was written, by the caller's retry).

use crate::e2e::binary;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use testkit::runtime::{FunctionProcess, Reply};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

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
    let v = world
        .get(&format!("/calls?account={account}&since={seq}"))
        .await;
    v["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
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
    let mut env = world.function_env(&topology.spec.account, PRIMARY);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    env.push((
        shared::aws::ATTEMPT_TIMEOUT_ENV.into(),
        ATTEMPT_TIMEOUT_MS.to_string(),
    ));
    env
}

/// `function`, the real binary, in `topology`'s account under `config`.
async fn spawn_in(
    world: &LocalAws,
    topology: &Topology,
    config: &Value,
    function: &str,
) -> FunctionProcess {
    FunctionProcess::spawn(
        &binary(function),
        function,
        &env_for(world, topology, config),
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
}

impl Matrix {
    pub fn add(&mut self, action: &str, i: usize, call: &Call, kind: FaultKind, outcome: String) {
        self.rows
            .push((action.into(), i, call.to_string(), kind.name(), outcome));
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.invariants += 1;
        assert!(ok, "invariant broken: {}", what());
    }

    pub fn print(&self, title: &str) -> String {
        let mut out = format!("== {title}: action x call x fault -> outcome\n");
        for (action, i, call, kind, outcome) in &self.rows {
            let _ = writeln!(
                out,
                "{action:<22} #{i:<2} {call:<48} {kind:<10} -> {outcome}"
            );
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (.., outcome) in &self.rows {
            let class = outcome.split(':').next().unwrap_or(outcome);
            *counts.entry(class).or_default() += 1;
        }
        let _ = writeln!(
            out,
            "== {title}: {} cases, {} faults injected, {} invariants held; {}",
            self.rows.len(),
            self.rows.len(),
            self.invariants,
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("{out}");
        out
    }
}

// ---------------------------------------------------------------------------
// failover

fn manual(action: &str, extra: Value) -> Value {
    let mut v = json!({"action": action, "reason": "reliability suite", "requested_by": "arn:aws:sts::333333333333:assumed-role/sre/suite"});
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

pub async fn view(f: &mut FunctionProcess) -> View {
    let status = invoke_ok(f, json!({"action": "status"})).await;
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
    }
}

/// Brings the world to `want` (no faults): ends drills, restores, evacuates, ticks.
async fn arrange(f: &mut FunctionProcess, want: &str) -> View {
    let v = view(f).await;
    if v.drill.is_some() {
        invoke_ok(f, manual("end_drill", json!({}))).await;
    }
    let v = view(f).await;
    for region in &v.evacuated {
        invoke_ok(
            f,
            manual("restore", json!({"region": region, "force": true})),
        )
        .await;
    }
    match want {
        "active" => {}
        "evacuated" => {
            invoke_ok(f, manual("evacuate", json!({"region": SECONDARY}))).await;
        }
        "drill" => {
            invoke_ok(
                f,
                manual(
                    "drill",
                    json!({"region": SECONDARY, "duration_minutes": 30}),
                ),
            )
            .await;
        }
        other => panic!("unknown arrangement {other}"),
    }
    invoke_ok(f, tick()).await;
    let v = view(f).await;
    assert!(v.gates_match, "arranged {want}: {v:?}");
    v
}

struct FailoverAction {
    name: &'static str,
    pre: &'static str,
    payload: Value,
}

fn failover_actions() -> Vec<FailoverAction> {
    vec![
        FailoverAction {
            name: "failover evacuate",
            pre: "active",
            payload: manual("evacuate", json!({"region": SECONDARY})),
        },
        FailoverAction {
            name: "failover restore",
            pre: "evacuated",
            payload: manual("restore", json!({"region": SECONDARY})),
        },
        FailoverAction {
            name: "failover drill start",
            pre: "active",
            payload: manual(
                "drill",
                json!({"region": SECONDARY, "duration_minutes": 30}),
            ),
        },
        FailoverAction {
            name: "failover drill end",
            pre: "drill",
            payload: manual("end_drill", json!({})),
        },
    ]
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

#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix_failover() {
    let world = &private_world().await;
    // Route 53's request quota off in this private world, and only here: the matrix
    // replays a failover run for every call of it and every fault kind, dozens of runs
    // a second, far above a deployment's rate (a tick a minute per copy); a quota
    // refusal would be a fault the matrix did not inject and cannot attribute. The quota
    // itself is exercised by strict::quotas and the racing copies in failover.rs.
    world
        .post(
            "/throttling",
            json!({"service": "route53", "enabled": false}),
        )
        .await;
    let topology = Topology::create(world, Spec::new("fmf"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let config = topology.config();
    let mut f = spawn_in(world, &topology, &config, "failover").await;
    let mut matrix = Matrix::default();

    for (a, action) in failover_actions().into_iter().enumerate() {
        // The clean run: its calls, and the state it leads to.
        let pre = arrange(&mut f, action.pre).await;
        let seq = last_seq(world).await;
        let clean = invoke_ok(&mut f, action.payload.clone()).await;
        let sequence = calls_since(world, &account, seq).await;
        assert_eq!(clean["outcome"], "applied", "{}: {clean}", action.name);
        let post = view(&mut f).await;
        assert!(post.gates_match, "{}: clean run left {post:?}", action.name);
        assert!(!post.same_state(&pre), "{}: changed nothing", action.name);
        println!(
            "{}: {} AWS calls: {}",
            action.name,
            sequence.len(),
            call_list(&sequence)
        );

        for (i, call) in sequence.iter().enumerate() {
            for kind in kinds_for(a, i, call) {
                arrange(&mut f, action.pre).await;
                let seq = last_seq(world).await;
                world
                    .post(
                        "/faults",
                        kind.spec(call, &account, occurrence(&sequence, i), ATTEMPTS),
                    )
                    .await;
                let reply = f
                    .invoke(action.payload.clone())
                    .await
                    .expect("the function answers");
                world.delete("/faults").await;
                settle(world, seq).await;
                let ctx = || format!("{} #{i} {call} {}: {reply:?}", action.name, kind.name());
                let after = view(&mut f).await;
                matrix.check(after.same_state(&pre) || after.same_state(&post), || {
                    format!("{}: state is neither before nor after: {after:?}", ctx())
                });
                matrix.check(after.evacuated.len() < 2, || {
                    format!("{}: every region evacuated", ctx())
                });
                let done = after.same_state(&post) && after.gates_match;
                if !done {
                    matrix.check(reported(&reply), || {
                        format!("{}: not done ({after:?}) and not reported", ctx())
                    });
                }
                // The next scheduled run heals what is left.
                let healed = invoke_ok(&mut f, tick()).await;
                matrix.check(healed["outcome"] != "failed", || {
                    format!("{}: the tick failed: {healed}", ctx())
                });
                let after_tick = view(&mut f).await;
                matrix.check(after_tick.gates_match, || {
                    format!("{}: gates disagree after the tick: {after_tick:?}", ctx())
                });
                let outcome = if done {
                    format!("completed: {}", outcome_of(&reply))
                } else if after_tick.same_state(&post) {
                    format!("healed by tick: {}", outcome_of(&reply))
                } else {
                    // Nothing was written: the caller's retry (or the re-delivered event) completes it.
                    let retry = invoke_ok(&mut f, action.payload.clone()).await;
                    let retried = view(&mut f).await;
                    matrix.check(retried.same_state(&post) && retried.gates_match, || {
                        format!("{}: the retry did not complete: {retry} {retried:?}", ctx())
                    });
                    format!("failed, retry completes: {}", outcome_of(&reply))
                };
                matrix.add(action.name, i, call, kind, outcome);
            }
        }
    }
    let printed = matrix.print("failover");
    write_summary("failover", &printed);
    f.stop().await;
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
    let sequence = calls_since(world, &account, seq).await;
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
            world.delete("/faults").await;
            settle(world, seq).await;
            let ctx = || format!("{name} #{i} {call} {}: {reply:?}", kind.name());
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
    let printed = matrix.print("concurrency-scheduler");
    write_summary("concurrency-scheduler", &printed);
    f.stop().await;
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
    let sequence = calls_since(world, &account, seq).await;
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
            world.delete("/faults").await;
            settle(world, seq).await;
            let ctx = || format!("{name} #{i} {call} {}: {reply:?}", kind.name());
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
    let printed = matrix.print("replication-monitor");
    write_summary("replication-monitor", &printed);
    f.stop().await;
}

// ---------------------------------------------------------------------------
// crash points

/// Invokes `payload` and kills the process as soon as the call log shows `operation`
/// (which the world holds without answering): the process dies between two steps.
async fn kill_at(
    mut f: FunctionProcess,
    world: &LocalAws,
    account: &str,
    payload: Value,
    service: &str,
    operation: &str,
) {
    let seq = last_seq(world).await;
    let watch = async {
        loop {
            let calls = calls_since(world, account, seq).await;
            if calls
                .iter()
                .any(|c| c.service == service && c.operation == operation)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        reply = f.invoke(payload) => panic!("the function answered before {operation}: {reply:?}"),
        () = watch => {}
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_after_the_state_cas_before_the_gate_heals_on_the_next_tick() {
    let world = &private_world().await;
    let topology = Topology::create(world, Spec::new("crf"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let env = env_for(world, &topology, &topology.config());
    let bin = binary("failover");
    let spawn = || FunctionProcess::spawn(&bin, "failover", &env);
    // The gate update hangs (and is then dropped unapplied): the process is killed meanwhile.
    for spec in [
        json!({"service": "route53", "operation": "UpdateHealthCheck", "kind": "latency", "latencyMs": 20000, "count": 1}),
        json!({"service": "route53", "operation": "UpdateHealthCheck", "kind": "drop", "count": 1}),
    ] {
        world.post("/faults", spec).await;
    }
    let f = spawn().await.unwrap();
    kill_at(
        f,
        world,
        &account,
        manual("evacuate", json!({"region": SECONDARY})),
        "route53",
        "UpdateHealthCheck",
    )
    .await;
    world.delete("/faults").await;

    let mut g = spawn().await.unwrap();
    let died = view(&mut g).await;
    assert_eq!(
        died.evacuated,
        vec![SECONDARY.to_string()],
        "the CAS happened"
    );
    assert!(!died.gates_match, "the gate was not updated: {died:?}");
    let healed = invoke_ok(&mut g, tick()).await;
    assert_eq!(healed["outcome"], "applied", "{healed}");
    assert!(
        healed["reason"]
            .as_str()
            .unwrap()
            .contains("repaired gates"),
        "{healed}"
    );
    let after = view(&mut g).await;
    assert!(
        after.gates_match && after.evacuated == died.evacuated,
        "{after:?}"
    );
    let again = invoke_ok(&mut g, tick()).await;
    assert_eq!(again["outcome"], "noop", "converged: {again}");
    println!("crash point failover (after CAS, before gate): killed; next tick repaired the gate");
    write_summary(
        "crash-failover",
        "failover killed after the state CAS, before the gate update: next tick applied (repaired gates), then noop\n",
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_after_a_provisioned_concurrency_put_before_ready_converges() {
    let (world, topology, mut config) = scheduler_world("crs").await;
    let world = &world;
    let account = topology.spec.account.clone();
    config["concurrency"]["ready_timeout"] = json!("30s");
    let env = env_for(world, &topology, &config);
    let bin = binary("concurrency-scheduler");
    let spawn = || FunctionProcess::spawn(&bin, "concurrency-scheduler", &env);
    let mut f = spawn().await.unwrap();
    let _ = f.invoke(json!({"action": "plan"})).await;
    invoke_ok(&mut f, tick()).await;
    assert_eq!(pc(world, &topology).await, Some((2, "READY".into())));
    // Slow to become READY, so the process dies while the change is IN_PROGRESS.
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 3}),
        )
        .await;
    set_routing(world, &topology, Some(SECONDARY)).await;
    kill_at(
        f,
        world,
        &account,
        evacuated_event(SECONDARY),
        "lambda",
        "PutProvisionedConcurrencyConfig",
    )
    .await;
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.2}),
        )
        .await;
    let mut g = spawn().await.unwrap();
    let next = invoke_ok(&mut g, tick()).await;
    assert_ne!(next["outcome"], "failed", "{next}");
    assert_eq!(pc(world, &topology).await, Some((4, "READY".into())));
    let again = invoke_ok(&mut g, tick()).await;
    assert_eq!(again["outcome"], "noop", "converged: {again}");
    // Back down after the region returns: the crash left nothing behind.
    set_routing(world, &topology, None).await;
    let down = invoke_ok(&mut g, tick()).await;
    assert_eq!(down["outcome"], "applied", "{down}");
    assert_eq!(pc(world, &topology).await, Some((2, "READY".into())));
    println!("crash point scheduler (after put, before READY): killed; next reconcile converged at 4, then back to 2");
    write_summary(
        "crash-scheduler",
        "scheduler killed after PutProvisionedConcurrencyConfig, before READY: next reconcile converged (4 READY), noop after, back to 2 on restore\n",
    );
    g.stop().await;
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
    for payload in [
        json!({"action": "evacuate", "region": SECONDARY, "requested_by": "alice"}),
        json!({"action": "restore", "region": SECONDARY, "requested_by": "alice"}),
        json!({"action": "drill", "region": SECONDARY, "requested_by": "alice"}),
        json!({"action": "end_drill", "requested_by": "alice"}),
        json!({"action": "evacuate", "region": SECONDARY, "reason": "  ", "requested_by": "alice"}),
    ] {
        match f.invoke(payload.clone()).await.unwrap() {
            Reply::Error { error_message, .. } => {
                assert!(
                    error_message.contains("reason"),
                    "{payload}: {error_message}"
                )
            }
            Reply::Ok(r) => panic!("{payload} accepted without a reason: {r}"),
        }
    }
    let by = "arn:aws:sts::333333333333:assumed-role/sre/alice";
    let r = invoke_ok(
        &mut f,
        json!({"action": "evacuate", "region": SECONDARY, "reason": "suite", "requested_by": by, "dry_run": true}),
    )
    .await;
    assert_eq!(r["requested_by"], by, "{r}");
    let r = invoke_ok(
        &mut f,
        json!({"action": "evacuate", "region": SECONDARY, "reason": "suite", "requested_by": by}),
    )
    .await;
    assert_eq!(
        (r["outcome"].as_str(), r["requested_by"].as_str()),
        (Some("applied"), Some(by)),
        "{r}"
    );
    let status = invoke_ok(&mut f, json!({"action": "status"})).await;
    assert_eq!(
        status["state"]["routing"]["evacuated"][SECONDARY]["by"], by,
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
            records.push(invoke_ok(&mut f, p).await.to_string());
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
