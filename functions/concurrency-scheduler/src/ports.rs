//! What the function needs from AWS, as one trait: the real adapters are in `aws.rs`,
//! the in-memory fake in `fake.rs`.

use chrono::{DateTime, Utc};
use shared::aws::lambda::{AliasInfo, PcConfig};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::local::LocalRecord;
use shared::metrics::MetricBatch;
use shared::routing::RoutingState;
use shared::Result;
use std::future::Future;
use std::time::Duration;

/// Everything the function touches in AWS, behind one trait so tests pass a fake.
/// The Lambda calls are unpaced here: every caller goes through the run's `Pacer`.
pub trait World: Send + Sync {
    /// GetProvisionedConcurrencyConfig: None when the alias has no config.
    fn provisioned(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<PcConfig>>> + Send;
    /// PutProvisionedConcurrencyConfig: the config as Lambda answers it.
    fn set_provisioned(
        &self,
        function: &str,
        alias: &str,
        level: u32,
    ) -> impl Future<Output = Result<PcConfig>> + Send;
    /// GetAccountSettings: the account's unreserved concurrency in this region.
    fn unreserved_concurrency(&self) -> impl Future<Output = Result<u32>> + Send;
    /// GetAlias: None when the alias does not exist.
    fn alias(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasInfo>>> + Send;
    /// The functions carrying a tag (Resource Groups Tagging API).
    fn functions_tagged(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// GetMetricData over `start..end`.
    fn read_metrics(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<MetricSeries>>> + Send;
    /// The routing state failover keeps in Route 53 (read only here).
    fn routing_state(&self) -> impl Future<Output = Result<Option<RoutingState>>> + Send;
    /// What failover keeps in this region's local store (read only here); None without
    /// `failover.data_plane`. It answers while Route 53's control plane does not.
    fn local_routing(&self) -> impl Future<Output = Result<Option<LocalRecord>>> + Send;
    /// The scheduler's state document (SSM `concurrency.state_parameter`): None when absent.
    fn load_state(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    fn save_state(&self, text: &str) -> impl Future<Output = Result<()>> + Send;
    fn publish(&self, metrics: MetricBatch) -> impl Future<Output = Result<()>> + Send;
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    fn now(&self) -> DateTime<Utc>;
}

pub use shared::Invocation;
