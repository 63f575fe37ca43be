//! concurrency-scheduler: owns provisioned concurrency on each target alias in
//! the region it runs in. Level = the first that applies of an active override,
//! surge (a peer evacuated or a drill on a peer preparing), the schedule window in
//! force, the baseline; optionally adjusted by utilisation; clamped to min/max and
//! to the account's headroom. Applies only differences, follows each change to
//! READY, falls back on FAILED, retries 409s later in the run, and paces every
//! Lambda control-plane call under the account's quota.

/// The event read into a `Command`.
pub mod request;

/// The one flow every command takes.
pub mod run;

/// What is there now: configs, account headroom, routing, utilisation.
pub mod observe;

/// Pure: every level and the shared headroom planned, with their case tables.
pub mod decide;

/// The differences put and followed to READY.
pub mod apply;

/// The SSM document of what the runs learned (failed levels, 409s).
pub mod state;

/// The metrics, the alert and the record's summary.
pub mod report;

/// The rate limiter every Lambda control-plane call goes through.
pub mod pace;

/// `World`: every AWS call the scheduler makes, one trait.
pub mod ports;

/// `World` on the AWS SDK.
pub mod aws;

/// `World` in memory, for unit tests and benchmarks.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use ports::{Invocation, World};
use request::Command;
use serde_json::Value;
use shared::events::Event;
use shared::{Config, DecisionRecord, Region, Result};

pub const FUNCTION: &str = "concurrency-scheduler";

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
