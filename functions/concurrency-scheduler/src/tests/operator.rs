//! What a person asks: a plan, a dry run, an override and its refusals.

use super::*;

#[tokio::test(start_paused = true)]
async fn plan_shows_every_target_and_writes_nothing() {
    let d = setup();
    d.world.set("orders-api", 4, PcStatus::Ready);
    let r = d
        .handle(json!({"action": "plan"}), weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "dry_run");
    assert_eq!(r["action"], "plan");
    let o = row(&r, "orders-api");
    assert_eq!(
        (o["current"].clone(), o["level"].clone()),
        (json!(4), json!(4))
    );
    let b = row(&r, "billing");
    assert_eq!(
        (b["current"].clone(), b["level"].clone()),
        (Value::Null, json!(4))
    );
    assert_eq!(b["why"]["rule"], "window");
    assert_eq!(r["changes"].as_array().unwrap().len(), 1);
    assert!(d.world.puts().is_empty());
    assert!(d.world.published.lock().unwrap().is_empty());
    assert_eq!(d.world.state_saves.load(Ordering::SeqCst), 0);
    // reconcile with dry_run: the same, no writes.
    let r = d
        .handle(json!({"action": "reconcile", "dry_run": true}), weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "dry_run");
    assert!(d.world.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn override_needs_a_reason_wins_and_expires_on_its_own() {
    let d = setup();
    let ask = json!({"action": "override", "function": "orders-api", "level": 10, "until": "2h"});
    let err = d.handle(ask.clone(), weekday()).await.unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");

    let mut dry = ask.clone();
    dry["dry_run"] = json!(true);
    let r = d.handle(dry, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "dry_run", "{r:#}");
    assert!(d.world.puts().is_empty());
    assert!(d.world.state.lock().unwrap().is_none());

    let mut real = ask.clone();
    real["reason"] = json!("launch at 10:00");
    real["requested_by"] = json!("alice");
    let r = d.handle(real, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["requested_by"], "alice");
    assert_eq!(
        d.world.puts(),
        vec![("orders-api".to_string(), 10)],
        "only the overridden alias"
    );
    let st = State::parse(d.world.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(st.overrides[0].level, 10);
    assert_eq!(st.overrides[0].reason, "launch at 10:00");

    // The override beats a surge on the next tick...
    *d.world.routing.lock().unwrap() = Some(evacuated("us-east-1"));
    let r = d
        .handle(tick(), weekday() + chrono::Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(row(&r, "billing")["why"]["rule"], "surge", "{r:#}");
    assert_eq!(d.world.level("orders-api"), Some((10, PcStatus::Ready)));
    // ...and expires on its own.
    *d.world.routing.lock().unwrap() = None;
    let r = d
        .handle(tick(), weekday() + chrono::Duration::minutes(121))
        .await
        .unwrap();
    assert_eq!(
        d.world.level("orders-api"),
        Some((4, PcStatus::Ready)),
        "{r:#}"
    );
    let st = State::parse(d.world.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert!(st.overrides.is_empty(), "expired overrides are pruned");

    // Refusals: unknown target, level above max, another region, a past time.
    let r = d.handle(
        json!({"action": "override", "function": "nope", "level": 3, "until": "1h", "reason": "x"}),
        weekday(),
    )
    .await
    .unwrap();
    assert_eq!(r["outcome"], "refused");
    let r = d.handle(json!({"action": "override", "function": "billing", "level": 7, "until": "1h", "reason": "x"}), weekday()).await.unwrap();
    assert_eq!(r["outcome"], "refused", "{r:#}");
    for bad in [
        json!({"action": "override", "function": "billing", "level": 3, "until": "1h", "reason": "x", "region": "us-east-1"}),
        json!({"action": "override", "function": "billing", "level": 3, "until": "2020-01-01T00:00:00Z", "reason": "x"}),
        json!({"action": "override", "function": "billing", "level": 0, "until": "1h", "reason": "x"}),
        json!({"action": "override", "function": "billing", "level": 3, "until": "30d", "reason": "x"}),
    ] {
        assert!(
            matches!(
                d.handle(bad.clone(), weekday()).await,
                Err(Error::InvalidEvent(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_override_reads_every_target_for_the_shared_headroom_but_changes_one() {
    let d = setup();
    *d.world.unreserved.lock().unwrap() = 108; // headroom 8
    d.world.set("orders-api", 4, PcStatus::Ready);
    d.world.set("billing", 2, PcStatus::Ready); // would go to 4, but is not the one asked
    let r = d.handle(json!({"action": "override", "function": "orders-api", "level": 20, "until": "1h", "reason": "launch"}), weekday())
        .await
        .unwrap();
    assert_eq!(d.world.puts(), vec![("orders-api".to_string(), 6)], "{r:#}");
    assert!(row(&r, "orders-api")["why"]["notes"]
        .to_string()
        .contains("headroom"));
    assert_eq!(d.world.level("billing"), Some((2, PcStatus::Ready)));
}
