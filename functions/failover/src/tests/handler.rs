//! The handler's basics: one change per alarm, lost swaps, races, manual actions, drills.

use super::*;

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
    let tick: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/scheduler-tick.json"
    ))
    .unwrap();
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
