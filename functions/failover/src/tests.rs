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
    let mut v = config_with_probes();
    // The Route 53 health alarms alone: the probe alarms are `data_plane`'s subject.
    v["failover"]["region_alarms"]
        .as_object_mut()
        .unwrap()
        .retain(|arn, _| !arn.contains(":alarm:orders-probe-"));
    Config::from_value(&v).unwrap()
}

/// The example configuration, with the probe alarms each region's observer keeps.
pub(crate) fn config_with_probes() -> Value {
    let mut v: Value = serde_json::from_str(include_str!("../../../config/example.json")).unwrap();
    v["failover"]["dwell"] = json!("10m");
    v["failover"]["max_automatic_evacuations_per_hour"] = json!(2);
    v
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

// ------------------------------------------------------------------ entry points

/// An operator: a session of the example configuration's operator role.
pub(crate) const OPERATOR: &str = "arn:aws:sts::333333333333:assumed-role/orders-operator/alice";

/// `payload` as failover's function URL delivers it (payload format 2.0), signed by
/// `caller`.
pub(crate) fn url_event(payload: &Value, caller: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.eu-central-1.on.aws"},
        "requestContext": {
            "accountId": "333333333333",
            "apiId": "abc",
            "authorizer": {"iam": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": "333333333333",
                "callerId": "AROAEXAMPLE:alice",
                "userArn": caller,
                "userId": "AROAEXAMPLE:alice",
            }},
            "domainName": "abc.lambda-url.eu-central-1.on.aws",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "ctl"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_780_800_000_u64,
        },
        "body": payload.to_string(),
        "isBase64Encoded": false,
    })
}

/// A function URL request from `caller`: the decision record it answered with (200),
/// or the error its body names (400: NonRetryable, 500: Retryable).
pub(crate) async fn through_url(
    caller: &str,
    payload: Value,
    inv: &Invocation,
    c: &Config,
    home: &Region,
    world: &impl crate::World,
) -> shared::Result<Value> {
    let answer = handle(url_event(&payload, caller), inv, c, home, world)
        .await
        .expect("a function URL request is always answered");
    assert_eq!(
        answer["headers"]["content-type"], "application/json",
        "{answer}"
    );
    let body: Value = serde_json::from_str(answer["body"].as_str().expect("body")).unwrap();
    let message = || {
        body["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    match answer["statusCode"].as_u64() {
        Some(200) => Ok(body),
        Some(400) => Err(shared::Error::invalid_event(message())),
        _ => Err(shared::Error::Unfinished(message())),
    }
}

/// Each input as it reaches failover in AWS: an operator's routing action through the
/// function URL (as [`OPERATOR`]); alarms, schedules and `status` by Invoke.
pub(crate) async fn arrive(
    payload: Value,
    inv: &Invocation,
    c: &Config,
    home: &Region,
    world: &impl crate::World,
) -> shared::Result<Value> {
    let action = payload["action"].as_str().unwrap_or_default();
    if crate::request::ROUTING_ACTIONS.contains(&action) {
        through_url(OPERATOR, payload, inv, c, home, world).await
    } else {
        handle(payload, inv, c, home, world).await
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

/// Runs `run` under a deadline. With barriers under calls (`FakeWorld::meet_together`),
/// calls made one after the other never meet, and `apart` is the failure: deadlock
/// detection only, not a timing assertion.
pub(crate) async fn meeting<T>(run: impl std::future::Future<Output = T>, apart: &str) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect(apart)
}

pub(crate) fn minutes(n: i64) -> DateTime<Utc> {
    t0() + Chrono::minutes(n)
}

mod bounds;
mod data_plane;
mod deliveries;
mod handler;
mod levels;
