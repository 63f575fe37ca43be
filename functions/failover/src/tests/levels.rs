//! Level-triggered tick, drill stop conditions and surges across runs, trusted alarms,
//! owed announcements.

use super::*;

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
    let out = arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "refused", "{out}");
    assert!(out["reason"].as_str().unwrap().contains("dwell"), "{out}");
    assert_eq!(world.notices.lock().unwrap().len(), 1);
    for minute in 1..8 {
        let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(minute)))
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
    let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(8)))
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
        let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(minute)))
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
                           "reason": "game day"});
        let out = arrive(drill, &inv, &c, &eu(), &world).await.unwrap();
        assert_eq!(out["outcome"], "applied", "{out}");
        assert!(world.state().is_evacuated(&eu()));
        world.set_alarm("us-east-1", AlarmState::Alarm, minutes(5));
        world.at(minutes(5));
        let out = if by_tick {
            arrive(tick_event(), &inv, &c, &eu(), &world).await.unwrap()
        } else {
            arrive(
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
        let out = arrive(event, &inv, &c, &eu(), &world).await.unwrap();
        assert_eq!(out["outcome"], "refused", "{out}");
        assert!(
            out["reason"].as_str().unwrap().contains(phrase),
            "{phrase}: {out}"
        );
    }
    assert!(world.record.lock().unwrap().is_none(), "nothing written");
    // A real alarm afterwards is not "stale" behind a forged future OK.
    let out = arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
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
    let out = arrive(
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
    let out = arrive(
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
    let out = arrive(
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
    let evacuate = json!({"action": "evacuate", "region": "us-east-1", "reason": "bad deploy"});
    let out = arrive(evacuate, &inv, &c, &eu(), &world).await.unwrap();
    assert!(world.state().is_evacuated(&us()), "{out}");
    assert!(world.emitted.lock().unwrap().is_empty());
    let owed = world.state().unannounced;
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(
        (owed[0].kind, owed[0].epoch),
        (ControlPlaneKind::RegionEvacuated, world.state().epoch)
    );
    let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(
        world.emitted.lock().unwrap().clone(),
        vec![(ControlPlaneKind::RegionEvacuated, "us-east-1".to_string())]
    );
    assert!(world.state().unannounced.is_empty());
    let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(2)))
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
                           "reason": "game day"});
        let out = arrive(drill, &inv, &c, &eu(), &world).await.unwrap();
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
        let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
            .await
            .unwrap();
        assert_eq!(out["outcome"], "noop", "surge not READY yet: {out}");
        if ready {
            world
                .capacity
                .lock()
                .unwrap()
                .insert(us(), vec![("orders-api:live".into(), 4, "READY".into())]);
            let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(2)))
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
            let out = arrive(tick_event(), &inv, &c, &eu(), world.at(minutes(3)))
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
