//! The real [`World`]: thin adapters over the SDK clients, built once at start.

use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::{AlarmReading, CloudWatch};
use shared::aws::map_err;
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader};
use shared::aws::route53::{
    CasResult, GateControl, GateStatus, Route53, StateStore, StateVersion, CONTROL_PLANE_REGION,
};
use shared::aws::sns::{Notifier, Sns};
use shared::events::{ControlPlaneDetail, ControlPlaneKind, CONTROL_PLANE_SOURCE};
use shared::metrics::MetricBatch;
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
    lambda: Vec<(Region, aws_sdk_lambda::Client)>,
    /// CloudWatch clients per region holding a mapped health alarm.
    alarms: Vec<(Region, CloudWatch)>,
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
        let mut alarms: Vec<(Region, CloudWatch)> = Vec::new();
        for arn in config.failover.region_alarms.keys() {
            if !alarms.iter().any(|(r, _)| r == arn.region()) {
                let sdk = shared::aws::sdk_config(arn.region()).await;
                alarms.push((arn.region().clone(), CloudWatch::new(&sdk)));
            }
        }
        Self {
            alarms,
            route53: Route53::new(
                &r53_sdk,
                &config.failover.hosted_zone_id,
                &config.failover.state_record_name,
            ),
            config: config.clone(),
            cloudwatch: CloudWatch::new(&home_sdk),
            events: EventBus::from_client(
                aws_sdk_eventbridge::Client::new(&home_sdk),
                &config.event_bus_name,
                home.as_str(),
            ),
            schedules: DrillSchedules::from_client(
                aws_sdk_scheduler::Client::new(&home_sdk),
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
        }
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

/// The control plane's own events (`Region Evacuated`, `Drill Started`, ...) on the
/// home region's bus, where the schedulers of both regions pick them up.
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    region: String,
}

impl EventBus {
    pub fn from_client(client: aws_sdk_eventbridge::Client, bus_name: &str, region: &str) -> Self {
        Self {
            client,
            bus_name: bus_name.to_string(),
            region: region.to_string(),
        }
    }

    pub async fn put(&self, kind: ControlPlaneKind, detail: &ControlPlaneDetail) -> Result<()> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(CONTROL_PLANE_SOURCE)
            .detail_type(kind.detail_type())
            .detail(serde_json::to_string(detail).map_err(|e| Error::State(e.to_string()))?)
            .event_bus_name(&self.bus_name)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| map_err("eventbridge", "PutEvents", &self.region, e))?;
        // PutEvents answers 200 even when an entry was refused: look inside.
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
                region: self.region.clone(),
                kind: shared::error::AwsErrorKind::Transient,
                message: format!("entry failed: {why}"),
            });
        }
        Ok(())
    }
}

/// The one-time EventBridge Scheduler schedules that end drills, one per drill,
/// named after it, so creating twice or deleting twice is harmless.
pub struct DrillSchedules {
    client: aws_sdk_scheduler::Client,
    group: String,
    /// The role Scheduler assumes to invoke failover (failover.drill.scheduler_role_arns).
    role_arn: Option<String>,
    region: String,
}

impl DrillSchedules {
    pub fn from_client(
        client: aws_sdk_scheduler::Client,
        group: &str,
        role_arn: Option<String>,
        region: &str,
    ) -> Self {
        Self {
            client,
            group: group.to_string(),
            role_arn,
            region: region.to_string(),
        }
    }

    /// Schedule names: up to 64 characters of [0-9a-zA-Z-_.].
    pub fn name(drill_id: &str) -> String {
        format!("controlplane-end-{drill_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect()
    }

    pub async fn create(&self, drill_id: &str, at: DateTime<Utc>, target_arn: &str) -> Result<()> {
        use aws_sdk_scheduler::types::{
            ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
        };
        let role = self
            .role_arn
            .as_deref()
            .ok_or_else(|| Error::State(format!("no scheduler role for {}", self.region)))?;
        let input = serde_json::json!({ "task": "end_drill", "drill_id": drill_id, "schedule_arn": "<aws.scheduler.schedule-arn>" });
        let target = Target::builder()
            .arn(target_arn)
            .role_arn(role)
            .input(input.to_string())
            .build()
            .map_err(|e| Error::State(e.to_string()))?;
        let result = self
            .client
            .create_schedule()
            .name(Self::name(drill_id))
            .group_name(&self.group)
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
                let err = map_err("scheduler", "CreateSchedule", &self.region, e);
                // Already there (a retried invocation): the same schedule, fine.
                if err.aws_kind() == Some(shared::error::AwsErrorKind::Conflict) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    pub async fn delete(&self, drill_id: &str) -> Result<()> {
        match self
            .client
            .delete_schedule()
            .name(Self::name(drill_id))
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = map_err("scheduler", "DeleteSchedule", &self.region, e);
                // Gone already (it fired and deleted itself, or a retry): fine.
                if err.aws_kind() == Some(shared::error::AwsErrorKind::NotFound) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_sdk_scheduler::operation::create_schedule::{
        CreateScheduleError, CreateScheduleOutput,
    };
    use aws_sdk_scheduler::operation::delete_schedule::{
        DeleteScheduleError, DeleteScheduleOutput,
    };
    use aws_sdk_scheduler::types::error::{
        ConflictException, ResourceNotFoundException, ValidationException,
    };
    use aws_sdk_scheduler::types::ActionAfterCompletion;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::error::AwsErrorKind;

    fn detail() -> ControlPlaneDetail {
        ControlPlaneDetail {
            region: "us-east-1".into(),
            epoch: 3,
            reason: "alarm".into(),
            drill_id: None,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn an_event_goes_to_the_configured_bus_with_the_control_plane_source() {
        let put = mock!(aws_sdk_eventbridge::Client::put_events)
            .match_requests(|r| {
                let e = &r.entries()[0];
                e.source() == Some(CONTROL_PLANE_SOURCE)
                    && e.detail_type() == Some("Region Evacuated")
                    && e.event_bus_name() == Some("orders-bus")
                    && e.detail().is_some_and(|d| d.contains("\"epoch\":3"))
            })
            .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&put]);
        let bus = EventBus::from_client(client, "orders-bus", "eu-central-1");
        bus.put(ControlPlaneKind::RegionEvacuated, &detail())
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_entry_is_an_error_even_though_put_events_answered_200() {
        let put = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code("InternalFailure")
                        .error_message("try again")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&put]);
        let bus = EventBus::from_client(client, "default", "eu-central-1");
        let err = bus
            .put(ControlPlaneKind::DrillEnded, &detail())
            .await
            .unwrap_err();
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::Transient));
        assert!(err.to_string().contains("try again"), "{err}");
    }

    /// The error metadata the SDK's deserializer attaches to a modelled error.
    fn wire(code: &str, message: &str) -> aws_smithy_types::error::ErrorMetadata {
        aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build()
    }

    fn schedules(client: aws_sdk_scheduler::Client, role: Option<&str>) -> DrillSchedules {
        DrillSchedules::from_client(
            client,
            "orders-drills",
            role.map(str::to_string),
            "eu-central-1",
        )
    }

    #[tokio::test]
    async fn a_drill_end_is_a_one_time_utc_schedule_that_deletes_itself() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let create = mock!(aws_sdk_scheduler::Client::create_schedule)
            .match_requests(|r| {
                let target = r.target().unwrap();
                r.name() == Some("controlplane-end-drill-eu-central-1-20260301T100000")
                    && r.group_name() == Some("orders-drills")
                    && r.schedule_expression() == Some("at(2026-03-01T10:15:00)")
                    && r.schedule_expression_timezone() == Some("UTC")
                    && r.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                    && target.role_arn() == "arn:aws:iam::333333333333:role/drills"
                    && target.arn() == "arn:aws:lambda:eu-central-1:333333333333:function:fo"
                    && target.input().is_some_and(|i| {
                        i.contains("\"task\":\"end_drill\"")
                            && i.contains("drill-eu-central-1-20260301T100000")
                    })
            })
            .then_output(|| {
                CreateScheduleOutput::builder()
                    .schedule_arn("arn:aws:scheduler:eu-central-1:333333333333:schedule/x/y")
                    .build()
                    .unwrap()
            });
        let client = mock_client!(aws_sdk_scheduler, RuleMode::Sequential, [&create]);
        schedules(client, Some("arn:aws:iam::333333333333:role/drills"))
            .create(
                "drill-eu-central-1-20260301T100000",
                at,
                "arn:aws:lambda:eu-central-1:333333333333:function:fo",
            )
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn creating_twice_or_deleting_what_is_gone_is_fine_other_errors_are_not() {
        let exists = mock!(aws_sdk_scheduler::Client::create_schedule).then_error(|| {
            CreateScheduleError::ConflictException(
                ConflictException::builder()
                    .message("Schedule already exists")
                    .meta(wire("ConflictException", "Schedule already exists"))
                    .build()
                    .unwrap(),
            )
        });
        let invalid = mock!(aws_sdk_scheduler::Client::create_schedule).then_error(|| {
            CreateScheduleError::ValidationException(
                ValidationException::builder()
                    .message("bad expression")
                    .meta(wire("ValidationException", "bad expression"))
                    .build()
                    .unwrap(),
            )
        });
        let gone = mock!(aws_sdk_scheduler::Client::delete_schedule).then_error(|| {
            DeleteScheduleError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Schedule not found")
                    .meta(wire("ResourceNotFoundException", "Schedule not found"))
                    .build()
                    .unwrap(),
            )
        });
        let deleted = mock!(aws_sdk_scheduler::Client::delete_schedule)
            .then_output(|| DeleteScheduleOutput::builder().build());
        let client = mock_client!(
            aws_sdk_scheduler,
            RuleMode::Sequential,
            [&exists, &invalid, &gone, &deleted]
        );
        let s = schedules(client, Some("arn:aws:iam::333333333333:role/drills"));
        let at = Utc::now();
        s.create("d1", at, "arn:fn").await.unwrap();
        let err = s.create("d1", at, "arn:fn").await.unwrap_err();
        assert!(err.to_string().contains("bad expression"), "{err}");
        s.delete("d1").await.unwrap();
        s.delete("d1").await.unwrap();
        assert_eq!((gone.num_calls(), deleted.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn without_a_scheduler_role_nothing_is_called() {
        let create = mock!(aws_sdk_scheduler::Client::create_schedule).then_output(|| {
            CreateScheduleOutput::builder()
                .schedule_arn("arn")
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_scheduler, RuleMode::Sequential, [&create]);
        let err = schedules(client, None)
            .create("d1", Utc::now(), "arn:fn")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no scheduler role"), "{err}");
        assert_eq!(create.num_calls(), 0);
    }

    #[test]
    fn schedule_names_are_valid_and_bounded() {
        assert_eq!(DrillSchedules::name("d 1/2"), "controlplane-end-d-1-2");
        let long = DrillSchedules::name(&"x".repeat(100));
        assert_eq!(long.len(), 64);
    }
}
