//! Every stored text bounded; the state record within Route 53's value limit.

use super::*;

#[tokio::test]
async fn a_drill_stores_its_reason_once() {
    let (c, world) = (config(), FakeWorld::default());
    let drill = json!({"action": "drill", "region": "eu-central-1", "reason": "game day: fail über to us-east-1"});
    let out = arrive(drill, &drill_invocation(), &c, &eu(), &world)
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
    let evacuate = |reason: String| json!({"action": "evacuate", "region": "us-east-1", "reason": reason, "force": true});
    let cases = [
        (
            evacuate("r".repeat(5000)),
            "`reason` is too long: 5000 characters; the limit is 500 characters as stored",
        ),
        (
            evacuate("é".repeat(300)),
            "`reason` is too long: 300 characters, which take 2100 in the routing-state record",
        ),
        // Who asked is the authenticated caller, never the payload's claim.
        (
            json!({"action": "evacuate", "region": "us-east-1", "reason": "ok", "force": true, "requested_by": "alice"}),
            "`requested_by` is not accepted; the records name the caller the function URL authenticated",
        ),
        (
            json!({"action": "drill", "region": "eu-central-1", "reason": "🚨".repeat(40)}),
            "`reason` is too long: 40 characters, which take 560",
        ),
        (
            json!({"action": "evacuate", "region": "us-east-1", "reason": "r".repeat(501), "dry_run": true}),
            "`reason` is too long: 501 characters",
        ),
    ];
    for (payload, needle) in cases {
        let err = arrive(payload.clone(), &drill_invocation(), &c, &eu(), &world)
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
    let out = arrive(event, &Invocation::default(), &c, &eu(), &world)
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

/// The actor a manual payload is planned with, if it is accepted, sent through the
/// function URL by a session of the operator role named `session`.
fn planned_actor(payload: Value, session: &str, c: &Config) -> Option<Actor> {
    let event = shared::events::Event::parse(&payload).ok()?;
    let caller = format!("arn:aws:sts::333333333333:assumed-role/orders-operator/{session}");
    let entry = crate::request::Entry::Url { caller: &caller };
    match crate::request::read(event, entry, c, t0()).ok()? {
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
        let drill = planned_actor(json!({"action": "drill", "region": "eu-central-1", "reason": drill_reason}), &drill_by, &c);
        let manual = planned_actor(json!({"action": "evacuate", "region": "us-east-1", "force": true, "reason": reason}), &by, &c);
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
