//! What the function needs from AWS, as one trait: the real adapters are in `aws.rs`,
//! the in-memory fake in the tests.

use chrono::{DateTime, Utc};
use shared::aws::cloudwatch::AlarmReading;
use shared::aws::local_store::LocalWrite;
use shared::aws::route53::{CasResult, GateStatus, StateVersion};
use shared::events::{ControlPlaneDetail, ControlPlaneKind};
use shared::local::{LocalRecord, LocalVersion};
use shared::metrics::MetricBatch;
use shared::probe::ProbeAnswer;
use shared::routing::RoutingState;
use shared::{Region, Result};
use std::future::Future;
use std::time::Duration;

/// Provisioned concurrency of one target: `function:alias`, requested level, status.
pub type Capacity = (String, i32, String);

/// Everything the function touches in AWS, behind one trait so tests pass fakes.
pub trait World: Send + Sync {
    fn read_state(
        &self,
    ) -> impl Future<Output = Result<Option<(RoutingState, StateVersion)>>> + Send;
    fn swap_state(
        &self,
        expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> impl Future<Output = Result<CasResult>> + Send;
    fn gate(&self, region: &Region) -> impl Future<Output = Result<GateStatus>> + Send;
    fn set_gate(
        &self,
        gate: &GateStatus,
        threshold: i32,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The current state of the named alarms living in `alarm_region`.
    fn alarm_states(
        &self,
        alarm_region: &Region,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmReading>>> + Send;
    /// The latest `ReplicationReady` for a destination region within `max_age`: None when stale.
    fn replication_ready(
        &self,
        region: &Region,
        max_age: Duration,
    ) -> impl Future<Output = Result<Option<f64>>> + Send;
    /// Provisioned concurrency of the configured targets in `region`.
    fn peer_capacity(&self, region: &Region) -> impl Future<Output = Result<Vec<Capacity>>> + Send;
    fn emit(
        &self,
        kind: ControlPlaneKind,
        detail: &ControlPlaneDetail,
    ) -> impl Future<Output = Result<()>> + Send;
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
    fn schedule_drill_end(
        &self,
        drill_id: &str,
        at: DateTime<Utc>,
        target_arn: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn cancel_drill_end(&self, drill_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// The local store (this region's DynamoDB item): the empty record at version 0
    /// when there is none.
    fn read_local(&self) -> impl Future<Output = Result<(LocalRecord, LocalVersion)>> + Send;
    /// Writes the local record if it is still at `expected`.
    fn write_local(
        &self,
        expected: LocalVersion,
        record: &LocalRecord,
    ) -> impl Future<Output = Result<LocalWrite>> + Send;
    /// GETs health endpoint URLs, all at once, each within `timeout`.
    fn probe(
        &self,
        urls: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Vec<(String, ProbeAnswer)>> + Send;
    fn publish(&self, metrics: MetricBatch) -> impl Future<Output = Result<()>> + Send;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    fn now(&self) -> DateTime<Utc>;
}

pub use shared::Invocation;
