//! Alert state and crossings (pure).
//!
//! Where the state lives: one small JSON document in the SSM parameter
//! `replication.alert_state_parameter`, in the home region. It must survive cold
//! starts (memory does not), it is read once and written at most once per run, and
//! SSM is already a dependency (the config may live there). It is tiny: one entry
//! per kind plus the first-seen time of each secret replica currently InProgress.
//! DynamoDB would add a table for three booleans; CloudWatch alarms on our own
//! metrics could alert too, but not with the resource list in the message.
//! SSM has no compare-and-swap: two overlapping runs could both alert once; the
//! function's reserved concurrency (Terraform `replication_monitor_reserved_concurrency`;
//! 1 makes runs strictly sequential) bounds that; a duplicate alert is the worst case.

use crate::report::{Kind, Report, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindAlert {
    pub breaching: bool,
    /// When the current state (breaching or not) began.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertState {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub kinds: BTreeMap<Kind, KindAlert>,
    /// "secret-id|region" → when this function first saw that replica InProgress.
    #[serde(default)]
    pub secrets_in_progress: BTreeMap<String, DateTime<Utc>>,
}

impl AlertState {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("alert state document is not valid: {e}"))
    }

    pub fn to_text(&self) -> String {
        let mut s = self.clone();
        s.version = STATE_VERSION;
        serde_json::to_string(&s).unwrap_or_default()
    }

    pub fn breaching(&self, kind: Kind) -> bool {
        self.kinds.get(&kind).is_some_and(|k| k.breaching)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    Breached,
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub kind: Kind,
    pub crossing: Crossing,
    pub subject: String,
    pub message: String,
}

/// The alerts this report calls for, given what was already announced: one when a
/// kind starts breaching, one when it recovers; none while it stays either way,
/// and none while it is `unknown` (neither a breach nor a recovery is known).
pub fn crossings(
    previous: &AlertState,
    report: &Report,
    service: &str,
    region: &str,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for (kind, kr) in &report.kinds {
        let was = previous.breaching(*kind);
        let crossing = match (kr.verdict, was) {
            (Verdict::NotReady, false) => Crossing::Breached,
            (Verdict::Ready, true) => Crossing::Recovered,
            _ => continue,
        };
        let k = kind.as_str();
        let subject = match crossing {
            Crossing::Breached => format!("[{service}] {k} replication over threshold"),
            Crossing::Recovered => format!("[{service}] {k} replication recovered"),
        };
        let mut message = format!(
            "{subject}\n\nkind: {k}\nmax lag: {}s (limit {}s)\npending: {}\nfailed: {} (limit {})\nreported by: replication-monitor in {region}\n",
            kr.max_lag_seconds, kr.limits.lag_seconds, kr.pending, kr.failed, kr.limits.failed
        );
        for (dest, t) in &kr.destinations {
            message.push_str(&format!(
                "destination {dest}: {:?}, max lag {}s, pending {}, failed {}\n",
                t.verdict, t.max_lag_seconds, t.pending, t.failed
            ));
        }
        if !kr.breaching.is_empty() {
            message.push_str("\nresources over a limit:\n");
            for r in kr.breaching.iter().take(50) {
                message.push_str(&format!("- {r}\n"));
            }
            if kr.breaching.len() > 50 {
                message.push_str(&format!("- ... and {} more\n", kr.breaching.len() - 50));
            }
        }
        out.push(Alert {
            kind: *kind,
            crossing,
            subject,
            message,
        });
    }
    out
}

/// Records a delivered alert in the state.
pub fn record(state: &mut AlertState, alert: &Alert, now: DateTime<Utc>) {
    state.kinds.insert(
        alert.kind,
        KindAlert {
            breaching: alert.crossing == Crossing::Breached,
            since: now,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{evaluate, Limits, Observation, Plan, Status};
    use proptest::prelude::*;

    fn plan() -> Plan {
        Plan {
            kinds: [(
                Kind::Ecr,
                (
                    Limits {
                        lag_seconds: 60,
                        failed: 0,
                        pending: None,
                    },
                    vec!["us-east-1".into()],
                ),
            )]
            .into(),
            regions: vec!["eu-central-1".into(), "us-east-1".into()],
        }
    }

    fn report(lag: Option<u64>) -> Report {
        match lag {
            None => evaluate(
                &plan(),
                vec![],
                vec![crate::report::ReadError {
                    kind: Kind::Ecr,
                    resource: "r".into(),
                    destination: None,
                    message: "x".into(),
                }],
            ),
            Some(lag) => evaluate(
                &plan(),
                vec![Observation {
                    kind: Kind::Ecr,
                    resource: "orders-api@sha256:1".into(),
                    destination: "us-east-1".into(),
                    status: Status::InProgress,
                    lag_seconds: lag,
                    pending: 1,
                    failed: 0,
                    detail: None,
                }],
                vec![],
            ),
        }
    }

    #[test]
    fn one_alert_per_crossing_and_one_on_recovery() {
        let mut state = AlertState::default();
        let now = Utc::now();
        let mut sent = Vec::new();
        for lag in [
            Some(10),
            Some(100),
            Some(200),
            None,
            Some(300),
            Some(5),
            Some(6),
            Some(100),
        ] {
            for a in crossings(&state, &report(lag), "orders", "eu-central-1") {
                record(&mut state, &a, now);
                sent.push(a.crossing);
            }
        }
        assert_eq!(
            sent,
            vec![Crossing::Breached, Crossing::Recovered, Crossing::Breached]
        );
    }

    #[test]
    fn the_message_names_the_resource_and_survives_a_round_trip() {
        let a = &crossings(
            &AlertState::default(),
            &report(Some(100)),
            "orders",
            "eu-central-1",
        )[0];
        assert!(a.subject.contains("ecr replication over threshold"));
        assert!(
            a.message.contains("orders-api@sha256:1 -> us-east-1"),
            "{}",
            a.message
        );
        let mut s = AlertState::default();
        record(&mut s, a, Utc::now());
        s.secrets_in_progress
            .insert("db|us-east-1".into(), Utc::now());
        assert_eq!(AlertState::parse(&s.to_text()).unwrap().kinds, s.kinds);
        assert!(
            AlertState::parse("{}").unwrap().kinds.is_empty(),
            "an empty document is the initial state"
        );
        assert!(AlertState::parse("nope").is_err());
    }

    proptest! {
        /// However lag moves, alerts alternate breach/recovery, starting with a breach,
        /// and their number equals the number of threshold crossings of the known values.
        #[test]
        fn alerts_alternate_and_count_crossings(lags in prop::collection::vec(prop::option::weighted(0.8, 0..200u64), 0..40)) {
            let mut state = AlertState::default();
            let now = Utc::now();
            let mut sent = Vec::new();
            for lag in &lags {
                for a in crossings(&state, &report(*lag), "s", "r") {
                    record(&mut state, &a, now);
                    sent.push(a.crossing);
                }
            }
            for (i, c) in sent.iter().enumerate() {
                prop_assert_eq!(*c, if i % 2 == 0 { Crossing::Breached } else { Crossing::Recovered });
            }
            let mut breaching = false;
            let mut expected = 0;
            for lag in lags.iter().flatten() {
                let now_breaching = *lag > 60;
                if now_breaching != breaching { expected += 1; breaching = now_breaching; }
            }
            prop_assert_eq!(sent.len(), expected);
        }
    }
}
