//! The alert state and its crossings (pure): which alerts a report calls for, given
//! what was already announced.

use super::{Kind, Report, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{Change, Result};
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

/// The alert state a run starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Starting {
    pub state: AlertState,
    /// False when the document could not be read: no alert, no overwrite.
    pub usable: bool,
    pub error: Option<String>,
}

/// The state to start from, given what loading `parameter` answered.
pub fn starting_state(loaded: Result<Option<String>>, parameter: &str) -> Starting {
    let (state, usable, error) = match loaded {
        Ok(None) => (AlertState::default(), true, None),
        Ok(Some(text)) => match AlertState::parse(&text) {
            Ok(s) => (s, true, None),
            // Unreadable document: start over (and overwrite it) rather than never alert again.
            Err(e) => (
                AlertState::default(),
                true,
                Some(format!("{parameter}: {e}; starting from an empty state")),
            ),
        },
        // Unknown state: observe and publish, but neither alert nor overwrite it.
        Err(e) => (
            AlertState::default(),
            false,
            Some(format!("alert state: {e}; alerts are skipped this run")),
        ),
    };
    Starting {
        state,
        usable,
        error,
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

impl Alert {
    /// The record's change: the kind's `breaching` flag flips.
    pub fn change(&self) -> Change {
        let resource = format!("alert:{}", self.kind.as_str());
        match self.crossing {
            Crossing::Breached => Change::new(resource, "breaching", false, true),
            Crossing::Recovered => Change::new(resource, "breaching", true, false),
        }
    }
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

/// Remembers a delivered alert in the state.
pub fn remember(state: &mut AlertState, alert: &Alert, now: DateTime<Utc>) {
    state.kinds.insert(
        alert.kind,
        KindAlert {
            breaching: alert.crossing == Crossing::Breached,
            since: now,
        },
    );
}
