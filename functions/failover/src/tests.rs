//! The handler against an in-memory world with real compare-and-swap semantics, and
//! properties over event sequences. The decision tables are in `decide/tests.rs`.

use crate::decide::{decide, Actor, Decision, RegionHealth, Replication, Request};
use crate::{handle, Invocation};
use chrono::{DateTime, Duration as Chrono, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::events::{AlarmState, ControlPlaneKind};
use shared::routing::RoutingState;
use shared::{Config, Region};
use std::collections::BTreeMap;

pub(crate) fn r(s: &str) -> Region {
    Region::parse(s).unwrap()
}
pub(crate) fn eu() -> Region {
    r("eu-central-1")
}
pub(crate) fn us() -> Region {
    r("us-east-1")
}
pub(crate) use crate::fake::FakeWorld;

impl Default for FakeWorld {
    /// The tests' world: its clock at [`t0`].
    fn default() -> Self {
        Self::starting_at(t0())
    }
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub(crate) fn config() -> Config {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["failover"]["dwell"] = json!("10m");
    v["failover"]["max_automatic_evacuations_per_hour"] = json!(2);
    Config::from_value(&v).unwrap()
}

pub(crate) fn healthy() -> RegionHealth {
    RegionHealth {
        gate_healthy: true,
        endpoints_healthy: true,
        replication: Replication::Ready,
    }
}
pub(crate) fn all_healthy() -> BTreeMap<Region, RegionHealth> {
    [(eu(), healthy()), (us(), healthy())].into()
}
pub(crate) fn alarm() -> Actor {
    Actor {
        by: "alarm:x".into(),
        reason: "alarm".into(),
        automatic: true,
        force: false,
    }
}
pub(crate) fn person(force: bool) -> Actor {
    Actor {
        by: "alice".into(),
        reason: "testing".into(),
        automatic: false,
        force,
    }
}
pub(crate) fn evacuate(region: Region, actor: Actor) -> Request {
    Request::Evacuate {
        region,
        actor,
        observed_at: None,
    }
}
/// A tick that sees no alarm and no drill surge.
pub(crate) fn quiet_tick() -> Request {
    Request::Tick {
        alarms: BTreeMap::new(),
        surge: None,
    }
}
pub(crate) fn apply(d: Decision) -> RoutingState {
    match d {
        Decision::Change { state, .. } => state,
        other => panic!("expected a change, got {other:?}"),
    }
}
pub(crate) fn refused(d: &Decision, needle: &str) {
    match d {
        Decision::Refuse(why) => assert!(why.contains(needle), "{why:?} lacks {needle:?}"),
        other => panic!("expected refusal containing {needle:?}, got {other:?}"),
    }
}

// ------------------------------------------------------------------ handler

fn alarm_event(region: &str, state: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/cloudwatch-alarm-state-change.json"
    ))
    .unwrap();
    let name = format!("orders-health-{region}");
    v["resources"] = json!([format!(
        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:{name}"
    )]);
    v["detail"]["alarmName"] = json!(name);
    v["detail"]["state"]["value"] = json!(state);
    v["detail"]["state"]["timestamp"] =
        json!(t0().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    v
}

/// The same, its state change `minutes` after t0 (CloudWatch's timestamp format).
fn alarm_event_at(region: &str, state: &str, minutes: i64) -> Value {
    let mut v = alarm_event(region, state);
    let at = t0() + Chrono::minutes(minutes);
    v["detail"]["state"]["timestamp"] = json!(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    v
}

#[tokio::test]
async fn the_same_alarm_many_times_makes_one_change() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    for _ in 0..100 {
        handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
            .await
            .unwrap();
    }
    // Two writes: the change, then its announcement recorded as sent.
    assert_eq!(*world.swaps.lock().unwrap(), 2);
    assert!(world.state().unannounced.is_empty());
    assert_eq!(world.emitted.lock().unwrap().len(), 1);
    assert_eq!(world.thresholds.lock().unwrap()[&us()], 3);
}

#[tokio::test]
async fn a_lost_swap_rereads_and_redecides() {
    let (c, world) = (config(), FakeWorld::default());
    *world.lose.lock().unwrap() = 2;
    let out = handle(
        alarm_event("us-east-1", "ALARM"),
        &Invocation::default(),
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(
        out["timeline"]
            .to_string()
            .contains("compare-and-swap lost"),
        "{out}"
    );
    assert!(world.state().is_evacuated(&us()));
}

#[tokio::test]
async fn racing_copies_never_leave_zero_regions_active() {
    for _ in 0..50 {
        let (c, world) = (config(), FakeWorld::default());
        let (inv, home_a, home_b) = (Invocation::default(), eu(), us());
        let (a, b) = tokio::join!(
            handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &home_a, &world),
            handle(
                alarm_event("eu-central-1", "ALARM"),
                &inv,
                &c,
                &home_b,
                &world
            ),
        );
        let outcomes = [a.unwrap()["outcome"].clone(), b.unwrap()["outcome"].clone()];
        assert!(outcomes.contains(&json!("applied")), "{outcomes:?}");
        assert_eq!(world.state().active_regions(&c.regions).count(), 1);
    }
}

#[tokio::test]
async fn manual_actions_need_a_reason_and_dry_run_changes_nothing() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    let err = handle(
        json!({"action": "evacuate", "region": "us-east-1"}),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("needs a \"reason\""));
    let dry = handle(
        json!({"action": "evacuate", "region": "us-east-1", "dry_run": true}),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(dry["outcome"], "dry_run");
    assert_eq!(dry["changes"][0]["to"], "evacuated");
    assert_eq!(*world.swaps.lock().unwrap(), 0);
    let unknown = handle(json!({"action": "explode"}), &inv, &c, &eu(), &world)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("known: status, evacuate"));
    let unmapped = handle(alarm_event("nowhere", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(unmapped["outcome"], "refused");
}

#[tokio::test]
async fn tick_repairs_a_gate_flipped_by_hand() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    world.thresholds.lock().unwrap().insert(us(), 2); // someone reopened it by hand
    let tick: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/scheduler-tick.json")).unwrap();
    let out = handle(tick, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(world.thresholds.lock().unwrap()[&us()], 3);
}

#[tokio::test]
async fn drill_surges_evacuates_and_records_a_timeline() {
    let (c, world) = (config(), FakeWorld::default());
    let out = handle(
        json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 15, "reason": "game day", "requested_by": "alice"}),
        &Invocation { request_id: "r".into(), function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(), deadline: None },
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let kinds: Vec<ControlPlaneKind> = world
        .emitted
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(
        kinds,
        vec![
            ControlPlaneKind::DrillStarted,
            ControlPlaneKind::RegionEvacuated
        ]
    );
    assert!(world.state().is_evacuated(&eu()));
    assert!(out["timeline"].as_array().unwrap().len() >= 3, "{out}");
    assert_eq!(out["requested_by"], "alice");
}

#[tokio::test]
async fn ending_a_drill_by_hand_removes_its_end_schedule() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation {
        request_id: "r".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: None,
    };
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day", "requested_by": "alice"});
    let out = handle(drill, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let scheduled = world.scheduled.lock().unwrap().clone();
    assert_eq!(scheduled.len(), 1);
    assert!(world.cancelled.lock().unwrap().is_empty());

    let end = json!({"action": "end_drill", "reason": "done early", "requested_by": "alice"});
    let out = handle(end.clone(), &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(!world.state().is_evacuated(&eu()));
    assert_eq!(*world.cancelled.lock().unwrap(), scheduled);

    // Again: nothing to end, nothing more removed.
    let again = handle(end, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(again["outcome"], "noop", "{again}");
    assert_eq!(world.cancelled.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_ok_alarm_with_manual_failback_only_notifies() {
    let (c, world) = (config(), FakeWorld::default());
    assert!(!c.failover.failback.automatic);
    let inv = Invocation::default();
    handle(
        alarm_event_at("us-east-1", "ALARM", -5),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    let notices_before = world.notices.lock().unwrap().len();
    let routing_before = world.state().evacuated;
    let out = handle(
        alarm_event_at("us-east-1", "OK", -1),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "noop", "{out}");
    assert!(out["reason"]
        .as_str()
        .unwrap()
        .contains("failback is manual"));
    assert_eq!(world.state().evacuated, routing_before, "routing unchanged");
    let notices = world.notices.lock().unwrap().clone();
    assert_eq!(notices.len(), notices_before + 1, "{notices:?}");
    assert!(notices.last().unwrap().contains("us-east-1 recovered"));
    assert!(world.state().is_evacuated(&us()));
}

// ------------------------------------------------- duplicates and late deliveries

/// One delivery of the outside world's news to failover, as the handler turns it
/// into a request.
#[derive(Debug, Clone)]
enum Delivery {
    Alarm {
        region: Region,
        ok: bool,
        at: DateTime<Utc>,
    },
    Restore {
        region: Region,
    },
    Tick,
}

/// Decides one delivery at `now` and applies it; true when routing changed.
fn deliver(state: &mut RoutingState, delivery: &Delivery, now: DateTime<Utc>, c: &Config) -> bool {
    let request = match delivery {
        Delivery::Alarm {
            region,
            ok: true,
            at,
        } => Request::Recovered {
            region: region.clone(),
            observed_at: Some(*at),
        },
        Delivery::Alarm {
            region,
            ok: false,
            at,
        } => {
            if state.is_evacuated(region) && state.recovered_at.contains_key(region) {
                Request::Relapsed {
                    region: region.clone(),
                    observed_at: Some(*at),
                }
            } else {
                Request::Evacuate {
                    region: region.clone(),
                    actor: alarm(),
                    observed_at: Some(*at),
                }
            }
        }
        Delivery::Restore { region } => Request::Restore {
            region: region.clone(),
            actor: person(true),
        },
        Delivery::Tick => quiet_tick(),
    };
    match decide(
        &request,
        state,
        &c.regions,
        &all_healthy(),
        &c.failover,
        now,
    ) {
        Decision::Change { state: next, .. } => {
            let changed = next.evacuated.keys().ne(state.evacuated.keys());
            *state = next;
            changed
        }
        Decision::Note { state: next, .. } => {
            assert_eq!(
                next.evacuated, state.evacuated,
                "a note never changes routing"
            );
            *state = next;
            false
        }
        Decision::Noop(_) | Decision::Refuse(_) => false,
    }
}

/// A timeline: each step advances the clock, then delivers one thing. Alarms
/// alternate ALARM/OK per region, as CloudWatch's state changes do.
fn arb_timeline() -> impl Strategy<Value = Vec<(i64, Delivery)>> {
    proptest::collection::vec((1i64..900, 0u8..4, any::<bool>()), 1..40).prop_map(|steps| {
        let mut alarmed = BTreeMap::from([(eu(), false), (us(), false)]);
        let mut now = t0();
        steps
            .into_iter()
            .map(|(advance, kind, east)| {
                now += Chrono::seconds(advance);
                let region = if east { us() } else { eu() };
                let delivery = match kind {
                    0 | 1 => {
                        let was = alarmed[&region];
                        alarmed.insert(region.clone(), !was);
                        Delivery::Alarm {
                            region,
                            ok: was,
                            at: now,
                        }
                    }
                    2 => Delivery::Restore { region },
                    _ => Delivery::Tick,
                };
                (advance, delivery)
            })
            .collect()
    })
}

proptest! {
    /// EventBridge delivers at least once and not always in order: every alarm
    /// event delivered up to three times, and old ones delivered again later, make
    /// exactly the routing changes of one ordered delivery, step by step.
    #[test]
    fn duplicates_and_late_deliveries_change_nothing_more(
        timeline in arb_timeline(),
        copies in proptest::collection::vec(1usize..4, 40),
        late in proptest::collection::vec(proptest::option::of(0usize..40), 40),
        automatic_failback in any::<bool>(),
        dwell_minutes in 0u64..15,
    ) {
        let mut c = config();
        c.failover.failback.automatic = automatic_failback;
        c.failover.failback.stable_for = shared::Duration::from_mins(5);
        c.failover.dwell = shared::Duration::from_mins(dwell_minutes);
        c.failover.max_automatic_evacuations_per_hour = 3;

        let (mut once, mut many) = (RoutingState::default(), RoutingState::default());
        let (mut changes_once, mut changes_many) = (0, 0);
        let mut now = t0();
        for (i, (advance, delivery)) in timeline.iter().enumerate() {
            now += Chrono::seconds(*advance);
            let at = now + Chrono::seconds(1); // delivery a moment after the news
            changes_once += usize::from(deliver(&mut once, delivery, at, &c));

            let repeats = if matches!(delivery, Delivery::Alarm { .. }) { copies[i] } else { 1 };
            for _ in 0..repeats {
                changes_many += usize::from(deliver(&mut many, delivery, at, &c));
            }
            if let Some(j) = late[i].filter(|j| *j < i) {
                if let (_, old @ Delivery::Alarm { .. }) = &timeline[j] {
                    changes_many += usize::from(deliver(&mut many, old, at, &c));
                }
            }
            prop_assert_eq!(
                once.evacuated.keys().collect::<Vec<_>>(),
                many.evacuated.keys().collect::<Vec<_>>(),
                "step {}: {:?}", i, delivery
            );
        }
        prop_assert_eq!(changes_once, changes_many);
    }
}

#[tokio::test]
async fn late_and_repeated_alarm_events_change_nothing_and_notify_once() {
    let (c, world) = (config(), FakeWorld::default());
    let (inv, home) = (Invocation::default(), eu());
    let run = |event: Value| handle(event, &inv, &c, &home, &world);
    let alarm_us = alarm_event_at("us-east-1", "ALARM", -30);
    assert_eq!(run(alarm_us.clone()).await.unwrap()["outcome"], "applied");
    assert_eq!(
        run(alarm_event_at("us-east-1", "OK", -20)).await.unwrap()["outcome"],
        "noop"
    );

    // The operator restores; then the old ALARM arrives again (a late redelivery).
    let restore =
        json!({"action": "restore", "region": "us-east-1", "reason": "fixed", "force": true});
    assert_eq!(run(restore).await.unwrap()["outcome"], "applied");
    let swaps = *world.swaps.lock().unwrap();
    let late = run(alarm_us).await.unwrap();
    assert_eq!(late["outcome"], "noop", "{late}");
    assert!(
        late["reason"]
            .as_str()
            .unwrap()
            .contains("stale alarm event"),
        "{late}"
    );
    assert!(
        !world.state().is_evacuated(&us()),
        "a stale ALARM never re-evacuates"
    );
    assert_eq!(*world.swaps.lock().unwrap(), swaps, "and writes nothing");

    // A new ALARM inside the dwell time is refused once; its repeats are stale.
    let fresh = alarm_event_at("us-east-1", "ALARM", -10);
    let notices = world.notices.lock().unwrap().len();
    let refused = run(fresh.clone()).await.unwrap();
    assert_eq!(refused["outcome"], "refused", "{refused}");
    for _ in 0..5 {
        assert_eq!(run(fresh.clone()).await.unwrap()["outcome"], "noop");
    }
    assert_eq!(
        world.notices.lock().unwrap().len(),
        notices + 1,
        "one refusal notice, not one per delivery"
    );
}

#[tokio::test]
async fn a_failed_alarm_driven_change_is_a_retryable_error_a_manual_one_a_record() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    *world.throttle.lock().unwrap() = 1;
    let err = handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Retryable", "{err}");
    assert!(err.to_string().contains("Rate exceeded"), "{err}");
    assert!(!world.state().is_evacuated(&us()));
    // Lambda's retry delivers the same event again: not stale, since nothing was recorded.
    let retried = handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(retried["outcome"], "applied", "{retried}");

    *world.throttle.lock().unwrap() = 1;
    let restore =
        json!({"action": "restore", "region": "us-east-1", "reason": "fixed", "force": true});
    let manual = handle(restore, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(
        manual["outcome"], "failed",
        "a person gets the record: {manual}"
    );
}

#[tokio::test]
async fn a_write_whose_answer_timed_out_is_recognised_and_finished() {
    let (c, world) = (config(), FakeWorld::default());
    *world.land_then_time_out.lock().unwrap() = 1;
    let out = handle(
        alarm_event("us-east-1", "ALARM"),
        &Invocation::default(),
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(
        out["timeline"].to_string().contains("its answer was lost"),
        "{out}"
    );
    assert_eq!(
        world.thresholds.lock().unwrap()[&us()],
        3,
        "the gate follows"
    );
    assert_eq!(
        world.emitted.lock().unwrap().len(),
        1,
        "Region Evacuated sent"
    );
}

#[test]
fn the_tick_gives_a_drill_up_when_its_surge_is_not_ready_within_surge_wait() {
    let c = config();
    assert_eq!(
        c.failover.drill.surge_wait.secs(),
        180,
        "the example's surge_wait"
    );
    let state = RoutingState {
        drill: Some(shared::routing::Drill {
            id: "d".into(),
            region: eu(),
            phase: shared::routing::DrillPhase::Preparing,
            started_at: t0(),
            expires_at: t0() + Chrono::hours(1),
            by: "alice".into(),
            reason: "game day".into(),
            peer_level_before: Some(2),
        }),
        ..Default::default()
    };
    let tick = |at| {
        decide(
            &quiet_tick(),
            &state,
            &c.regions,
            &all_healthy(),
            &c.failover,
            at,
        )
    };
    assert!(
        matches!(tick(t0() + Chrono::minutes(2)), Decision::Noop(_)),
        "the surge may still come"
    );
    match tick(t0() + Chrono::minutes(3)) {
        Decision::Change {
            state: next,
            reason,
            events,
        } => {
            assert!(next.drill.is_none());
            assert!(
                reason.contains("given up") && reason.contains("surge_wait"),
                "{reason}"
            );
            assert_eq!(events, vec![(ControlPlaneKind::DrillEnded, eu())]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_drill_waits_for_the_surge_only_while_its_run_has_time_left() {
    let (c, world) = (config(), FakeWorld::default());
    assert!(c.failover.drill.surge_wait.secs() > 20);
    let inv = Invocation {
        request_id: "r".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: Some(t0() + Chrono::seconds(20)),
    };
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day", "requested_by": "alice"});
    let out = handle(drill, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(
        out["timeline"].to_string().contains("waiting up to 5s"),
        "{out}"
    );
}

// ------------------------------------------------------------------ bounded state

fn drill_invocation() -> Invocation {
    Invocation {
        request_id: "r".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: None,
    }
}

#[tokio::test]
async fn a_drill_stores_its_reason_once() {
    let (c, world) = (config(), FakeWorld::default());
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day: fail über to us-east-1", "requested_by": "alice"});
    let out = handle(drill, &drill_invocation(), &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let state = world.state();
    let drill = state.drill.as_ref().expect("drill recorded");
    assert_eq!(drill.reason, "game day: fail über to us-east-1");
    let evacuation = &state.evacuated[&eu()];
    assert_eq!(evacuation.drill_id.as_deref(), Some(drill.id.as_str()));
    assert_eq!(evacuation.reason, format!("drill {}", drill.id));
    let record = world.record.lock().unwrap().clone().unwrap();
    assert_eq!(record.matches("game day").count(), 1, "{record}");
}

/// A text that the state record could not hold is refused at parse, with the field and
/// the limit named: no AWS call, nothing written, nothing notified.
#[tokio::test]
async fn texts_over_their_bounds_are_refused_before_anything_is_done() {
    let (c, world) = (config(), FakeWorld::default());
    let evacuate = |reason: String, by: String| json!({"action": "evacuate", "region": "us-east-1", "reason": reason, "requested_by": by, "force": true});
    let cases = [
        (
            evacuate("r".repeat(5000), "alice".into()),
            "`reason` is too long: 5000 characters; the limit is 500 characters as stored",
        ),
        (
            evacuate("é".repeat(300), "alice".into()),
            "`reason` is too long: 300 characters, which take 2100 in the routing-state record",
        ),
        (
            evacuate("ok".into(), "a".repeat(201)),
            "`requested_by` is too long: 201 characters; the limit is 200 characters as stored",
        ),
        (
            json!({"action": "drill", "region": "eu-central-1", "reason": "🚨".repeat(40), "requested_by": "alice"}),
            "`reason` is too long: 40 characters, which take 560",
        ),
        (
            json!({"action": "evacuate", "region": "us-east-1", "reason": "r".repeat(501), "requested_by": "alice", "dry_run": true}),
            "`reason` is too long: 501 characters",
        ),
    ];
    for (payload, needle) in cases {
        let err = handle(payload.clone(), &drill_invocation(), &c, &eu(), &world)
            .await
            .expect_err("refused");
        assert_eq!(err.error_type(), "NonRetryable", "{err}");
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
    }
    assert_eq!(*world.swaps.lock().unwrap(), 0);
    assert!(world.record.lock().unwrap().is_none());
    assert!(world.notices.lock().unwrap().is_empty());
    assert!(world.emitted.lock().unwrap().is_empty());
}

/// An alarm's text is CloudWatch's: cut to the record's bounds, never refused (the
/// region still needs evacuating).
#[tokio::test]
async fn an_alarms_long_text_is_cut_to_fit_and_still_evacuates() {
    let mut c = config();
    let name = format!("orders-health-us-east-1-{}", "ä".repeat(230));
    let arn = format!("arn:aws:cloudwatch:us-east-1:333333333333:alarm:{name}");
    c.failover
        .region_alarms
        .insert(shared::AlarmArn::parse(&arn).unwrap(), us());
    let world = FakeWorld::default();
    let mut event = alarm_event("us-east-1", "ALARM");
    event["detail"]["alarmName"] = json!(name);
    event["resources"] = json!([arn]);
    event["detail"]["state"]["reason"] = json!(format!("Threshold Crossed: {}", "\"é".repeat(500)));
    let out = handle(event, &Invocation::default(), &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let evacuation = &world.state().evacuated[&us()];
    assert!(
        evacuation.by.starts_with("alarm:orders-health-us-east-1-ä")
            && evacuation.by.ends_with("...")
    );
    assert!(
        evacuation.reason.starts_with("alarm orders-health") && evacuation.reason.ends_with("...")
    );
    assert!(shared::routing::stored_len(&evacuation.by) <= shared::routing::REQUESTED_BY_MAX);
    assert!(shared::routing::stored_len(&evacuation.reason) <= shared::routing::REASON_MAX);
}

/// Any text from the whole of Unicode, weighted towards what grows in the record.
fn any_text(longest: usize) -> impl Strategy<Value = String> {
    let chars = prop::collection::vec(
        prop_oneof![
            Just('a'),
            Just('"'),
            Just('\\'),
            Just('ü'),
            Just('🚨'),
            any::<char>()
        ],
        0..longest,
    );
    prop_oneof![
        chars.prop_map(String::from_iter),
        (0..longest * 6).prop_map(|n| "a".repeat(n)),
    ]
}

/// Mostly a text cut to just within `limit` (the largest accepted), sometimes any text.
fn near_the_limit(limit: usize, longest: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any_text(longest),
        3 => any_text(longest).prop_map(move |t| shared::routing::truncate_stored(&t, limit)),
    ]
}

/// The actor a manual payload is planned with, if it is accepted.
fn planned_actor(payload: Value, c: &Config) -> Option<Actor> {
    let event = shared::events::Event::parse(&payload).ok()?;
    match crate::request::read(event, c, t0()).ok()? {
        crate::request::Command::Drill { actor, .. } => Some(actor),
        crate::request::Command::Change {
            request: Request::Evacuate { actor, .. },
            ..
        } => Some(actor),
        other => panic!("unexpected plan {other:?}"),
    }
}

proptest! {
    /// Whatever manual requests are accepted, the states they lead to fit in one Route 53
    /// record: a drill preparing on one region while a person evacuates the other (the
    /// two texts of each), then the drill evacuating, on a state that already carries
    /// every per-region entry, the hourly cap's times and the largest epoch.
    #[test]
    fn any_accepted_request_leaves_a_state_that_fits_in_its_record(
        drill_reason in near_the_limit(shared::routing::REASON_MAX, 300),
        drill_by in near_the_limit(shared::routing::REQUESTED_BY_MAX, 120),
        reason in near_the_limit(shared::routing::REASON_MAX, 300),
        by in near_the_limit(shared::routing::REQUESTED_BY_MAX, 120),
    ) {
        let c = config();
        let drill = planned_actor(json!({"action": "drill", "region": "eu-central-1", "reason": drill_reason, "requested_by": drill_by}), &c);
        let manual = planned_actor(json!({"action": "evacuate", "region": "us-east-1", "force": true, "reason": reason, "requested_by": by}), &c);
        let (Some(drill), Some(person)) = (drill, manual) else { return Ok(()) };
        let mut start = RoutingState { epoch: u64::MAX - 10, ..Default::default() };
        for region in [eu(), us()] {
            start.alarms.insert(region.clone(), shared::routing::AlarmNews { at: t0(), state: "ALARM".into(), reminded_at: Some(t0()) });
            start.recovered_at.insert(region, t0());
        }
        start.automatic_evacuations = vec![t0(); 2];
        let drill_id = format!("drill-eu-central-1-{}", t0().format("%Y%m%dT%H%M%S"));
        let now = t0() + Chrono::minutes(1);
        let step = |request: &Request, state: &RoutingState| {
            apply(decide(request, state, &c.regions, &all_healthy(), &c.failover, now))
        };
        let preparing = step(&Request::PrepareDrill {
            region: eu(), drill_id: drill_id.clone(), expires_at: now + Chrono::hours(4), actor: drill.clone(),
            peer_level_before: u64::MAX,
        }, &start);
        let both = step(&evacuate(us(), person), &preparing);
        let drilling = step(&Request::StartDrill { drill_id, actor: drill }, &preparing);
        for state in [&preparing, &both, &drilling] {
            let txt = state.to_txt_checked().map_err(TestCaseError::fail)?;
            prop_assert_eq!(&RoutingState::from_txt(&txt).unwrap(), state);
        }
    }
}

// ------------------------------------------- level-triggered, stop conditions, trust

fn tick_event() -> Value {
    serde_json::from_str(include_str!("../../../tests/fixtures/scheduler-tick.json")).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Chrono::minutes(n)
}

/// An alarm refused by the dwell is not forgotten: the tick sees it still in ALARM and
/// evacuates as soon as the dwell allows, without telling anyone again meanwhile.
#[tokio::test]
async fn the_tick_evacuates_once_the_rules_allow_a_region_whose_alarm_stays_in_alarm() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    world.set_state(&RoutingState {
        epoch: 4,
        changed_at: Some(minutes(-2)),
        ..Default::default()
    });
    world.set_alarm("us-east-1", AlarmState::Alarm, t0());
    let out = handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "refused", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("dwell"), "{out}");
    assert_eq!(world.notices.lock().unwrap().len(), 1);
    for minute in 1..8 {
        let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(minute)))
            .await
            .unwrap();
        assert_ne!(out["outcome"], "applied", "minute {minute}: {out}");
        assert!(!world.state().is_evacuated(&us()));
    }
    assert_eq!(
        world.notices.lock().unwrap().len(),
        1,
        "no repeated notice during the dwell"
    );
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(8)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let evacuation = &world.state().evacuated[&us()];
    assert!(
        evacuation.automatic && evacuation.by == "alarm:orders-health-us-east-1",
        "{evacuation:?}"
    );
    assert_eq!(
        world.thresholds.lock().unwrap()[&us()],
        3,
        "the gate follows"
    );
}

/// A refusal that lasts (the last region) is told at first sight, then once an hour.
#[tokio::test]
async fn a_lasting_refusal_is_told_once_then_hourly() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    let mut state = RoutingState::default();
    state.evacuated.insert(
        eu(),
        shared::routing::Evacuation {
            since: minutes(-120),
            by: "alice".into(),
            reason: "maintenance".into(),
            automatic: false,
            drill_id: None,
        },
    );
    state.changed_at = Some(minutes(-120));
    world.set_state(&state);
    world.set_alarm("us-east-1", AlarmState::Alarm, t0());
    let mut told = Vec::new();
    for minute in 1..=125 {
        let before = world.notices.lock().unwrap().len();
        let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(minute)))
            .await
            .unwrap();
        assert!(!world.state().is_evacuated(&us()), "{out}");
        if world.notices.lock().unwrap().len() > before {
            told.push(minute);
        }
    }
    assert_eq!(told, vec![1, 61, 121], "first sight, then hourly");
}

/// A stop condition: the region serving during a drill fails its health alarm; the drill
/// ends at once and the drilled region comes back, by event or by the tick.
#[tokio::test]
async fn a_drill_stops_when_a_serving_region_alarms() {
    for by_tick in [false, true] {
        let (c, world) = (config(), FakeWorld::default());
        let inv = drill_invocation();
        let drill = json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 60,
                           "reason": "game day", "requested_by": "alice"});
        let out = handle(drill, &inv, &c, &eu(), &world).await.unwrap();
        assert_eq!(out["outcome"], "applied", "{out}");
        assert!(world.state().is_evacuated(&eu()));
        world.set_alarm("us-east-1", AlarmState::Alarm, minutes(5));
        world.at(minutes(5));
        let out = if by_tick {
            handle(tick_event(), &inv, &c, &eu(), &world).await.unwrap()
        } else {
            handle(
                alarm_event_at("us-east-1", "ALARM", 5),
                &inv,
                &c,
                &eu(),
                &world,
            )
            .await
            .unwrap()
        };
        assert_eq!(out["outcome"], "applied", "{out}");
        assert!(out["reason"].as_str().unwrap().contains("stopped"), "{out}");
        let state = world.state();
        assert!(
            state.drill.is_none() && !state.is_evacuated(&eu()),
            "{state:?}"
        );
        assert!(
            !state.is_evacuated(&us()),
            "the failing region is not evacuated with it"
        );
        let emitted = world.emitted.lock().unwrap().clone();
        assert!(
            emitted.ends_with(&[
                (ControlPlaneKind::DrillEnded, "eu-central-1".into()),
                (ControlPlaneKind::RegionRestored, "eu-central-1".into()),
            ]),
            "{emitted:?}"
        );
    }
}

/// Alarm events are trusted only from the mapped alarm's account and region, and not
/// when dated in the future: refused, nothing written.
#[tokio::test]
async fn alarm_events_from_elsewhere_or_the_future_change_nothing() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    let mut foreign = alarm_event("us-east-1", "ALARM");
    foreign["account"] = json!("999999999999");
    foreign["resources"] =
        json!(["arn:aws:cloudwatch:us-east-1:999999999999:alarm:orders-health-us-east-1"]);
    let mut other_region = alarm_event("us-east-1", "ALARM");
    other_region["region"] = json!("eu-central-1");
    let future = alarm_event_at("us-east-1", "OK", 60 * 24 * 365);
    for (event, phrase) in [
        (foreign, "not mapped"),
        (other_region, "region"),
        (future, "future"),
    ] {
        let out = handle(event, &inv, &c, &eu(), &world).await.unwrap();
        assert_eq!(out["outcome"], "refused", "{out}");
        assert!(
            out["reason"].as_str().unwrap().contains(phrase),
            "{phrase}: {out}"
        );
    }
    assert!(world.record.lock().unwrap().is_none(), "nothing written");
    // A real alarm afterwards is not "stale" behind a forged future OK.
    let out = handle(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
}

/// The event only starts the work: a replayed or late ALARM whose alarm is OK now does
/// not evacuate.
#[tokio::test]
async fn an_old_alarm_event_is_decided_on_the_alarm_as_it_is_now() {
    let (c, world) = (config(), FakeWorld::default());
    world.set_alarm("us-east-1", AlarmState::Ok, minutes(2));
    world.at(minutes(3));
    let out = handle(
        alarm_event("us-east-1", "ALARM"),
        &Invocation::default(),
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_ne!(out["outcome"], "applied", "{out}");
    assert!(!world.state().is_evacuated(&us()));
    assert!(out.to_string().contains("deciding on that"), "{out}");
    // A read older than the event (CloudWatch not yet showing the change) does not undo it.
    world.set_alarm("us-east-1", AlarmState::InsufficientData, minutes(-60));
    let out = handle(
        alarm_event_at("us-east-1", "ALARM", 3),
        &Invocation::default(),
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(out.to_string().contains("older than the event"), "{out}");
    // CloudWatch unreachable: the event is all there is, and it is acted on.
    let (c, world) = (config(), FakeWorld::default());
    world.at(minutes(3));
    *world.alarms_down.lock().unwrap() = true;
    let out = handle(
        alarm_event_at("us-east-1", "ALARM", 3),
        &Invocation::default(),
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
}

/// A change whose event could not be sent keeps it owed in the state; the tick sends it.
#[tokio::test]
async fn an_announcement_that_failed_is_sent_by_the_next_tick() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    *world.fail_emits.lock().unwrap() = 1;
    let evacuate = json!({"action": "evacuate", "region": "us-east-1", "reason": "bad deploy",
                          "requested_by": "alice"});
    let out = handle(evacuate, &inv, &c, &eu(), &world).await.unwrap();
    assert!(world.state().is_evacuated(&us()), "{out}");
    assert!(world.emitted.lock().unwrap().is_empty());
    let owed = world.state().unannounced;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(
        (owed[0].kind, owed[0].epoch),
        (ControlPlaneKind::RegionEvacuated, world.state().epoch)
    );
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(
        world.emitted.lock().unwrap().clone(),
        vec![(ControlPlaneKind::RegionEvacuated, "us-east-1".to_string())]
    );
    assert!(world.state().unannounced.is_empty());
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(2)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "noop", "sent once: {out}");
    assert_eq!(world.emitted.lock().unwrap().len(), 1);
}

/// AWS allocates provisioned concurrency in a minute or two: a drill whose peers are not
/// READY within its run stays preparing, and a later tick evacuates once they are (or
/// gives the drill up after surge_wait).
#[tokio::test]
async fn a_drill_evacuates_on_a_later_run_once_the_surge_is_ready() {
    for ready in [true, false] {
        let (c, world) = (config(), FakeWorld::default());
        world
            .capacity
            .lock()
            .unwrap()
            .insert(us(), vec![("orders-api:live".into(), 2, "READY".into())]);
        // Lambda stops this run 15 s from now: no time to wait in it.
        let inv = Invocation {
            deadline: Some(t0() + Chrono::seconds(15)),
            ..drill_invocation()
        };
        let drill = json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 60,
                           "reason": "game day", "requested_by": "alice"});
        let out = handle(drill, &inv, &c, &eu(), &world).await.unwrap();
        assert_eq!(out["outcome"], "applied", "{out}");
        assert!(
            out["reason"].as_str().unwrap().contains("preparing"),
            "{out}"
        );
        assert!(!world.state().is_evacuated(&eu()));
        assert_eq!(
            world.scheduled.lock().unwrap().len(),
            1,
            "the end is scheduled at once"
        );
        let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
            .await
            .unwrap();
        assert_eq!(out["outcome"], "noop", "surge not READY yet: {out}");
        if ready {
            world
                .capacity
                .lock()
                .unwrap()
                .insert(us(), vec![("orders-api:live".into(), 4, "READY".into())]);
            let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(2)))
                .await
                .unwrap();
            assert_eq!(out["outcome"], "applied", "{out}");
            let state = world.state();
            assert!(state.is_evacuated(&eu()), "{out}");
            assert_eq!(
                state.drill.unwrap().phase,
                shared::routing::DrillPhase::Active
            );
        } else {
            let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(3)))
                .await
                .unwrap();
            assert_eq!(out["outcome"], "applied", "{out}");
            assert!(
                out["reason"].as_str().unwrap().contains("given up"),
                "{out}"
            );
            assert!(world.state().drill.is_none() && !world.state().is_evacuated(&eu()));
            assert_eq!(
                world.cancelled.lock().unwrap().len(),
                1,
                "its end schedule removed"
            );
        }
    }
}
