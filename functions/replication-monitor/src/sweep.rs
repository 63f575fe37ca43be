//! The sweep, whatever its trigger: load the alert state, observe every configured
//! kind, decide the verdicts, alert once per crossing, publish one batch of metrics,
//! and say all of it in the decision record.

use crate::alerts;
use crate::decide::{self, Report};
use crate::observe::{self, PushedImage};
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::metrics::MetricBatch;
use shared::{Config, DecisionRecord, Region, Result};

/// Fills in `record`. Err when the metrics could not be published: failover then
/// sees a stale `ReplicationReady`, so Lambda is told as well.
pub async fn sweep(
    record: &mut DecisionRecord,
    pushed: Option<&PushedImage>,
    dry_run: bool,
    now: DateTime<Utc>,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<()> {
    let r = &config.replication;
    let mut errors: Vec<String> = Vec::new();

    // 1. The alert state (crossings, first sight of InProgress secret replicas).
    let start = alerts::load(config, world).await;
    errors.extend(start.error.clone());

    // 2. Observe, then decide.
    let observed =
        observe::observe(world, config, now, pushed, &start.state.secrets_in_progress).await;
    errors.extend(
        observed
            .errors
            .iter()
            .map(|e| format!("{} {}: {}", e.kind.as_str(), e.resource, e.message)),
    );
    let gone = observed.gone;
    let report = decide::evaluate(
        &decide::what_to_measure(config),
        observed.observations,
        observed.errors,
    );
    record.step(format!(
        "observed {} resource(s), {} unreadable",
        report.resources.len(),
        report.errors.len()
    ));
    for image in &gone {
        record.step(format!(
            "ecr image {image} is gone (ImageNotFoundException): deleted after its push, \
             nothing left to replicate; not counted"
        ));
    }

    // 3. Alerts, once per crossing.
    let announced = alerts::announce(
        &start,
        observed.seen,
        &report,
        dry_run,
        now,
        config,
        home,
        world,
    )
    .await;
    record.changes.extend(announced.changes);
    errors.extend(announced.errors);

    // 4. One batched PutMetricData.
    let (published, publish_error) = if dry_run {
        (0, None)
    } else {
        publish(&report, !errors.is_empty(), world).await
    };
    if let Some(e) = &publish_error {
        errors.push(format!("publishing metrics: {e}"));
    }

    record.state = decide::record_state(
        &report,
        &announced.state,
        &gone,
        r.window.secs(),
        published,
        now,
    );
    record.errors = errors;
    record.outcome = decide::outcome(dry_run, &record.errors, &record.changes);
    record.reason = decide::summary(&report, &gone);
    publish_error.map_or(Ok(()), Err)
}

/// The run's metrics in one batch: how many were published, or why none were.
async fn publish(
    report: &Report,
    run_failed: bool,
    world: &impl World,
) -> (usize, Option<shared::Error>) {
    let mut batch = MetricBatch::default();
    for m in decide::metrics(report, run_failed) {
        batch.push(m);
    }
    let count = batch.metrics().len();
    match world.publish(batch).await {
        Ok(()) => (count, None),
        Err(e) => (0, Some(e)),
    }
}
