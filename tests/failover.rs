//! failover against the local AWS world: the real binary in both regions, real
//! Route 53 compare-and-swap, real gates, real `ReplicationReady` metrics.
//! Races, safety refusals, automatic failback and drill schedules.

use crate::e2e::{binary, fixture};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use serde_json::{json, Value};
use shared::aws::route53::{Route53, StateStore, StateVersion, CONTROL_PLANE_REGION};
use shared::routing::RoutingState;
use testkit::runtime::FunctionProcess;
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

struct World {
    world: &'static LocalAws,
    topology: Topology,
}

impl World {
    /// A fresh topology; `tweak` edits its config (failover policy) before the copies start.
    async fn new(suffix: &str) -> Self {
        let world = LocalAws::shared().await;
        let topology = Topology::create(world, Spec::new(suffix))
            .await
            .expect("topology");
        Self { world, topology }
    }

    fn config(&self, tweak: impl FnOnce(&mut Value)) -> Value {
        let mut config = self.topology.config();
        // Each world its own namespace, so metrics of concurrent tests never mix.
        config["metrics_namespace"] = json!(format!("ControlPlane-{}", self.topology.spec.suffix));
        tweak(&mut config["failover"]);
        config
    }

    /// The failover copy of `region`, running the real binary.
    async fn copy(&self, region: &str, config: &Value) -> FunctionProcess {
        let mut env = self.world.function_env(&self.topology.spec.account, region);
        env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
        FunctionProcess::spawn(&binary("failover"), "failover", &env)
            .await
            .expect("failover starts")
    }

    fn sdk(&self, region: &str) -> aws_config::SdkConfig {
        self.world.sdk_config(&self.topology.spec.account, region)
    }

    async fn state(&self) -> RoutingState {
        self.state_record()
            .await
            .map(|(s, _)| s)
            .unwrap_or_default()
    }

    /// The state record as read, its exact value included.
    async fn state_record(&self) -> Option<(RoutingState, StateVersion)> {
        let r53 = Route53::new(
            &self.sdk(CONTROL_PLANE_REGION),
            &self.topology.zone_id,
            &self.topology.state_record,
        );
        r53.read().await.expect("state readable")
    }

    /// The newest entry of the world's call log.
    async fn last_call(&self) -> u64 {
        self.world.get("/calls/counters").await["lastSeq"]
            .as_u64()
            .unwrap_or(0)
    }

    /// This world's Route 53 `ChangeResourceRecordSets` calls after `since`.
    async fn record_changes_since(&self, since: u64) -> Vec<Value> {
        self.world
            .get(&format!(
                "/calls?service=route53&operation=ChangeResourceRecordSets&account={}&since={since}",
                self.topology.spec.account
            ))
            .await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Which regions' gates are closed (threshold above the two endpoint children).
    async fn closed_gates(&self) -> Vec<String> {
        let mut closed = Vec::new();
        for region in [PRIMARY, SECONDARY] {
            if self.topology.gate_threshold(self.world, region).await > 2 {
                closed.push(region.to_string());
            }
        }
        closed
    }

    fn alarm(&self, region: &str, state: &str) -> Value {
        let name = format!("orders-health-{region}-{}", self.topology.spec.suffix);
        testkit::alarm_event(&self.topology.alarm_arn(&name), state)
    }

    /// Publishes `ReplicationReady` for `destination` where the copy in `home` reads it,
    /// stamped `ago` seconds back (failover reads the minimum per minute, newest minute first).
    async fn replication_ready(
        &self,
        config: &Value,
        home: &str,
        destination: &str,
        value: f64,
        ago: i64,
    ) {
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk(home));
        cw.put_metric_data()
            .namespace(config["metrics_namespace"].as_str().unwrap())
            .metric_data(
                MetricDatum::builder()
                    .metric_name("ReplicationReady")
                    .dimensions(
                        Dimension::builder()
                            .name("DestinationRegion")
                            .value(destination)
                            .build(),
                    )
                    .value(value)
                    .timestamp(aws_smithy_types::DateTime::from_secs(
                        chrono::Utc::now().timestamp() - ago,
                    ))
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData");
    }

    async fn notices(&self, region: &str) -> Vec<String> {
        let topic = &self.topology.topics[region];
        self.world
            .get(&format!("/sns/messages?topicArn={topic}"))
            .await["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| format!("{} | {}", m["subject"], m["message"]))
            .collect()
    }
}

impl World {
    /// Each input as it reaches failover in AWS: a routing action through the function
    /// URL, signed by an operator's session; alarms, schedules and status by Invoke.
    async fn run(&self, copy: &mut FunctionProcess, payload: Value) -> Value {
        let action = payload["action"].as_str().unwrap_or_default();
        let reply = if failover::request::ROUTING_ACTIONS.contains(&action) {
            copy.invoke_as(&self.topology.operator(), payload.clone())
                .await
        } else {
            copy.invoke(payload.clone()).await
        };
        reply
            .expect("invocation")
            .ok()
            .unwrap_or_else(|e| panic!("{payload} failed: {e}"))
    }
}

fn manual(action: &str, region: &str, extra: Value) -> Value {
    let mut payload = json!({"action": action, "region": region, "reason": "integration test"});
    if let Value::Object(more) = extra {
        payload.as_object_mut().unwrap().extend(more);
    }
    payload
}

fn tick() -> Value {
    fixture("scheduler-tick.json")
}

fn reason(record: &Value) -> &str {
    record["reason"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_copies_in_both_regions_never_leave_zero_active_nor_lose_an_update() {
    let w = World::new("fo-race").await;
    // As good as no cap for these rounds, and within what the state record holds (the
    // config refuses a cap whose evacuation times could outgrow it, such as 1000).
    let config = w.config(|f| f["max_automatic_evacuations_per_hour"] = json!(20));
    let mut eu_copy = w.copy(PRIMARY, &config).await;
    let mut us_copy = w.copy(SECONDARY, &config).await;
    let mut cas_lost = 0;
    let rounds = 6;
    for round in 0..rounds {
        // Each copy hears the other region's alarm: together they would empty the service.
        let epoch = w.state().await.epoch;
        let (a, b) = tokio::join!(
            w.run(&mut eu_copy, w.alarm(SECONDARY, "ALARM")),
            w.run(&mut us_copy, w.alarm(PRIMARY, "ALARM")),
        );
        let mut outcomes = [a["outcome"].clone(), b["outcome"].clone()];
        outcomes.sort_by_key(|o| o.to_string());
        assert_eq!(
            outcomes,
            [json!("applied"), json!("refused")],
            "round {round}: {a}\n{b}"
        );
        let loser = if a["outcome"] == "refused" { &a } else { &b };
        assert!(reason(loser).contains("min_active_regions"), "{loser}");
        cas_lost += [&a, &b]
            .iter()
            .filter(|r| r["timeline"].to_string().contains("compare-and-swap lost"))
            .count();
        let state = w.state().await;
        assert_eq!(
            state.epoch,
            epoch + 1,
            "round {round}: exactly one write, none lost"
        );
        assert_eq!(state.evacuated.len(), 1, "round {round}: {state:?}");
        let out = state.evacuated.keys().next().unwrap().to_string();
        assert_eq!(
            w.closed_gates().await,
            vec![out.clone()],
            "gates follow the state"
        );

        // Both copies hear the same alarm for the evacuated region: one noop each.
        let (a, b) = tokio::join!(
            w.run(&mut eu_copy, w.alarm(&out, "ALARM")),
            w.run(&mut us_copy, w.alarm(&out, "ALARM")),
        );
        assert_eq!(
            (&a["outcome"], &b["outcome"]),
            (&json!("noop"), &json!("noop"))
        );

        // Both copies restore it at once: one write, the other finds it active.
        let (a, b) = tokio::join!(
            w.run(&mut eu_copy, manual("restore", &out, json!({}))),
            w.run(&mut us_copy, manual("restore", &out, json!({}))),
        );
        let mut outcomes = [a["outcome"].clone(), b["outcome"].clone()];
        outcomes.sort_by_key(|o| o.to_string());
        assert_eq!(outcomes, [json!("applied"), json!("noop")], "{a}\n{b}");
        let state = w.state().await;
        assert_eq!(state.epoch, epoch + 2);
        assert!(state.evacuated.is_empty());
        assert!(w.closed_gates().await.is_empty());
        // A round makes about 40 Route 53 calls in this account; Route 53 allows a burst
        // of 50 and refills 10 a second (quotas are on, as in AWS): the rounds come no
        // faster than that budget, as a deployment's alarms never do. The pause refills
        // the whole burst with room to spare: on a loaded machine a round's calls, and
        // the SDK's retries of any throttled one, spread over more of the next second.
        tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    }
    println!("{rounds} race rounds; {cas_lost} compare-and-swap(s) lost and re-decided");
    eu_copy.stop().await;
    us_copy.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dwell_and_hourly_cap_refuse_with_a_reason_and_change_nothing() {
    let w = World::new("fo-dwell").await;
    let dwelling = w.config(|f| f["dwell"] = json!("10m"));
    let mut copy = w.copy(PRIMARY, &dwelling).await;

    let out = w
        .run(&mut copy, manual("evacuate", SECONDARY, json!({})))
        .await;
    assert_eq!(out["outcome"], "applied", "{out}");
    let before = w.state().await;

    let refused = w
        .run(&mut copy, manual("restore", SECONDARY, json!({})))
        .await;
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(
        reason(&refused).contains("inside the dwell time"),
        "{refused}"
    );
    assert_eq!(w.state().await, before, "a refusal writes nothing");
    assert_eq!(w.closed_gates().await, vec![SECONDARY.to_string()]);

    let forced = w
        .run(
            &mut copy,
            manual("restore", SECONDARY, json!({"force": true})),
        )
        .await;
    assert_eq!(forced["outcome"], "applied", "{forced}");
    assert!(w.closed_gates().await.is_empty());
    copy.stop().await;

    // The hourly cap counts alarm-driven evacuations only.
    let capped = w.config(|f| f["max_automatic_evacuations_per_hour"] = json!(1));
    let mut copy = w.copy(PRIMARY, &capped).await;
    let first = w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await;
    assert_eq!(first["outcome"], "applied", "{first}");
    w.run(&mut copy, manual("restore", SECONDARY, json!({})))
        .await;
    let before = w.state().await;
    let second = w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await;
    assert_eq!(second["outcome"], "refused", "{second}");
    assert!(
        reason(&second).contains("max_automatic_evacuations_per_hour = 1"),
        "{second}"
    );
    let after = w.state().await;
    assert_eq!(
        (after.epoch, &after.evacuated),
        (before.epoch, &before.evacuated),
        "routing unchanged (only the alarm event is recorded, so its repeats are noops)"
    );
    assert!(w.closed_gates().await.is_empty(), "us-east-1 keeps serving");
    let notices = w.notices(PRIMARY).await;
    assert!(
        notices
            .iter()
            .any(|n| n.contains("automatic evacuation refused") && n.contains("max_automatic")),
        "the refusal of an automatic action is notified: {notices:?}"
    );
    // A person may still act: the cap binds alarms, not operators.
    let by_hand = w
        .run(&mut copy, manual("evacuate", SECONDARY, json!({})))
        .await;
    assert_eq!(by_hand["outcome"], "applied", "{by_hand}");
    copy.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unready_peer_blocks_automatic_evacuation_until_replication_is_ready() {
    let w = World::new("fo-ready").await;
    let config =
        w.config(|f| f["readiness"] = json!({"require_replication_ready": true, "max_age": "15m"}));
    let mut copy = w.copy(PRIMARY, &config).await;
    // Each attempt is a fresh state change: a repeat of a handled one is a noop.
    let alarm = || w.alarm(SECONDARY, "ALARM");

    // No ReplicationReady at all: stale, refused.
    let stale = w.run(&mut copy, alarm()).await;
    assert_eq!(stale["outcome"], "refused", "{stale}");
    assert!(
        reason(&stale).contains("peer eu-central-1 is not ready")
            && reason(&stale).contains("stale"),
        "{stale}"
    );

    // The monitor says eu-central-1 lags: 0, refused.
    w.replication_ready(&config, PRIMARY, PRIMARY, 0.0, 180)
        .await;
    let lagging = w.run(&mut copy, alarm()).await;
    assert_eq!(lagging["outcome"], "refused", "{lagging}");
    assert!(
        reason(&lagging).contains("ReplicationReady is 0"),
        "{lagging}"
    );
    assert_eq!(w.state().await.epoch, 0, "refusals write nothing");
    assert!(w.closed_gates().await.is_empty());

    // The peer's endpoints fail: its gate is unhealthy, refused whatever replication says.
    w.replication_ready(&config, PRIMARY, PRIMARY, 1.0, 0).await;
    w.topology
        .set_region_endpoints(w.world, PRIMARY, false)
        .await;
    let sick_peer = w.run(&mut copy, alarm()).await;
    assert_eq!(sick_peer["outcome"], "refused", "{sick_peer}");
    assert!(
        reason(&sick_peer).contains("gate health check is unhealthy"),
        "{sick_peer}"
    );

    // Healthy and replicated: the alarm evacuates.
    w.topology
        .set_region_endpoints(w.world, PRIMARY, true)
        .await;
    let applied = w.run(&mut copy, alarm()).await;
    assert_eq!(applied["outcome"], "applied", "{applied}");
    assert_eq!(w.closed_gates().await, vec![SECONDARY.to_string()]);
    copy.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_may_force_past_an_unready_peer_but_never_past_the_last_region() {
    let w = World::new("fo-force").await;
    let config = w.config(|f| f["readiness"] = json!({"require_replication_ready": true}));
    let mut copy = w.copy(SECONDARY, &config).await;
    w.replication_ready(&config, SECONDARY, SECONDARY, 0.0, 0)
        .await;

    let refused = w
        .run(&mut copy, manual("evacuate", PRIMARY, json!({})))
        .await;
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(
        reason(&refused).contains("use \"force\": true"),
        "{refused}"
    );

    let forced = w
        .run(
            &mut copy,
            manual("evacuate", PRIMARY, json!({"force": true})),
        )
        .await;
    assert_eq!(forced["outcome"], "applied", "{forced}");
    assert_eq!(forced["requested_by"], w.topology.operator());
    assert_eq!(w.closed_gates().await, vec![PRIMARY.to_string()]);

    let last = w
        .run(
            &mut copy,
            manual("evacuate", SECONDARY, json!({"force": true})),
        )
        .await;
    assert_eq!(last["outcome"], "refused", "{last}");
    assert_eq!(w.closed_gates().await, vec![PRIMARY.to_string()]);
    copy.stop().await;
}

/// The routing state names operators, accounts and alarms: it lives in the control
/// plane's private zone, and the service's public zone (anyone can query it) holds
/// nothing of it.
#[tokio::test(flavor = "multi_thread")]
async fn the_routing_state_is_in_the_private_zone_and_nothing_of_it_is_public() {
    let w = World::new("fo-private").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(SECONDARY, &config).await;
    let evacuated = w
        .run(
            &mut copy,
            manual("evacuate", PRIMARY, json!({"force": true})),
        )
        .await;
    assert_eq!(evacuated["outcome"], "applied", "{evacuated}");
    let by = evacuated["requested_by"]
        .as_str()
        .expect("requested_by")
        .to_string();
    copy.stop().await;

    // The state, with who asked, is in the private zone.
    let (state, _) = w.state_record().await.expect("state in the private zone");
    assert!(
        state.is_evacuated(&shared::Region::parse(PRIMARY).unwrap()),
        "{state:?}"
    );
    assert!(format!("{state:?}").contains(&by), "{state:?}");
    let r53 = aws_sdk_route53::Client::new(&w.sdk(CONTROL_PLANE_REGION));
    let zone = r53
        .get_hosted_zone()
        .id(&w.topology.zone_id)
        .send()
        .await
        .expect("state zone");
    assert!(
        zone.hosted_zone()
            .and_then(|z| z.config())
            .is_some_and(|c| c.private_zone()),
        "the state zone is private: {zone:?}"
    );
    assert!(
        !zone.vpcs().is_empty(),
        "associated with the control plane's VPC"
    );

    // The public zone: the service's records only.
    let public = w.topology.public_records(w.world).await;
    assert!(public.iter().any(|r| r.contains(" CNAME ")), "{public:#?}");
    for record in &public {
        for secret in ["arn:", &w.topology.spec.account, &by, "integration test"] {
            assert!(
                !record.contains(secret),
                "public record {record:?} holds {secret:?}"
            );
        }
        assert!(!record.contains(" TXT "), "public TXT record {record:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_failback_waits_for_a_stable_region_and_resets_on_relapse() {
    let w = World::new("fo-back").await;
    let config = w.config(|f| f["failback"] = json!({"automatic": true, "stable_for": "2s"}));
    let mut copy = w.copy(PRIMARY, &config).await;

    assert_eq!(
        w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await["outcome"],
        "applied"
    );
    w.topology
        .set_region_endpoints(w.world, SECONDARY, false)
        .await;

    // OK starts the failback clock; a relapse stops it.
    let ok = w.run(&mut copy, w.alarm(SECONDARY, "OK")).await;
    assert_eq!(ok["outcome"], "applied", "{ok}");
    assert!(w
        .state()
        .await
        .recovered_at
        .contains_key(&shared::Region::parse(SECONDARY).unwrap()));
    let relapse = w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await;
    assert_eq!(relapse["outcome"], "applied", "{relapse}");
    assert!(
        reason(&relapse).contains("failback timer reset"),
        "{relapse}"
    );
    assert!(w.state().await.recovered_at.is_empty());

    // OK again, then ticks: not before stable_for, and not while its endpoints fail.
    w.run(&mut copy, w.alarm(SECONDARY, "OK")).await;
    let early = w.run(&mut copy, tick()).await;
    assert_eq!(early["outcome"], "noop", "{early}");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let unhealthy = w.run(&mut copy, tick()).await;
    assert_eq!(
        unhealthy["outcome"], "noop",
        "endpoints still failing: {unhealthy}"
    );
    assert_eq!(w.closed_gates().await, vec![SECONDARY.to_string()]);

    w.topology
        .set_region_endpoints(w.world, SECONDARY, true)
        .await;
    let back = w.run(&mut copy, tick()).await;
    assert_eq!(back["outcome"], "applied", "{back}");
    assert!(reason(&back).contains("automatic failback"), "{back}");
    assert!(w.state().await.evacuated.is_empty());
    assert!(w.closed_gates().await.is_empty());
    let events = w
        .world
        .get(&format!(
            "/events/put-events?account={}&detailType=Region%20Restored",
            w.topology.spec.account
        ))
        .await;
    assert!(
        events["events"]
            .to_string()
            .contains("automatic failback: us-east-1 stable for 2s"),
        "Region Restored emitted: {events}"
    );
    copy.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_drill_by_hand_removes_its_schedule_and_restores_the_region() {
    let w = World::new("fo-drill").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(PRIMARY, &config).await;
    let drill = w.run(
        &mut copy,
        json!({"action": "drill", "region": SECONDARY, "duration_minutes": 30, "reason": "game day"}),
    )
    .await;
    assert_eq!(drill["outcome"], "applied", "{drill}");
    let drill_id = w.state().await.drill.expect("drill recorded").id;
    let scheduler = aws_sdk_scheduler::Client::new(&w.sdk(PRIMARY));
    let schedule_name = format!("controlplane-end-{drill_id}");
    let group = "default"; // failover.drill.schedule_group's default
    let schedule = scheduler
        .get_schedule()
        .name(&schedule_name)
        .group_name(group)
        .send()
        .await
        .expect("the drill-end schedule exists");
    assert!(
        schedule
            .schedule_expression()
            .unwrap_or_default()
            .starts_with("at("),
        "{schedule:?}"
    );

    let end = json!({"action": "end_drill", "reason": "done early"});
    let ended = w.run(&mut copy, end.clone()).await;
    assert_eq!(ended["outcome"], "applied", "{ended}");
    assert!(w.state().await.drill.is_none());
    assert!(w.closed_gates().await.is_empty());
    let gone = scheduler
        .get_schedule()
        .name(&schedule_name)
        .group_name(group)
        .send()
        .await;
    assert!(gone.is_err(), "the schedule is removed: {gone:?}");

    // The schedule firing late anyway (or a repeated end) changes nothing.
    let late = w
        .run(
            &mut copy,
            json!({"task": "end_drill", "drill_id": drill_id}),
        )
        .await;
    assert_eq!(late["outcome"], "noop", "{late}");
    assert_eq!(w.run(&mut copy, end).await["outcome"], "noop");
    copy.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_alarm_event_at_both_copies_and_again_after_a_restore_changes_routing_once() {
    let w = World::new("fo-dup").await;
    let config = w.config(|_| {});
    let mut eu_copy = w.copy(PRIMARY, &config).await;
    let mut us_copy = w.copy(SECONDARY, &config).await;

    // EventBridge hands the alarm's state change to both regions' copies.
    let alarm = w.alarm(SECONDARY, "ALARM");
    let (a, b) = tokio::join!(
        w.run(&mut eu_copy, alarm.clone()),
        w.run(&mut us_copy, alarm.clone()),
    );
    let mut outcomes = [a["outcome"].clone(), b["outcome"].clone()];
    outcomes.sort_by_key(|o| o.to_string());
    assert_eq!(outcomes, [json!("applied"), json!("noop")], "{a}\n{b}");
    assert_eq!(w.closed_gates().await, vec![SECONDARY.to_string()]);

    // An operator restores; the same event arrives again, late, at both.
    let restored = w
        .run(&mut eu_copy, manual("restore", SECONDARY, json!({})))
        .await;
    assert_eq!(restored["outcome"], "applied", "{restored}");
    let before = w.state().await;
    for copy in [&mut eu_copy, &mut us_copy] {
        let late = w.run(copy, alarm.clone()).await;
        assert_eq!(late["outcome"], "noop", "{late}");
        assert!(reason(&late).contains("stale alarm event"), "{late}");
    }
    assert_eq!(w.state().await, before, "nothing written");
    assert!(w.closed_gates().await.is_empty(), "us-east-1 keeps serving");
    eu_copy.stop().await;
    us_copy.stop().await;
}

/// The routing state is one Route 53 TXT record of at most 4,000 characters. A manual
/// request whose texts it could not hold is refused when it is parsed, naming the field
/// and the limit: no Route 53 write is even attempted (before, the write was sent,
/// refused, and reported as a lost compare-and-swap). Texts at the limits are stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_reason_the_state_record_cannot_hold_is_refused_at_parse_and_writes_nothing() {
    let w = World::new("fo-bounds").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(PRIMARY, &config).await;
    let before = w.state_record().await;
    let since = w.last_call().await;

    for (reason, refusal) in [
        (
            "r".repeat(5000),
            "rejected event: manual action: `reason` is too long: 5000 characters; the limit is 500 characters as stored",
        ),
        (
            "ü".repeat(300),
            "rejected event: manual action: `reason` is too long: 300 characters, which take 2100 in the routing-state record",
        ),
    ] {
        let payload = manual("evacuate", SECONDARY, json!({"reason": reason, "force": true}));
        let reply = copy
            .invoke_as(&w.topology.operator(), payload)
            .await
            .expect("invocation");
        let err = reply.ok().expect_err("refused");
        assert!(
            err.starts_with("NonRetryable: ") && err.contains(refusal),
            "{err}"
        );
    }
    assert_eq!(
        w.state_record().await,
        before,
        "the state record is unchanged"
    );
    let writes = w.record_changes_since(since).await;
    assert!(writes.is_empty(), "no ChangeResourceRecordSets: {writes:?}");

    // At the limits: stored as given, through the real compare-and-swap.
    let reason = format!("{} ü", "r".repeat(491));
    let by = w.topology.operator();
    let out = w
        .run(
            &mut copy,
            json!({"action": "evacuate", "region": SECONDARY, "reason": reason, "force": true}),
        )
        .await;
    assert_eq!(out["outcome"], "applied", "{out}");
    let (state, version) = w.state_record().await.expect("state record");
    let evacuation = &state.evacuated[&shared::Region::parse(SECONDARY).unwrap()];
    assert_eq!((&evacuation.reason, &evacuation.by), (&reason, &by));
    assert!(version.raw.len() <= 4000, "{}", version.raw.len());
    // The evacuation, then its announcement recorded as sent.
    assert_eq!(w.record_changes_since(since).await.len(), 2);
    copy.stop().await;
}

/// Level-triggered: an automatic evacuation refused by the dwell is not forgotten. The
/// alarm stays in ALARM (Route 53 sees us-east-1's endpoints fail), and the every-minute
/// tick evacuates as soon as the dwell allows, without a second notice meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn the_tick_evacuates_a_region_whose_alarm_stays_in_alarm_once_the_dwell_allows() {
    let w = World::new("fo-level").await;
    let config = w.config(|f| f["dwell"] = json!("20s"));
    let mut copy = w.copy(PRIMARY, &config).await;
    // A routing change just now: the dwell holds until 20 s from here.
    w.run(&mut copy, manual("evacuate", SECONDARY, json!({})))
        .await;
    let restored = w
        .run(
            &mut copy,
            manual("restore", SECONDARY, json!({"force": true})),
        )
        .await;
    assert_eq!(restored["outcome"], "applied", "{restored}");
    let dwell_ends = std::time::Instant::now() + std::time::Duration::from_secs(20);

    w.topology
        .set_region_endpoints(w.world, SECONDARY, false)
        .await;
    let changes = w.topology.evaluate_alarms(w.world).await;
    assert!(changes.iter().any(|c| c["state"] == "ALARM"), "{changes:?}");
    let refused = w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await;
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(reason(&refused).contains("dwell"), "{refused}");
    let told = w.notices(PRIMARY).await.len();

    let during = w.run(&mut copy, tick()).await;
    assert_ne!(during["outcome"], "applied", "{during}");
    assert!(
        w.closed_gates().await.is_empty(),
        "inside the dwell: {during}"
    );
    tokio::time::sleep_until(dwell_ends.into()).await;
    let after = w.run(&mut copy, tick()).await;
    assert_eq!(after["outcome"], "applied", "{after}");
    assert_eq!(w.closed_gates().await, vec![SECONDARY.to_string()]);
    let evacuation = &w.state().await.evacuated[&shared::Region::parse(SECONDARY).unwrap()];
    assert!(evacuation.automatic, "{evacuation:?}");
    let notices = w.notices(PRIMARY).await;
    assert!(
        !notices[told..].iter().any(|n| n.contains("refused")),
        "the refusal is not told again every minute: {notices:?}"
    );
    copy.stop().await;
}

/// A stop condition: the region serving during a drill fails its health alarm. The drill
/// ends at once and the drilled region comes back, through the real Route 53 and
/// CloudWatch of the local world.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_stops_when_the_serving_region_fails_its_health_alarm() {
    let w = World::new("fo-stop").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(PRIMARY, &config).await;
    let drill = w.run(
        &mut copy,
        json!({"action": "drill", "region": PRIMARY, "duration_minutes": 30, "reason": "game day"}),
    )
    .await;
    assert_eq!(drill["outcome"], "applied", "{drill}");
    assert_eq!(w.closed_gates().await, vec![PRIMARY.to_string()]);

    w.topology
        .set_region_endpoints(w.world, SECONDARY, false)
        .await;
    let changes = w.topology.evaluate_alarms(w.world).await;
    assert!(changes.iter().any(|c| c["state"] == "ALARM"), "{changes:?}");
    let stopped = w.run(&mut copy, w.alarm(SECONDARY, "ALARM")).await;
    assert_eq!(stopped["outcome"], "applied", "{stopped}");
    assert!(reason(&stopped).contains("stopped"), "{stopped}");
    let state = w.state().await;
    assert!(
        state.drill.is_none() && state.evacuated.is_empty(),
        "{state:?}"
    );
    assert!(w.closed_gates().await.is_empty(), "eu-central-1 is back");
    copy.stop().await;
}

/// Only the mapped alarm, from its own account and region, is trusted; an event dated in
/// the future is refused too. Nothing is written for any of them.
#[tokio::test(flavor = "multi_thread")]
async fn alarm_events_from_another_account_region_or_the_future_change_nothing() {
    let w = World::new("fo-trust").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(PRIMARY, &config).await;
    let since = w.last_call().await;
    let before = w.state_record().await;
    let mut foreign = w.alarm(SECONDARY, "ALARM");
    foreign["account"] = json!("999999999999");
    let mut moved = w.alarm(SECONDARY, "ALARM");
    moved["region"] = json!(PRIMARY);
    let mut future = w.alarm(SECONDARY, "OK");
    future["detail"]["state"]["timestamp"] = json!("2036-01-01T00:00:00.000+0000");
    for (event, phrase) in [(foreign, "account"), (moved, "region"), (future, "future")] {
        let out = w.run(&mut copy, event).await;
        assert_eq!(out["outcome"], "refused", "{out}");
        assert!(reason(&out).contains(phrase), "{phrase}: {out}");
    }
    assert!(w.record_changes_since(since).await.is_empty());
    assert_eq!(w.state_record().await, before, "no state written");
    copy.stop().await;
}

/// A change whose Region Evacuated could not be sent (EventBridge failing) keeps it owed
/// in the state record; the next tick sends it and records it as sent.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_lost_to_a_failed_put_events_is_sent_by_the_next_tick() {
    let w = World::new("fo-owed").await;
    let config = w.config(|_| {});
    let mut copy = w.copy(PRIMARY, &config).await;
    w.world
        .post(
            "/faults",
            json!({"service": "events", "operation": "PutEvents", "account": w.topology.spec.account,
                   "skip": 0, "count": 10, "kind": "error5xx", "status": 503}),
        )
        .await;
    let out = w
        .run(&mut copy, manual("evacuate", SECONDARY, json!({})))
        .await;
    w.world.delete("/faults").await;
    assert!(out.to_string().contains("could not emit"), "{out}");
    let owed = w.state().await.unannounced;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(
        owed[0].kind,
        shared::events::ControlPlaneKind::RegionEvacuated
    );

    let since = w.last_call().await;
    let ticked = w.run(&mut copy, tick()).await;
    assert_eq!(ticked["outcome"], "applied", "{ticked}");
    assert!(w.state().await.unannounced.is_empty(), "{ticked}");
    let sent = w
        .world
        .get(&format!(
            "/calls?service=events&operation=PutEvents&account={}&since={since}",
            w.topology.spec.account
        ))
        .await["calls"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(sent, 1, "{ticked}");
    copy.stop().await;
}
