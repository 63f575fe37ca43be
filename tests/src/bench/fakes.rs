//! In-memory stand-ins for everything the three handlers touch in AWS, so the
//! in-process benchmark times the handlers' own work (parse, plan, decide,
//! build and serialise the record) and nothing of the network.

use chrono::{DateTime, Duration as Age, Utc};
use shared::aws::cloudwatch::AlarmReading;
use shared::aws::ecr::{
    DestinationStatus, EcrImages, ImageReplication, ImageReplicationState, ImageSummary,
};
use shared::aws::lambda::{AliasInfo, PcConfig, PcStatus, ProvisionedConcurrency};
use shared::aws::metric_data::{MetricQuery, MetricReader, MetricSeries};
use shared::aws::route53::{CasResult, GateStatus, StateStore, StateVersion};
use shared::aws::secrets::{ReplicaState, ReplicaStatus, SecretReplicas, SecretReplication};
use shared::aws::sns::Notifier;
use shared::aws::tagging::FunctionDiscovery;
use shared::events::{ControlPlaneDetail, ControlPlaneKind};
use shared::metrics::{Metric, MetricBatch, MetricSink};
use shared::routing::RoutingState;
use shared::{Region, Result};
use std::sync::Mutex;
use std::time::Duration;

/// failover's world: both gates open and healthy, the peer ready, every write accepted.
#[derive(Default)]
pub struct FailoverWorld {
    state: Mutex<Option<(RoutingState, StateVersion)>>,
}

impl failover::World for FailoverWorld {
    async fn read_state(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        Ok(self.state.lock().unwrap().clone())
    }
    async fn swap_state(
        &self,
        _expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> Result<CasResult> {
        let version = StateVersion {
            raw: format!("epoch {}", new.epoch),
            ttl: 60,
        };
        *self.state.lock().unwrap() = Some((new.clone(), version));
        Ok(CasResult::Swapped)
    }
    async fn gate(&self, region: &Region) -> Result<GateStatus> {
        Ok(GateStatus {
            health_check_id: format!("gate-{region}"),
            health_threshold: 2,
            children: vec![format!("alb-{region}"), format!("api-{region}")],
            children_healthy: 2,
            version: 1,
        })
    }
    async fn set_gate(&self, _gate: &GateStatus, _threshold: i32) -> Result<bool> {
        Ok(true)
    }
    /// No alarm found: failover decides on the event as delivered, the work it had
    /// before reading alarms, so the numbers stay comparable.
    async fn alarm_states(&self, _region: &Region, _names: &[String]) -> Result<Vec<AlarmReading>> {
        Ok(Vec::new())
    }
    async fn replication_ready(&self, _region: &Region, _max_age: Duration) -> Result<Option<f64>> {
        Ok(Some(1.0))
    }
    async fn peer_capacity(&self, _region: &Region) -> Result<Vec<(String, i32, String)>> {
        Ok(vec![("orders-api".into(), 4, "READY".into())])
    }
    async fn emit(&self, _kind: ControlPlaneKind, _detail: &ControlPlaneDetail) -> Result<()> {
        Ok(())
    }
    async fn notify(&self, _subject: &str, _message: &str) -> Result<()> {
        Ok(())
    }
    async fn schedule_drill_end(
        &self,
        _drill_id: &str,
        _at: DateTime<Utc>,
        _target_arn: &str,
    ) -> Result<()> {
        Ok(())
    }
    async fn cancel_drill_end(&self, _drill_id: &str) -> Result<()> {
        Ok(())
    }
    async fn publish(&self, _metrics: MetricBatch) -> Result<()> {
        Ok(())
    }
    async fn sleep(&self, _duration: Duration) {}
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Accepts every notification and metric.
#[derive(Default, Clone)]
pub struct Sink;

impl Notifier for Sink {
    async fn notify(&self, _subject: &str, _message: &str) -> Result<()> {
        Ok(())
    }
}

impl MetricSink for Sink {
    async fn publish(&self, _namespace: &str, _metrics: &[Metric]) -> Result<()> {
        Ok(())
    }
}

/// No utilisation data (the scheduler scales to the floor) and flat S3 metrics.
#[derive(Default, Clone)]
pub struct Metrics;

impl MetricReader for Metrics {
    async fn read(
        &self,
        queries: &[MetricQuery],
        _start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: vec![(end, 0.0)],
            })
            .collect())
    }
}

/// Lambda with every alias at `level`, READY, and plenty of account headroom.
pub struct Lambda {
    pub level: u32,
}

impl ProvisionedConcurrency for Lambda {
    async fn get(&self, _function: &str, _alias: &str) -> Result<Option<PcConfig>> {
        Ok(Some(PcConfig {
            requested: self.level,
            allocated: self.level,
            status: PcStatus::Ready,
            reason: None,
        }))
    }
    async fn put(&self, _function: &str, _alias: &str, level: u32) -> Result<PcConfig> {
        Ok(PcConfig {
            requested: level,
            allocated: level,
            status: PcStatus::Ready,
            reason: None,
        })
    }
    async fn unreserved_concurrency(&self) -> Result<u32> {
        Ok(1000)
    }
    async fn alias(&self, _function: &str, _alias: &str) -> Result<Option<AliasInfo>> {
        Ok(Some(AliasInfo {
            function_version: "1".into(),
            weighted: false,
        }))
    }
}

/// No function discovered by tag: the configured targets only.
pub struct Discovery;

impl FunctionDiscovery for Discovery {
    async fn functions_tagged(&self, _key: &str, _value: Option<&str>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The routing state: no region evacuated.
pub struct Routing;

impl StateStore for Routing {
    async fn read(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        Ok(None)
    }
    async fn swap(
        &self,
        _expected: Option<&StateVersion>,
        _new: &RoutingState,
    ) -> Result<CasResult> {
        Ok(CasResult::Swapped)
    }
}

/// SSM parameters (the scheduler's state, the monitor's alert state): empty, writes accepted.
#[derive(Default)]
pub struct Params;

impl concurrency_scheduler::state::StateParam for Params {
    async fn get(&self, _name: &str) -> Result<Option<String>> {
        Ok(None)
    }
    async fn put(&self, _name: &str, _value: &str) -> Result<()> {
        Ok(())
    }
}

impl replication_monitor::StateStore for Params {
    async fn load(&self) -> Result<Option<String>> {
        Ok(None)
    }
    async fn save(&self, _document: &str) -> Result<()> {
        Ok(())
    }
}

/// ECR with `recent` images pushed a minute ago, all replicated.
pub struct Ecr {
    pub recent: usize,
}

impl EcrImages for Ecr {
    async fn recent_images(
        &self,
        repository: &str,
        _since: DateTime<Utc>,
    ) -> Result<Vec<ImageSummary>> {
        let pushed_at = Utc::now() - Age::minutes(1);
        Ok((0..self.recent)
            .map(|i| ImageSummary {
                repository: repository.to_string(),
                digest: format!("sha256:{i:064x}"),
                tags: vec![format!("v{i}")],
                pushed_at,
            })
            .collect())
    }
    async fn replication_status(
        &self,
        _repository: &str,
        _digest: &str,
    ) -> Result<ImageReplication> {
        Ok(ImageReplication::Destinations(vec![DestinationStatus {
            region: "us-east-1".into(),
            registry_id: Some("111111111111".into()),
            state: ImageReplicationState::Complete,
            failure_code: None,
        }]))
    }
}

/// Secrets Manager: every replica in sync.
pub struct Secrets;

impl SecretReplication for Secrets {
    async fn replicas(&self, secret_id: &str) -> Result<SecretReplicas> {
        Ok(SecretReplicas {
            secret_id: secret_id.to_string(),
            name: Some(secret_id.to_string()),
            last_changed: Some(Utc::now() - Age::days(1)),
            replicas: vec![ReplicaStatus {
                region: "us-east-1".into(),
                state: ReplicaState::InSync,
                message: None,
            }],
        })
    }
}

/// replication-monitor's dependencies.
pub struct MonitorDeps {
    pub ecr: Ecr,
    pub metrics: Metrics,
    pub secrets: Secrets,
    pub state: Params,
    pub sink: Sink,
}

impl replication_monitor::Deps for MonitorDeps {
    type Ecr = Ecr;
    type Metrics = Metrics;
    type Secrets = Secrets;
    type State = Params;
    type Notify = Sink;
    type Sink = Sink;
    fn ecr(&self) -> Option<&Ecr> {
        Some(&self.ecr)
    }
    fn metric_reader(&self, _region: &Region) -> Option<&Metrics> {
        Some(&self.metrics)
    }
    fn secrets(&self) -> Option<&Secrets> {
        Some(&self.secrets)
    }
    fn state(&self) -> &Params {
        &self.state
    }
    fn notifier(&self) -> &Sink {
        &self.sink
    }
    fn metrics(&self) -> &Sink {
        &self.sink
    }
}
