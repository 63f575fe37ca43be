//! The handlers' own work, in process: each real `handle` function with its
//! crate's in-memory fake world, so no network is timed. Parse, plan, decide,
//! build the decision record and serialise it to JSON, per event.

use super::{Options, Stats};
use chrono::{DateTime, Utc};
use failover::fake::FakeWorld;
use serde_json::{json, Value};
use shared::{Config, Region};
use std::future::Future;
use std::time::Instant;

pub fn example_config() -> Config {
    let path = testkit::repo_root().join("config/example.json");
    let text = std::fs::read_to_string(&path).expect("config/example.json");
    Config::from_json(&text).expect("the example config is valid")
}

pub fn alarm(name: &str, state: &str) -> Value {
    let mut event = testkit::fixture("cloudwatch-alarm-state-change.json");
    // The example config's account; the alarms live in us-east-1.
    testkit::address_alarm_event(
        &mut event,
        &format!("arn:aws:cloudwatch:us-east-1:333333333333:alarm:{name}"),
    );
    event["detail"]["state"]["value"] = json!(state);
    event
}

/// Times `n` runs of `once` after `n / 10` untimed warm-up runs; `setup` runs
/// outside the timer. Returns the stats and the last answer.
async fn time<S, F, Fut>(n: usize, mut setup: impl FnMut() -> S, mut once: F) -> (Stats, Value)
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Value>,
{
    let mut samples = Vec::with_capacity(n);
    let mut last = Value::Null;
    for i in 0..(n + n / 10) {
        let input = setup();
        let start = Instant::now();
        let out = once(input).await;
        let elapsed = start.elapsed();
        if i >= n / 10 {
            samples.push(elapsed);
        }
        last = out;
    }
    (Stats::of(&samples), last)
}

/// A quiet Sunday night: no schedule window in force, so the baseline applies.
fn quiet_now() -> DateTime<Utc> {
    "2026-11-29T03:00:00Z".parse().expect("valid time")
}

pub async fn run(options: &Options) -> Value {
    let n = options.inprocess_events;
    let config = example_config();
    let home = Region::parse("eu-central-1").expect("region");
    let invocation = failover::Invocation {
        request_id: "bench".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: None,
    };
    let mut rows = Vec::new();

    let failover_case = |label: &'static str, event: Value| {
        let (config, home, invocation) = (&config, &home, &invocation);
        async move {
            let (stats, last) = time(
                n,
                || (FakeWorld::starting_at(Utc::now()), event.clone()),
                |(world, event)| async move {
                    failover::handle(event, invocation, config, home, &world)
                        .await
                        .unwrap_or_else(|e| json!({"error": e.to_string()}))
                },
            )
            .await;
            json!({"function": "failover", "event": label, "outcome": last["outcome"], "stats": stats.json()})
        }
    };
    rows.push(
        failover_case(
            "alarm ALARM: evacuate us-east-1",
            alarm("orders-health-us-east-1", "ALARM"),
        )
        .await,
    );
    rows.push(
        failover_case(
            "alarm not mapped to a region",
            alarm("some-other-alarm", "ALARM"),
        )
        .await,
    );
    rows.push(failover_case("status", json!({"action": "status"})).await);

    let monitor = replication_monitor::fake::FakeWorld::all_replicated(&config, 10, Utc::now());
    let inv = replication_monitor::Invocation {
        request_id: "bench".into(),
        ..Default::default()
    };
    let (stats, last) = time(
        n,
        // The log of the previous run is dropped outside the timer.
        || {
            monitor.clear_log();
            json!({"task": "tick"})
        },
        |event| async {
            replication_monitor::handle(event, &inv, &config, &home, &monitor)
                .await
                .unwrap_or_else(|e| json!({"error": e.to_string()}))
        },
    )
    .await;
    rows.push(json!({"function": "replication-monitor", "event": "tick: sweep 10 recent images, 1 S3 rule, 1 secret", "outcome": last["outcome"], "stats": stats.json()}));

    let scheduler = scheduler_config(&config);
    let scheduler_invocation = concurrency_scheduler::Invocation {
        request_id: "bench".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:concurrency-scheduler"
            .into(),
        ..Default::default()
    };
    for (label, level) in [
        ("tick: 2 aliases steady", 2),
        ("tick: 2 aliases change 1 -> 2", 1),
    ] {
        let (stats, last) = time(
            n,
            // A fresh world each run (outside the timer): a run changes its levels.
            || (scheduler_world(&scheduler, level), json!({"task": "tick"})),
            |(world, event)| {
                let (scheduler, home, invocation) = (&scheduler, &home, &scheduler_invocation);
                async move {
                    concurrency_scheduler::handle(event, invocation, scheduler, home, &world)
                        .await
                        .unwrap_or_else(|e| json!({"error": e.to_string()}))
                }
            },
        )
        .await;
        rows.push(json!({"function": "concurrency-scheduler", "event": label, "outcome": last["outcome"], "stats": stats.json()}));
    }
    Value::Array(rows)
}

fn scheduler_config(config: &Config) -> Config {
    let mut config = config.clone();
    // Two targets in this region: the example's, and a second one.
    let mut second = config.concurrency.targets[0].clone();
    second.function = "orders-worker".into();
    config.concurrency.targets.push(second);
    // The pacer spaces Lambda calls 1/rate apart on purpose; unpaced here, so
    // only the handler's own work is timed (the pacing shows in the process runs).
    config.concurrency.requests_per_second = 1_000_000;
    config
}

/// Every target's alias at `level` and READY, a Put READY at once (nothing to
/// follow), no routing state, no state document, a quiet Sunday night.
fn scheduler_world(config: &Config, level: u32) -> concurrency_scheduler::fake::FakeWorld {
    let functions: Vec<&str> = config
        .concurrency
        .targets
        .iter()
        .map(|t| t.function.as_str())
        .collect();
    let world = concurrency_scheduler::fake::FakeWorld::with(&functions);
    for f in &functions {
        world.set(f, level, shared::aws::lambda::PcStatus::Ready);
    }
    world
        .ready_on_put
        .store(true, std::sync::atomic::Ordering::SeqCst);
    world.at(quiet_now());
    world
}
