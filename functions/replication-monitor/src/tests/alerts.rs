//! Alerts across runs and cold starts, partial failures, dry runs.

use super::*;

#[tokio::test]
async fn exactly_one_alert_per_crossing_across_cold_starts() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(0));
    fake.set_status(&d, ImageReplicationState::InProgress);
    // Lag 5m: under the 15m threshold.
    run(&fake, tick(), at(300)).await.unwrap();
    assert_eq!(fake.sent.lock().unwrap().len(), 0);
    assert_eq!(
        fake.metric("ReplicationReady", None, "us-east-1"),
        Some(1.0)
    );
    // Lag 20m: one alert.
    let out = run(&fake, tick(), at(1_200)).await.unwrap();
    assert_eq!(out["outcome"], "applied");
    assert_eq!(out["changes"][0]["resource"], "alert:ecr");
    assert_eq!(fake.sent.lock().unwrap().len(), 1);
    assert!(fake.sent.lock().unwrap()[0]
        .0
        .contains("ecr replication over threshold"));
    assert_eq!(
        fake.metric("ReplicationReady", None, "us-east-1"),
        Some(0.0)
    );
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("ecr"), "us-east-1"),
        Some(1_200.0)
    );
    // Still over, across a "cold start" (new deps, same SSM document): no new alert.
    let cold = healthy();
    *cold.images.lock().unwrap() = fake.images.lock().unwrap().clone();
    *cold.statuses.lock().unwrap() = fake.statuses.lock().unwrap().clone();
    *cold.state.lock().unwrap() = fake.state.lock().unwrap().clone();
    run(&cold, tick(), at(1_500)).await.unwrap();
    run(&cold, tick(), at(1_800)).await.unwrap();
    assert_eq!(cold.sent.lock().unwrap().len(), 0);
    // Completes: one recovery alert, then quiet.
    cold.set_status(&d, ImageReplicationState::Complete);
    run(&cold, tick(), at(2_100)).await.unwrap();
    run(&cold, tick(), at(2_400)).await.unwrap();
    let sent = cold.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0.contains("recovered"));
    assert_eq!(
        cold.metric("ReplicationReady", None, "us-east-1"),
        Some(1.0)
    );
    assert_eq!(
        cold.metric("ReplicationLagSeconds", Some("ecr"), "us-east-1"),
        Some(0.0)
    );
}

#[tokio::test]
async fn failed_replication_alerts_with_its_reason() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(-60));
    fake.set_status(&d, ImageReplicationState::Failed);
    let out = run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(out["state"]["kinds"]["ecr"]["verdict"], "not_ready");
    assert_eq!(
        fake.metric("ReplicationFailed", Some("ecr"), "us-east-1"),
        Some(1.0)
    );
    let sent = fake.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    let failed = out["state"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .unwrap()
        .clone();
    assert!(failed["detail"]
        .as_str()
        .unwrap()
        .contains("KMS_ACCESS_DENIED"));
}

#[tokio::test]
async fn one_unreadable_repository_or_secret_does_not_hide_the_others() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(-60));
    fake.set_status(&d, ImageReplicationState::Complete);
    fake.failing.lock().unwrap().insert("orders-worker".into());
    let out = run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(out["outcome"], "failed");
    let errors = out["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("orders-worker")),
        "{errors:?}"
    );
    let state = &out["state"];
    assert_eq!(state["kinds"]["ecr"]["verdict"], "unknown");
    assert_eq!(state["kinds"]["s3"]["verdict"], "ready");
    assert_eq!(state["regions"]["us-east-1"]["verdict"], "unknown");
    assert!(
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "ecr"),
        "orders-api still reported"
    );
    assert_eq!(
        fake.metric("ReplicationReady", None, "us-east-1"),
        Some(0.0),
        "unknown publishes 0"
    );
    assert_eq!(fake.last_metric("ActionFailed"), Some(1.0));
    assert!(
        fake.sent.lock().unwrap().is_empty(),
        "unknown is not a crossing"
    );

    // A missing secret: the secret is unknown, ECR and S3 still reported.
    fake.failing.lock().unwrap().clear();
    fake.secrets.lock().unwrap().clear();
    let out = run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(out["state"]["kinds"]["secrets"]["verdict"], "unknown");
    assert_eq!(out["state"]["kinds"]["ecr"]["verdict"], "ready");
}

#[tokio::test]
async fn secret_in_progress_ages_from_first_sight_across_runs() {
    let fake = healthy();
    fake.set_secret("orders/db-credentials", ReplicaState::InProgress);
    run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("secrets"), "us-east-1"),
        Some(0.0)
    );
    run(&fake, tick(), at(700)).await.unwrap();
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("secrets"), "us-east-1"),
        Some(700.0)
    );
    assert_eq!(
        fake.sent.lock().unwrap().len(),
        1,
        "over the 10m secrets threshold"
    );
    fake.set_secret("orders/db-credentials", ReplicaState::InSync);
    run(&fake, tick(), at(800)).await.unwrap();
    assert_eq!(
        fake.metric("ReplicationLagSeconds", Some("secrets"), "us-east-1"),
        Some(0.0)
    );
    let doc = AlertState::parse(fake.state.lock().unwrap().as_deref().unwrap()).unwrap();
    assert!(doc.secrets_in_progress.is_empty());
}

#[tokio::test]
async fn dry_run_check_observes_but_changes_nothing() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(-3_600));
    fake.set_status(&d, ImageReplicationState::InProgress);
    let out = run(&fake, json!({"action": "check", "dry_run": true}), at(0))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "dry_run");
    assert_eq!(out["changes"][0]["resource"], "alert:ecr");
    assert_eq!(out["state"]["kinds"]["ecr"]["verdict"], "not_ready");
    assert_eq!(
        fake.count("Publish") + fake.count("PutMetricData") + fake.count("PutParameter"),
        0
    );
}

#[tokio::test]
async fn unknown_alert_state_skips_alerts_and_keeps_the_document() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(-3_600));
    fake.set_status(&d, ImageReplicationState::InProgress);
    *fake.state_broken.lock().unwrap() = true;
    let out = run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(out["outcome"], "failed");
    assert_eq!(fake.count("Publish") + fake.count("PutParameter"), 0);
    assert_eq!(fake.count("PutMetricData"), 1, "metrics still published");
}

#[tokio::test]
async fn an_undelivered_alert_is_tried_again_next_run() {
    let fake = healthy();
    let d = fake.push_image("orders-api", 1, at(-3_600));
    fake.set_status(&d, ImageReplicationState::InProgress);
    *fake.sns_broken.lock().unwrap() = true;
    let out = run(&fake, tick(), at(0)).await.unwrap();
    assert_eq!(out["outcome"], "failed");
    *fake.sns_broken.lock().unwrap() = false;
    run(&fake, tick(), at(60)).await.unwrap();
    run(&fake, tick(), at(120)).await.unwrap();
    assert_eq!(fake.sent.lock().unwrap().len(), 1);
}
