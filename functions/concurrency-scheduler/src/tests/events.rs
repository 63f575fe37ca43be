//! What starts a run (schedules, failover events, refused events) and what it
//! reads (the routing state, utilisation).

use super::*;

#[tokio::test(start_paused = true)]
async fn events_it_does_not_handle_are_refused_with_no_aws_call() {
    let d = setup();
    let ecr = json!({"version": "0", "id": "3", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "111111111111",
        "time": "2026-11-25T08:00:00Z", "region": "eu-central-1", "resources": [],
        "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": "orders", "image-digest": "sha256:abc", "image-tag": "v1"}});
    let alarm = json!({"version": "0", "id": "4", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "111111111111", "time": "2026-11-25T08:00:00Z", "region": "eu-central-1", "resources": ["arn:aws:cloudwatch:eu-central-1:111111111111:alarm:x"],
        "detail": {"alarmName": "x", "state": {"value": "ALARM", "reason": "r", "timestamp": "2026-11-25T08:00:00.000+0000"}}});
    for bad in [
        ecr,
        alarm,
        json!({"action": "evacuate"}),
        json!({"action": "plan", "extra": 1}),
        json!([1]),
        json!({"task": "end_drill", "drill_id": "d1"}),
    ] {
        let err = d.handle(bad.clone(), weekday()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidEvent(_)), "{bad}: {err}");
    }
    assert_eq!(d.world.lambda_calls.load(Ordering::SeqCst), 0);
    assert_eq!(d.world.routing_reads.load(Ordering::SeqCst), 0);
    assert!(d.world.published.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn schedule_tick_sets_the_window_level_then_nothing_changes() {
    let d = setup();
    d.world.set("orders-api", 2, PcStatus::Ready);
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["function"], "concurrency-scheduler");
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
    assert_eq!(d.world.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(r["changes"].as_array().unwrap().len(), 2);
    assert_eq!(row(&r, "orders-api")["why"]["window"], "business-hours");
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .starts_with("READY"));
    // One PutMetricData with a target per alias and ActionFailed = 0.
    let batches = d.world.published.lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    assert!(batches[0]
        .iter()
        .any(|m| m.name == "ProvisionedConcurrencyTarget"
            && m.value == 4.0
            && m.dimensions
                .contains(&("FunctionName", "orders-api".to_string()))
            && m.dimensions
                .contains(&("Region", "eu-central-1".to_string()))));
    // What Lambda had allocated when the run read it: orders-api's 2, billing's nothing.
    let allocated = |function: &str| {
        batches[0]
            .iter()
            .find(|m| {
                m.name == "ProvisionedConcurrencyAllocated"
                    && m.dimensions
                        .contains(&("FunctionName", function.to_string()))
            })
            .map(|m| m.value)
    };
    assert_eq!(allocated("orders-api"), Some(2.0));
    assert_eq!(allocated("billing"), Some(0.0));
    assert!(batches[0]
        .iter()
        .any(|m| m.name == "ActionFailed" && m.value == 0.0));

    let puts = d.world.puts().len();
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "noop", "{r:#}");
    assert_eq!(d.world.puts().len(), puts, "no writes when nothing differs");
    // Saturday: back to the baseline.
    let r = d.handle(tick(), weekend()).await.unwrap();
    assert_eq!(r["outcome"], "applied");
    assert_eq!(d.world.level("orders-api"), Some((2, PcStatus::Ready)));
}

#[tokio::test(start_paused = true)]
async fn failover_events_surge_from_the_routing_state_and_return_to_schedule() {
    let d = setup();
    *d.world.routing.lock().unwrap() = Some(evacuated("us-east-1"));
    let r = d
        .handle(control("Region Evacuated", "us-east-1"), weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["trigger"], "Region Evacuated us-east-1 (surge)");
    assert_eq!(d.world.level("orders-api"), Some((8, PcStatus::Ready)));
    assert_eq!(
        d.world.level("billing"),
        Some((6, PcStatus::Ready)),
        "surge is clamped to the target's max"
    );
    assert_eq!(row(&r, "orders-api")["why"]["rule"], "surge");

    // Restored: back to the schedule's level.
    *d.world.routing.lock().unwrap() = Some(RoutingState::default());
    let r = d
        .handle(control("Region Restored", "us-east-1"), weekday())
        .await
        .unwrap();
    assert_eq!(
        d.world.level("orders-api"),
        Some((4, PcStatus::Ready)),
        "{r:#}"
    );

    // A drill preparing on the peer surges before the peer is evacuated.
    let drilling = RoutingState {
        drill: Some(shared::routing::Drill {
            id: "drill-us-east-1".into(),
            region: Region::parse("us-east-1").unwrap(),
            phase: shared::routing::DrillPhase::Preparing,
            started_at: weekday(),
            expires_at: weekday() + chrono::Duration::minutes(15),
            by: "alice".into(),
            reason: "game day".into(),
            peer_level_before: None,
        }),
        ..Default::default()
    };
    *d.world.routing.lock().unwrap() = Some(drilling);
    let r = d
        .handle(control("Drill Started", "us-east-1"), weekday())
        .await
        .unwrap();
    assert_eq!(
        d.world.level("orders-api"),
        Some((8, PcStatus::Ready)),
        "{r:#}"
    );
    *d.world.routing.lock().unwrap() = Some(RoutingState::default());
    d.handle(control("Drill Ended", "us-east-1"), weekday())
        .await
        .unwrap();
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));

    // The evacuated region itself does not surge.
    *d.world.routing.lock().unwrap() = Some(evacuated("eu-central-1"));
    d.handle(control("Region Evacuated", "eu-central-1"), weekday())
        .await
        .unwrap();
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));

    // A lost event heals on the next tick: the state is the source of truth.
    *d.world.routing.lock().unwrap() = Some(evacuated("us-east-1"));
    d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(d.world.level("orders-api"), Some((8, PcStatus::Ready)));

    // Routing state unreadable: nothing is lowered.
    d.world.routing_down.store(true, Ordering::SeqCst);
    let r = d.handle(tick(), weekend()).await.unwrap();
    assert_eq!(
        d.world.level("orders-api"),
        Some((8, PcStatus::Ready)),
        "{r:#}"
    );
    assert!(r["errors"][0].as_str().unwrap().contains("routing state"));
}

#[tokio::test(start_paused = true)]
async fn utilization_scales_idle_aliases_to_the_floor_and_hot_ones_up() {
    let mut c = base_concurrency();
    c["utilization"] = json!({"enabled": true, "window": "15m", "target": 0.5});
    c["targets"] = json!([{"function": "idle", "baseline": 6, "min": 1}, {"function": "hot"}]);
    let d = setup_with(c, FakeWorld::with(&["idle", "hot"]));
    *d.world.utilization.lock().unwrap() =
        [("hot".to_string(), vec![0.4, 0.9])].into_iter().collect();
    d.world.set("idle", 6, PcStatus::Ready);
    d.world.set("hot", 4, PcStatus::Ready);
    let r = d.handle(tick(), weekend()).await.unwrap();
    assert_eq!(d.world.level("idle"), Some((1, PcStatus::Ready)), "{r:#}");
    assert_eq!(d.world.level("hot"), Some((8, PcStatus::Ready)), "{r:#}");
    assert_eq!(
        d.world.metric_reads.load(Ordering::SeqCst),
        1,
        "one GetMetricData for every target"
    );
}

/// us-east-1 dark: Route 53 does not answer and no event comes from us-east-1. The
/// surge follows failover's local store in this region, and Route 53 is not called.
#[tokio::test(start_paused = true)]
async fn with_route53_dark_the_surge_follows_the_local_store_without_calling_it() {
    let d = setup();
    d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
    d.world.routing_down.store(true, Ordering::SeqCst);
    *d.world.local.lock().unwrap() = Some(shared::local::LocalRecord {
        shared: Some(RoutingState::default()),
        pending: Some(evacuated("us-east-1")),
        control_plane_down_since: Some(weekday()),
        ..Default::default()
    });
    let reads = d.world.routing_reads.load(Ordering::SeqCst);
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(
        d.world.level("orders-api"),
        Some((8, PcStatus::Ready)),
        "{r:#}"
    );
    assert_eq!(
        d.world.routing_reads.load(Ordering::SeqCst),
        reads,
        "no Route 53 read: {r:#}"
    );
    assert!(r["timeline"].to_string().contains("local store"), "{r:#}");

    // Route 53 answering but behind: a data-plane close not yet reconciled still surges.
    d.world.routing_down.store(false, Ordering::SeqCst);
    *d.world.routing.lock().unwrap() = Some(RoutingState::default());
    if let Some(l) = d.world.local.lock().unwrap().as_mut() {
        l.control_plane_down_since = None;
    }
    d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(d.world.level("orders-api"), Some((8, PcStatus::Ready)));

    // Reconciled and restored: back to the schedule.
    *d.world.local.lock().unwrap() = Some(shared::local::LocalRecord::default());
    d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
}
