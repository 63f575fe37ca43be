//! What a run reports: the metrics it publishes, and the outcome, reason and state of
//! its decision record.

use super::alerts::AlertState;
use super::{Report, Verdict};
use crate::FUNCTION;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::metrics::{Metric, Unit};
use shared::{Change, Outcome};

/// The metrics of one run: per kind and destination lag/pending/failed (for the
/// allowed regions), `ReplicationReady` per region (0 unless `ready`), `ActionFailed`.
pub fn metrics(report: &Report, run_failed: bool) -> Vec<Metric> {
    let mut out = Vec::new();
    for (kind, kr) in &report.kinds {
        for (dest, t) in &kr.destinations {
            if !report.regions.contains_key(dest) || (t.resources == 0 && t.errors > 0) {
                // Outside the allow-list, or nothing read: publish nothing rather than a false 0.
                continue;
            }
            let dim = |m: Metric| {
                m.dim("Kind", kind.as_str())
                    .dim("DestinationRegion", dest.clone())
            };
            out.push(dim(Metric::new(
                "ReplicationLagSeconds",
                t.max_lag_seconds as f64,
                Unit::Seconds,
            )));
            out.push(dim(Metric::new(
                "ReplicationPending",
                t.pending as f64,
                Unit::Count,
            )));
            out.push(dim(Metric::new(
                "ReplicationFailed",
                t.failed as f64,
                Unit::Count,
            )));
        }
    }
    for (region, rr) in &report.regions {
        let ready = if rr.verdict == Verdict::Ready {
            1.0
        } else {
            0.0
        };
        out.push(
            Metric::new("ReplicationReady", ready, Unit::None)
                .dim("DestinationRegion", region.clone()),
        );
    }
    out.push(
        Metric::new(
            "ActionFailed",
            if run_failed { 1.0 } else { 0.0 },
            Unit::Count,
        )
        .dim("Function", FUNCTION),
    );
    out
}

/// A dry run changes nothing; any error fails the run; otherwise it applied what it
/// changed (alerts sent), or nothing.
pub fn outcome(dry_run: bool, errors: &[String], changes: &[Change]) -> Outcome {
    if dry_run {
        Outcome::DryRun
    } else if !errors.is_empty() {
        Outcome::Failed
    } else if changes.is_empty() {
        Outcome::Noop
    } else {
        Outcome::Applied
    }
}

/// The record's reason: every region's and kind's verdict, and the images gone.
pub fn summary(report: &Report, gone: &[String]) -> String {
    let regions: Vec<String> = report
        .regions
        .iter()
        .map(|(r, v)| format!("{r} {}", verdict_word(v.verdict)))
        .collect();
    let kinds: Vec<String> = report
        .kinds
        .iter()
        .map(|(k, v)| format!("{} {}", k.as_str(), verdict_word(v.verdict)))
        .collect();
    let mut text = format!(
        "regions: {}; kinds: {}",
        regions.join(", "),
        if kinds.is_empty() {
            "none configured".into()
        } else {
            kinds.join(", ")
        }
    );
    if !gone.is_empty() {
        text.push_str(&format!(
            "; gone, not counted: {} (image deleted, nothing to replicate)",
            gone.join(", ")
        ));
    }
    text
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Ready => "ready",
        Verdict::Unknown => "unknown",
        Verdict::NotReady => "not_ready",
    }
}

/// The record's state: the full report, the alert state after the run, what was published.
pub fn record_state(
    report: &Report,
    state: &AlertState,
    gone: &[String],
    window_secs: u64,
    published: usize,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "checked_at": now,
        "window_seconds": window_secs,
        "regions": report.regions,
        "kinds": report.kinds,
        "resources": report.resources,
        "unreadable": report.errors,
        "gone": gone,
        "alert_state": state.kinds,
        "metrics_published": published,
    })
}
