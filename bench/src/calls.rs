//! API calls per action, counted at the local AWS world's call log: what an
//! action costs in requests, and how that grows (or must not) with scale.

use super::{round, Options};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::runtime::FunctionProcess;
use testkit::topology::{create_function_with_alias, Spec, Topology};
use testkit::{LocalAws, DEV, PRIMARY, SECONDARY, SHARED_SERVICES};

pub(crate) async fn last_seq(world: &LocalAws) -> u64 {
    world.get("/calls/counters").await["lastSeq"]
        .as_u64()
        .unwrap_or(0)
}

/// service:operation -> count of the calls since `seq` (optionally one service),
/// and how many of them the world throttled.
pub(crate) async fn calls_since(
    world: &LocalAws,
    seq: u64,
    service: Option<&str>,
) -> (BTreeMap<String, u64>, u64) {
    let filter = service.map(|s| format!("&service={s}")).unwrap_or_default();
    let log = world.get(&format!("/calls?since={seq}{filter}")).await;
    let mut out = BTreeMap::new();
    let mut throttled = 0;
    for c in log["calls"].as_array().cloned().unwrap_or_default() {
        let key = format!(
            "{}:{}",
            c["service"].as_str().unwrap_or("?"),
            c["operation"].as_str().unwrap_or("?")
        );
        *out.entry(key).or_insert(0) += 1;
        if c["outcome"] == "throttled" {
            throttled += 1;
        }
    }
    (out, throttled)
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

async fn start(
    options: &Options,
    world: &LocalAws,
    name: &str,
    account: &str,
    config: &Value,
) -> FunctionProcess {
    let mut env = world.function_env(account, PRIMARY);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    FunctionProcess::spawn(&options.binary(name), name, &env)
        .await
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"))
}

async fn invoke(f: &mut FunctionProcess, event: Value) -> Value {
    let reply = f.invoke_with_timeout(event, Duration::from_secs(600)).await;
    match reply {
        Ok(r) => r
            .ok()
            .unwrap_or_else(|e| panic!("{} failed: {e}\n{}", f.name, f.output().join("\n"))),
        Err(e) => panic!("{}: {e}\n{}", f.name, f.output().join("\n")),
    }
}

/// An evacuation of us-east-1 with 1 and with `records` latency records per region.
pub async fn evacuation(options: &Options, world: &LocalAws, run: &str) -> Value {
    let mut rows = Vec::new();
    for records in [1, options.records] {
        let mut spec = Spec::new(&format!("bench-evac{records}-{run}"));
        spec.records_per_region = records;
        let topology = Topology::create(world, spec).await.expect("topology");
        let mut f = start(
            options,
            world,
            "failover",
            &topology.spec.account,
            &topology.config(),
        )
        .await;
        // Warm first (a status read), so only the evacuation is counted.
        invoke(&mut f, json!({"action": "status"})).await;
        let seq = last_seq(world).await;
        // As an operator sends it: through the function URL, signed by the operator role.
        let evacuate = json!({"action": "evacuate", "region": SECONDARY, "reason": "benchmark"});
        let event = testkit::url::event(&evacuate, &topology.operator());
        let answer = f.invoke_with_timeout(event, Duration::from_secs(600)).await;
        let out = testkit::url::reply(answer.expect("the evacuation answers"))
            .ok()
            .unwrap_or_else(|e| panic!("the evacuation failed: {e}"));
        let (calls, _) = calls_since(world, seq, None).await;
        f.stop().await;
        rows.push(json!({"records_per_region": records, "outcome": out["outcome"], "total": total(&calls), "calls": calls}));
    }
    let same = rows[0]["total"] == rows[1]["total"] && rows[0]["calls"] == rows[1]["calls"];
    json!({"runs": rows, "same_count": same})
}

/// A replication sweep over a repository with `old` images pushed long ago,
/// before and after `new` recent pushes.
pub async fn replication(options: &Options, world: &LocalAws, run: &str) -> Value {
    let (old, new) = options.images;
    let suffix = format!("bench-rm-{run}");
    let topology = Topology::create(world, Spec::new(&suffix))
        .await
        .expect("topology");
    let repo = topology.spec.ecr_repositories[0].clone();
    let mut config = topology.config();
    config["metrics_namespace"] = json!(format!("ControlPlane-{suffix}"));
    config["replication"]["window"] = json!("1h");
    testkit::topology::replicate_ecr(world)
        .await
        .expect("replication configuration");
    world
        .post(
            "/ecr/replication",
            json!({"lagSeconds": {SECONDARY: 0}, "clearFailures": true}),
        )
        .await;
    world
        .post("/ecr/seed", json!({"account": SHARED_SERVICES, "region": PRIMARY, "repositoryName": repo, "count": old, "pushedAt": "2025-01-01T00:00:00Z", "replicated": true}))
        .await;
    let mut f = start(
        options,
        world,
        "replication-monitor",
        &topology.spec.account,
        &config,
    )
    .await;
    let tick = json!({"task": "tick"});
    invoke(&mut f, tick.clone()).await; // warm: the role's credentials, the alert state
    let mut rows = Vec::new();
    for (label, recent) in [("old only", 0), ("old + new", new)] {
        for i in 0..recent {
            testkit::topology::push_image(world, &repo, &format!("bench-{i}"))
                .await
                .expect("put image");
        }
        let seq = last_seq(world).await;
        let out = invoke(&mut f, tick.clone()).await;
        let (calls, _) = calls_since(world, seq, None).await;
        let resources = out["state"]["resources"]
            .as_array()
            .map(|r| r.iter().filter(|r| r["kind"] == "ecr").count());
        rows.push(json!({"images": format!("{old} old, {recent} new"), "label": label, "outcome": out["outcome"], "ecr_resources": resources, "total": total(&calls), "calls": calls}));
    }
    f.stop().await;
    let status = |i: usize| {
        rows[i]["calls"]["ecr:DescribeImageReplicationStatus"]
            .as_u64()
            .unwrap_or(0)
    };
    let grows_with_new = status(1) - status(0) == new as u64 && status(0) == 0;
    json!({"runs": rows, "status_calls_grow_with_new_only": grows_with_new})
}

/// A reconcile of `aliases` aliases of which `changed` need a new level, under
/// the Lambda control-plane quota (15 requests/s per account) enforced by the world.
pub async fn reconcile(options: &Options, world: &LocalAws, run: &str) -> Value {
    let (n, changed) = options.aliases;
    let every = n / changed.max(1);
    let names: Vec<String> = (0..n).map(|i| format!("bench-pc-{run}-{i:03}")).collect();
    let mut spec = Spec::new(&format!("bench-cs-{run}"));
    spec.account = DEV.into();
    spec.environment = "dev";
    let lambda = aws_sdk_lambda::Client::new(&world.setup_sdk_config(DEV, PRIMARY));
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            // This account's only: later sections time AWS's allocation.
            json!({"account": DEV, "readyDelaySeconds": 0.2}),
        )
        .await;
    let setup = Instant::now();
    for name in &names {
        create_function_with_alias(world, &lambda, DEV, name)
            .await
            .expect("function");
        lambda
            .put_provisioned_concurrency_config()
            .function_name(name)
            .qualifier("live")
            .provisioned_concurrent_executions(1)
            .send()
            .await
            .expect("provisioned concurrency");
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    let targets: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, f)| json!({"function": f, "regions": [PRIMARY], "baseline": if i % every == 0 && i / every < changed { 2 } else { 1 }}))
        .collect();
    let topology = Topology::create(world, spec).await.expect("topology");
    let mut config = topology.config();
    config["metrics_namespace"] = json!(format!("ControlPlane-bench-cs-{run}"));
    config["concurrency"]["windows"] = json!([]);
    config["concurrency"]["ready_timeout"] = json!("60s");
    config["concurrency"]["targets"] = json!(targets);
    config["concurrency"]["requests_per_second"] = json!(15);
    config["concurrency"]["max_in_flight"] = json!(8);
    let mut f = start(options, world, "concurrency-scheduler", DEV, &config).await;
    // Lambda's control-plane quota (15 req/s per account) is on in the world by default.
    let seq = last_seq(world).await;
    let started = Instant::now();
    let out = invoke(&mut f, json!({"task": "tick"})).await;
    let elapsed = started.elapsed().as_secs_f64();
    f.stop().await;
    let (lambda_calls, throttled) = calls_since(world, seq, Some("lambda")).await;
    let (all_calls, _) = calls_since(world, seq, None).await;
    let log = world
        .get(&format!(
            "/calls?since={seq}&service=lambda&operation=PutProvisionedConcurrencyConfig"
        ))
        .await;
    let writes = log["calls"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["status"] == 202).count())
        .unwrap_or(0);
    let lambda_total = total(&lambda_calls);
    let minimum = lambda_total as f64 / 15.0;
    json!({
        "aliases": n, "changed": changed, "outcome": out["outcome"],
        "writes": writes, "writes_only_changed": writes == changed,
        "lambda_calls": lambda_calls, "lambda_calls_total": lambda_total, "throttled": throttled,
        "all_calls": all_calls,
        "seconds": round(elapsed), "quota_minimum_seconds": round(minimum),
        "ratio_to_minimum": round(elapsed / minimum.max(1e-9) * 100.0) / 100.0,
        "setup_seconds": round(setup_secs),
    })
}
