//! The pure part: observations in, verdicts and metrics out. No SDK types, no I/O.

use serde::{Deserialize, Serialize};
use shared::metrics::{Metric, Unit};
use std::collections::{BTreeMap, BTreeSet};

pub const FUNCTION: &str = "replication-monitor";

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

/// What is configured: per kind, its limits and the destinations it must reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kinds: BTreeMap<Kind, (Limits, Vec<String>)>,
    /// Every region of the control plane: each gets a `ReplicationReady`.
    pub regions: Vec<String>,
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
pub fn evaluate(plan: &Plan, observations: Vec<Observation>, errors: Vec<ReadError>) -> Report {
    let mut kinds = BTreeMap::new();
    for (kind, (limits, configured)) in &plan.kinds {
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
    let regions = plan
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: &str = "us-east-1";
    const EU: &str = "eu-central-1";

    fn limits() -> Limits {
        Limits {
            lag_seconds: 900,
            failed: 0,
            pending: None,
        }
    }

    fn plan() -> Plan {
        let s3 = Limits {
            pending: Some(1000),
            ..limits()
        };
        Plan {
            kinds: BTreeMap::from([
                (Kind::Ecr, (limits(), vec![US.to_string()])),
                (Kind::S3, (s3, vec![US.to_string()])),
                (Kind::Secrets, (limits(), vec![US.to_string()])),
            ]),
            regions: vec![EU.to_string(), US.to_string()],
        }
    }

    fn obs(kind: Kind, status: Status, lag: u64) -> Observation {
        Observation {
            kind,
            resource: format!("{}:r", kind.as_str()),
            destination: US.into(),
            status,
            lag_seconds: lag,
            pending: u64::from(status == Status::InProgress),
            failed: u64::from(status == Status::Failed),
            detail: None,
        }
    }

    fn err(kind: Kind) -> ReadError {
        ReadError {
            kind,
            resource: "x".into(),
            destination: None,
            message: "denied".into(),
        }
    }

    #[test]
    fn verdict_table() {
        use Status::*;
        use Verdict::*;
        type Case = (
            &'static str,
            Vec<Observation>,
            Vec<ReadError>,
            Verdict,
            Verdict,
        );
        let cases: Vec<Case> = vec![
            ("nothing to replicate", vec![], vec![], Ready, Ready),
            (
                "complete",
                vec![obs(Kind::Ecr, Replicated, 0)],
                vec![],
                Ready,
                Ready,
            ),
            (
                "young in-progress",
                vec![obs(Kind::Ecr, InProgress, 300)],
                vec![],
                Ready,
                Ready,
            ),
            (
                "lag at the limit is fine",
                vec![obs(Kind::Ecr, InProgress, 900)],
                vec![],
                Ready,
                Ready,
            ),
            (
                "lag above the limit",
                vec![obs(Kind::Ecr, InProgress, 901)],
                vec![],
                NotReady,
                NotReady,
            ),
            (
                "one failure",
                vec![obs(Kind::Ecr, Failed, 10)],
                vec![],
                NotReady,
                NotReady,
            ),
            (
                "unreadable",
                vec![obs(Kind::Ecr, Replicated, 0)],
                vec![err(Kind::Ecr)],
                Unknown,
                Unknown,
            ),
            (
                "breach beats unknown",
                vec![obs(Kind::Ecr, Failed, 0)],
                vec![err(Kind::Ecr)],
                NotReady,
                NotReady,
            ),
            (
                "missing replica",
                vec![obs(Kind::Secrets, Missing, 0)],
                vec![],
                Ready,
                NotReady,
            ),
        ];
        for (name, o, e, ecr, region) in cases {
            let r = evaluate(&plan(), o, e);
            assert_eq!(r.kinds[&Kind::Ecr].verdict, ecr, "{name}: ecr");
            assert_eq!(r.regions[US].verdict, region, "{name}: region");
            assert_eq!(
                r.regions[EU].verdict, Ready,
                "{name}: the source region has nothing to wait for"
            );
        }
    }

    #[test]
    fn s3_pending_threshold_and_no_data() {
        let mut o = obs(Kind::S3, Status::InProgress, 10);
        o.pending = 1001;
        let r = evaluate(&plan(), vec![o.clone()], vec![]);
        assert_eq!(r.kinds[&Kind::S3].verdict, Verdict::NotReady);
        o.pending = 1000;
        assert_eq!(
            evaluate(&plan(), vec![o], vec![]).kinds[&Kind::S3].verdict,
            Verdict::Ready
        );
        let quiet = Observation {
            status: Status::NoData,
            pending: 0,
            ..obs(Kind::S3, Status::NoData, 0)
        };
        assert_eq!(
            evaluate(&plan(), vec![quiet], vec![]).kinds[&Kind::S3].verdict,
            Verdict::Ready
        );
    }

    #[test]
    fn one_unreadable_resource_does_not_hide_the_others() {
        let r = evaluate(
            &plan(),
            vec![obs(Kind::Secrets, Status::InProgress, 5)],
            vec![err(Kind::Secrets)],
        );
        assert_eq!(r.kinds[&Kind::Secrets].verdict, Verdict::Unknown);
        assert_eq!(r.kinds[&Kind::Secrets].destinations[US].resources, 1);
        assert_eq!(r.resources.len(), 1);
        assert_eq!(
            r.kinds[&Kind::Ecr].verdict,
            Verdict::Ready,
            "other kinds unaffected"
        );
    }

    #[test]
    fn metrics_cover_every_kind_destination_and_region() {
        let r = evaluate(
            &plan(),
            vec![obs(Kind::Ecr, Status::InProgress, 1000)],
            vec![err(Kind::S3)],
        );
        let m = metrics(&r, true);
        let find = |name: &str, kind: Option<&str>| {
            m.iter()
                .filter(|x| {
                    x.name == name
                        && kind.is_none_or(|k| x.dimensions.contains(&("Kind", k.to_string())))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(find("ReplicationLagSeconds", Some("ecr"))[0].value, 1000.0);
        assert!(
            find("ReplicationLagSeconds", Some("s3")).is_empty(),
            "nothing read: nothing published"
        );
        assert_eq!(find("ReplicationLagSeconds", Some("secrets"))[0].value, 0.0);
        let ready = find("ReplicationReady", None);
        assert_eq!(ready.len(), 2);
        let us = ready.iter().find(|x| x.dimensions[0].1 == US).unwrap();
        assert_eq!(us.value, 0.0);
        assert_eq!(find("ActionFailed", None)[0].value, 1.0);
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Replicated),
            Just(Status::InProgress),
            Just(Status::Failed),
            Just(Status::Missing),
            Just(Status::NoData)
        ]
    }

    fn arb_obs() -> impl Strategy<Value = Observation> {
        (
            0..3usize,
            arb_status(),
            0..5_000u64,
            0..3u64,
            0..2_000u64,
            prop::bool::ANY,
        )
            .prop_map(|(k, status, lag, failed, pending, eu)| Observation {
                kind: Kind::ALL[k],
                resource: "r".into(),
                destination: if eu { EU.into() } else { US.into() },
                status,
                lag_seconds: lag,
                pending,
                failed,
                detail: None,
            })
    }

    proptest! {
        #[test]
        fn ready_only_when_nothing_breaches_and_everything_was_read(
            observations in prop::collection::vec(arb_obs(), 0..20),
            error_kinds in prop::collection::vec(0..3usize, 0..3),
        ) {
            let errors: Vec<ReadError> = error_kinds.iter().map(|k| err(Kind::ALL[*k])).collect();
            let p = plan();
            let r = evaluate(&p, observations.clone(), errors.clone());
            for (region, rr) in &r.regions {
                let mine = observations.iter().filter(|o| &o.destination == region);
                let any_breach = mine.clone().any(|o| breaches(o, &p.kinds[&o.kind].0))
                    || Kind::ALL.iter().any(|k| {
                        let l = &p.kinds[k].0;
                        let of_kind: Vec<&Observation> = observations.iter().filter(|o| o.kind == *k && &o.destination == region).collect();
                        of_kind.iter().map(|o| o.failed).sum::<u64>() > l.failed
                            || l.pending.is_some_and(|x| of_kind.iter().map(|o| o.pending).sum::<u64>() > x)
                    });
                let touched_by_error = errors.iter().any(|e| {
                    r.kinds[&e.kind].destinations.contains_key(region)
                });
                if any_breach {
                    prop_assert_eq!(rr.verdict, Verdict::NotReady);
                } else if touched_by_error {
                    prop_assert_eq!(rr.verdict, Verdict::Unknown);
                } else {
                    prop_assert_eq!(rr.verdict, Verdict::Ready);
                }
                // Failover reads ReplicationReady: 1 exactly when ready.
                let m = metrics(&r, false);
                let ready = m.iter().find(|x| x.name == "ReplicationReady" && x.dimensions[0].1 == *region).unwrap();
                prop_assert_eq!(ready.value == 1.0, rr.verdict == Verdict::Ready);
            }
            for kr in r.kinds.values() {
                let worst = kr.destinations.values().map(|t| t.verdict).max().unwrap_or(Verdict::Ready);
                prop_assert!(kr.verdict >= worst);
            }
        }
    }
}
