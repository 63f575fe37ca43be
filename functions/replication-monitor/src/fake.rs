//! An in-memory [`World`] for the handler tests and the in-process benchmark: what
//! AWS holds is set through its fields, every call is logged by name.

use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::ecr::{DestinationStatus, ImageReplication, ImageReplicationState, ImageSummary};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::aws::secrets::{ReplicaState, ReplicaStatus, SecretReplicas};
use shared::error::AwsErrorKind;
use shared::metrics::{Metric, MetricBatch};
use shared::{Config, Error, Region, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The region every replica and image status of this fake is reported in.
pub const DESTINATION: &str = "us-east-1";

#[derive(Default)]
pub struct FakeWorld {
    /// Per repository, every image ECR lists.
    pub images: Mutex<BTreeMap<String, Vec<ImageSummary>>>,
    /// Repositories whose listing is denied.
    pub failing: Mutex<BTreeSet<String>>,
    /// Per digest, its replication status (none: not reported yet).
    pub statuses: Mutex<BTreeMap<String, Vec<DestinationStatus>>>,
    /// Digests ECR no longer has (DescribeImageReplicationStatus: ImageNotFoundException).
    pub deleted: Mutex<BTreeSet<String>>,
    /// Every metric series CloudWatch holds, in any region; a read answers those asked for.
    pub series: Mutex<Vec<MetricSeries>>,
    /// Per secret id, its replicas (none: ResourceNotFoundException).
    pub secrets: Mutex<BTreeMap<String, SecretReplicas>>,
    /// The alert-state document.
    pub state: Mutex<Option<String>>,
    pub state_broken: Mutex<bool>,
    pub sns_broken: Mutex<bool>,
    /// Alerts delivered: (subject, message).
    pub sent: Mutex<Vec<(String, String)>>,
    /// Every batch of metrics published.
    pub published: Mutex<Vec<Vec<Metric>>>,
    /// Every AWS call, as `Operation` or `Operation:argument`.
    pub calls: Mutex<Vec<String>>,
    pub now: Mutex<DateTime<Utc>>,
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

impl FakeWorld {
    /// An empty world whose clock reads `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        let world = Self::default();
        world.set_now(now);
        world
    }

    /// Every configured repository with `recent` images pushed a minute ago and
    /// replicated, every configured secret in sync, every S3 rule quiet (zeros).
    pub fn all_replicated(config: &Config, recent: u32, now: DateTime<Utc>) -> Self {
        let world = Self::at(now);
        let r = &config.replication;
        for repo in r.ecr.iter().flat_map(|e| &e.repositories) {
            for n in 0..recent {
                let digest = world.push_image(repo, n, now - chrono::Duration::minutes(1));
                world.set_status(&digest, ImageReplicationState::Complete);
            }
        }
        for (i, _) in r.s3.iter().flat_map(|s| &s.rules).enumerate() {
            world.set_s3(i, 0.0, 0.0, 0.0);
        }
        for id in r.secrets.iter().flat_map(|s| &s.secret_ids) {
            world.set_secret(id, ReplicaState::InSync);
        }
        world
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap() = now;
    }

    fn call(&self, c: impl Into<String>) {
        self.calls.lock().unwrap().push(c.into());
    }

    /// How many calls start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// Forgets the calls, alerts and metrics seen so far (what AWS holds stays).
    pub fn clear_log(&self) {
        self.calls.lock().unwrap().clear();
        self.sent.lock().unwrap().clear();
        self.published.lock().unwrap().clear();
    }

    /// Adds image `n` (tag `v<n>`) to `repo`; returns its digest.
    pub fn push_image(&self, repo: &str, n: u32, pushed: DateTime<Utc>) -> String {
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

    pub fn set_status(&self, digest: &str, state: ImageReplicationState) {
        self.statuses.lock().unwrap().insert(
            digest.into(),
            vec![DestinationStatus {
                region: DESTINATION.into(),
                registry_id: Some("111111111111".into()),
                state,
                failure_code: (state == ImageReplicationState::Failed)
                    .then(|| "KMS_ACCESS_DENIED".into()),
            }],
        );
    }

    /// The secret with one replica, in [`DESTINATION`].
    pub fn set_secret(&self, id: &str, state: ReplicaState) {
        self.secrets.lock().unwrap().insert(
            id.into(),
            SecretReplicas {
                secret_id: id.into(),
                name: None,
                last_changed: None,
                replicas: vec![ReplicaStatus {
                    region: DESTINATION.into(),
                    state,
                    message: None,
                }],
            },
        );
    }

    /// The latest latency, pending and failed operations of the `rule`-th S3 rule, now.
    pub fn set_s3(&self, rule: usize, latency: f64, pending: f64, failed: f64) {
        let now = self.now();
        let mut series = self.series.lock().unwrap();
        for (suffix, value) in [("lat", latency), ("pend", pending), ("fail", failed)] {
            let id = format!("r{rule}_{suffix}");
            series.retain(|s| s.id != id);
            series.push(MetricSeries {
                id,
                points: vec![(now, value)],
            });
        }
    }

    /// The value of a metric of the last batch published, by name alone (for the
    /// undimensioned ones such as `ActionFailed`).
    pub fn last_metric(&self, name: &str) -> Option<f64> {
        let published = self.published.lock().unwrap();
        published
            .last()?
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// A metric of the last batch published, by name, destination and kind.
    pub fn metric(&self, name: &str, kind: Option<&str>, region: &str) -> Option<f64> {
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

impl World for FakeWorld {
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

    async fn image_replication(&self, _repository: &str, digest: &str) -> Result<ImageReplication> {
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

    async fn metric_data(
        &self,
        _region: &Region,
        queries: &[MetricQuery],
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        self.call(format!("GetMetricData:{}", queries.len()));
        Ok(self
            .series
            .lock()
            .unwrap()
            .iter()
            .filter(|s| queries.iter().any(|q| q.id == s.id))
            .cloned()
            .collect())
    }

    async fn secret_replicas(&self, secret_id: &str) -> Result<SecretReplicas> {
        self.call(format!("DescribeSecret:{secret_id}"));
        self.secrets
            .lock()
            .unwrap()
            .get(secret_id)
            .cloned()
            .ok_or_else(|| aws_err("DescribeSecret", AwsErrorKind::NotFound))
    }

    async fn load_alert_state(&self) -> Result<Option<String>> {
        self.call("GetParameter");
        if *self.state_broken.lock().unwrap() {
            return Err(aws_err("GetParameter", AwsErrorKind::Throttling));
        }
        Ok(self.state.lock().unwrap().clone())
    }

    async fn save_alert_state(&self, document: &str) -> Result<()> {
        self.call("PutParameter");
        *self.state.lock().unwrap() = Some(document.to_string());
        Ok(())
    }

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

    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        self.call("PutMetricData");
        self.published
            .lock()
            .unwrap()
            .push(metrics.metrics().to_vec());
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
}
