//! Handler tests with fakes: triggers, refusals, the report, costs, alerts, partial failure.

use crate::*;
use shared::aws::ecr::{DestinationStatus, ImageReplication, ImageReplicationState, ImageSummary};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::aws::secrets::{ReplicaState, ReplicaStatus, SecretReplicas};
use shared::error::AwsErrorKind;
use shared::metrics::Metric;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

const T0: i64 = 1_790_000_000;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap()
}

fn config() -> Config {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["replication"]["ecr"]["repositories"] = json!(["orders-api", "orders-worker"]);
    Config::from_value(&v).unwrap()
}

fn aws_err(op: &'static str, kind: AwsErrorKind) -> Error {
    Error::Aws {
        service: "fake",
        operation: op,
        region: "eu-central-1".into(),
        kind,
        message: "boom".into(),
    }
}

#[derive(Default)]
struct Fake {
    images: Mutex<BTreeMap<String, Vec<ImageSummary>>>,
    failing: Mutex<BTreeSet<String>>,
    statuses: Mutex<BTreeMap<String, Vec<DestinationStatus>>>,
    /// Digests ECR no longer has (DescribeImageReplicationStatus: ImageNotFoundException).
    deleted: Mutex<BTreeSet<String>>,
    series: Mutex<Vec<MetricSeries>>,
    secrets: Mutex<BTreeMap<String, SecretReplicas>>,
    state: Mutex<Option<String>>,
    state_broken: Mutex<bool>,
    sns_broken: Mutex<bool>,
    sent: Mutex<Vec<(String, String)>>,
    published: Mutex<Vec<Vec<Metric>>>,
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn call(&self, c: impl Into<String>) {
        self.calls.lock().unwrap().push(c.into());
    }
    fn count(&self, prefix: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
    fn push_image(&self, repo: &str, n: u32, pushed: DateTime<Utc>) -> String {
        let digest = format!("sha256:{n:064x}");
        self.images
            .lock()
            .unwrap()
            .entry(repo.into())
            .or_default()
            .push(ImageSummary {
                repository: repo.into(),
                digest: digest.clone(),
                tags: vec![format!("v{n}")],
                pushed_at: pushed,
            });
        digest
    }
    fn set_status(&self, digest: &str, state: ImageReplicationState) {
        self.statuses.lock().unwrap().insert(
            digest.into(),
            vec![DestinationStatus {
                region: "us-east-1".into(),
                registry_id: Some("111111111111".into()),
                state,
                failure_code: (state == ImageReplicationState::Failed)
                    .then(|| "KMS_ACCESS_DENIED".into()),
            }],
        );
    }
    fn healthy() -> Self {
        let f = Fake::default();
        f.secrets.lock().unwrap().insert(
            "orders/db-credentials".into(),
            SecretReplicas {
                secret_id: "orders/db-credentials".into(),
                name: None,
                last_changed: None,
                replicas: vec![ReplicaStatus {
                    region: "us-east-1".into(),
                    state: ReplicaState::InSync,
                    message: None,
                }],
            },
        );
        *f.series.lock().unwrap() = vec![
            MetricSeries {
                id: "r0_lat".into(),
                points: vec![(at(0), 30.0)],
            },
            MetricSeries {
                id: "r0_pend".into(),
                points: vec![(at(0), 2.0)],
            },
            MetricSeries {
                id: "r0_fail".into(),
                points: vec![(at(0), 0.0)],
            },
        ];
        f
    }
    fn metric(&self, name: &str, kind: Option<&str>, region: &str) -> Option<f64> {
        let published = self.published.lock().unwrap();
        let last = published.last()?;
        last.iter()
            .find(|m| {
                m.name == name
                    && m.dimensions
                        .contains(&("DestinationRegion", region.to_string()))
                    && kind.is_none_or(|k| m.dimensions.contains(&("Kind", k.to_string())))
            })
            .map(|m| m.value)
    }
}

impl EcrImages for Fake {
    async fn recent_images(
        &self,
        repository: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ImageSummary>> {
        let all = self
            .images
            .lock()
            .unwrap()
            .get(repository)
            .cloned()
            .unwrap_or_default();
        // Like the adapter: one DescribeImages call per page of 1,000.
        for _ in 0..all.len().div_ceil(1000).max(1) {
            self.call(format!("DescribeImages:{repository}"));
        }
        if self.failing.lock().unwrap().contains(repository) {
            return Err(aws_err("DescribeImages", AwsErrorKind::AccessDenied));
        }
        Ok(all.into_iter().filter(|i| i.pushed_at >= since).collect())
    }
    async fn replication_status(
        &self,
        _repository: &str,
        digest: &str,
    ) -> Result<ImageReplication> {
        self.call(format!("DescribeImageReplicationStatus:{digest}"));
        if self.deleted.lock().unwrap().contains(digest) {
            return Ok(ImageReplication::Gone);
        }
        Ok(ImageReplication::Destinations(
            self.statuses
                .lock()
                .unwrap()
                .get(digest)
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

impl MetricReader for Fake {
    async fn read(
        &self,
        queries: &[MetricQuery],
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        self.call(format!("GetMetricData:{}", queries.len()));
        Ok(self.series.lock().unwrap().clone())
    }
}

impl SecretReplication for Fake {
    async fn replicas(&self, secret_id: &str) -> Result<SecretReplicas> {
        self.call(format!("DescribeSecret:{secret_id}"));
        self.secrets
            .lock()
            .unwrap()
            .get(secret_id)
            .cloned()
            .ok_or_else(|| aws_err("DescribeSecret", AwsErrorKind::NotFound))
    }
}

impl StateStore for Fake {
    async fn load(&self) -> Result<Option<String>> {
        self.call("GetParameter");
        if *self.state_broken.lock().unwrap() {
            return Err(aws_err("GetParameter", AwsErrorKind::Throttling));
        }
        Ok(self.state.lock().unwrap().clone())
    }
    async fn save(&self, document: &str) -> Result<()> {
        self.call("PutParameter");
        *self.state.lock().unwrap() = Some(document.to_string());
        Ok(())
    }
}

impl Notifier for Fake {
    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.call("Publish");
        if *self.sns_broken.lock().unwrap() {
            return Err(aws_err("Publish", AwsErrorKind::Transient));
        }
        self.sent
            .lock()
            .unwrap()
            .push((subject.into(), message.into()));
        Ok(())
    }
}

impl MetricSink for Fake {
    async fn publish(&self, _namespace: &str, metrics: &[Metric]) -> Result<()> {
        self.call("PutMetricData");
        self.published.lock().unwrap().push(metrics.to_vec());
        Ok(())
    }
}

impl Deps for Fake {
    type Ecr = Fake;
    type Metrics = Fake;
    type Secrets = Fake;
    type State = Fake;
    type Notify = Fake;
    type Sink = Fake;
    fn ecr(&self) -> Option<&Fake> {
        Some(self)
    }
    fn metric_reader(&self, _region: &Region) -> Option<&Fake> {
        Some(self)
    }
    fn secrets(&self) -> Option<&Fake> {
        Some(self)
    }
    fn state(&self) -> &Fake {
        self
    }
    fn notifier(&self) -> &Fake {
        self
    }
    fn metrics(&self) -> &Fake {
        self
    }
}

fn inv() -> Invocation {
    Invocation {
        region: Region::parse("eu-central-1").unwrap(),
        request_id: None,
    }
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

async fn run(fake: &Fake, event: Value, now: DateTime<Utc>) -> Result<Value> {
    handle(event, &inv(), fake, &config(), now).await
}

#[tokio::test]
async fn events_it_does_not_handle_are_refused_with_zero_calls() {
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let action_failed = fake
        .published
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .iter()
        .find(|m| m.name == "ActionFailed")
        .unwrap()
        .value;
    assert_eq!(action_failed, 0.0);
    assert!(fake.sent.lock().unwrap().is_empty(), "no alert");
}

#[tokio::test]
async fn exactly_one_alert_per_crossing_across_cold_starts() {
    let fake = Fake::healthy();
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
    let cold = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let action_failed = fake
        .published
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .iter()
        .find(|m| m.name == "ActionFailed")
        .unwrap()
        .value;
    assert_eq!(action_failed, 1.0);
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
    let fake = Fake::healthy();
    fake.secrets
        .lock()
        .unwrap()
        .get_mut("orders/db-credentials")
        .unwrap()
        .replicas[0]
        .state = ReplicaState::InProgress;
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
    fake.secrets
        .lock()
        .unwrap()
        .get_mut("orders/db-credentials")
        .unwrap()
        .replicas[0]
        .state = ReplicaState::InSync;
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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
    let fake = Fake::healthy();
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

#[test]
fn iam_actions_are_the_expected_list() {
    let mut actions = IAM_ACTIONS.to_vec();
    actions.sort();
    actions.dedup();
    assert_eq!(actions.len(), IAM_ACTIONS.len());
    assert!(IAM_ACTIONS.iter().all(|a| a.split_once(':').is_some()));
}
