//! concurrency-scheduler against the local AWS world: the real binary under the
//! runtime emulator, provisioned concurrency emulated with AWS semantics
//! (IN_PROGRESS → READY after a delay, FAILED on demand, 409 while in flight,
//! account headroom), the routing state written through shared's Route 53
//! StateStore, and writes counted with the world's call log.
//!
//! Build the binary first (`make test` does): `cargo build -p concurrency-scheduler`.

use crate::e2e::binary;
use serde_json::{json, Value};
use shared::aws::route53::{Route53, StateStore};
use shared::routing::Evacuation;
use shared::Region;
use testkit::runtime::FunctionProcess;
use testkit::topology::{create_function_with_alias, Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};
use tokio::sync::Mutex;

/// Provisioned-concurrency settings (ready delay, account concurrency) are
/// global in the local world: these tests take turns.
static PC_SETTINGS: Mutex<()> = Mutex::const_new(());

struct World {
    world: &'static LocalAws,
    topology: Topology,
    lambda: aws_sdk_lambda::Client,
    f: FunctionProcess,
}

fn tick() -> Value {
    json!({"task": "tick", "schedule_arn": "arn:aws:scheduler:eu-central-1:333333333333:schedule/default/concurrency-tick"})
}

fn control(kind: &str, region: &str) -> Value {
    json!({"version": "0", "id": "cs-1", "detail-type": kind, "source": "controlplane.failover",
           "account": "333333333333", "time": chrono::Utc::now().to_rfc3339(), "region": PRIMARY,
           "resources": [], "detail": {"region": region, "epoch": 1, "reason": "integration test"}})
}

async fn setup(spec: Spec, tweak: impl FnOnce(&mut Value)) -> World {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, spec).await.expect("topology");
    let mut config = topology.config();
    config["metrics_namespace"] = json!(format!("ControlPlane-{}", topology.spec.suffix));
    config["concurrency"]["windows"] = json!([]);
    config["concurrency"]["ready_timeout"] = json!("30s");
    tweak(&mut config);
    let mut env = world.function_env(&topology.spec.account, PRIMARY);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    let f = FunctionProcess::spawn(
        &binary("concurrency-scheduler"),
        "concurrency-scheduler",
        &env,
    )
    .await
    .expect("concurrency-scheduler starts");
    let lambda = aws_sdk_lambda::Client::new(&world.sdk_config(&topology.spec.account, PRIMARY));
    World {
        world,
        topology,
        lambda,
        f,
    }
}

impl World {
    async fn invoke(&mut self, payload: Value) -> Value {
        self.f
            .invoke(payload)
            .await
            .expect("invoke")
            .ok()
            .unwrap_or_else(|e| panic!("{e}\n{}", self.f.output().join("\n")))
    }

    async fn pc(&self, function: &str) -> Option<(i32, String)> {
        let out = self
            .lambda
            .get_provisioned_concurrency_config()
            .function_name(function)
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

    async fn last_seq(&self) -> u64 {
        self.world.get("/calls/counters").await["lastSeq"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Lambda calls of `operation` on functions whose name contains this world's suffix.
    async fn calls(&self, operation: &str, since: u64) -> Vec<Value> {
        let v = self
            .world
            .get(&format!(
                "/calls?service=lambda&operation={operation}&account={}&since={since}",
                self.topology.spec.account
            ))
            .await;
        v["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                c["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(&self.topology.spec.suffix))
            })
            .collect()
    }

    async fn set_routing(&self, evacuated: Option<&str>) {
        let r53 = Route53::new(
            &self
                .world
                .sdk_config(&self.topology.spec.account, SECONDARY),
            &self.topology.zone_id,
            &self.topology.state_record,
        );
        let current = r53.read().await.expect("read routing state");
        let mut next = current.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
        next.epoch += 1;
        next.evacuated.clear();
        if let Some(region) = evacuated {
            next.evacuated.insert(
                Region::parse(region).unwrap(),
                Evacuation {
                    since: chrono::Utc::now(),
                    by: "test".into(),
                    reason: "integration".into(),
                    automatic: false,
                    drill_id: None,
                },
            );
        }
        let swapped = r53
            .swap(current.as_ref().map(|(_, v)| v), &next)
            .await
            .expect("swap routing state");
        assert_eq!(swapped, shared::aws::route53::CasResult::Swapped);
    }
}

fn row<'a>(record: &'a Value, function: &str) -> &'a Value {
    record["state"]["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["function"] == function))
        .unwrap_or_else(|| panic!("no row for {function}: {record:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_ready_failed_conflict_and_quota() {
    let _turn = PC_SETTINGS.lock().await;
    let mut spec = Spec::new("cs-life");
    spec.workload_functions = vec!["cs-life-a".into(), "cs-life-b".into()];
    let mut w = setup(spec, |c| {
        c["concurrency"]["targets"] =
            json!([{"function": "cs-life-a", "baseline": 3}, {"function": "cs-life-b"}]);
    })
    .await;
    w.world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.5}),
        )
        .await;

    // IN_PROGRESS → READY: the prod baseline (2) and a target baseline (3).
    let r = w.invoke(tick()).await;
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(w.pc("cs-life-a").await, Some((3, "READY".into())));
    assert_eq!(w.pc("cs-life-b").await, Some((2, "READY".into())));
    assert!(row(&r, "cs-life-a")["result"]
        .as_str()
        .unwrap()
        .starts_with("READY"));

    // Nothing differs: no write.
    let seq = w.last_seq().await;
    let r = w.invoke(tick()).await;
    assert_eq!(r["outcome"], "noop", "{r:#}");
    assert!(w
        .calls("PutProvisionedConcurrencyConfig", seq)
        .await
        .is_empty());

    // FAILED: an override to 5 fails; the scheduler falls back to the last good level (2)
    // and alerts. (The world fails every new config of the alias while the failure is
    // injected, so the fallback fails too; the level is recorded for the next run.)
    w.world
        .post(
            "/lambda/provisioned-concurrency/failures",
            json!({"functionName": "cs-life-b", "qualifier": "live"}),
        )
        .await;
    let r = w
        .invoke(json!({"action": "override", "function": "cs-life-b", "level": 5, "until": "1h", "reason": "load test"}))
        .await;
    assert_eq!(r["outcome"], "failed", "{r:#}");
    let result = row(&r, "cs-life-b")["result"].as_str().unwrap().to_string();
    assert!(
        result.contains("FAILED at 5") && result.contains("fallback to 2"),
        "{r:#}"
    );
    let alerts = w
        .world
        .get(&format!(
            "/sns/messages?topicArn={}",
            w.topology.topics[PRIMARY]
        ))
        .await;
    assert!(
        alerts.to_string().contains("cs-life-b"),
        "an alert names the alias: {alerts}"
    );
    // Once the cause is gone, the next tick brings the override's level to READY.
    w.world
        .delete("/lambda/provisioned-concurrency/failures")
        .await;
    let r = w.invoke(tick()).await;
    assert_eq!(w.pc("cs-life-b").await, Some((5, "READY".into())), "{r:#}");

    // 409: someone else's update is in flight; the scheduler retries later in the run.
    w.lambda
        .put_provisioned_concurrency_config()
        .function_name("cs-life-a")
        .qualifier("live")
        .provisioned_concurrent_executions(4)
        .send()
        .await
        .unwrap();
    let seq = w.last_seq().await;
    let r = w.invoke(tick()).await;
    assert_eq!(w.pc("cs-life-a").await, Some((3, "READY".into())), "{r:#}");
    let puts = w.calls("PutProvisionedConcurrencyConfig", seq).await;
    assert!(
        puts.iter().any(|c| c["status"] == 409),
        "a 409 was met: {puts:?}"
    );
    assert_eq!(
        puts.last().unwrap()["status"],
        202,
        "then a retry went through: {puts:?}"
    );

    // Quota: the account's headroom (unreserved − 100) caps the level.
    let account = w.topology.spec.account.clone();
    w.world
        .post("/lambda/provisioned-concurrency/settings", json!({"accountConcurrency": {"account": account, "region": PRIMARY, "concurrentExecutions": 106}}))
        .await;
    let r = w.invoke(json!({"action": "plan"})).await;
    let limit = row(&r, "cs-life-a")["level"].as_u64().unwrap();
    let r2 = w.invoke(json!({"action": "override", "function": "cs-life-a", "level": 9, "until": "10m", "reason": "quota"})).await;
    w.world
        .post("/lambda/provisioned-concurrency/settings", json!({"accountConcurrency": {"account": account, "region": PRIMARY, "concurrentExecutions": 1000}}))
        .await;
    assert_eq!(limit, 3);
    let a = row(&r2, "cs-life-a");
    assert!(
        a["level"].as_u64().unwrap() <= 3,
        "headroom 6 is already used by a (3) and b (5): {r2:#}"
    );
    assert!(a["why"]["notes"].to_string().contains("headroom"), "{r2:#}");
    w.f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn surge_on_a_failover_event_then_back_to_schedule() {
    let _turn = PC_SETTINGS.lock().await;
    let mut w = setup(Spec::new("cs-surge"), |_| {}).await;
    w.world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.3}),
        )
        .await;
    let function = w.topology.spec.workload_functions[0].clone();
    w.set_routing(None).await;
    w.invoke(tick()).await;
    assert_eq!(w.pc(&function).await, Some((2, "READY".into())));

    // The failover function evacuates the peer (state first, then the event).
    w.set_routing(Some(SECONDARY)).await;
    let r = w.invoke(control("Region Evacuated", SECONDARY)).await;
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(row(&r, &function)["why"]["rule"], "surge");
    assert_eq!(
        w.pc(&function).await,
        Some((4, "READY".into())),
        "surge = baseline × surge_factor 2"
    );

    // Restored: back to the baseline.
    w.set_routing(None).await;
    let r = w.invoke(control("Region Restored", SECONDARY)).await;
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(w.pc(&function).await, Some((2, "READY".into())));
    w.f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hundreds_of_aliases_reconcile_writing_only_the_changed_ones() {
    let _turn = PC_SETTINGS.lock().await;
    const N: usize = 200;
    let names: Vec<String> = (0..N).map(|i| format!("cs-many-{i:03}")).collect();
    let world = LocalAws::shared().await;
    let mut spec = Spec::new("cs-many");
    spec.account = testkit::DEV.into();
    spec.environment = "dev";
    let account = spec.account.clone();
    let lambda = aws_sdk_lambda::Client::new(&world.setup_sdk_config(&account, PRIMARY));
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.2}),
        )
        .await;
    for n in &names {
        create_function_with_alias(world, &lambda, &account, n)
            .await
            .expect("function");
        lambda
            .put_provisioned_concurrency_config()
            .function_name(n)
            .qualifier("live")
            .provisioned_concurrent_executions(1)
            .send()
            .await
            .unwrap();
    }
    // Every 20th alias is configured at 2: those 10 must change, the other 190 not.
    let targets: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"function": n, "regions": [PRIMARY], "baseline": if i % 20 == 0 { 2 } else { 1 }}))
        .collect();
    let mut w = setup(spec, |c| {
        c["concurrency"]["targets"] = json!(targets);
        c["concurrency"]["requests_per_second"] = json!(15);
        c["concurrency"]["max_in_flight"] = json!(8);
    })
    .await;
    // Lambda's control-plane quota (15 req/s per account) is on in the world by default.
    let seq = w.last_seq().await;
    let r = w.invoke(tick()).await;
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["state"]["targets"], N);
    let puts = w.calls("PutProvisionedConcurrencyConfig", seq).await;
    let written: std::collections::BTreeSet<String> = puts
        .iter()
        .filter(|c| c["status"] == 202)
        .filter_map(|c| c["path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        written.len(),
        N / 20,
        "only the changed aliases are written: {written:?}"
    );
    let gets = w.calls("GetProvisionedConcurrencyConfig", seq).await;
    assert!(gets.len() >= N, "every alias was read");
    let throttled = gets
        .iter()
        .chain(&puts)
        .filter(|c| c["outcome"] == "throttled")
        .count();
    assert!(
        throttled <= 2,
        "the client-side rate limit keeps under the quota ({throttled} throttled)"
    );
    for (i, n) in names.iter().enumerate().step_by(20) {
        assert_eq!(w.pc(n).await, Some((2, "READY".into())), "{i}");
    }
    w.f.stop().await;
}

// ---------------------------------------------------------------------------
// races between failover's two copies

/// One race: what each copy is asked at the same moment, and the outcomes it must end
/// in (sorted).
struct Race {
    name: &'static str,
    pre: Option<&'static str>,
    eu: Value,
    us: Value,
    outcomes: [&'static str; 2],
}

fn manual(action: &str, region: &str) -> Value {
    json!({"action": action, "region": region, "reason": "race"})
}

/// The two regions' copies of failover asked conflicting (or the same) things at the
/// same moment, against a world of their own. Both copies read the state before either
/// write lands (the world holds each copy's state write 300 ms, as a slow Route 53
/// answer would), so every round is a real race: one compare-and-swap wins, the other
/// loses, re-reads and re-decides. Asserted: races happened (lost swaps counted in the
/// decision records and, independently, as Route 53's rejections in the world's call
/// log), and every round ended right: never both regions out, exactly one write per
/// round, the loser refused or a noop, the gates following the state.
#[tokio::test(flavor = "multi_thread")]
async fn racing_failover_copies_lose_swaps_and_still_end_right() {
    use crate::faults::{env_in, function_binary, private_world};
    let world = &private_world().await;
    // A world of its own with Route 53's quota off: the rounds come far faster than a
    // deployment's alarms, and a quota refusal is not the race under test.
    world
        .post(
            "/throttling",
            json!({"service": "route53", "enabled": false}),
        )
        .await;
    let topology = Topology::create(world, Spec::new("race"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let mut config = topology.config();
    config["failover"]["max_automatic_evacuations_per_hour"] = json!(20);
    let spawn = |region: &'static str| {
        let env = env_in(world, &topology, &config, region);
        async move {
            FunctionProcess::spawn(&function_binary("failover"), "failover", &env)
                .await
                .expect("failover starts")
        }
    };
    let operator = topology.operator();
    let mut eu = spawn(PRIMARY).await;
    let mut us = spawn(SECONDARY).await;
    let r53 = Route53::new(
        &world.sdk_config(&account, SECONDARY),
        &topology.zone_id,
        &topology.state_record,
    );
    let races = [
        Race {
            name: "each copy evacuates the other's region",
            pre: None,
            eu: manual("evacuate", SECONDARY),
            us: manual("evacuate", PRIMARY),
            outcomes: ["applied", "refused"],
        },
        Race {
            name: "both copies evacuate us-east-1",
            pre: None,
            eu: manual("evacuate", SECONDARY),
            us: manual("evacuate", SECONDARY),
            outcomes: ["applied", "noop"],
        },
        Race {
            name: "both copies restore us-east-1",
            pre: Some(SECONDARY),
            eu: manual("restore", SECONDARY),
            us: manual("restore", SECONDARY),
            outcomes: ["applied", "noop"],
        },
    ];
    let rounds = 4;
    let mut report = String::new();
    for race in &races {
        let mut lost_in_records = 0;
        let mut rejected_by_route53 = 0;
        for round in 0..rounds {
            // Arrange (no race): everything active, then the race's starting point.
            let state = r53.read().await.expect("state").map(|(s, _)| s);
            for region in state
                .map(|s| s.evacuated.into_keys().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let mut p = manual("restore", region.as_str());
                p["force"] = json!(true);
                eu.invoke_as(&operator, p)
                    .await
                    .expect("restore")
                    .ok()
                    .expect("restored");
            }
            if let Some(region) = race.pre {
                eu.invoke_as(&operator, manual("evacuate", region))
                    .await
                    .expect("evacuate")
                    .ok()
                    .expect("evacuated");
            }
            let before = r53
                .read()
                .await
                .expect("state")
                .map(|(s, _)| s)
                .unwrap_or_default();
            world
                .post(
                    "/faults",
                    json!({"service": "route53", "operation": "ChangeResourceRecordSets",
                           "account": account, "kind": "latency", "latencyMs": 300, "count": 2}),
                )
                .await;
            let seq = world.get("/calls/counters").await["lastSeq"]
                .as_u64()
                .unwrap_or(0);
            let (a, b) = tokio::join!(
                eu.invoke_as(&operator, race.eu.clone()),
                us.invoke_as(&operator, race.us.clone())
            );
            let held = world.clear_faults().await;
            let a = a.expect("eu answers").ok().expect("eu record");
            let b = b.expect("us answers").ok().expect("us record");
            let ctx = format!("{} round {round}:\n{a}\n{b}", race.name);
            assert_eq!(
                held.iter()
                    .map(|f| f["injected"].as_u64().unwrap_or(0))
                    .sum::<u64>(),
                2,
                "both copies' state writes were held: {held:?}"
            );
            let mut outcomes = [
                a["outcome"].as_str().unwrap_or("?"),
                b["outcome"].as_str().unwrap_or("?"),
            ];
            outcomes.sort_unstable();
            assert_eq!(outcomes, race.outcomes, "{ctx}");
            lost_in_records += [&a, &b]
                .iter()
                .filter(|r| r["timeline"].to_string().contains("compare-and-swap lost"))
                .count();
            let changes = world
                .get(&format!(
                    "/calls?service=route53&operation=ChangeResourceRecordSets&account={account}&since={seq}"
                ))
                .await;
            rejected_by_route53 += changes["calls"]
                .as_array()
                .map_or(0, |c| c.iter().filter(|c| c["status"] == 400).count());
            let after = r53
                .read()
                .await
                .expect("state")
                .map(|(s, _)| s)
                .unwrap_or_default();
            assert!(after.evacuated.len() < 2, "both regions out: {ctx}");
            assert_eq!(
                after.epoch,
                before.epoch + 1,
                "exactly one write, none lost: {ctx}"
            );
            assert!(after.unannounced.is_empty(), "the winner announced: {ctx}");
            // An evacuation race leaves one region out, a restore race none.
            let out = usize::from(race.pre.is_none());
            assert_eq!(after.evacuated.len(), out, "{ctx}");
            let status = eu
                .invoke(json!({"action": "status"}))
                .await
                .expect("status")
                .ok()
                .expect("status");
            assert!(
                status["state"]["regions"]
                    .as_object()
                    .is_some_and(|r| r.values().all(|g| g["gate_matches_state"] == json!(true))),
                "gates follow the state: {ctx}\n{status}"
            );
        }
        assert!(
            lost_in_records > 0 && rejected_by_route53 > 0,
            "{}: no race happened in {rounds} rounds ({lost_in_records} lost swaps in the records, {rejected_by_route53} rejected by Route 53)",
            race.name
        );
        report.push_str(&format!(
            "{}: {rounds} rounds, {lost_in_records} compare-and-swap(s) lost and re-decided ({rejected_by_route53} rejected by Route 53), every outcome {:?}\n",
            race.name, race.outcomes
        ));
    }
    println!("{report}");
    crate::faults::write_summary("races", &report);
    eu.stop().await;
    us.stop().await;
}
