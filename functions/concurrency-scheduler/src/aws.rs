//! The real [`World`]: thin adapters over the SDK clients of the home region, built
//! once at start.

use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::lambda::{AliasInfo, Lambda, PcConfig, ProvisionedConcurrency};
use shared::aws::local_store::LocalStore;
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader, MetricSeries};
use shared::aws::route53::{Route53, StateStore};
use shared::aws::sns::{Notifier, Sns};
use shared::aws::ssm::Ssm;
use shared::aws::tagging::{FunctionDiscovery, Tagging};
use shared::local::LocalRecord;
use shared::metrics::MetricBatch;
use shared::routing::RoutingState;
use shared::{Config, Error, Region, Result};
use std::time::Duration;

pub struct AwsWorld {
    lambda: Lambda,
    tagging: Tagging,
    metric_data: MetricData,
    route53: Route53,
    /// failover's local store in this region; None without `failover.data_plane`.
    local: Option<LocalStore>,
    ssm: Ssm,
    cloudwatch: CloudWatch,
    sns: Sns,
    state_parameter: String,
    namespace: String,
}

impl AwsWorld {
    /// Refuses a home region outside `regions` or without an alerts topic.
    pub async fn new(config: &Config, home: &Region) -> Result<Self> {
        if !config.has_region(home) {
            return Err(Error::Config(vec![format!(
                "this function runs in {home}, which is not in `regions`"
            )]));
        }
        let topic = config.alerts_topic_arns.get(home).ok_or_else(|| {
            Error::Config(vec![format!("alerts_topic_arns: no topic for {home}")])
        })?;
        let sdk = shared::aws::sdk_config(home).await;
        Ok(Self {
            lambda: Lambda::new(&sdk),
            tagging: Tagging::new(&sdk),
            metric_data: MetricData::new(&sdk),
            route53: Route53::new(
                &sdk,
                &config.failover.state_zone_id,
                &config.failover.state_record_name,
            ),
            local: config
                .failover
                .data_plane
                .as_ref()
                .map(|dp| LocalStore::new(&sdk, &dp.table)),
            ssm: Ssm::new(&sdk),
            cloudwatch: CloudWatch::new(&sdk),
            sns: Sns::new(&sdk, topic.as_str()),
            state_parameter: config.concurrency.state_parameter.clone(),
            namespace: config.metrics_namespace.clone(),
        })
    }
}

impl World for AwsWorld {
    async fn provisioned(&self, function: &str, alias: &str) -> Result<Option<PcConfig>> {
        self.lambda.get(function, alias).await
    }

    async fn set_provisioned(&self, function: &str, alias: &str, level: u32) -> Result<PcConfig> {
        self.lambda.put(function, alias, level).await
    }

    async fn unreserved_concurrency(&self) -> Result<u32> {
        self.lambda.unreserved_concurrency().await
    }

    async fn alias(&self, function: &str, alias: &str) -> Result<Option<AliasInfo>> {
        self.lambda.alias(function, alias).await
    }

    async fn functions_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>> {
        self.tagging.functions_tagged(key, value).await
    }

    async fn read_metrics(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        self.metric_data.read(queries, start, end).await
    }

    async fn routing_state(&self) -> Result<Option<RoutingState>> {
        Ok(self.route53.read().await?.map(|(state, _)| state))
    }

    async fn local_routing(&self) -> Result<Option<LocalRecord>> {
        match &self.local {
            Some(store) => Ok(Some(store.read().await?.0)),
            None => Ok(None),
        }
    }

    async fn load_state(&self) -> Result<Option<String>> {
        self.ssm.get(&self.state_parameter).await
    }

    async fn save_state(&self, text: &str) -> Result<()> {
        self.ssm.put(&self.state_parameter, text).await
    }

    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        metrics
            .flush(&self.cloudwatch, &self.namespace)
            .await
            .map(|_| ())
    }

    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.sns.notify(subject, message).await
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
