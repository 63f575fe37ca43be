//! What a decision is made from, besides the state and the policy: who asks, a
//! region's alarms and health, and a drill's surge.

use shared::routing::AlarmNews;

/// Who or what asked for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub by: String,
    pub reason: String,
    /// An alarm or timer rather than a person: subject to the hourly cap, never forced.
    pub automatic: bool,
    /// A person overriding the readiness gate and the dwell time (never the last-region rule).
    pub force: bool,
}

impl Actor {
    /// The control plane itself (a schedule, the tick): automatic, never forced.
    pub fn system(by: &str, reason: impl Into<String>) -> Self {
        Self {
            by: by.into(),
            reason: reason.into(),
            automatic: true,
            force: false,
        }
    }
}

/// A region's health alarms as read now: ALARM when any of them is, OK when all are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmLevel {
    /// The alarm that decides the level (the one in ALARM, or the latest to change).
    pub alarm: String,
    pub news: AlarmNews,
}

/// Whether the peers' provisioned concurrency has risen for a drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surge {
    pub ready: bool,
    pub detail: String,
}

impl Surge {
    /// Ready when every peer target is READY and their requested total is above what it
    /// was when the drill was prepared (`before`). No targets: nothing to wait for.
    pub fn of(before: u64, now: &[crate::ports::Capacity]) -> Self {
        if now.is_empty() {
            return Self {
                ready: true,
                detail:
                    "no provisioned-concurrency targets in the peer region(s): nothing to wait for"
                        .into(),
            };
        }
        let total: u64 = now.iter().map(|(_, level, _)| (*level).max(0) as u64).sum();
        let ready_targets = now
            .iter()
            .filter(|(_, _, status)| status == "READY")
            .count();
        let ready = ready_targets == now.len() && total > before;
        Self {
            ready,
            detail: format!(
                "peer surge {}: {ready_targets} of {} targets READY, {total} provisioned in all (was {before})",
                if ready { "READY" } else { "not READY" },
                now.len()
            ),
        }
    }
}

/// What failover knows about a region's ability to take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    Ready,
    NotReady,
    /// No datapoint within `readiness.max_age`.
    Stale,
    /// Not checked (not required by config).
    NotRequired,
}

impl Replication {
    /// The newest `ReplicationReady` within `readiness.max_age` (None: no datapoint).
    pub fn from_reading(latest: Option<f64>) -> Self {
        match latest {
            Some(v) if v >= 1.0 => Self::Ready,
            Some(_) => Self::NotReady,
            None => Self::Stale,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RegionHealth {
    /// The gate's children meet its threshold (endpoints healthy and gate open).
    pub gate_healthy: bool,
    /// The endpoint checks alone are healthy (ignoring the gate's threshold).
    pub endpoints_healthy: bool,
    pub replication: Replication,
}

impl RegionHealth {
    pub fn ready_for_traffic(&self) -> Result<(), String> {
        if !self.gate_healthy {
            return Err("its gate health check is unhealthy".into());
        }
        match self.replication {
            Replication::Ready | Replication::NotRequired => Ok(()),
            Replication::NotReady => Err("its ReplicationReady is 0".into()),
            Replication::Stale => Err("its ReplicationReady is stale or unknown".into()),
        }
    }
}
