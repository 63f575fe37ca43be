//! The handler against the in-memory world (`fake.rs`, real compare-and-swap), by
//! topic: `handler` (the basics), `deliveries` (duplicates, late events, lost answers),
//! `bounds` (texts and the record's size), `levels` (the level-triggered tick, drill
//! stop conditions and surges, trusted alarms, owed announcements). Shared helpers
//! here; the decision tables are in `decide/tests.rs`.

use crate::decide::{decide, Actor, Decision, RegionHealth, Replication, Request};
use crate::{handle, Invocation};
use chrono::{DateTime, Duration as Chrono, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::events::{AlarmState, ControlPlaneKind};
use shared::routing::RoutingState;
use shared::{Config, Region};
use std::collections::BTreeMap;

pub(crate) fn r(s: &str) -> Region {
    Region::parse(s).unwrap()
}
pub(crate) fn eu() -> Region {
    r("eu-central-1")
}
pub(crate) fn us() -> Region {
    r("us-east-1")
}
pub(crate) use crate::fake::FakeWorld;

impl Default for FakeWorld {
    /// The tests' world: its clock at [`t0`].
    fn default() -> Self {
        Self::starting_at(t0())
    }
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub(crate) fn config() -> Config {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["failover"]["dwell"] = json!("10m");
    v["failover"]["max_automatic_evacuations_per_hour"] = json!(2);
    Config::from_value(&v).unwrap()
}

pub(crate) fn healthy() -> RegionHealth {
    RegionHealth {
        gate_healthy: true,
        endpoints_healthy: true,
        replication: Replication::Ready,
    }
}
pub(crate) fn all_healthy() -> BTreeMap<Region, RegionHealth> {
    [(eu(), healthy()), (us(), healthy())].into()
}
pub(crate) fn alarm() -> Actor {
    Actor {
        by: "alarm:x".into(),
        reason: "alarm".into(),
        automatic: true,
        force: false,
    }
}
pub(crate) fn person(force: bool) -> Actor {
    Actor {
        by: "alice".into(),
        reason: "testing".into(),
        automatic: false,
        force,
    }
}
pub(crate) fn evacuate(region: Region, actor: Actor) -> Request {
    Request::Evacuate {
        region,
        actor,
        observed_at: None,
    }
}
/// A tick that sees no alarm and no drill surge.
pub(crate) fn quiet_tick() -> Request {
    Request::Tick {
        alarms: BTreeMap::new(),
        surge: None,
    }
}
pub(crate) fn apply(d: Decision) -> RoutingState {
    match d {
        Decision::Change { state, .. } => state,
        other => panic!("expected a change, got {other:?}"),
    }
}
pub(crate) fn refused(d: &Decision, needle: &str) {
    match d {
        Decision::Refuse(why) => assert!(why.contains(needle), "{why:?} lacks {needle:?}"),
        other => panic!("expected refusal containing {needle:?}, got {other:?}"),
    }
}

// ------------------------------------------------------------------ handler

pub(crate) fn alarm_event(region: &str, state: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/cloudwatch-alarm-state-change.json"
    ))
    .unwrap();
    let name = format!("orders-health-{region}");
    v["resources"] = json!([format!(
        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:{name}"
    )]);
    v["detail"]["alarmName"] = json!(name);
    v["detail"]["state"]["value"] = json!(state);
    v["detail"]["state"]["timestamp"] =
        json!(t0().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    v
}

/// The same, its state change `minutes` after t0 (CloudWatch's timestamp format).
pub(crate) fn alarm_event_at(region: &str, state: &str, minutes: i64) -> Value {
    let mut v = alarm_event(region, state);
    let at = t0() + Chrono::minutes(minutes);
    v["detail"]["state"]["timestamp"] = json!(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    v
}

// ------------------------------------------------------------------ bounded state

pub(crate) fn drill_invocation() -> Invocation {
    Invocation {
        request_id: "r".into(),
        function_arn: "arn:aws:lambda:eu-central-1:333333333333:function:failover".into(),
        deadline: None,
    }
}

// ------------------------------------------- level-triggered, stop conditions, trust

pub(crate) fn tick_event() -> Value {
    serde_json::from_str(include_str!("../../../tests/fixtures/scheduler-tick.json")).unwrap()
}

pub(crate) fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Chrono::minutes(n)
}

mod bounds;
mod deliveries;
mod handler;
mod levels;
