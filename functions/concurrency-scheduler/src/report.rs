//! What a run tells: the target level of every alias and the failures as metrics,
//! one alert for the aliases not at their level, and the record's summary.

use crate::decide::Row;
use crate::request::Command;
use crate::World;
use serde_json::{json, Value};
use shared::config::Target;
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::{DecisionRecord, Outcome, Region};

/// Counts of a run, for the record.
pub struct Tally {
    /// Changes the plan asked for.
    pub planned: usize,
    /// Changes Lambda took.
    pub changed: usize,
    pub failures: usize,
    pub lambda_calls: u64,
    pub throttled: u64,
}

/// One PutMetricData: each alias's target level (what it keeps when it got none), what
/// Lambda had allocated to it when the run read it (the dashboard's "actual": Lambda
/// publishes no metric of the allocation), and the run's failures.
pub async fn metrics(
    rows: &[Row],
    failures: usize,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    let mut batch = MetricBatch::default();
    for row in rows {
        let level = if row.level == 0 {
            row.config.as_ref().map_or(0, |c| c.requested)
        } else {
            row.level
        };
        batch.push(
            Metric::new(
                "ProvisionedConcurrencyTarget",
                f64::from(level),
                Unit::Count,
            )
            .dim("FunctionName", row.function.clone())
            .dim("Region", row.region.clone()),
        );
        let allocated = row.config.as_ref().map_or(0, |c| c.allocated);
        batch.push(
            Metric::new(
                "ProvisionedConcurrencyAllocated",
                f64::from(allocated),
                Unit::Count,
            )
            .dim("FunctionName", row.function.clone())
            .dim("Region", row.region.clone()),
        );
    }
    batch.push(
        Metric::new("ActionFailed", failures as f64, Unit::Count).dim("Function", crate::FUNCTION),
    );
    if let Err(e) = world.publish(batch).await {
        record.errors.push(format!("metrics: {e}"));
    }
}

/// One alert listing every alias that did not reach its level (skipped or failed).
pub async fn alert(rows: &[Row], home: &Region, world: &impl World, record: &mut DecisionRecord) {
    let failed_rows: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.result
                .as_deref()
                .is_some_and(|t| !t.starts_with("READY") && !t.starts_with("IN_PROGRESS"))
        })
        .collect();
    if failed_rows.is_empty() {
        return;
    }
    let subject = format!(
        "concurrency-scheduler: {} alias(es) not at their level in {home}",
        failed_rows.len()
    );
    let message = failed_rows
        .iter()
        .map(|r| {
            format!(
                "{}:{} in {}: {} (why: {})",
                r.function,
                r.alias,
                r.region,
                r.result.as_deref().unwrap_or(""),
                r.why.text()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    if let Err(e) = world.notify(&subject, &message).await {
        record.errors.push(format!("alert: {e}"));
    }
}

/// The record's state, reason and outcome. A plan or dry run shows every row; a run
/// shows what it touched, what had no headroom, and the alias an override asked for.
pub fn summary(
    command: &Command,
    rows: &[Row],
    only: Option<&Target>,
    overrides: &[crate::state::Override],
    tally: &Tally,
    mut record: DecisionRecord,
) -> DecisionRecord {
    let dry_run = command.dry_run();
    let skipped = rows.iter().filter(|r| r.level == 0).count();
    let no_headroom = rows
        .iter()
        .filter(|r| r.level == 0 && r.result.is_none())
        .count();
    let shown: Vec<&Row> = if dry_run {
        rows.iter().collect()
    } else {
        let asked = |r: &Row| only.is_some_and(|t| r.is(t));
        rows.iter()
            .filter(|r| r.result.is_some() || r.level == 0 || asked(r))
            .collect()
    };
    record.state = json!({
        "request": command.describe(),
        "targets": rows.len(),
        "unchanged": rows.len() - tally.planned - skipped,
        "no_headroom": no_headroom,
        "api_calls": { "lambda": tally.lambda_calls, "throttled": tally.throttled },
        "overrides": overrides,
        "rows": shown,
    });
    let (n, failures) = (tally.planned, tally.failures);
    let reason = match (command, dry_run) {
        (Command::Plan { .. }, _) => format!("plan: {n} of {} alias(es) would change", rows.len()),
        (_, true) => format!("dry run: {n} of {} alias(es) would change", rows.len()),
        (_, false) if failures > 0 => {
            format!("{failures} of {n} change(s) did not reach their level")
        }
        (_, false) if n > 0 => format!("{n} of {} alias(es) changed and READY", rows.len()),
        _ => format!("all {} alias(es) already at their level", rows.len()),
    };
    let reason = match command {
        Command::Override(o) => format!(
            "override {}:{} to {} until {}: {reason}",
            o.function,
            o.alias,
            o.level,
            o.until.to_rfc3339()
        ),
        _ => reason,
    };
    record.outcome(outcome(dry_run, tally.changed, failures), reason)
}

pub fn outcome(dry_run: bool, changed: usize, failures: usize) -> Outcome {
    if dry_run {
        Outcome::DryRun
    } else if failures > 0 {
        Outcome::Failed
    } else if changed > 0 {
        Outcome::Applied
    } else {
        Outcome::Noop
    }
}

/// The rows of a record, as JSON (for tests and tools).
pub fn rows_of(record: &Value) -> &[Value] {
    record["state"]["rows"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}
