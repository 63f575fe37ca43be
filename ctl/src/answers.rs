//! The functions' answers, typed: each is a [`DecisionRecord`] whose `state` ctl reads
//! as the function wrote it. Only the fields ctl shows are declared; others are ignored,
//! so a function may add to its state without breaking ctl.

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use shared::routing::RoutingState;
use shared::{DecisionRecord, Outcome, Region};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// One function's answer: its record, its state as `S`, and the JSON as it came (`--json`).
#[derive(Debug, Clone)]
pub struct Answer<S> {
    pub record: DecisionRecord,
    /// `None` only when the function failed before it could say more.
    pub state: Option<S>,
    pub raw: Value,
}

impl<S: DeserializeOwned> Answer<S> {
    /// Reads an answer; the error says what did not read.
    pub fn read(raw: Value) -> Result<Self, String> {
        let record: DecisionRecord = serde_json::from_value(raw.clone())
            .map_err(|e| format!("not a decision record: {e}"))?;
        let state = match serde_json::from_value::<S>(record.state.clone()) {
            Ok(state) => Some(state),
            Err(_) if record.outcome == Outcome::Failed => None,
            Err(e) => return Err(format!("its state: {e}")),
        };
        Ok(Self { record, state, raw })
    }
}

impl<S> Answer<S> {
    /// Done: applied, noop or a dry run.
    pub fn succeeded(&self) -> bool {
        matches!(
            self.record.outcome,
            Outcome::Applied | Outcome::Noop | Outcome::DryRun
        )
    }
}

/// failover `status`: the routing state, and each region's routing and gate.
#[derive(Debug, Clone, Deserialize)]
pub struct FailoverStatus {
    pub routing: RoutingState,
    /// In the configuration's order.
    #[serde(deserialize_with = "in_order")]
    pub regions: Vec<(Region, RegionStatus)>,
    /// Where the routing came from: `shared` (Route 53) or `local store in REGION` (its
    /// control plane did not answer).
    #[serde(default)]
    pub source: Option<String>,
    /// The region's data-plane view: None without `failover.data_plane`.
    #[serde(default)]
    pub data_plane: Option<DataPlaneStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataPlaneStatus {
    #[serde(default)]
    pub control_plane_down_since: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub closed_on_data_plane: Vec<Region>,
}

impl FailoverStatus {
    pub fn region(&self, region: &Region) -> Option<&RegionStatus> {
        self.regions
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, s)| s)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegionStatus {
    /// `active` or `evacuated`.
    pub routing: String,
    /// `None`: the gate could not be read (the record's errors say why).
    #[serde(default)]
    pub gate: Option<Gate>,
    #[serde(default)]
    pub gate_matches_state: Option<bool>,
}

/// A region's Route 53 gate: open while its `threshold` is at most its `children`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Gate {
    pub id: String,
    pub open: bool,
    pub healthy: bool,
    pub threshold: u64,
    pub children: u64,
    pub children_healthy: u64,
}

/// replication-monitor `check`: verdicts per region, and per kind into each destination.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplicationCheck {
    #[serde(default)]
    pub regions: BTreeMap<String, Verdict>,
    #[serde(default)]
    pub kinds: BTreeMap<String, KindReport>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    pub verdict: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KindReport {
    #[serde(default)]
    pub destinations: BTreeMap<String, Totals>,
}

/// One kind's replication into one destination.
#[derive(Debug, Clone, Deserialize)]
pub struct Totals {
    pub verdict: String,
    pub max_lag_seconds: u64,
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub failed: u64,
}

/// concurrency-scheduler `plan`: one row per target alias.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SchedulerPlan {
    #[serde(default)]
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub function: String,
    pub alias: String,
    #[serde(default)]
    pub region: Option<String>,
    /// The level requested on the alias now (`None`: no config).
    #[serde(default)]
    pub current: Option<u64>,
    #[serde(default)]
    pub status: Option<String>,
    /// The level the policy wants.
    pub level: u64,
    pub why: Why,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Why {
    /// `baseline`, `window`, `surge`, `override`.
    pub rule: String,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A JSON object's entries in the order they came (the functions write regions in the
/// configuration's order, which operators know their regions by).
fn in_order<'de, D, K, V>(d: D) -> Result<Vec<(K, V)>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
        type Value = Vec<(K, V)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A whole decision record, as a function answers.
    pub(crate) fn record(function: &str, outcome: &str, reason: &str, state: Value) -> Value {
        json!({
            "function": function, "region": "eu-central-1", "action": "status",
            "trigger": "manual", "outcome": outcome, "reason": reason, "changes": [],
            "state": state, "started_at": "2026-01-01T10:00:00Z", "duration_ms": 12
        })
    }

    /// A concurrency-scheduler plan with one target in `region`.
    pub(crate) fn plan(region: &str, current: u64, level: u64, rule: &str) -> Value {
        record(
            "concurrency-scheduler",
            "dry_run",
            "plan: 1 of 1 alias(es) would change",
            json!({"rows": [{"function": "orders-api", "alias": "live", "region": region,
                "current": current, "status": "READY", "level": level, "why": {"rule": rule}}]}),
        )
    }

    #[test]
    fn regions_keep_the_order_failover_wrote() {
        let state = json!({
            "routing": {"v": 1, "epoch": 0},
            "regions": {
                "us-east-1": {"routing": "active", "gate": null},
                "eu-central-1": {"routing": "evacuated", "gate": {"id": "g", "open": false,
                    "healthy": false, "threshold": 3, "children": 2, "children_healthy": 0},
                    "gate_matches_state": true}
            }
        });
        let a = Answer::<FailoverStatus>::read(record("failover", "noop", "", state)).unwrap();
        let s = a.state.as_ref().unwrap();
        let names: Vec<&str> = s.regions.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(names, ["us-east-1", "eu-central-1"]);
        let eu = s.region(&Region::parse("eu-central-1").unwrap()).unwrap();
        assert_eq!(eu.gate.as_ref().map(|g| g.threshold), Some(3));
        assert!(a.succeeded());
    }

    #[test]
    fn what_does_not_read_is_said() {
        let e = Answer::<FailoverStatus>::read(json!("Internal error")).unwrap_err();
        assert!(e.starts_with("not a decision record"), "{e}");
        let e =
            Answer::<FailoverStatus>::read(record("failover", "noop", "", json!({}))).unwrap_err();
        assert!(e.starts_with("its state: missing field"), "{e}");
        // a failed record may carry no state at all
        let a =
            Answer::<FailoverStatus>::read(record("failover", "failed", "x", Value::Null)).unwrap();
        assert!(a.state.is_none() && !a.succeeded());
    }
}
