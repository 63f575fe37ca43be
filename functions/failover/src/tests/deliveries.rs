//! Duplicates, late deliveries and lost answers.

use super::*;

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
    let run = |event: Value| arrive(event, &inv, &c, &home, &world);
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
    let err = arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Retryable", "{err}");
    assert!(err.to_string().contains("Rate exceeded"), "{err}");
    assert!(!world.state().is_evacuated(&us()));
    // Lambda's retry delivers the same event again: not stale, since nothing was recorded.
    let retried = arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(retried["outcome"], "applied", "{retried}");

    *world.throttle.lock().unwrap() = 1;
    let restore =
        json!({"action": "restore", "region": "us-east-1", "reason": "fixed", "force": true});
    let manual = arrive(restore, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(
        manual["outcome"], "failed",
        "a person gets the record: {manual}"
    );
}

#[tokio::test]
async fn a_write_whose_answer_timed_out_is_recognised_and_finished() {
    let (c, world) = (config(), FakeWorld::default());
    *world.land_then_time_out.lock().unwrap() = 1;
    let out = arrive(
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
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day"});
    let out = arrive(drill, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(
        out["timeline"].to_string().contains("waiting up to 5s"),
        "{out}"
    );
}
