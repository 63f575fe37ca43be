//! Applying changes: FAILED and its fallback, 409s, throttling, the shared
//! headroom, aliases Lambda refuses, and hundreds of aliases under the pacer.

use super::*;

#[tokio::test(start_paused = true)]
async fn failed_falls_back_to_the_last_good_level_alerts_and_holds() {
    let d = setup();
    d.world.set("orders-api", 2, PcStatus::Ready);
    d.world.set("billing", 4, PcStatus::Ready);
    d.world
        .fail
        .lock()
        .unwrap()
        .insert(("orders-api".into(), 4));
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert_eq!(
        d.world.level("orders-api"),
        Some((2, PcStatus::Ready)),
        "fell back to the last good level"
    );
    assert_eq!(
        d.world.puts(),
        vec![("orders-api".to_string(), 4), ("orders-api".to_string(), 2)]
    );
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .contains("fell back to the last good level 2"));
    let alerts = d.world.alerts.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].1.contains("orders-api"));
    let m = d.world.published.lock().unwrap().clone();
    assert!(m[0]
        .iter()
        .any(|m| m.name == "ActionFailed" && m.value == 1.0));
    let st = State::parse(d.world.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(st.failed["orders-api:live"].level, 4);

    // The next tick holds at 2 (cool-down) instead of failing again.
    let r = d
        .handle(tick(), weekday() + chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(r["outcome"], "noop", "{r:#}");
    assert_eq!(d.world.puts().len(), 2);
    // After the cool-down it tries again.
    d.world.fail.lock().unwrap().clear();
    d.handle(tick(), weekday() + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
}

#[tokio::test(start_paused = true)]
async fn a_failed_config_counts_as_its_last_good_level() {
    let d = setup();
    d.world.set("orders-api", 6, PcStatus::Failed);
    d.world.set("billing", 4, PcStatus::InProgress);
    *d.world.state.lock().unwrap() = Some(
        r#"{"last_good":{"orders-api:live":3},"failed":{"billing:live":{"level":9,"at":"2026-11-25T07:30:00Z"}}}"#
            .into(),
    );
    // FAILED at 6 provisions nothing: the alias counts as its last good 3 and goes to 4.
    let r = d
        .handle(json!({"action": "plan", "requested_by": "bob"}), weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "dry_run", "{r:#}");
    assert_eq!(r["requested_by"], "bob");
    assert_eq!(row(&r, "orders-api")["status"], "FAILED");
    assert_eq!(row(&r, "orders-api")["level"], 4);
    let r = d
        .handle(
            json!({"action": "reconcile", "requested_by": "carol", "reason": "why not"}),
            weekday(),
        )
        .await
        .unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["requested_by"], "carol");
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
    let st = State::parse(d.world.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert!(
        st.last_good.is_empty(),
        "READY again: no last good level kept"
    );

    // A surge level that FAILS falls back to the READY 4.
    *d.world.routing.lock().unwrap() = Some(evacuated("us-east-1"));
    d.world
        .fail
        .lock()
        .unwrap()
        .insert(("orders-api".into(), 8));
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
    // Days later the cool-down is over and pruned.
    d.handle(tick(), weekend()).await.unwrap();
    let st = State::parse(d.world.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert!(st.failed.is_empty(), "{st:?}");
}

#[tokio::test(start_paused = true)]
async fn conflicts_are_retried_later_in_the_run_and_throttling_backs_off() {
    let d = setup();
    d.world
        .conflict_once
        .lock()
        .unwrap()
        .insert("orders-api".into());
    d.world.throttle_puts.store(2, Ordering::SeqCst);
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(d.world.level("orders-api"), Some((4, PcStatus::Ready)));
    assert_eq!(d.world.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(r["state"]["api_calls"]["throttled"], 2);
}

#[tokio::test(start_paused = true)]
async fn headroom_is_shared_by_every_target_and_decreases_go_first() {
    let d = setup();
    *d.world.unreserved.lock().unwrap() = 106; // headroom 6
    d.world.set("billing", 5, PcStatus::Ready);
    // billing goes 5 -> 4 (frees 1), orders-api 0 -> 4 gets only 2.
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(d.world.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(d.world.level("orders-api"), Some((2, PcStatus::Ready)));
    assert_eq!(
        d.world.puts()[0],
        ("billing".to_string(), 4),
        "decrease first"
    );
    assert!(row(&r, "orders-api")["why"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("headroom"));
}

#[tokio::test(start_paused = true)]
async fn weighted_and_missing_aliases_are_refused_clearly() {
    let d = setup();
    d.world
        .aliases
        .lock()
        .unwrap()
        .insert("billing".into(), true);
    d.world.aliases.lock().unwrap().remove("orders-api");
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "failed");
    assert!(row(&r, "billing")["result"]
        .as_str()
        .unwrap()
        .contains("version weights"));
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(d.world.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn hundreds_of_discovered_aliases_only_the_changed_are_written_within_the_rate() {
    let names: Vec<String> = (0..300).map(|i| format!("fn-{i:03}")).collect();
    let mut c = base_concurrency();
    c["targets"] = json!([]);
    c["discovery"] = json!({"tag_key": "controlplane:pc", "tag_value": "managed"});
    c["requests_per_second"] = json!(10);
    c["max_in_flight"] = json!(8);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let d = setup_with(c, FakeWorld::with(&refs));
    *d.world.tagged.lock().unwrap() = names.clone();
    *d.world.unreserved.lock().unwrap() = 2000;
    for (i, n) in names.iter().enumerate() {
        d.world
            .set(n, if i % 25 == 0 { 2 } else { 4 }, PcStatus::Ready);
    }
    let start = tokio::time::Instant::now();
    let r = d.handle(tick(), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(
        d.world.puts().len(),
        12,
        "only the 12 aliases that differ are written"
    );
    assert_eq!(r["state"]["targets"], 300);
    assert_eq!(r["state"]["unchanged"], 288);
    let calls = d.world.lambda_calls.load(Ordering::SeqCst) as f64;
    let secs = start.elapsed().as_secs_f64();
    assert!(
        calls / secs <= 10.5,
        "{calls} Lambda calls in {secs}s exceed the 10/s limit"
    );
}
