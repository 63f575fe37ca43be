//! Handler tests with fakes: every AWS thing behind a small trait.

use super::*;
use crate::state::State;
use chrono::TimeZone;
use shared::aws::lambda::{AliasInfo, PcConfig, PcStatus};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::aws::route53::{CasResult, StateVersion};
use shared::error::AwsErrorKind;
use shared::metrics::Metric;
use shared::routing::{Evacuation, RoutingState};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

fn aws_err(op: &'static str, kind: AwsErrorKind, message: &str) -> Error {
    Error::Aws {
        service: "lambda",
        operation: op,
        region: "eu-central-1".into(),
        kind,
        message: message.into(),
    }
}

#[derive(Default)]
struct FakeLambda {
    configs: Mutex<BTreeMap<String, PcConfig>>,
    /// function → weighted; absent functions have no alias.
    aliases: Mutex<BTreeMap<String, bool>>,
    unreserved: Mutex<u32>,
    /// (function, level) that end FAILED.
    fail: Mutex<BTreeSet<(String, u32)>>,
    /// Functions whose next Put answers 409.
    conflict_once: Mutex<BTreeSet<String>>,
    /// Puts that answer TooManyRequestsException before one goes through.
    throttle_puts: AtomicUsize,
    puts: Mutex<Vec<(String, u32)>>,
    gets: AtomicUsize,
    calls: AtomicUsize,
}

impl FakeLambda {
    fn with(functions: &[&str]) -> Self {
        let l = Self::default();
        *l.unreserved.lock().unwrap() = 1000;
        for f in functions {
            l.aliases.lock().unwrap().insert(f.to_string(), false);
        }
        l
    }
    fn set(&self, f: &str, level: u32, status: PcStatus) {
        self.configs.lock().unwrap().insert(
            f.to_string(),
            PcConfig {
                requested: level,
                allocated: level,
                status,
                reason: None,
            },
        );
    }
    fn level(&self, f: &str) -> Option<(u32, PcStatus)> {
        self.configs
            .lock()
            .unwrap()
            .get(f)
            .map(|c| (c.requested, c.status))
    }
    fn puts(&self) -> Vec<(String, u32)> {
        self.puts.lock().unwrap().clone()
    }
}

impl ProvisionedConcurrency for FakeLambda {
    async fn get(&self, function: &str, _alias: &str) -> Result<Option<PcConfig>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.gets.fetch_add(1, Ordering::SeqCst);
        let mut configs = self.configs.lock().unwrap();
        let fail = self.fail.lock().unwrap();
        Ok(configs.get_mut(function).map(|c| {
            // IN_PROGRESS settles on the next read.
            if c.status == PcStatus::InProgress {
                if fail.contains(&(function.to_string(), c.requested)) {
                    c.status = PcStatus::Failed;
                    c.allocated = 0;
                    c.reason = Some("FUNCTION_ERROR_INIT_FAILURE".into());
                } else {
                    c.status = PcStatus::Ready;
                    c.allocated = c.requested;
                }
            }
            c.clone()
        }))
    }

    async fn put(&self, function: &str, _alias: &str, level: u32) -> Result<PcConfig> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.throttle_puts.load(Ordering::SeqCst) > 0 {
            self.throttle_puts.fetch_sub(1, Ordering::SeqCst);
            return Err(aws_err(
                "PutProvisionedConcurrencyConfig",
                AwsErrorKind::Throttling,
                "TooManyRequestsException: Rate exceeded",
            ));
        }
        if self.conflict_once.lock().unwrap().remove(function) {
            return Err(aws_err(
                "PutProvisionedConcurrencyConfig",
                AwsErrorKind::Conflict,
                "ResourceConflictException: update in progress",
            ));
        }
        let mut configs = self.configs.lock().unwrap();
        let others: u32 = configs
            .iter()
            .filter(|(k, c)| *k != function && c.status != PcStatus::Failed)
            .map(|(_, c)| c.requested)
            .sum();
        if others + level > self.unreserved.lock().unwrap().saturating_sub(100) {
            return Err(aws_err(
                "PutProvisionedConcurrencyConfig",
                AwsErrorKind::InvalidRequest,
                "InvalidParameterValueException: decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
            ));
        }
        self.puts
            .lock()
            .unwrap()
            .push((function.to_string(), level));
        let c = PcConfig {
            requested: level,
            allocated: 0,
            status: PcStatus::InProgress,
            reason: None,
        };
        configs.insert(function.to_string(), c.clone());
        Ok(c)
    }

    async fn unreserved_concurrency(&self) -> Result<u32> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(*self.unreserved.lock().unwrap())
    }

    async fn alias(&self, function: &str, _alias: &str) -> Result<Option<AliasInfo>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .aliases
            .lock()
            .unwrap()
            .get(function)
            .map(|w| AliasInfo {
                function_version: "3".into(),
                weighted: *w,
            }))
    }
}

#[derive(Default)]
struct FakeTags(Vec<String>, AtomicUsize);
impl FunctionDiscovery for FakeTags {
    async fn functions_tagged(&self, _key: &str, _value: Option<&str>) -> Result<Vec<String>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct FakeUtil(BTreeMap<String, Vec<f64>>, AtomicUsize);
impl MetricReader for FakeUtil {
    async fn read(
        &self,
        queries: &[MetricQuery],
        _s: DateTime<Utc>,
        _e: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: self
                    .0
                    .get(&q.dimensions[0].1)
                    .map_or(vec![], |v| v.iter().map(|x| (Utc::now(), *x)).collect()),
            })
            .collect())
    }
}

#[derive(Default)]
struct FakeRouting {
    state: Mutex<Option<RoutingState>>,
    broken: AtomicBool,
    reads: AtomicUsize,
}
impl StateStore for FakeRouting {
    async fn read(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.broken.load(Ordering::SeqCst) {
            return Err(Error::State("route53 unreachable".into()));
        }
        Ok(self.state.lock().unwrap().clone().map(|s| {
            (
                s,
                StateVersion {
                    raw: String::new(),
                    ttl: 60,
                },
            )
        }))
    }
    async fn swap(&self, _e: Option<&StateVersion>, _n: &RoutingState) -> Result<CasResult> {
        unreachable!("the scheduler never writes the routing state")
    }
}

#[derive(Default)]
struct FakeParam(Mutex<Option<String>>, AtomicUsize);
impl StateParam for FakeParam {
    async fn get(&self, _name: &str) -> Result<Option<String>> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn put(&self, _name: &str, value: &str) -> Result<()> {
        self.1.fetch_add(1, Ordering::SeqCst);
        *self.0.lock().unwrap() = Some(value.to_string());
        Ok(())
    }
}

#[derive(Default)]
struct FakeSink(Mutex<Vec<Vec<Metric>>>);
impl MetricSink for FakeSink {
    async fn publish(&self, _ns: &str, metrics: &[Metric]) -> Result<()> {
        self.0.lock().unwrap().push(metrics.to_vec());
        Ok(())
    }
}

#[derive(Default)]
struct FakeAlerts(Mutex<Vec<(String, String)>>);
impl Notifier for FakeAlerts {
    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((subject.into(), message.into()));
        Ok(())
    }
}

type TestDeps = Deps<FakeLambda, FakeTags, FakeUtil, FakeRouting, FakeParam, FakeSink, FakeAlerts>;

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

fn deps_with(concurrency: Value, lambda: FakeLambda) -> TestDeps {
    Deps {
        config: config(concurrency),
        region: shared::Region::parse("eu-central-1").unwrap(),
        lambda,
        discovery: FakeTags::default(),
        utilization: FakeUtil::default(),
        routing: FakeRouting::default(),
        state: FakeParam::default(),
        metrics: FakeSink::default(),
        alerts: FakeAlerts::default(),
        timing: Timing::default(),
    }
}

fn deps() -> TestDeps {
    deps_with(
        base_concurrency(),
        FakeLambda::with(&["orders-api", "billing"]),
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
        shared::Region::parse(region).unwrap(),
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
    run::rows_of(record)
        .iter()
        .find(|r| r["function"] == function)
        .unwrap_or_else(|| panic!("no row for {function}: {record:#}"))
}

#[tokio::test(start_paused = true)]
async fn events_it_does_not_handle_are_refused_with_no_aws_call() {
    let d = deps();
    let ecr = json!({"version": "0", "id": "3", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "111111111111",
        "time": "2026-11-25T08:00:00Z", "region": "eu-central-1", "resources": [],
        "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": "orders", "image-digest": "sha256:abc", "image-tag": "v1"}});
    let alarm = json!({"version": "0", "id": "4", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "111111111111", "time": "2026-11-25T08:00:00Z", "region": "eu-central-1", "resources": ["arn:aws:cloudwatch:eu-central-1:111111111111:alarm:x"],
        "detail": {"alarmName": "x", "state": {"value": "ALARM", "reason": "r", "timestamp": "2026-11-25T08:00:00.000+0000"}}});
    for bad in [
        ecr,
        alarm,
        json!({"action": "evacuate"}),
        json!({"action": "plan", "extra": 1}),
        json!([1]),
        json!({"task": "end_drill", "drill_id": "d1"}),
    ] {
        let err = handle_at(bad.clone(), &d, weekday()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidEvent(_)), "{bad}: {err}");
    }
    assert_eq!(d.lambda.calls.load(Ordering::SeqCst), 0);
    assert_eq!(d.routing.reads.load(Ordering::SeqCst), 0);
    assert!(d.metrics.0.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn schedule_tick_sets_the_window_level_then_nothing_changes() {
    let d = deps();
    d.lambda.set("orders-api", 2, PcStatus::Ready);
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["function"], "concurrency-scheduler");
    assert_eq!(d.lambda.level("orders-api"), Some((4, PcStatus::Ready)));
    assert_eq!(d.lambda.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(r["changes"].as_array().unwrap().len(), 2);
    assert_eq!(row(&r, "orders-api")["why"]["window"], "business-hours");
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .starts_with("READY"));
    // One PutMetricData with a target per alias and ActionFailed = 0.
    let batches = d.metrics.0.lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    assert!(batches[0]
        .iter()
        .any(|m| m.name == "ProvisionedConcurrencyTarget"
            && m.value == 4.0
            && m.dimensions
                .contains(&("FunctionName", "orders-api".to_string()))
            && m.dimensions
                .contains(&("Region", "eu-central-1".to_string()))));
    assert!(batches[0]
        .iter()
        .any(|m| m.name == "ActionFailed" && m.value == 0.0));

    let puts = d.lambda.puts().len();
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "noop", "{r:#}");
    assert_eq!(
        d.lambda.puts().len(),
        puts,
        "no writes when nothing differs"
    );
    // Saturday: back to the baseline.
    let r = handle_at(tick(), &d, weekend()).await.unwrap();
    assert_eq!(r["outcome"], "applied");
    assert_eq!(d.lambda.level("orders-api"), Some((2, PcStatus::Ready)));
}

#[tokio::test(start_paused = true)]
async fn failover_events_surge_from_the_routing_state_and_return_to_schedule() {
    let d = deps();
    *d.routing.state.lock().unwrap() = Some(evacuated("us-east-1"));
    let r = handle_at(control("Region Evacuated", "us-east-1"), &d, weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["trigger"], "Region Evacuated us-east-1 (surge)");
    assert_eq!(d.lambda.level("orders-api"), Some((8, PcStatus::Ready)));
    assert_eq!(
        d.lambda.level("billing"),
        Some((6, PcStatus::Ready)),
        "surge is clamped to the target's max"
    );
    assert_eq!(row(&r, "orders-api")["why"]["rule"], "surge");

    // Restored: back to the schedule's level.
    *d.routing.state.lock().unwrap() = Some(RoutingState::default());
    let r = handle_at(control("Region Restored", "us-east-1"), &d, weekday())
        .await
        .unwrap();
    assert_eq!(
        d.lambda.level("orders-api"),
        Some((4, PcStatus::Ready)),
        "{r:#}"
    );

    // A drill preparing on the peer surges before the peer is evacuated.
    let drilling = RoutingState {
        drill: Some(shared::routing::Drill {
            id: "drill-us-east-1".into(),
            region: Region::parse("us-east-1").unwrap(),
            phase: shared::routing::DrillPhase::Preparing,
            started_at: weekday(),
            expires_at: weekday() + chrono::Duration::minutes(15),
            by: "alice".into(),
            reason: "game day".into(),
            peer_level_before: None,
        }),
        ..Default::default()
    };
    *d.routing.state.lock().unwrap() = Some(drilling);
    let r = handle_at(control("Drill Started", "us-east-1"), &d, weekday())
        .await
        .unwrap();
    assert_eq!(
        d.lambda.level("orders-api"),
        Some((8, PcStatus::Ready)),
        "{r:#}"
    );
    *d.routing.state.lock().unwrap() = Some(RoutingState::default());
    handle_at(control("Drill Ended", "us-east-1"), &d, weekday())
        .await
        .unwrap();
    assert_eq!(d.lambda.level("orders-api"), Some((4, PcStatus::Ready)));

    // The evacuated region itself does not surge.
    *d.routing.state.lock().unwrap() = Some(evacuated("eu-central-1"));
    handle_at(control("Region Evacuated", "eu-central-1"), &d, weekday())
        .await
        .unwrap();
    assert_eq!(d.lambda.level("orders-api"), Some((4, PcStatus::Ready)));

    // A lost event heals on the next tick: the state is the source of truth.
    *d.routing.state.lock().unwrap() = Some(evacuated("us-east-1"));
    handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(d.lambda.level("orders-api"), Some((8, PcStatus::Ready)));

    // Routing state unreadable: nothing is lowered.
    d.routing.broken.store(true, Ordering::SeqCst);
    let r = handle_at(tick(), &d, weekend()).await.unwrap();
    assert_eq!(
        d.lambda.level("orders-api"),
        Some((8, PcStatus::Ready)),
        "{r:#}"
    );
    assert!(r["errors"][0].as_str().unwrap().contains("routing state"));
}

#[tokio::test(start_paused = true)]
async fn failed_falls_back_to_the_last_good_level_alerts_and_holds() {
    let d = deps();
    d.lambda.set("orders-api", 2, PcStatus::Ready);
    d.lambda.set("billing", 4, PcStatus::Ready);
    d.lambda
        .fail
        .lock()
        .unwrap()
        .insert(("orders-api".into(), 4));
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert_eq!(
        d.lambda.level("orders-api"),
        Some((2, PcStatus::Ready)),
        "fell back to the last good level"
    );
    assert_eq!(
        d.lambda.puts(),
        vec![("orders-api".to_string(), 4), ("orders-api".to_string(), 2)]
    );
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .contains("fell back to the last good level 2"));
    let alerts = d.alerts.0.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].1.contains("orders-api"));
    let m = d.metrics.0.lock().unwrap().clone();
    assert!(m[0]
        .iter()
        .any(|m| m.name == "ActionFailed" && m.value == 1.0));
    let st = State::parse(d.state.0.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(st.failed["orders-api:live"].level, 4);

    // The next tick holds at 2 (cool-down) instead of failing again.
    let r = handle_at(tick(), &d, weekday() + chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(r["outcome"], "noop", "{r:#}");
    assert_eq!(d.lambda.puts().len(), 2);
    // After the cool-down it tries again.
    d.lambda.fail.lock().unwrap().clear();
    handle_at(tick(), &d, weekday() + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(d.lambda.level("orders-api"), Some((4, PcStatus::Ready)));
}

#[tokio::test(start_paused = true)]
async fn conflicts_are_retried_later_in_the_run_and_throttling_backs_off() {
    let d = deps();
    d.lambda
        .conflict_once
        .lock()
        .unwrap()
        .insert("orders-api".into());
    d.lambda.throttle_puts.store(2, Ordering::SeqCst);
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(d.lambda.level("orders-api"), Some((4, PcStatus::Ready)));
    assert_eq!(d.lambda.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(r["state"]["api_calls"]["throttled"], 2);
}

#[tokio::test(start_paused = true)]
async fn headroom_is_shared_by_every_target_and_decreases_go_first() {
    let d = deps();
    *d.lambda.unreserved.lock().unwrap() = 106; // headroom 6
    d.lambda.set("billing", 5, PcStatus::Ready);
    // billing goes 5 -> 4 (frees 1), orders-api 0 -> 4 gets only 2.
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(d.lambda.level("billing"), Some((4, PcStatus::Ready)));
    assert_eq!(d.lambda.level("orders-api"), Some((2, PcStatus::Ready)));
    assert_eq!(
        d.lambda.puts()[0],
        ("billing".to_string(), 4),
        "decrease first"
    );
    assert!(row(&r, "orders-api")["why"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("headroom"));
}

#[tokio::test(start_paused = true)]
async fn weighted_and_missing_aliases_are_refused_clearly() {
    let d = deps();
    d.lambda
        .aliases
        .lock()
        .unwrap()
        .insert("billing".into(), true);
    d.lambda.aliases.lock().unwrap().remove("orders-api");
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "failed");
    assert!(row(&r, "billing")["result"]
        .as_str()
        .unwrap()
        .contains("version weights"));
    assert!(row(&r, "orders-api")["result"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(d.lambda.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn plan_shows_every_target_and_writes_nothing() {
    let d = deps();
    d.lambda.set("orders-api", 4, PcStatus::Ready);
    let r = handle_at(json!({"action": "plan"}), &d, weekday())
        .await
        .unwrap();
    assert_eq!(r["outcome"], "dry_run");
    assert_eq!(r["action"], "plan");
    let o = row(&r, "orders-api");
    assert_eq!(
        (o["current"].clone(), o["level"].clone()),
        (json!(4), json!(4))
    );
    let b = row(&r, "billing");
    assert_eq!(
        (b["current"].clone(), b["level"].clone()),
        (Value::Null, json!(4))
    );
    assert_eq!(b["why"]["rule"], "window");
    assert_eq!(r["changes"].as_array().unwrap().len(), 1);
    assert!(d.lambda.puts().is_empty());
    assert!(d.metrics.0.lock().unwrap().is_empty());
    assert_eq!(d.state.1.load(Ordering::SeqCst), 0);
    // reconcile with dry_run: the same, no writes.
    let r = handle_at(
        json!({"action": "reconcile", "dry_run": true}),
        &d,
        weekday(),
    )
    .await
    .unwrap();
    assert_eq!(r["outcome"], "dry_run");
    assert!(d.lambda.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn override_needs_a_reason_wins_and_expires_on_its_own() {
    let d = deps();
    let ask = json!({"action": "override", "function": "orders-api", "level": 10, "until": "2h"});
    let err = handle_at(ask.clone(), &d, weekday()).await.unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");

    let mut dry = ask.clone();
    dry["dry_run"] = json!(true);
    let r = handle_at(dry, &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "dry_run", "{r:#}");
    assert!(d.lambda.puts().is_empty());
    assert!(d.state.0.lock().unwrap().is_none());

    let mut real = ask.clone();
    real["reason"] = json!("launch at 10:00");
    real["requested_by"] = json!("alice");
    let r = handle_at(real, &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(r["requested_by"], "alice");
    assert_eq!(
        d.lambda.puts(),
        vec![("orders-api".to_string(), 10)],
        "only the overridden alias"
    );
    let st = State::parse(d.state.0.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(st.overrides[0].level, 10);
    assert_eq!(st.overrides[0].reason, "launch at 10:00");

    // The override beats a surge on the next tick...
    *d.routing.state.lock().unwrap() = Some(evacuated("us-east-1"));
    let r = handle_at(tick(), &d, weekday() + chrono::Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(row(&r, "billing")["why"]["rule"], "surge", "{r:#}");
    assert_eq!(d.lambda.level("orders-api"), Some((10, PcStatus::Ready)));
    // ...and expires on its own.
    *d.routing.state.lock().unwrap() = None;
    let r = handle_at(tick(), &d, weekday() + chrono::Duration::minutes(121))
        .await
        .unwrap();
    assert_eq!(
        d.lambda.level("orders-api"),
        Some((4, PcStatus::Ready)),
        "{r:#}"
    );
    let st = State::parse(d.state.0.lock().unwrap().as_deref().unwrap()).unwrap();
    assert!(st.overrides.is_empty(), "expired overrides are pruned");

    // Refusals: unknown target, level above max, another region, a past time.
    let r = handle_at(
        json!({"action": "override", "function": "nope", "level": 3, "until": "1h", "reason": "x"}),
        &d,
        weekday(),
    )
    .await
    .unwrap();
    assert_eq!(r["outcome"], "refused");
    let r = handle_at(json!({"action": "override", "function": "billing", "level": 7, "until": "1h", "reason": "x"}), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "refused", "{r:#}");
    for bad in [
        json!({"action": "override", "function": "billing", "level": 3, "until": "1h", "reason": "x", "region": "us-east-1"}),
        json!({"action": "override", "function": "billing", "level": 3, "until": "2020-01-01T00:00:00Z", "reason": "x"}),
        json!({"action": "override", "function": "billing", "level": 0, "until": "1h", "reason": "x"}),
        json!({"action": "override", "function": "billing", "level": 3, "until": "30d", "reason": "x"}),
    ] {
        assert!(
            matches!(
                handle_at(bad.clone(), &d, weekday()).await,
                Err(Error::InvalidEvent(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn utilization_scales_idle_aliases_to_the_floor_and_hot_ones_up() {
    let mut c = base_concurrency();
    c["utilization"] = json!({"enabled": true, "window": "15m", "target": 0.5});
    c["targets"] = json!([{"function": "idle", "baseline": 6, "min": 1}, {"function": "hot"}]);
    let mut d = deps_with(c, FakeLambda::with(&["idle", "hot"]));
    d.utilization = FakeUtil(
        [("hot".to_string(), vec![0.4, 0.9])].into_iter().collect(),
        AtomicUsize::new(0),
    );
    d.lambda.set("idle", 6, PcStatus::Ready);
    d.lambda.set("hot", 4, PcStatus::Ready);
    let r = handle_at(tick(), &d, weekend()).await.unwrap();
    assert_eq!(d.lambda.level("idle"), Some((1, PcStatus::Ready)), "{r:#}");
    assert_eq!(d.lambda.level("hot"), Some((8, PcStatus::Ready)), "{r:#}");
    assert_eq!(
        d.utilization.1.load(Ordering::SeqCst),
        1,
        "one GetMetricData for every target"
    );
}

#[tokio::test(start_paused = true)]
async fn hundreds_of_discovered_aliases_only_the_changed_are_written_within_the_rate() {
    let names: Vec<String> = (0..300).map(|i| format!("fn-{i:03}")).collect();
    let mut c = base_concurrency();
    c["targets"] = json!([]);
    c["discovery"] = json!({"tag_key": "controlplane:pc", "tag_value": "managed"});
    c["requests_per_second"] = json!(10);
    c["max_in_flight"] = json!(8);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut d = deps_with(c, FakeLambda::with(&refs));
    d.discovery = FakeTags(names.clone(), AtomicUsize::new(0));
    *d.lambda.unreserved.lock().unwrap() = 2000;
    for (i, n) in names.iter().enumerate() {
        d.lambda
            .set(n, if i % 25 == 0 { 2 } else { 4 }, PcStatus::Ready);
    }
    let start = tokio::time::Instant::now();
    let r = handle_at(tick(), &d, weekday()).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_eq!(
        d.lambda.puts().len(),
        12,
        "only the 12 aliases that differ are written"
    );
    assert_eq!(r["state"]["targets"], 300);
    assert_eq!(r["state"]["unchanged"], 288);
    let calls = d.lambda.calls.load(Ordering::SeqCst) as f64;
    let secs = start.elapsed().as_secs_f64();
    assert!(
        calls / secs <= 10.5,
        "{calls} Lambda calls in {secs}s exceed the 10/s limit"
    );
}

#[tokio::test(start_paused = true)]
async fn an_override_reads_every_target_for_the_shared_headroom_but_changes_one() {
    let d = deps();
    *d.lambda.unreserved.lock().unwrap() = 108; // headroom 8
    d.lambda.set("orders-api", 4, PcStatus::Ready);
    d.lambda.set("billing", 2, PcStatus::Ready); // would go to 4, but is not the one asked
    let r = handle_at(json!({"action": "override", "function": "orders-api", "level": 20, "until": "1h", "reason": "launch"}), &d, weekday())
        .await
        .unwrap();
    assert_eq!(
        d.lambda.puts(),
        vec![("orders-api".to_string(), 6)],
        "{r:#}"
    );
    assert!(row(&r, "orders-api")["why"]["notes"]
        .to_string()
        .contains("headroom"));
    assert_eq!(d.lambda.level("billing"), Some((2, PcStatus::Ready)));
}
