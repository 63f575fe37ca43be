//! The replication decisions: pure functions from observations to verdicts, alerts and
//! metrics. No I/O, no SDK types. The case tables are in `decide/tests.rs`; the alert
//! state and its crossings in `decide/alerts.rs`; what a run publishes and records in
//! `decide/report.rs`.

pub mod alerts;
mod report;

pub use report::{metrics, outcome, record_state, summary};
use serde::{Deserialize, Serialize};
use shared::{Config, Region};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ecr,
    S3,
    Secrets,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Ecr, Kind::S3, Kind::Secrets];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ecr => "ecr",
            Kind::S3 => "s3",
            Kind::Secrets => "secrets",
        }
    }
}

/// One resource's state at one destination, in words common to the three kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// ECR COMPLETE, Secrets InSync, S3 nothing pending or failed.
    Replicated,
    /// ECR IN_PROGRESS (or not reported yet), Secrets InProgress, S3 operations pending.
    InProgress,
    /// ECR FAILED, Secrets Failed, S3 failed operations.
    Failed,
    /// The destination has no replica at all (a secret without a replica there).
    Missing,
    /// S3: no datapoints in the lookback (no replication traffic); not a breach.
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub kind: Kind,
    pub resource: String,
    pub destination: String,
    pub status: Status,
    pub lag_seconds: u64,
    pub pending: u64,
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A resource that could not be read. `destination: None` means every destination of the kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadError {
    pub kind: Kind,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    /// Could not be read: failover treats it as not ready.
    Unknown,
    NotReady,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Breach when a lag is above this.
    pub lag_seconds: u64,
    /// Breach when failures are above this.
    pub failed: u64,
    /// Breach when pending operations are above this (S3 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// What is configured to be measured: per kind, its limits and the destinations it
/// must reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub kinds: BTreeMap<Kind, (Limits, Vec<String>)>,
    /// Every region of the control plane: each gets a `ReplicationReady`.
    pub regions: Vec<String>,
}

fn limits(t: &shared::config::Thresholds, pending: Option<u64>) -> Limits {
    Limits {
        lag_seconds: t.lag.secs(),
        failed: t.failed,
        pending,
    }
}

/// The configuration, as plain data for the verdicts.
pub fn what_to_measure(config: &Config) -> Measurements {
    let r = &config.replication;
    let mut kinds = BTreeMap::new();
    if let Some(e) = &r.ecr {
        kinds.insert(
            Kind::Ecr,
            (
                limits(&e.thresholds, None),
                e.destination_regions
                    .iter()
                    .map(Region::to_string)
                    .collect(),
            ),
        );
    }
    if let Some(s) = &r.s3 {
        let mut dests: Vec<String> = s
            .rules
            .iter()
            .map(|r| r.destination_region.to_string())
            .collect();
        dests.sort();
        dests.dedup();
        kinds.insert(
            Kind::S3,
            (limits(&s.thresholds, Some(s.pending_threshold)), dests),
        );
    }
    if let Some(s) = &r.secrets {
        kinds.insert(
            Kind::Secrets,
            (
                limits(&s.thresholds, None),
                secret_destinations(config, &s.source_region),
            ),
        );
    }
    Measurements {
        kinds,
        regions: config.regions.iter().map(Region::to_string).collect(),
    }
}

/// Every secret must have a replica in every other region of the control plane.
pub fn secret_destinations(config: &Config, source: &Region) -> Vec<String> {
    config
        .regions
        .iter()
        .filter(|r| *r != source)
        .map(Region::to_string)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub verdict: Verdict,
    pub max_lag_seconds: u64,
    pub pending: u64,
    pub failed: u64,
    pub resources: usize,
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindReport {
    pub verdict: Verdict,
    pub limits: Limits,
    pub max_lag_seconds: u64,
    pub pending: u64,
    pub failed: u64,
    /// Resources that breach a limit, for the alert text.
    pub breaching: Vec<String>,
    pub destinations: BTreeMap<String, Totals>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionReport {
    pub verdict: Verdict,
    pub kinds: BTreeMap<Kind, Verdict>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub kinds: BTreeMap<Kind, KindReport>,
    pub regions: BTreeMap<String, RegionReport>,
    pub resources: Vec<Observation>,
    pub errors: Vec<ReadError>,
}

fn breaches(o: &Observation, limits: &Limits) -> bool {
    o.lag_seconds > limits.lag_seconds
        || o.failed > limits.failed
        || limits.pending.is_some_and(|p| o.pending > p)
        || o.status == Status::Missing
}

fn totals(observations: &[&Observation], errors: usize, limits: &Limits) -> Totals {
    let max_lag_seconds = observations
        .iter()
        .map(|o| o.lag_seconds)
        .max()
        .unwrap_or(0);
    let pending = observations.iter().map(|o| o.pending).sum();
    let failed = observations.iter().map(|o| o.failed).sum();
    let breach = max_lag_seconds > limits.lag_seconds
        || failed > limits.failed
        || limits.pending.is_some_and(|p| pending > p)
        || observations.iter().any(|o| o.status == Status::Missing);
    let verdict = if breach {
        Verdict::NotReady
    } else if errors > 0 {
        Verdict::Unknown
    } else {
        Verdict::Ready
    };
    Totals {
        verdict,
        max_lag_seconds,
        pending,
        failed,
        resources: observations.len(),
        errors,
    }
}

/// The verdicts: per kind and destination, per kind, per region.
/// A breach makes `not_ready`; otherwise an unreadable resource makes `unknown`.
pub fn evaluate(
    measurements: &Measurements,
    observations: Vec<Observation>,
    errors: Vec<ReadError>,
) -> Report {
    let mut kinds = BTreeMap::new();
    for (kind, (limits, configured)) in &measurements.kinds {
        let mine: Vec<&Observation> = observations.iter().filter(|o| o.kind == *kind).collect();
        let my_errors: Vec<&ReadError> = errors.iter().filter(|e| e.kind == *kind).collect();
        let mut dests: BTreeSet<String> = configured.iter().cloned().collect();
        dests.extend(mine.iter().map(|o| o.destination.clone()));
        dests.extend(my_errors.iter().filter_map(|e| e.destination.clone()));
        let destinations: BTreeMap<String, Totals> = dests
            .into_iter()
            .map(|d| {
                let obs: Vec<&Observation> = mine
                    .iter()
                    .copied()
                    .filter(|o| o.destination == d)
                    .collect();
                let errs = my_errors
                    .iter()
                    .filter(|e| e.destination.as_ref().is_none_or(|x| *x == d))
                    .count();
                let t = totals(&obs, errs, limits);
                (d, t)
            })
            .collect();
        let all = totals(&mine, my_errors.len(), limits);
        let verdict = destinations
            .values()
            .map(|t| t.verdict)
            .max()
            .unwrap_or(all.verdict)
            .max(if my_errors.is_empty() {
                Verdict::Ready
            } else {
                Verdict::Unknown
            });
        let breaching = mine
            .iter()
            .filter(|o| breaches(o, limits))
            .map(|o| format!("{} -> {}", o.resource, o.destination))
            .collect();
        kinds.insert(
            *kind,
            KindReport {
                verdict,
                limits: *limits,
                max_lag_seconds: all.max_lag_seconds,
                pending: all.pending,
                failed: all.failed,
                breaching,
                destinations,
            },
        );
    }
    let regions = measurements
        .regions
        .iter()
        .map(|r| {
            let per_kind: BTreeMap<Kind, Verdict> = kinds
                .iter()
                .filter_map(|(k, kr)| kr.destinations.get(r).map(|t| (*k, t.verdict)))
                .collect();
            let verdict = per_kind.values().copied().max().unwrap_or(Verdict::Ready);
            (
                r.clone(),
                RegionReport {
                    verdict,
                    kinds: per_kind,
                },
            )
        })
        .collect();
    Report {
        kinds,
        regions,
        resources: observations,
        errors,
    }
}

#[cfg(test)]
mod tests;
