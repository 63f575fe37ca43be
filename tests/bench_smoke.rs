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
