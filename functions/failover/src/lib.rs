//! The failover function: evacuates a failing region from DNS, brings it back,
//! and runs drills that end themselves. The desired routing state lives in a
//! Route 53 TXT record changed by compare-and-swap; gates are reconciled to it.
//!
//! Where things are: `request` reads the event; `decide` (pure, with its case tables)
//! decides; `cas` is the compare-and-swap loop; `effects` brings gates, events and
//! notices to the state; one file per action (`alarm`, `tick`, `drill`, `status`);
//! `ports` is the one trait over AWS, `aws` its real adapters.

pub mod alarm;
pub mod aws;
pub mod cas;
pub mod decide;
pub mod drill;
pub mod effects;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod ports;
pub mod request;
pub mod status;
pub mod tick;

use decide::Request;
pub use ports::{Invocation, World};
use request::Command;
use serde_json::Value;
use shared::events::Event;
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::{Config, DecisionRecord, Error, Outcome, Region, Result};

pub const FUNCTION: &str = "failover";

/// Exactly the IAM actions this function calls; Terraform grants these and no more.
pub const IAM_ACTIONS: &[&str] = &[
    "route53:GetHealthCheck",
    "route53:UpdateHealthCheck",
    "route53:ListResourceRecordSets",
    "route53:ChangeResourceRecordSets",
    "cloudwatch:PutMetricData",
    "cloudwatch:GetMetricData",
    "cloudwatch:DescribeAlarms",
    "sns:Publish",
    "events:PutEvents",
    "scheduler:CreateSchedule",
    "scheduler:DeleteSchedule",
    "iam:PassRole",
    "lambda:GetProvisionedConcurrencyConfig",
    "ssm:GetParameter",
];

pub async fn handle(
    payload: Value,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let event = Event::parse(&payload)?;
    let command = request::read(event, config, world.now())?;
    let event_driven = command.is_event_driven();
    let record = dispatch(command, invocation, config, home, world).await;
    let record = record.finish();
    if record.outcome == Outcome::Failed {
        let mut metrics = MetricBatch::default();
        metrics.push(Metric::new("ActionFailed", 1.0, Unit::Count).dim("Function", FUNCTION));
        let _ = world.publish(metrics).await;
        if event_driven {
            return Err(Error::Unfinished(format!(
                "{}: {} ({})",
                record.action,
                record.reason,
                record.errors.join("; ")
            )));
        }
    }
    Ok(record.to_json())
}

async fn dispatch(
    command: Command,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    match command {
        Command::Status => status::status(config, home, world).await,
        Command::Tick => tick::tick(config, home, world).await,
        Command::Alarm { region, alarm } => {
            alarm::on_alarm(region, alarm, config, home, world).await
        }
        Command::Refuse {
            action,
            trigger,
            reason,
        } => {
            let record = DecisionRecord::new(FUNCTION, home.as_str(), action, trigger)
                .outcome(Outcome::Refused, reason.clone());
            let _ = world
                .notify(
                    &format!("[{}] failover refused", config.service_name),
                    &reason,
                )
                .await;
            record
        }
        Command::Change {
            request,
            trigger,
            dry_run,
            by,
        } => {
            let mut record =
                DecisionRecord::new(FUNCTION, home.as_str(), action_name(&request), trigger);
            record.requested_by = by;
            cas::change(request, dry_run, config, world, &mut record).await;
            record
        }
        Command::Drill {
            region,
            duration,
            actor,
            dry_run,
        } => {
            let ask = drill::DrillAsk {
                region,
                duration,
                actor,
                dry_run,
            };
            drill::drill(ask, invocation, config, home, world).await
        }
    }
}

pub fn action_name(request: &Request) -> &'static str {
    match request {
        Request::Evacuate { .. } => "evacuate",
        Request::Restore { .. } => "restore",
        Request::PrepareDrill { .. } | Request::StartDrill { .. } => "drill",
        Request::EndDrill { .. } => "end_drill",
        Request::Recovered { .. } => "recovered",
        Request::Relapsed { .. } => "relapsed",
        Request::Tick { .. } => "tick",
    }
}

#[cfg(test)]
mod tests;
