//! An in-memory [`World`]: a TXT record with real compare-and-swap, gates that answer
//! as Route 53 does, alarms, provisioned concurrency and logs of what was sent. Used by
//! the unit tests and, behind the `fake` feature, by the in-process benchmark.

use crate::ports::{Capacity, World};
use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::AlarmReading;
use shared::aws::local_store::LocalWrite;
use shared::aws::route53::{CasResult, GateStatus, StateVersion};
use shared::error::AwsErrorKind;
use shared::events::{AlarmState, ControlPlaneDetail, ControlPlaneKind};
use shared::local::{LocalRecord, LocalVersion};
use shared::metrics::MetricBatch;
use shared::probe::ProbeAnswer;
use shared::routing::RoutingState;
use shared::{Region, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An in-memory world: a TXT record with real compare-and-swap, gates, and logs.
pub struct FakeWorld {
    pub record: Mutex<Option<String>>,
    pub thresholds: Mutex<BTreeMap<Region, i32>>,
    pub emitted: Mutex<Vec<(ControlPlaneKind, String)>>,
    pub notices: Mutex<Vec<String>>,
    pub scheduled: Mutex<Vec<String>>,
    pub cancelled: Mutex<Vec<String>>,
    pub swaps: Mutex<u32>,
    /// Swaps to lose on purpose (someone else wrote first).
    pub lose: Mutex<u32>,
    /// Swaps that fail with a throttling error.
    pub throttle: Mutex<u32>,
    /// Swaps that land, then answer a timeout (the answer is lost).
    pub land_then_time_out: Mutex<u32>,
    /// The health alarms as CloudWatch holds them, by name (an unknown name is not found).
    pub alarms: Mutex<BTreeMap<String, AlarmReading>>,
    /// Whether DescribeAlarms fails (CloudWatch unreachable).
    pub alarms_down: Mutex<bool>,
    /// Provisioned concurrency of each region's targets.
    pub capacity: Mutex<BTreeMap<Region, Vec<Capacity>>>,
    /// PutEvents calls to fail.
    pub fail_emits: Mutex<u32>,
    pub now: Mutex<DateTime<Utc>>,
    /// Route 53's control plane does not answer (us-east-1 impaired): its calls time out.
    pub control_plane_down: Mutex<bool>,
    /// The local store's item and version.
    pub local: Mutex<(LocalRecord, LocalVersion)>,
    /// Probe answers by URL (an unknown URL does not answer).
    pub probes: Mutex<BTreeMap<String, ProbeAnswer>>,
    /// Every metric batch published.
    pub published: Mutex<Vec<MetricBatch>>,
    /// Calls that wait at a barrier the first time they are made ("probe",
    /// "read_state", "publish", "gate REGION"): a test that puts one barrier under two
    /// names shows the two calls are in flight together (made one after the other, they
    /// would wait forever).
    pub rendezvous: Mutex<BTreeMap<String, Arc<tokio::sync::Barrier>>>,
}

impl FakeWorld {
    /// A world whose clock stands at `now` (tests move it with [`Self::at`]).
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            record: Mutex::new(None),
            thresholds: Mutex::default(),
            emitted: Mutex::default(),
            notices: Mutex::default(),
            scheduled: Mutex::default(),
            cancelled: Mutex::default(),
            swaps: Mutex::new(0),
            lose: Mutex::new(0),
            throttle: Mutex::new(0),
            land_then_time_out: Mutex::new(0),
            alarms: Mutex::default(),
            alarms_down: Mutex::new(false),
            capacity: Mutex::default(),
            fail_emits: Mutex::new(0),
            now: Mutex::new(now),
            control_plane_down: Mutex::new(false),
            local: Mutex::default(),
            probes: Mutex::default(),
            published: Mutex::default(),
            rendezvous: Mutex::default(),
        }
    }
    /// Waits at the barrier put under `call`, once.
    async fn meet(&self, call: &str) {
        let barrier = self.rendezvous.lock().unwrap().remove(call);
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
    }
    /// One barrier under each of `calls`: every one waits until all are in flight.
    pub fn meet_together(&self, calls: &[&str]) {
        let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
        self.rendezvous
            .lock()
            .unwrap()
            .extend(calls.iter().map(|c| (c.to_string(), barrier.clone())));
    }
    pub fn set_state(&self, state: &RoutingState) {
        *self.record.lock().unwrap() = Some(state.to_txt());
    }
    pub fn set_alarm(&self, region: &str, state: AlarmState, at: DateTime<Utc>) {
        let name = format!("orders-health-{region}");
        let reading = AlarmReading {
            name: name.clone(),
            state,
            since: at,
        };
        self.alarms.lock().unwrap().insert(name, reading);
    }
    pub fn at(&self, now: DateTime<Utc>) -> &Self {
        *self.now.lock().unwrap() = now;
        self
    }
    pub fn state(&self) -> RoutingState {
        self.record
            .lock()
            .unwrap()
            .as_deref()
            .map(|r| RoutingState::from_txt(r).unwrap())
            .unwrap_or_default()
    }
}

/// What Route 53 answers a ChangeResourceRecordSets that fails.
fn swap_error(kind: AwsErrorKind, message: &str) -> shared::Error {
    shared::Error::Aws {
        service: "route53",
        operation: "ChangeResourceRecordSets",
        region: "us-east-1".into(),
        kind,
        message: message.into(),
    }
}

/// What a Route 53 call answers while its control plane is impaired.
fn control_plane_timeout(operation: &'static str) -> shared::Error {
    shared::Error::Aws {
        service: "route53",
        operation,
        region: "us-east-1".into(),
        kind: AwsErrorKind::Timeout,
        message: "timed out".into(),
    }
}

impl FakeWorld {
    fn control_plane(&self, operation: &'static str) -> Result<()> {
        if *self.control_plane_down.lock().unwrap() {
            return Err(control_plane_timeout(operation));
        }
        Ok(())
    }
}

impl World for FakeWorld {
    async fn read_state(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        self.meet("read_state").await;
        self.control_plane("ListResourceRecordSets")?;
        let raw = self.record.lock().unwrap().clone();
        Ok(raw.map(|raw| {
            (
                RoutingState::from_txt(&raw).unwrap(),
                StateVersion { raw, ttl: 60 },
            )
        }))
    }
    async fn swap_state(
        &self,
        expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> Result<CasResult> {
        tokio::task::yield_now().await;
        self.control_plane("ChangeResourceRecordSets")?;
        let mut throttle = self.throttle.lock().unwrap();
        if *throttle > 0 {
            *throttle -= 1;
            return Err(swap_error(AwsErrorKind::Throttling, "Rate exceeded"));
        }
        drop(throttle);
        let mut lose = self.lose.lock().unwrap();
        if *lose > 0 {
            *lose -= 1;
            return Ok(CasResult::Lost);
        }
        // As the Route 53 adapter: a state over one record's limit is never sent.
        let value = new.to_txt_checked().map_err(shared::Error::State)?;
        let mut record = self.record.lock().unwrap();
        if record.as_deref() != expected.map(|v| v.raw.as_str()) {
            return Ok(CasResult::Lost);
        }
        *record = Some(value);
        *self.swaps.lock().unwrap() += 1;
        let mut lost = self.land_then_time_out.lock().unwrap();
        if *lost > 0 {
            *lost -= 1;
            return Err(swap_error(AwsErrorKind::Timeout, "timed out"));
        }
        Ok(CasResult::Swapped)
    }
    async fn gate(&self, region: &Region) -> Result<GateStatus> {
        self.meet(&format!("gate {region}")).await;
        self.control_plane("GetHealthCheck")?;
        Ok(GateStatus {
            health_check_id: format!("gate-{region}"),
            // Two endpoint children, open unless set otherwise.
            health_threshold: *self
                .thresholds
                .lock()
                .unwrap()
                .entry(region.clone())
                .or_insert(2),
            children: vec!["a".into(), "b".into()],
            children_healthy: 2,
            version: 1,
        })
    }
    async fn set_gate(&self, gate: &GateStatus, threshold: i32) -> Result<bool> {
        self.control_plane("UpdateHealthCheck")?;
        let region = Region::parse(gate.health_check_id.trim_start_matches("gate-"))
            .map_err(shared::Error::State)?;
        let mut t = self.thresholds.lock().unwrap();
        Ok(t.insert(region, threshold) != Some(threshold))
    }
    async fn alarm_states(
        &self,
        alarm_region: &Region,
        names: &[String],
    ) -> Result<Vec<AlarmReading>> {
        if *self.alarms_down.lock().unwrap() {
            return Err(shared::Error::Aws {
                service: "cloudwatch",
                operation: "DescribeAlarms",
                region: alarm_region.to_string(),
                kind: AwsErrorKind::Timeout,
                message: "timed out".into(),
            });
        }
        let alarms = self.alarms.lock().unwrap();
        Ok(names
            .iter()
            .filter_map(|n| alarms.get(n).cloned())
            .collect())
    }
    async fn replication_ready(&self, _: &Region, _: Duration) -> Result<Option<f64>> {
        Ok(Some(1.0))
    }
    async fn peer_capacity(&self, region: &Region) -> Result<Vec<Capacity>> {
        Ok(self
            .capacity
            .lock()
            .unwrap()
            .get(region)
            .cloned()
            .unwrap_or_default())
    }
    async fn emit(&self, kind: ControlPlaneKind, detail: &ControlPlaneDetail) -> Result<()> {
        let mut fail = self.fail_emits.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(shared::Error::Aws {
                service: "events",
                operation: "PutEvents",
                region: "eu-central-1".into(),
                kind: AwsErrorKind::Throttling,
                message: "Rate exceeded".into(),
            });
        }
        drop(fail);
        self.emitted
            .lock()
            .unwrap()
            .push((kind, detail.region.clone()));
        Ok(())
    }
    async fn notify(&self, subject: &str, _: &str) -> Result<()> {
        self.notices.lock().unwrap().push(subject.to_string());
        Ok(())
    }
    async fn schedule_drill_end(&self, id: &str, _: DateTime<Utc>, _: &str) -> Result<()> {
        self.scheduled.lock().unwrap().push(id.to_string());
        Ok(())
    }
    async fn cancel_drill_end(&self, id: &str) -> Result<()> {
        self.cancelled.lock().unwrap().push(id.to_string());
        Ok(())
    }
    async fn read_local(&self) -> Result<(LocalRecord, LocalVersion)> {
        Ok(self.local.lock().unwrap().clone())
    }
    async fn write_local(
        &self,
        expected: LocalVersion,
        record: &LocalRecord,
    ) -> Result<LocalWrite> {
        let mut local = self.local.lock().unwrap();
        if local.1 != expected {
            return Ok(LocalWrite::Lost);
        }
        *local = (record.clone(), LocalVersion(expected.0 + 1));
        Ok(LocalWrite::Written(local.1))
    }
    async fn probe(&self, urls: &[String], _: Duration) -> Vec<(String, ProbeAnswer)> {
        self.meet("probe").await;
        let probes = self.probes.lock().unwrap();
        urls.iter()
            .map(|u| {
                let answer = probes
                    .get(u)
                    .cloned()
                    .unwrap_or_else(|| ProbeAnswer::NoAnswer("no answer in 3000 ms".into()));
                (u.clone(), answer)
            })
            .collect()
    }
    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        self.meet("publish").await;
        self.published.lock().unwrap().push(metrics);
        Ok(())
    }
    async fn sleep(&self, _: Duration) {}
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
}
