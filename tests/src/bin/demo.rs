//! `make demo`: the control plane's real binaries under the Lambda Runtime API
//! emulator, against the local AWS world, through a failover scenario. Prints a
//! timeline and a summary, and exits non-zero if any step misbehaves.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;
use tests::runtime::{FunctionProcess, Reply};
use tests::topology::{Spec, Topology};
use tests::{LocalAws, PRIMARY, SECONDARY};

struct Demo {
    started: Instant,
    rows: Vec<(String, bool, String, u128)>,
}

impl Demo {
    fn step(&mut self, name: &str, ok: bool, detail: String, since: Instant) {
        let ms = since.elapsed().as_millis();
        println!(
            "[{:>6.1}s] {} {name}: {detail} ({ms} ms)",
            self.started.elapsed().as_secs_f64(),
            if ok { "ok  " } else { "FAIL" }
        );
        self.rows.push((name.to_string(), ok, detail, ms));
    }
}

fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tests::repo_root().join("target"));
    target.join("debug").join(name)
}

fn fixture(name: &str) -> Value {
    let path = tests::repo_root().join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
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

async fn answering(world: &LocalAws, topology: &Topology) -> Vec<String> {
    let answer = world
        .get(&format!(
            "/route53/resolve?zone={}&name=api.{}&type=CNAME&region={PRIMARY}",
            topology.zone_id, topology.domain
        ))
        .await;
    let mut regions: Vec<String> = answer["candidates"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|r| r["region"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    regions.sort();
    regions
}

#[tokio::main]
async fn main() {
    let mut demo = Demo {
        started: Instant::now(),
        rows: Vec::new(),
    };
    println!("== control plane demo: eu-central-1 + us-east-1 against the local AWS world\n");
    let t = Instant::now();
    let world = LocalAws::shared().await;
    demo.step("local AWS world", true, world.url.clone(), t);
    let t = Instant::now();
    let suffix = format!("demo{}", chrono::Utc::now().timestamp() % 100_000);
    let topology = match Topology::create(world, Spec::new(&suffix)).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("could not build the topology: {e}");
            std::process::exit(1);
        }
    };
    demo.step(
        "topology",
        true,
        format!(
            "zone {} with gates, endpoint checks, alarms, ECR, secrets, alias live",
            topology.domain
        ),
        t,
    );

    let mut env = world.function_env(&topology.spec.account, PRIMARY);
    env.push(("CONTROL_PLANE_CONFIG".into(), topology.config().to_string()));
    let mut failover = match FunctionProcess::spawn(&binary("failover"), "failover", &env).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    let t = Instant::now();
    let v = invoke(&mut failover, json!({"action": "status"})).await;
    demo.step(
        "steady state: failover status",
        v["outcome"] == "noop",
        said(&v),
        t,
    );
    let t = Instant::now();
    let both = answering(world, &topology).await;
    demo.step("data plane answers", both.len() == 2, both.join(", "), t);

    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, false).await;
    let mut alarm = fixture("cloudwatch-alarm-state-change.json");
    let alarm_name = topology
        .alarms
        .iter()
        .find(|(_, r)| r.as_str() == SECONDARY)
        .map(|(a, _)| a.clone())
        .unwrap_or_default();
    alarm["detail"]["alarmName"] = json!(alarm_name);
    demo.step(
        "us-east-1 endpoints fail",
        true,
        format!("alarm {alarm_name} fires (EventBridge Alarm State Change)"),
        t,
    );

    let t = Instant::now();
    let v = invoke(&mut failover, alarm.clone()).await;
    demo.step(
        "failover evacuates us-east-1",
        v["outcome"] == "applied",
        said(&v),
        t,
    );
    let t = Instant::now();
    let only = answering(world, &topology).await;
    demo.step(
        "data plane answers only eu-central-1",
        only == vec![PRIMARY.to_string()],
        only.join(", "),
        t,
    );
    let t = Instant::now();
    let events = world
        .get("/events/put-events?source=controlplane.failover")
        .await;
    let emitted = events["events"]
        .as_array()
        .or(events.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    demo.step(
        "Region Evacuated emitted for the scheduler",
        emitted >= 1,
        format!("{emitted} control-plane event(s) on the bus"),
        t,
    );

    let t = Instant::now();
    let v = invoke(&mut failover, alarm).await;
    demo.step(
        "same alarm delivered again",
        v["outcome"] == "noop",
        said(&v),
        t,
    );

    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, true).await;
    let v = invoke(&mut failover, json!({"action": "restore", "region": SECONDARY, "reason": "endpoints recovered", "requested_by": "demo"})).await;
    demo.step(
        "us-east-1 recovers and is restored",
        v["outcome"] == "applied",
        said(&v),
        t,
    );
    let t = Instant::now();
    let both = answering(world, &topology).await;
    demo.step(
        "data plane answers both regions",
        both.len() == 2,
        both.join(", "),
        t,
    );

    let t = Instant::now();
    let v = invoke(&mut failover, json!({"action": "drill", "region": PRIMARY, "duration_minutes": 1, "reason": "game day", "requested_by": "demo"})).await;
    let drill_id = v["state"]["routing"]["drill"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    demo.step(
        "drill on eu-central-1",
        v["outcome"] == "applied",
        said(&v),
        t,
    );
    for step in v["timeline"].as_array().into_iter().flatten() {
        println!(
            "           · +{} ms {}",
            step["elapsed_ms"],
            step["step"].as_str().unwrap_or("")
        );
    }
    let t = Instant::now();
    // The local Scheduler stores the one-time schedule but does not fire it: deliver
    // its input exactly as EventBridge Scheduler would at the drill's end.
    let v = invoke(
        &mut failover,
        json!({"task": "end_drill", "drill_id": drill_id}),
    )
    .await;
    demo.step(
        "drill ends itself (its schedule fires)",
        v["outcome"] == "applied",
        said(&v),
        t,
    );

    let t = Instant::now();
    let v = invoke(&mut failover, fixture("scheduler-tick.json")).await;
    demo.step(
        "scheduled tick reconciles",
        v["outcome"] != "failed",
        said(&v),
        t,
    );

    for (name, payload) in [
        ("replication-monitor", json!({"action": "check"})),
        ("concurrency-scheduler", json!({"action": "plan"})),
    ] {
        let t = Instant::now();
        if !binary(name).exists() {
            demo.step(name, false, "binary not built".into(), t);
            continue;
        }
        match FunctionProcess::spawn(&binary(name), name, &env).await {
            Ok(mut f) => {
                let v = invoke(&mut f, payload).await;
                demo.step(
                    &format!(
                        "{name} {}",
                        if name.starts_with("rep") {
                            "check"
                        } else {
                            "plan"
                        }
                    ),
                    !matches!(v["outcome"].as_str(), Some("error" | "failed")),
                    said(&v),
                    t,
                );
                f.stop().await;
            }
            Err(e) => demo.step(name, false, e, t),
        }
    }
    failover.stop().await;

    println!("\n== summary");
    println!("{:<45} {:<6} {:>8}", "step", "result", "ms");
    for (name, ok, _, ms) in &demo.rows {
        println!(
            "{:<45} {:<6} {:>8}",
            name,
            if *ok { "ok" } else { "FAIL" },
            ms
        );
    }
    let failed = demo.rows.iter().filter(|r| !r.1).count();
    println!("\n{} passed, {} failed", demo.rows.len() - failed, failed);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
