//! Handler tests against the in-memory [`FakeWorld`]: triggers, refusals, the report,
//! costs; alerts and partial failures in `tests/alerts.rs`.

use crate::decide::alerts::AlertState;
use crate::fake::FakeWorld;
use crate::*;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::aws::ecr::ImageReplicationState;
use shared::aws::secrets::ReplicaState;
use shared::Error;

mod alerts;

const T0: i64 = 1_790_000_000;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap()
}

fn config() -> Config {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["replication"]["ecr"]["repositories"] = json!(["orders-api", "orders-worker"]);
    Config::from_value(&v).unwrap()
}

/// The example config's secret in sync, its S3 rule 30 s behind with 2 pending.
fn healthy() -> FakeWorld {
    let world = FakeWorld::at(at(0));
    world.set_secret("orders/db-credentials", ReplicaState::InSync);
    world.set_s3(0, 30.0, 2.0, 0.0);
    world
}

fn tick() -> Value {
    json!({"task": "tick"})
}

fn push_event(repo: &str, digest: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "111111111111", "time": time.to_rfc3339(), "region": "eu-central-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": repo, "image-digest": digest, "action-type": "PUSH", "image-tag": "v9"}
    })
}

async fn run(world: &FakeWorld, event: Value, now: DateTime<Utc>) -> Result<Value> {
    world.set_now(now);
    let home = Region::parse("eu-central-1").unwrap();
    handle(event, &Invocation::default(), &config(), &home, world).await
}

#[tokio::test]
async fn events_it_does_not_handle_are_refused_with_zero_calls() {
    let fake = healthy();
    let refused = [
        json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {"alarmName": "a", "state": {"value": "ALARM"}}}),
        json!({"detail-type": "Region Evacuated", "source": "controlplane.failover", "detail": {"region": "us-east-1"}}),
        json!({"task": "end_drill", "drill_id": "d1"}),
        json!({"action": "evacuate", "region": "us-east-1"}),
        json!({"action": "check", "verbose": true}),
        json!({"hello": "world"}),
        json!([1, 2]),
    ];
    for event in refused {
        let err = run(&fake, event.clone(), at(0)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidEvent(_)), "{event}: {err}");
        assert_eq!(err.error_type(), "NonRetryable");
    }
    let err = run(&fake, json!({"action": "evacuate"}), at(0))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"check\""),
        "names the valid actions: {err}"
    );
    assert!(
        fake.calls.lock().unwrap().is_empty(),
        "zero AWS calls: {:?}",
        fake.calls.lock().unwrap()
    );
}

#[tokio::test]
async fn other_image_actions_and_repositories_are_a_noop_without_calls() {
    let fake = healthy();
    let mut delete = push_event("orders-api", "sha256:00", at(0));
    delete["detail"]["action-type"] = json!("DELETE");
    let unwatched = push_event("someone-else", "sha256:00", at(0));
    for event in [delete, unwatched] {
        let out = run(&fake, event, at(0)).await.unwrap();
        assert_eq!(out["outcome"], "noop");
    }
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn check_returns_the_full_report_and_publishes_once() {
    let fake = healthy();
    let d1 = fake.push_image("orders-api", 1, at(-300));
    fake.set_status(&d1, ImageReplicationState::Complete);
    let d2 = fake.push_image("orders-api", 2, at(-120));
    fake.set_status(&d2, ImageReplicationState::InProgress);
    let out = run(
        &fake,
        json!({"action": "check", "requested_by": "alice"}),
        at(0),
    )
    .await
    .unwrap();
    assert_eq!(out["function"], "replication-monitor");
    assert_eq!(out["action"], "check");
    assert_eq!(out["trigger"], "manual");
    assert_eq!(out["outcome"], "noop");
    assert_eq!(out["requested_by"], "alice");
    let state = &out["state"];
    assert_eq!(state["regions"]["us-east-1"]["verdict"], "ready");
    assert_eq!(state["regions"]["eu-central-1"]["verdict"], "ready");
    for kind in ["ecr", "s3", "secrets"] {
        assert_eq!(state["kinds"][kind]["verdict"], "ready", "{kind}");
        assert_eq!(
            state["regions"]["us-east-1"]["kinds"][kind], "ready",
            "{kind}"
        );
    }
    let resources = state["resources"].as_array().unwrap();
    assert_eq!(
        resources.len(),
        4,
        "2 images, 1 rule, 1 secret: {resources:?}"
    );
    let ecr_in_progress = resources
        .iter()
        .find(|r| r["kind"] == "ecr" && r["status"] == "in_progress")
        .unwrap();
    assert_eq!(ecr_in_progress["lag_seconds"], 120);
    assert_eq!(state["kinds"]["ecr"]["max_lag_seconds"], 120);
    assert_eq!(fake.count("PutMetricData"), 1);
    // one read in each region S3 publishes the rule's metrics in (destination: latency
    // and pending; source: failures)
    assert_eq!(fake.count("GetMetricData"), 2);
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("ecr"), "us-east-1"),
        Some(120.0)
    );
    assert_eq!(
        fake.metric("ReplicationPending", Some("ecr"), "us-east-1"),
        Some(1.0)
    );
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("s3"), "us-east-1"),
        Some(30.0)
    );
    assert_eq!(
        fake.metric("ReplicationPending", Some("s3"), "us-east-1"),
        Some(2.0)
    );
    assert_eq!(
        fake.metric("ReplicationFailed", Some("secrets"), "us-east-1"),
        Some(0.0)
    );
    assert_eq!(
        fake.metric("ReplicationReady", None, "us-east-1"),
        Some(1.0)
    );
    assert_eq!(
        fake.metric("ReplicationReady", None, "eu-central-1"),
        Some(1.0)
    );
    assert!(fake.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn calls_grow_with_recent_pushes_not_repository_size() {
    let fake = healthy();
    for n in 0..5_000 {
        fake.push_image("orders-api", n, at(-86_400 * 60));
    }
    for n in 5_000..5_003 {
        let d = fake.push_image("orders-api", n, at(-60));
        fake.set_status(&d, ImageReplicationState::Complete);
    }
    run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(
        fake.count("DescribeImages:orders-api"),
        6,
        "pages of 1,000: the listing floor"
    );
    assert_eq!(
        fake.count("DescribeImageReplicationStatus"),
        3,
        "status calls only for the 3 recent images"
    );
    // Doubling the old images adds only listing pages, never status calls.
    for n in 10_000..15_000 {
        fake.push_image("orders-api", n, at(-86_400 * 60));
    }
    fake.calls.lock().unwrap().clear();
    run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(fake.count("DescribeImageReplicationStatus"), 3);
}

#[tokio::test]
async fn a_push_event_checks_the_pushed_image_even_before_it_is_listed() {
    let fake = healthy();
    let digest = format!("sha256:{:064x}", 77);
    let out = run(&fake, push_event("orders-api", &digest, at(-30)), at(0))
        .await
        .unwrap();
    assert_eq!(out["trigger"], "ecr_push");
    assert_eq!(
        fake.count(&format!("DescribeImageReplicationStatus:{digest}")),
        1
    );
    let r = out["state"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "ecr")
        .unwrap()
        .clone();
    assert_eq!(r["status"], "in_progress");
    assert_eq!(r["lag_seconds"], 30);
}

#[tokio::test]
async fn a_pushed_image_deleted_before_the_monitor_looks_is_gone_not_pending() {
    let fake = healthy();
    let kept = fake.push_image("orders-api", 1, at(-60));
    fake.set_status(&kept, ImageReplicationState::Complete);
    let digest = format!("sha256:{:064x}", 78);
    fake.deleted.lock().unwrap().insert(digest.clone());
    // Pushed an hour ago (past the 15m ECR threshold), deleted before this run.
    let out = run(&fake, push_event("orders-api", &digest, at(-3_600)), at(0))
        .await
        .unwrap();
    assert_eq!(out["trigger"], "ecr_push");
    assert_eq!(out["outcome"], "noop", "{out}");
    assert!(
        out["errors"].as_array().is_none_or(|e| e.is_empty()),
        "{out}"
    );
    let state = &out["state"];
    assert_eq!(state["kinds"]["ecr"]["verdict"], "ready", "{out}");
    assert_eq!(state["regions"]["us-east-1"]["verdict"], "ready", "{out}");
    assert_eq!(state["kinds"]["ecr"]["pending"], 0);
    assert_eq!(state["kinds"]["ecr"]["failed"], 0);
    assert_eq!(state["kinds"]["ecr"]["max_lag_seconds"], 0);
    let ecr: Vec<&Value> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "ecr")
        .collect();
    assert_eq!(ecr.len(), 1, "only the kept image is counted: {ecr:?}");
    assert!(state["unreadable"].as_array().unwrap().is_empty());
    let gone = format!("orders-api:v9@{}", &digest[..19]);
    assert_eq!(state["gone"], json!([gone]));
    assert!(
        out["reason"].as_str().unwrap().contains(&gone),
        "{}",
        out["reason"]
    );
    assert!(
        out["timeline"].as_array().unwrap().iter().any(|s| s["step"]
            .as_str()
            .unwrap()
            .contains(&format!("{gone} is gone"))),
        "{out}"
    );
    assert_eq!(
        fake.metric("ReplicationReady", None, "us-east-1"),
        Some(1.0),
        "a deleted image does not block evacuation"
    );
    assert_eq!(
        fake.metric("ReplicationPending", Some("ecr"), "us-east-1"),
        Some(0.0)
    );
    assert_eq!(fake.last_metric("ActionFailed"), Some(0.0));
    assert!(fake.sent.lock().unwrap().is_empty(), "no alert");
}
