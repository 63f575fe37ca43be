//! The handler's basics: one change per alarm, lost swaps, races, manual actions, drills.

use super::*;

#[tokio::test]
async fn the_same_alarm_many_times_makes_one_change() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    for _ in 0..100 {
        arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
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
            arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &home_a, &world),
            arrive(
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
    let err = arrive(
        json!({"action": "evacuate", "region": "us-east-1"}),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("needs a \"reason\""));
    let dry = arrive(
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
    let unknown = arrive(json!({"action": "explode"}), &inv, &c, &eu(), &world)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("known: status, evacuate"));
    let unmapped = arrive(alarm_event("nowhere", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(unmapped["outcome"], "refused");
}

#[tokio::test]
async fn tick_repairs_a_gate_flipped_by_hand() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation::default();
    arrive(alarm_event("us-east-1", "ALARM"), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    world.thresholds.lock().unwrap().insert(us(), 2); // someone reopened it by hand
    let tick: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/scheduler-tick.json"
    ))
    .unwrap();
    let out = arrive(tick, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(world.thresholds.lock().unwrap()[&us()], 3);
}

#[tokio::test]
async fn drill_surges_evacuates_and_records_a_timeline() {
    let (c, world) = (config(), FakeWorld::default());
    let out = arrive(
        json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 15, "reason": "game day"}),
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
    assert_eq!(out["requested_by"], OPERATOR);
}

#[tokio::test]
async fn ending_a_drill_by_hand_removes_its_end_schedule() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = Invocation {
        request_id: "r".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: None,
    };
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day"});
    let out = arrive(drill, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    let scheduled = world.scheduled.lock().unwrap().clone();
    assert_eq!(scheduled.len(), 1);
    assert!(world.cancelled.lock().unwrap().is_empty());

    let end = json!({"action": "end_drill", "reason": "done early"});
    let out = arrive(end.clone(), &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(!world.state().is_evacuated(&eu()));
    assert_eq!(*world.cancelled.lock().unwrap(), scheduled);

    // Again: nothing to end, nothing more removed.
    let again = arrive(end, &inv, &c, &eu(), &world).await.unwrap();
    assert_eq!(again["outcome"], "noop", "{again}");
    assert_eq!(world.cancelled.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_ok_alarm_with_manual_failback_only_notifies() {
    let (c, world) = (config(), FakeWorld::default());
    assert!(!c.failover.failback.automatic);
    let inv = Invocation::default();
    arrive(
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
    let out = arrive(
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

/// A direct Invoke carries nothing Lambda verified about its sender: every manual
/// routing action arriving that way is refused with one line, and nothing is done
/// (whatever `requested_by` it claims, and with `force`). `status` stays open.
#[tokio::test]
async fn a_routing_action_by_direct_invoke_is_refused_and_changes_nothing() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = drill_invocation();
    for payload in [
        json!({"action": "evacuate", "region": "us-east-1", "reason": "r", "force": true}),
        json!({"action": "restore", "region": "us-east-1", "reason": "r"}),
        json!({"action": "drill", "region": "eu-central-1", "reason": "r"}),
        json!({"action": "end_drill", "reason": "r"}),
        json!({"action": "evacuate", "region": "us-east-1", "reason": "r", "dry_run": true}),
    ] {
        let err = handle(payload.clone(), &inv, &c, &eu(), &world)
            .await
            .expect_err("refused");
        assert_eq!(err.error_type(), "NonRetryable", "{err}");
        let message = err.to_string();
        assert!(
            message.contains("needs the operator entry point (the function URL, AWS_IAM auth"),
            "{payload}: {message}"
        );
        assert!(!message.contains('\n'), "one line: {message}");
    }
    // A claimed identity changes nothing.
    let claimed = json!({"action": "evacuate", "region": "us-east-1", "reason": "r", "force": true,
                         "requested_by": OPERATOR});
    assert!(handle(claimed, &inv, &c, &eu(), &world).await.is_err());
    assert_eq!(*world.swaps.lock().unwrap(), 0);
    assert!(world.thresholds.lock().unwrap().is_empty());
    assert!(world.notices.lock().unwrap().is_empty());
    assert!(world.scheduled.lock().unwrap().is_empty());
    assert!(world.state().evacuated.is_empty());

    let status = handle(json!({"action": "status"}), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(status["action"], "status", "{status}");
}

/// Through the function URL: an operator's session acts, and the record names that
/// session, never a payload field; any other authenticated caller is refused (and the
/// refusal notified), with nothing changed.
#[tokio::test]
async fn only_a_session_of_an_operator_role_changes_routing_through_the_url() {
    let (c, world) = (config(), FakeWorld::default());
    let inv = drill_invocation();
    let evacuate =
        json!({"action": "evacuate", "region": "us-east-1", "reason": "bad deploy", "force": true});
    for stranger in [
        "arn:aws:sts::333333333333:assumed-role/orders-reader/mallory",
        "arn:aws:sts::222222222222:assumed-role/orders-operator/mallory",
        "arn:aws:iam::333333333333:user/mallory",
        "arn:aws:iam::333333333333:root",
    ] {
        let out = through_url(stranger, evacuate.clone(), &inv, &c, &eu(), &world)
            .await
            .unwrap();
        assert_eq!(out["outcome"], "refused", "{out}");
        assert!(
            out["reason"]
                .as_str()
                .unwrap()
                .contains("need a session of a role in failover.operator_roles"),
            "{out}"
        );
    }
    assert_eq!(*world.swaps.lock().unwrap(), 0);
    assert!(world.state().evacuated.is_empty());
    assert_eq!(world.notices.lock().unwrap().len(), 4);

    // A claimed identity is refused outright, even from an operator.
    let claimed = json!({"action": "evacuate", "region": "us-east-1", "reason": "r",
                         "requested_by": "someone-else"});
    let err = through_url(OPERATOR, claimed, &inv, &c, &eu(), &world)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`requested_by` is not accepted"),
        "{err}"
    );
    assert_eq!(*world.swaps.lock().unwrap(), 0);

    let out = through_url(OPERATOR, evacuate, &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(out["requested_by"], OPERATOR);
    assert_eq!(world.state().evacuated[&us()].by, OPERATOR);

    // The URL takes manual actions only: an alarm event through it is a 400.
    let err = through_url(
        OPERATOR,
        alarm_event("eu-central-1", "ALARM"),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("manual actions only"), "{err}");
    // status is open to any authenticated caller, as by Invoke.
    let status = through_url(
        "arn:aws:iam::333333333333:user/mallory",
        json!({"action": "status"}),
        &inv,
        &c,
        &eu(),
        &world,
    )
    .await
    .unwrap();
    assert_eq!(status["action"], "status", "{status}");
}

/// A decision reads every region's gate at once: from eu-central-1 each read crosses to
/// Route 53 in us-east-1, and the decision waits for the slowest, not for their sum.
#[tokio::test]
async fn a_decision_reads_every_regions_gate_at_once() {
    let (c, world) = (config(), FakeWorld::default());
    world.meet_together(&["gate eu-central-1", "gate us-east-1"]);
    let out = meeting(
        arrive(
            alarm_event("us-east-1", "ALARM"),
            &Invocation::default(),
            &c,
            &eu(),
            &world,
        ),
        "the gates were read one after the other",
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(world.state().is_evacuated(&us()));
}
