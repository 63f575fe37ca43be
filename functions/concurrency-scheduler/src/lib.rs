//! concurrency-scheduler: owns provisioned concurrency on each target alias in
//! the region it runs in. Level = the first that applies of an active override,
//! surge (a peer evacuated or a drill on a peer preparing), the schedule window in
//! force, the baseline; optionally adjusted by utilisation; clamped to min/max and
//! to the account's headroom. Applies only differences, follows each change to
//! READY, falls back on FAILED, retries 409s later in the run, and paces every
//! Lambda control-plane call under the account's quota.
//!
//! Where things are: `request` reads the event; `run` is the one flow every command
//! takes; `observe` reads what is there now; `decide` (pure, with its case tables)
//! plans every level and the shared headroom; `apply` puts the differences and
//! records what they taught in `state` (the SSM document); `report` sends the
//! metrics and the alert and sums up the record; `pace` is the rate limiter every
//! Lambda call goes through; `ports` is the one trait over AWS, `aws` its real
//! adapters, `fake` an in-memory one (tests and benchmarks).

pub mod apply;
pub mod aws;
pub mod decide;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod observe;
pub mod pace;
pub mod ports;
pub mod report;
pub mod request;
pub mod run;
pub mod state;

pub use ports::{Invocation, World};
use request::Command;
use serde_json::Value;
use shared::events::Event;
use shared::{Config, DecisionRecord, Region, Result};

pub const FUNCTION: &str = "concurrency-scheduler";

/// Exactly the IAM actions this function calls (cross-checked against Terraform).
pub const IAM_ACTIONS: &[&str] = &[
    "lambda:GetProvisionedConcurrencyConfig",
    "lambda:PutProvisionedConcurrencyConfig",
    "lambda:GetAccountSettings",
    "lambda:GetAlias",
    "tag:GetResources",
    "route53:ListResourceRecordSets",
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    "sns:Publish",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

/// The Lambda handler: one event in, one decision record out. Schedules and
/// overrides are evaluated at `world.now()`.
#[tracing::instrument(skip_all, fields(region = %home, request_id = %invocation.request_id))]
pub async fn handle(
    payload: Value,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let now = world.now();
    let event = Event::parse(&payload)?;
    let command = request::read(event, config, home, now)?;
    let record = dispatch(command, config, home, world, now).await;
    Ok(record.finish().to_json())
}

/// Every command takes the one run; they differ in whether it applies and in which
/// aliases it may change (`run`).
async fn dispatch(
    command: Command,
    config: &Config,
    home: &Region,
    world: &impl World,
    now: chrono::DateTime<chrono::Utc>,
) -> DecisionRecord {
    let mut record =
        DecisionRecord::new(FUNCTION, home.as_str(), command.action(), command.trigger());
    record.requested_by = command.requested_by().map(str::to_string);
    run::run(&command, config, home, world, now, record).await
}

#[cfg(test)]
mod tests;
