//! The real [`World`]: thin adapters over the SDK clients, built once at start.

use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::map_err;
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader};
use shared::aws::route53::{
    CasResult, GateControl, GateStatus, Route53, StateStore, StateVersion, CONTROL_PLANE_REGION,
};
use shared::aws::sns::{Notifier, Sns};
use shared::events::{ControlPlaneDetail, ControlPlaneKind, CONTROL_PLANE_SOURCE};
use shared::metrics::{MetricBatch, MetricSink};
use shared::routing::RoutingState;
use shared::{Config, Error, Region, Result};
use std::time::Duration;

pub struct AwsWorld {
    route53: Route53,
    config: Config,
    home: Region,
    cloudwatch: CloudWatch,
    events: aws_sdk_eventbridge::Client,
    scheduler: aws_sdk_scheduler::Client,
    /// None when no alerts topic is configured for the home region.
    sns: Option<Sns>,
    metric_data: MetricData,
    /// Lambda clients per region, for the peer's provisioned concurrency.
    lambda: Vec<(Region, aws_sdk_lambda::Client)>,
}

impl AwsWorld {
    pub async fn new(config: &Config, home: &Region) -> Self {
        let home_sdk = shared::aws::sdk_config(home).await;
        let r53_sdk =
            shared::aws::sdk_config(&Region::parse(CONTROL_PLANE_REGION).expect("valid region"))
                .await;
        let mut lambda = Vec::new();
        for region in &config.regions {
            lambda.push((
                region.clone(),
                aws_sdk_lambda::Client::new(&shared::aws::sdk_config(region).await),
            ));
        }
        Self {
            route53: Route53::new(
                &r53_sdk,
                &config.failover.hosted_zone_id,
                &config.failover.state_record_name,
            ),
            config: config.clone(),
            home: home.clone(),
            cloudwatch: CloudWatch::new(&home_sdk),
            events: aws_sdk_eventbridge::Client::new(&home_sdk),
            scheduler: aws_sdk_scheduler::Client::new(&home_sdk),
            sns: config
                .alerts_topic_arns
                .get(home)
                .map(|topic| Sns::new(&home_sdk, topic.as_str())),
            metric_data: MetricData::new(&home_sdk),
            lambda,
        }
    }

    fn schedule_name(drill_id: &str) -> String {
        // Schedule names: up to 64 characters of [0-9a-zA-Z-_.].
        let name: String = format!("controlplane-end-{drill_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        name.chars().take(64).collect()
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

    async fn peer_capacity(&self, region: &Region) -> Result<Vec<(String, i32, String)>> {
        let Some((_, client)) = self.lambda.iter().find(|(r, _)| r == region) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for target in self.config.targets_in(region) {
            match client
                .get_provisioned_concurrency_config()
                .function_name(&target.function)
                .qualifier(&target.alias)
                .send()
                .await
            {
                Ok(c) => out.push((
                    format!("{}:{}", target.function, target.alias),
                    c.requested_provisioned_concurrent_executions().unwrap_or(0),
                    c.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )),
                Err(e) => {
                    let err = map_err(
                        "lambda",
                        "GetProvisionedConcurrencyConfig",
                        region.as_str(),
                        e,
                    );
                    if err.aws_kind() != Some(shared::error::AwsErrorKind::NotFound) {
                        return Err(err);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn emit(&self, kind: ControlPlaneKind, detail: &ControlPlaneDetail) -> Result<()> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(CONTROL_PLANE_SOURCE)
            .detail_type(kind.detail_type())
            .detail(serde_json::to_string(detail).map_err(|e| Error::State(e.to_string()))?)
            .event_bus_name(&self.config.event_bus_name)
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| map_err("eventbridge", "PutEvents", self.home.as_str(), e))?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Aws {
                service: "eventbridge",
                operation: "PutEvents",
                region: self.home.to_string(),
                kind: shared::error::AwsErrorKind::Transient,
                message: format!("entry failed: {why}"),
            });
        }
        Ok(())
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
        use aws_sdk_scheduler::types::{
            ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
        };
        let role = self
            .config
            .failover
            .drill
            .scheduler_role_arns
            .get(&self.home)
            .ok_or_else(|| Error::State(format!("no scheduler role for {}", self.home)))?;
        let input = serde_json::json!({ "task": "end_drill", "drill_id": drill_id, "schedule_arn": "<aws.scheduler.schedule-arn>" });
        let target = Target::builder()
            .arn(target_arn)
            .role_arn(role.as_str())
            .input(input.to_string())
            .build()
            .map_err(|e| Error::State(e.to_string()))?;
        let result = self
            .scheduler
            .create_schedule()
            .name(Self::schedule_name(drill_id))
            .group_name(&self.config.failover.drill.schedule_group)
            .schedule_expression(format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(|e| Error::State(e.to_string()))?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .description(format!("Ends control-plane drill {drill_id}"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = map_err("scheduler", "CreateSchedule", self.home.as_str(), e);
                // Already there (a retried invocation): the same schedule, fine.
                if err.aws_kind() == Some(shared::error::AwsErrorKind::Conflict) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn cancel_drill_end(&self, drill_id: &str) -> Result<()> {
        match self
            .scheduler
            .delete_schedule()
            .name(Self::schedule_name(drill_id))
            .group_name(&self.config.failover.drill.schedule_group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = map_err("scheduler", "DeleteSchedule", self.home.as_str(), e);
                if err.aws_kind() == Some(shared::error::AwsErrorKind::NotFound) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
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

impl MetricSink for AwsWorld {
    async fn publish(&self, namespace: &str, metrics: &[shared::metrics::Metric]) -> Result<()> {
        self.cloudwatch.publish(namespace, metrics).await
    }
}
