//! replication-monitor: one view of ECR, S3 and Secrets Manager replication, the
//! per-region `ReplicationReady` verdict failover trusts, and alerts once per crossing.
//!
//! Every trigger runs the same sweep: a schedule tick, an `ECR Image Action` PUSH
//! (the pushed image is added to the sweep, so it is checked at once even before
//! DescribeImages lists it), and the manual `check` (which returns the full report).
//! An image deleted before the monitor looks (DescribeImageReplicationStatus answers
//! ImageNotFoundException) has nothing left to replicate: it is not counted (no lag,
//! nothing pending or failed) and the decision record names it as gone.
//!
//! Where the images to watch are recorded: ECR itself is the source of truth.
//! Every image pushed inside `replication.window` is found again by DescribeImages
//! (`imagePushedAt`), so a missed or late PUSH event (ECR events are best effort)
//! loses nothing and no pending list has to survive cold starts, grow without bound
//! in a 4 KB SSM parameter, or be updated by concurrent pushes without a lock.

/// The event read into a `Command`.
pub mod request;

/// The one flow every trigger runs.
pub mod sweep;

/// Reads the three kinds, one file each.
pub mod observe;

/// Bounded concurrency over the reads.
pub mod join;

/// Pure: observations to verdicts, alerts and metrics, with their case tables.
pub mod decide;

/// The alert state loaded and saved, the alerts sent.
pub mod alerts;

/// `World`: every AWS call the monitor makes, one trait.
pub mod ports;

/// `World` on the AWS SDK.
pub mod aws;

/// `World` in memory, for unit tests and benchmarks.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

use chrono::{DateTime, Utc};
pub use ports::{Invocation, World};
use request::Command;
use serde_json::Value;
use shared::{Config, DecisionRecord, Event, Outcome, Region, Result};

pub const FUNCTION: &str = "replication-monitor";

pub const ACTIONS: &[&str] = &["check"];

/// Handles one event. Invalid events are refused before any AWS call. A sweep needs
/// nothing from the Lambda context, so `_invocation` is unused.
pub async fn handle(
    payload: Value,
    _invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let event = Event::parse(&payload)?;
    // One reading of the clock: a pushed image's time is capped by it, lags count to it.
    let now = world.now();
    let command = request::read(event, config, now)?;
    let (record, published) = dispatch(command, now, config, home, world).await;
    let record = record.finish();
    published.map(|()| record.to_json())
}

/// The record, and Err when the sweep's metrics could not be published.
async fn dispatch(
    command: Command,
    now: DateTime<Utc>,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> (DecisionRecord, Result<()>) {
    match command {
        Command::Ignore { trigger, reason } => {
            let record = DecisionRecord::new(FUNCTION, home.as_str(), "ignore", trigger)
                .outcome(Outcome::Noop, reason);
            (record, Ok(()))
        }
        Command::Sweep {
            trigger,
            pushed,
            dry_run,
            requested_by,
        } => {
            let action = if trigger == "manual" {
                "check"
            } else {
                "sweep"
            };
            let mut record = DecisionRecord::new(FUNCTION, home.as_str(), action, trigger);
            record.requested_by = requested_by;
            let published = sweep::sweep(
                &mut record,
                pushed.as_ref(),
                dry_run,
                now,
                config,
                home,
                world,
            )
            .await;
            (record, published)
        }
    }
}

#[cfg(test)]
mod tests;
