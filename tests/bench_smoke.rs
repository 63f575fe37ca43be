//! The benchmarks' smoke run (`make bench` measures; this only proves the
//! harness works and checks what a run must show on any machine: outcomes and
//! API-call counts, never times). Uses the debug binaries `make test` builds.

use ::bench::{self, Options};
use testkit::LocalAws;

fn smoke() -> Options {
    let mut options = Options::smoke();
    options.bin_dir = testkit::debug_dir();
    options
}

#[tokio::test(flavor = "multi_thread")]
async fn in_process_handlers_answer_every_benchmark_event() {
    let rows = bench::inprocess::run(&smoke()).await;
    let outcomes: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect();
    let expected = [
        "applied", // failover: alarm ALARM evacuates us-east-1
        "refused", // failover: an alarm mapped to no region
        "noop",    // failover: status
        "noop",    // replication-monitor: tick, all replicated
        "noop",    // scheduler: steady
        "applied", // scheduler: 1 -> 2
    ];
    assert_eq!(
        outcomes.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        expected,
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_call_counts_follow_the_work_not_the_size() {
    let options = smoke();
    // A world of its own: the counts must not include other tests' calls.
    let world = Box::leak(Box::new(LocalAws::start().await.expect("local AWS world")));
    let run = format!("smoke{}", chrono::Utc::now().timestamp() % 100_000);
    let calls = serde_json::json!({
        "evacuation": bench::calls::evacuation(&options, world, &run).await,
        "replication": bench::calls::replication(&options, world, &run).await,
        "reconcile": bench::calls::reconcile(&options, world, &run).await,
    });
    let failures = bench::calls_checks(&calls);
    assert!(failures.is_empty(), "{failures:?}\n{calls:#}");
}

/// One round of every recovery path (alarm evacuation, restore, drill, drill end, region
/// outage) with the whole control plane deployed and the world delivering events
/// itself: each path reaches every milestone, in order where the path orders them.
#[tokio::test(flavor = "multi_thread")]
async fn recovery_budget_reaches_every_milestone_of_every_path() {
    let options = smoke();
    // A world of its own: the outage switch is world-wide.
    let world = LocalAws::start().await.expect("local AWS world");
    let run = format!("smoke{}", chrono::Utc::now().timestamp() % 100_000);
    let budget = bench::budget::run(&options, &world, &run).await;
    assert!(budget["error"].is_null(), "{budget:#}");
    let paths = budget["paths"].as_array().expect("paths");
    assert_eq!(paths.len(), bench::budget::PATHS.len(), "{budget:#}");
    let at = |path: &serde_json::Value, name: &str| -> f64 {
        path["milestones"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["milestone"] == name))
            .and_then(|m| m["ms"]["p50_ms"].as_f64())
            .unwrap_or_else(|| panic!("{name} missing: {path:#}"))
    };
    for path in paths {
        assert_eq!(path["own_ms"]["n"], 1, "{path:#}");
        assert!(path["own_ms"]["p50_ms"].as_f64().is_some(), "{path:#}");
    }
    // Causal order, not time: the decision before the gate, the gate before the survivor's
    // surge request, the request before READY.
    let evacuation = &paths[0];
    assert!(
        at(evacuation, "decision written (state record)")
            <= at(evacuation, "gate closed (UpdateHealthCheck)")
    );
    assert!(
        at(evacuation, "gate closed (UpdateHealthCheck)")
            <= at(evacuation, "surge requested in eu-central-1")
    );
    let drill = &paths[2];
    assert!(
        at(drill, "surge READY (AWS's allocation, scaled)")
            <= at(drill, "gate closed (UpdateHealthCheck)"),
        "a drill evacuates only once the peer's surge is READY: {drill:#}"
    );
    let outage = &paths[4];
    assert!(
        at(outage, "probe alarm ALARM (CloudWatch evaluates)")
            <= at(outage, "decision written (local store PutItem)"),
        "the data-plane decision follows the probe alarm: {outage:#}"
    );
}
