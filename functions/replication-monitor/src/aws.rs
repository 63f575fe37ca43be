//! The real [`World`]: SDK clients built once per cold start, per region.

use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::ecr::{Ecr, EcrImages, ImageReplication, ImageSummary};
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader, MetricSeries};
use shared::aws::secrets::{SecretReplicas, SecretReplication, SecretsManager};
use shared::aws::sns::{Notifier, Sns};
use shared::aws::ssm::Ssm;
use shared::metrics::MetricBatch;
use shared::{Config, Error, Region, Result};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct AwsWorld {
    /// ECR in the configured source region (through the role when set); None when
    /// ECR is not configured, so never asked.
    ecr: Option<Ecr>,
    /// CloudWatch metric reads in every region an S3 rule's metrics are published in.
    readers: BTreeMap<Region, MetricData>,
    /// Secrets Manager in the configured source region; None when not configured.
    secrets: Option<SecretsManager>,
    ssm: Ssm,
    alert_state_parameter: String,
    sns: Sns,
    cloudwatch: CloudWatch,
    namespace: String,
}

impl AwsWorld {
    /// Builds the clients for `home` (where this copy runs) and the configured source regions.
    pub async fn new(config: &Config, home: &Region) -> Result<Self> {
        let topic = config.alerts_topic_arns.get(home).ok_or_else(|| {
            Error::Config(vec![format!(
                "alerts_topic_arns: no topic for {home}, the region this function runs in"
            )])
        })?;
        let home_sdk = shared::aws::sdk_config(home).await;
        let r = &config.replication;
        let ecr = match &r.ecr {
            Some(e) => Some(
                Ecr::new(
                    &shared::aws::sdk_config(&e.source_region).await,
                    e.registry_id.as_str(),
                    e.role.as_ref(),
                )
                .await,
            ),
            None => None,
        };
        let mut readers = BTreeMap::new();
        // S3 publishes a rule's metrics in both its buckets' regions (latency and
        // pending in the destination's, failures in the source's).
        for rule in r.s3.iter().flat_map(|s| &s.rules) {
            for region in [&rule.source_region, &rule.destination_region] {
                if !readers.contains_key(region) {
                    let reader = MetricData::new(&shared::aws::sdk_config(region).await);
                    readers.insert(region.clone(), reader);
                }
            }
        }
        let secrets = match &r.secrets {
            Some(s) => Some(SecretsManager::new(
                &shared::aws::sdk_config(&s.source_region).await,
            )),
            None => None,
        };
        Ok(Self {
            ecr,
            readers,
            secrets,
            ssm: Ssm::new(&home_sdk),
            alert_state_parameter: r.alert_state_parameter.clone(),
            sns: Sns::new(&home_sdk, topic.to_string()),
            cloudwatch: CloudWatch::new(&home_sdk),
            namespace: config.metrics_namespace.clone(),
        })
    }

    fn ecr(&self) -> Result<&Ecr> {
        self.ecr
            .as_ref()
            .ok_or_else(|| Error::State("no ECR client: replication.ecr is not configured".into()))
    }

    fn secrets(&self) -> Result<&SecretsManager> {
        self.secrets.as_ref().ok_or_else(|| {
            Error::State("no Secrets Manager client: replication.secrets is not configured".into())
        })
    }
}

impl World for AwsWorld {
    async fn recent_images(
        &self,
        repository: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ImageSummary>> {
        self.ecr()?.recent_images(repository, since).await
    }

    async fn image_replication(&self, repository: &str, digest: &str) -> Result<ImageReplication> {
        self.ecr()?.replication_status(repository, digest).await
    }

    async fn metric_data(
        &self,
        region: &Region,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        match self.readers.get(region) {
            Some(reader) => reader.read(queries, start, end).await,
            None => Err(Error::State(format!("no CloudWatch client for {region}"))),
        }
    }

    async fn secret_replicas(&self, secret_id: &str) -> Result<SecretReplicas> {
        self.secrets()?.replicas(secret_id).await
    }

    async fn load_alert_state(&self) -> Result<Option<String>> {
        self.ssm.get(&self.alert_state_parameter).await
    }

    async fn save_alert_state(&self, document: &str) -> Result<()> {
        self.ssm.put(&self.alert_state_parameter, document).await
    }

    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.sns.notify(subject, message).await
    }

    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        metrics
            .flush(&self.cloudwatch, &self.namespace)
            .await
            .map(|_| ())
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
