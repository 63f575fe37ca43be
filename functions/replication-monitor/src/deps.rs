//! The real dependencies: SDK clients built once per cold start, per region.

use crate::{Deps, StateStore};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::ecr::Ecr;
use shared::aws::metric_data::MetricData;
use shared::aws::secrets::SecretsManager;
use shared::aws::sns::Sns;
use shared::aws::ssm::Ssm;
use shared::{Config, Error, Region, Result};
use std::collections::BTreeMap;

/// The alert-state document in SSM Parameter Store (home region).
#[derive(Clone, Debug)]
pub struct SsmState {
    ssm: Ssm,
    name: String,
}

impl SsmState {
    pub fn new(ssm: Ssm, name: impl Into<String>) -> Self {
        Self {
            ssm,
            name: name.into(),
        }
    }
}

impl StateStore for SsmState {
    async fn load(&self) -> Result<Option<String>> {
        self.ssm.get(&self.name).await
    }
    async fn save(&self, document: &str) -> Result<()> {
        self.ssm.put(&self.name, document).await
    }
}

#[derive(Clone, Debug)]
pub struct AwsDeps {
    ecr: Option<Ecr>,
    readers: BTreeMap<Region, MetricData>,
    secrets: Option<SecretsManager>,
    state: SsmState,
    notifier: Sns,
    metrics: CloudWatch,
}

impl AwsDeps {
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
            state: SsmState::new(Ssm::new(&home_sdk), &r.alert_state_parameter),
            notifier: Sns::new(&home_sdk, topic.to_string()),
            metrics: CloudWatch::new(&home_sdk),
        })
    }
}

impl Deps for AwsDeps {
    type Ecr = Ecr;
    type Metrics = MetricData;
    type Secrets = SecretsManager;
    type State = SsmState;
    type Notify = Sns;
    type Sink = CloudWatch;

    fn ecr(&self) -> Option<&Ecr> {
        self.ecr.as_ref()
    }
    fn metric_reader(&self, region: &Region) -> Option<&MetricData> {
        self.readers.get(region)
    }
    fn secrets(&self) -> Option<&SecretsManager> {
        self.secrets.as_ref()
    }
    fn state(&self) -> &SsmState {
        &self.state
    }
    fn notifier(&self) -> &Sns {
        &self.notifier
    }
    fn metrics(&self) -> &CloudWatch {
        &self.metrics
    }
}
