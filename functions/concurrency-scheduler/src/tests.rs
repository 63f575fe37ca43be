//! Handler tests against the in-memory world (`fake.rs`), by topic: `events` (what
//! starts a run and what it reads), `changes` (applying them), `operator` (plan and
//! override). The level rules' case tables are in `decide/tests.rs`.

mod changes;
mod events;
mod operator;

use crate::fake::FakeWorld;
use crate::state::State;
use crate::{handle, report, Invocation};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use shared::aws::lambda::PcStatus;
use shared::routing::{Evacuation, RoutingState};
use shared::{Config, Error, Region, Result};
use std::sync::atomic::Ordering;

fn config(concurrency: Value) -> Config {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["concurrency"] = concurrency;
    Config::from_value(&v).unwrap()
}

fn base_concurrency() -> Value {
    json!({
        "alias": "live", "baseline": 2, "min": 1, "max": 50, "surge_factor": 2.0,
        "windows": [{"name": "business-hours", "cron": "0 7 * * MON-FRI", "duration": "11h",
                     "timezone": "Europe/Berlin", "level": 4}],
        "targets": [{"function": "orders-api"}, {"function": "billing", "max": 6}],
        "requests_per_second": 15, "max_in_flight": 4, "ready_timeout": "2m",
        "state_parameter": "/controlplane/concurrency-state"
    })
}

/// The config, the region this copy manages, and its world.
struct Setup {
    config: Config,
    home: Region,
    world: FakeWorld,
}

impl Setup {
    /// The handler, with the world's clock at `now`.
    async fn handle(&self, payload: Value, now: DateTime<Utc>) -> Result<Value> {
        self.world.at(now);
        handle(
            payload,
            &Invocation::default(),
            &self.config,
            &self.home,
            &self.world,
        )
        .await
    }
}

fn setup_with(concurrency: Value, world: FakeWorld) -> Setup {
    Setup {
        config: config(concurrency),
        home: Region::parse("eu-central-1").unwrap(),
        world,
    }
}

/// Two targets, orders-api and billing (max 6), with aliases and no config yet.
fn setup() -> Setup {
    setup_with(
        base_concurrency(),
        FakeWorld::with(&["orders-api", "billing"]),
    )
}

/// Wed 2026-11-25 09:00 in Berlin: inside business hours (level 4).
fn weekday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}
/// Saturday: the baseline (2).
fn weekend() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap()
}

fn tick() -> Value {
    json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "111111111111", "time": "2026-11-25T08:00:00Z", "region": "eu-central-1",
           "resources": ["arn:aws:events:eu-central-1:111111111111:rule/tick"], "detail": {}})
}

fn control(kind: &str, region: &str) -> Value {
    json!({"version": "0", "id": "2", "detail-type": kind, "source": "controlplane.failover",
           "account": "111111111111", "time": "2026-11-25T08:00:00Z", "region": "eu-central-1",
           "resources": [], "detail": {"region": region, "epoch": 3, "reason": "test"}})
}

fn evacuated(region: &str) -> RoutingState {
    let mut s = RoutingState::default();
    s.evacuated.insert(
        Region::parse(region).unwrap(),
        Evacuation {
            since: weekday(),
            by: "test".into(),
            reason: "drill".into(),
            automatic: false,
            drill_id: None,
        },
    );
    s
}

fn row<'a>(record: &'a Value, function: &str) -> &'a Value {
    report::rows_of(record)
        .iter()
        .find(|r| r["function"] == function)
        .unwrap_or_else(|| panic!("no row for {function}: {record:#}"))
}
