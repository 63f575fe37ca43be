//! The real [`World`]: thin adapters over the SDK clients, built once at start.

use crate::ports::{Capacity, World};
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::{AlarmReading, CloudWatch};
use shared::aws::eventbridge::EventBus;
use shared::aws::lambda::{Lambda, PcStatus, ProvisionedConcurrency};
use shared::aws::local_store::{LocalStore, LocalWrite};
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader};
use shared::aws::route53::{
    CasResult, GateControl, GateStatus, Route53, StateStore, StateVersion, CONTROL_PLANE_REGION,
};
use shared::aws::scheduler::DrillSchedules;
use shared::aws::sns::{Notifier, Sns};
use shared::events::{ControlPlaneDetail, ControlPlaneKind};
use shared::local::{LocalRecord, LocalVersion};
use shared::metrics::MetricBatch;
use shared::probe::ProbeAnswer;
use shared::routing::RoutingState;
use shared::{Config, Error, Region, Result};
use std::time::Duration;

pub struct AwsWorld {
    route53: Route53,
    config: Config,
    cloudwatch: CloudWatch,
    events: EventBus,
    schedules: DrillSchedules,
    /// None when no alerts topic is configured for the home region.
    sns: Option<Sns>,
    metric_data: MetricData,
    /// Lambda clients per region, for the peer's provisioned concurrency.
    lambda: Vec<(Region, Lambda)>,
    /// This region's local store; None without `failover.data_plane`.
    local: Option<LocalStore>,
    /// CloudWatch clients per region holding a mapped health alarm.
    alarms: Vec<(Region, CloudWatch)>,
}

impl AwsWorld {
    pub async fn new(config: &Config, home: &Region) -> Result<Self> {
        let home_sdk = shared::aws::sdk_config(home).await;
        let r53_sdk =
            shared::aws::sdk_config(&Region::parse(CONTROL_PLANE_REGION).expect("valid region"))
                .await;
        let mut lambda = Vec::new();
        for region in &config.regions {
            lambda.push((
                region.clone(),
                // The SDK's own retries kept: a surge read is a handful of calls.
                Lambda::from_client(
                    aws_sdk_lambda::Client::new(&shared::aws::sdk_config(region).await),
                    region.as_str(),
                ),
            ));
        }
        let mut alarms: Vec<(Region, CloudWatch)> = Vec::new();
        for arn in config.failover.region_alarms.keys() {
            if !alarms.iter().any(|(r, _)| r == arn.region()) {
                let sdk = shared::aws::sdk_config(arn.region()).await;
                alarms.push((arn.region().clone(), CloudWatch::new(&sdk)));
            }
        }
        let local = config
            .failover
            .data_plane
            .as_ref()
            .map(|dp| LocalStore::new(&home_sdk, &dp.table));
        Ok(Self {
            local,
            alarms,
            route53: Route53::new(
                &r53_sdk,
                &config.failover.state_zone_id,
                &config.failover.state_record_name,
            ),
            config: config.clone(),
            cloudwatch: CloudWatch::new(&home_sdk),
            events: EventBus::new(&home_sdk, &config.event_bus_name, home.as_str()),
            schedules: DrillSchedules::new(
                &home_sdk,
                &config.failover.drill.schedule_group,
                config
                    .failover
                    .drill
                    .scheduler_role_arns
                    .get(home)
                    .map(|arn| arn.to_string()),
                home.as_str(),
            ),
            sns: config
                .alerts_topic_arns
                .get(home)
                .map(|topic| Sns::new(&home_sdk, topic.as_str())),
            metric_data: MetricData::new(&home_sdk),
            lambda,
        })
    }
}

impl World for AwsWorld {
    async fn read_state(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        self.route53.read().await
    }

    async fn swap_state(
        &self,
        expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> Result<CasResult> {
        self.route53.swap(expected, new).await
    }

    async fn gate(&self, region: &Region) -> Result<GateStatus> {
        let id = self
            .config
            .failover
            .gate_health_checks
            .get(region)
            .ok_or_else(|| Error::State(format!("no gate configured for {region}")))?;
        self.route53.status(id).await
    }

    async fn set_gate(&self, gate: &GateStatus, threshold: i32) -> Result<bool> {
        self.route53.set_threshold(gate, threshold).await
    }

    async fn alarm_states(
        &self,
        alarm_region: &Region,
        names: &[String],
    ) -> Result<Vec<AlarmReading>> {
        match self.alarms.iter().find(|(r, _)| r == alarm_region) {
            Some((_, cloudwatch)) => cloudwatch.alarm_states(names).await,
            None => Ok(Vec::new()),
        }
    }

    async fn replication_ready(&self, region: &Region, max_age: Duration) -> Result<Option<f64>> {
        let end = Utc::now();
        let start =
            end - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::minutes(15));
        let query = MetricQuery {
            id: "ready".into(),
            namespace: self.config.metrics_namespace.clone(),
            metric_name: "ReplicationReady".into(),
            dimensions: vec![("DestinationRegion".into(), region.to_string())],
            stat: "Minimum".into(),
            period_secs: 60,
        };
        // The newest datapoint decides; none within max_age means stale.
        let series = self
            .metric_data
            .read(&[query], start, end + chrono::Duration::minutes(1))
            .await?;
        Ok(series.first().and_then(|s| s.latest()))
    }

    async fn peer_capacity(&self, region: &Region) -> Result<Vec<Capacity>> {
        let Some((_, lambda)) = self.lambda.iter().find(|(r, _)| r == region) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for target in self.config.targets_in(region) {
            // A target with no provisioned concurrency yet is not part of the surge.
            if let Some(pc) = lambda.get(&target.function, &target.alias).await? {
                let status = match pc.status {
                    PcStatus::Ready => "READY",
                    PcStatus::InProgress => "IN_PROGRESS",
                    PcStatus::Failed => "FAILED",
                };
                out.push((
                    format!("{}:{}", target.function, target.alias),
                    pc.requested as i32,
                    status.to_string(),
                ));
            }
        }
        Ok(out)
    }

    async fn emit(&self, kind: ControlPlaneKind, detail: &ControlPlaneDetail) -> Result<()> {
        self.events.put(kind, detail).await
    }

    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        match &self.sns {
            Some(sns) => sns.notify(subject, message).await,
            None => Ok(()),
        }
    }

    async fn schedule_drill_end(
        &self,
        drill_id: &str,
        at: DateTime<Utc>,
        target_arn: &str,
    ) -> Result<()> {
        self.schedules.create(drill_id, at, target_arn).await
    }

    async fn cancel_drill_end(&self, drill_id: &str) -> Result<()> {
        self.schedules.delete(drill_id).await
    }

    async fn read_local(&self) -> Result<(LocalRecord, LocalVersion)> {
        match &self.local {
            Some(store) => store.read().await,
            None => Ok((LocalRecord::default(), LocalVersion(0))),
        }
    }

    async fn write_local(
        &self,
        expected: LocalVersion,
        record: &LocalRecord,
    ) -> Result<LocalWrite> {
        match &self.local {
            Some(store) => store.write(expected, record).await,
            None => Err(Error::State(
                "no local store: failover.data_plane is not configured".into(),
            )),
        }
    }

    async fn probe(&self, urls: &[String], timeout: Duration) -> Vec<(String, ProbeAnswer)> {
        shared::aws::probe::probe_all(urls, timeout).await
    }

    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        metrics
            .flush(&self.cloudwatch, &self.config.metrics_namespace)
            .await
            .map(|_| ())
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
