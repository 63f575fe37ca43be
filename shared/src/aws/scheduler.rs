//! EventBridge Scheduler adapter: the one-time schedules that end drills.

use crate::aws::map_err;
use crate::error::{AwsErrorKind, Error, Result};
use chrono::{DateTime, Utc};

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
    pub fn new(
        config: &aws_config::SdkConfig,
        group: &str,
        role_arn: Option<String>,
        region: &str,
    ) -> Self {
        Self::from_client(
            aws_sdk_scheduler::Client::new(config),
            group,
            role_arn,
            region,
        )
    }

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
                if err.aws_kind() == Some(AwsErrorKind::Conflict) {
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
                if err.aws_kind() == Some(AwsErrorKind::NotFound) {
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
