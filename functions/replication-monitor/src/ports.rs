//! What the function needs from AWS, as one trait: the real adapters are in `aws.rs`,
//! the in-memory fake in `fake.rs`.

use chrono::{DateTime, Utc};
use shared::aws::ecr::{ImageReplication, ImageSummary};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::aws::secrets::SecretReplicas;
use shared::metrics::MetricBatch;
use shared::{Region, Result};
use std::future::Future;

/// Everything the function touches in AWS, behind one trait so tests pass fakes.
pub trait World: Send + Sync {
    /// Images pushed to `repository` (source registry) since `since`: DescribeImages.
    fn recent_images(
        &self,
        repository: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ImageSummary>>> + Send;
    /// One image's replication per destination: DescribeImageReplicationStatus.
    fn image_replication(
        &self,
        repository: &str,
        digest: &str,
    ) -> impl Future<Output = Result<ImageReplication>> + Send;
    /// GetMetricData in `region` (S3 publishes a rule's metrics in both its buckets' regions).
    fn metric_data(
        &self,
        region: &Region,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<MetricSeries>>> + Send;
    /// One secret's replicas (source region): DescribeSecret.
    fn secret_replicas(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<SecretReplicas>> + Send;
    /// The alert-state document (SSM parameter in the home region); None before the first save.
    fn load_alert_state(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    fn save_alert_state(&self, document: &str) -> impl Future<Output = Result<()>> + Send;
    /// An alert on the home region's topic.
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
    /// The run's metrics, in the configured namespace.
    fn publish(&self, metrics: MetricBatch) -> impl Future<Output = Result<()>> + Send;
    fn now(&self) -> DateTime<Utc>;
}

pub use shared::Invocation;
