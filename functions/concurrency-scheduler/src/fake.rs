//! An in-memory [`World`] with Lambda's provisioned-concurrency semantics (a Put is
//! IN_PROGRESS until the next read, the account keeps 100 unreserved), knobs for
//! the failures a run must survive, and a log of what was written. The clock is the
//! test's: set it with [`FakeWorld::at`]. Sleeps are tokio's, so tests with paused
//! time do not wait.

use crate::World;
use chrono::{DateTime, TimeZone, Utc};
use shared::aws::lambda::{AliasInfo, PcConfig, PcStatus};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::error::AwsErrorKind;
use shared::local::LocalRecord;
use shared::metrics::{Metric, MetricBatch};
use shared::routing::RoutingState;
use shared::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One alias per function: the maps are keyed by function name.
pub struct FakeWorld {
    pub now: Mutex<DateTime<Utc>>,
    pub configs: Mutex<BTreeMap<String, PcConfig>>,
    /// function → whether its alias routes by version weights; absent: no alias.
    pub aliases: Mutex<BTreeMap<String, bool>>,
    pub unreserved: Mutex<u32>,
    /// (function, level) that end FAILED.
    pub fail: Mutex<BTreeSet<(String, u32)>>,
    /// Functions whose next Put answers 409.
    pub conflict_once: Mutex<BTreeSet<String>>,
    /// Puts that answer TooManyRequestsException before one goes through.
    pub throttle_puts: AtomicUsize,
    /// Whether a Put answers READY at once (no IN_PROGRESS to follow).
    pub ready_on_put: AtomicBool,
    pub puts: Mutex<Vec<(String, u32)>>,
    /// Lambda calls of every kind.
    pub lambda_calls: AtomicUsize,
    /// What discovery by tag finds.
    pub tagged: Mutex<Vec<String>>,
    /// function → ProvisionedConcurrencyUtilization datapoints.
    pub utilization: Mutex<BTreeMap<String, Vec<f64>>>,
    pub metric_reads: AtomicUsize,
    pub routing: Mutex<Option<RoutingState>>,
    /// Whether the routing state cannot be read (Route 53 unreachable).
    pub routing_down: AtomicBool,
    /// failover's local store in this region (None: not configured).
    pub local: Mutex<Option<LocalRecord>>,
    pub routing_reads: AtomicUsize,
    /// The state document in SSM.
    pub state: Mutex<Option<String>>,
    pub state_saves: AtomicUsize,
    /// Every PutMetricData batch.
    pub published: Mutex<Vec<Vec<Metric>>>,
    /// Every alert: (subject, message).
    pub alerts: Mutex<Vec<(String, String)>>,
}

impl Default for FakeWorld {
    fn default() -> Self {
        Self {
            now: Mutex::new(Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()),
            configs: Mutex::default(),
            aliases: Mutex::default(),
            unreserved: Mutex::new(1000),
            fail: Mutex::default(),
            conflict_once: Mutex::default(),
            throttle_puts: AtomicUsize::new(0),
            ready_on_put: AtomicBool::new(false),
            puts: Mutex::default(),
            lambda_calls: AtomicUsize::new(0),
            tagged: Mutex::default(),
            utilization: Mutex::default(),
            metric_reads: AtomicUsize::new(0),
            routing: Mutex::default(),
            routing_down: AtomicBool::new(false),
            local: Mutex::new(None),
            routing_reads: AtomicUsize::new(0),
            state: Mutex::default(),
            state_saves: AtomicUsize::new(0),
            published: Mutex::default(),
            alerts: Mutex::default(),
        }
    }
}

impl FakeWorld {
    /// The functions' aliases exist (unweighted), with no config yet; 1,000 unreserved.
    pub fn with(functions: &[&str]) -> Self {
        let world = Self::default();
        for f in functions {
            world.aliases.lock().unwrap().insert(f.to_string(), false);
        }
        world
    }

    /// Sets the clock.
    pub fn at(&self, now: DateTime<Utc>) -> &Self {
        *self.now.lock().unwrap() = now;
        self
    }

    pub fn set(&self, function: &str, level: u32, status: PcStatus) {
        self.configs.lock().unwrap().insert(
            function.to_string(),
            PcConfig {
                requested: level,
                allocated: level,
                status,
                reason: None,
            },
        );
    }

    pub fn level(&self, function: &str) -> Option<(u32, PcStatus)> {
        self.configs
            .lock()
            .unwrap()
            .get(function)
            .map(|c| (c.requested, c.status))
    }

    pub fn puts(&self) -> Vec<(String, u32)> {
        self.puts.lock().unwrap().clone()
    }

    fn lambda_call(&self) {
        self.lambda_calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn put_error(kind: AwsErrorKind, message: &str) -> Error {
    Error::Aws {
        service: "lambda",
        operation: "PutProvisionedConcurrencyConfig",
        region: "eu-central-1".into(),
        kind,
        message: message.into(),
    }
}

impl World for FakeWorld {
    async fn provisioned(&self, function: &str, _alias: &str) -> Result<Option<PcConfig>> {
        self.lambda_call();
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

    async fn set_provisioned(&self, function: &str, _alias: &str, level: u32) -> Result<PcConfig> {
        self.lambda_call();
        if self.throttle_puts.load(Ordering::SeqCst) > 0 {
            self.throttle_puts.fetch_sub(1, Ordering::SeqCst);
            return Err(put_error(
                AwsErrorKind::Throttling,
                "TooManyRequestsException: Rate exceeded",
            ));
        }
        if self.conflict_once.lock().unwrap().remove(function) {
            return Err(put_error(
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
            return Err(put_error(
                AwsErrorKind::InvalidRequest,
                "InvalidParameterValueException: decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
            ));
        }
        self.puts
            .lock()
            .unwrap()
            .push((function.to_string(), level));
        let ready = self.ready_on_put.load(Ordering::SeqCst);
        let c = PcConfig {
            requested: level,
            allocated: if ready { level } else { 0 },
            status: if ready {
                PcStatus::Ready
            } else {
                PcStatus::InProgress
            },
            reason: None,
        };
        configs.insert(function.to_string(), c.clone());
        Ok(c)
    }

    async fn unreserved_concurrency(&self) -> Result<u32> {
        self.lambda_call();
        Ok(*self.unreserved.lock().unwrap())
    }

    async fn alias(&self, function: &str, _alias: &str) -> Result<Option<AliasInfo>> {
        self.lambda_call();
        Ok(self
            .aliases
            .lock()
            .unwrap()
            .get(function)
            .map(|weighted| AliasInfo {
                function_version: "3".into(),
                weighted: *weighted,
            }))
    }

    async fn functions_tagged(&self, _key: &str, _value: Option<&str>) -> Result<Vec<String>> {
        Ok(self.tagged.lock().unwrap().clone())
    }

    async fn read_metrics(
        &self,
        queries: &[MetricQuery],
        _start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        self.metric_reads.fetch_add(1, Ordering::SeqCst);
        let points = self.utilization.lock().unwrap();
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: points
                    .get(&q.dimensions[0].1)
                    .map_or(vec![], |v| v.iter().map(|x| (end, *x)).collect()),
            })
            .collect())
    }

    async fn routing_state(&self) -> Result<Option<RoutingState>> {
        self.routing_reads.fetch_add(1, Ordering::SeqCst);
        if self.routing_down.load(Ordering::SeqCst) {
            return Err(Error::State("route53 unreachable".into()));
        }
        Ok(self.routing.lock().unwrap().clone())
    }

    async fn local_routing(&self) -> Result<Option<LocalRecord>> {
        Ok(self.local.lock().unwrap().clone())
    }

    async fn load_state(&self) -> Result<Option<String>> {
        Ok(self.state.lock().unwrap().clone())
    }

    async fn save_state(&self, text: &str) -> Result<()> {
        self.state_saves.fetch_add(1, Ordering::SeqCst);
        *self.state.lock().unwrap() = Some(text.to_string());
        Ok(())
    }

    async fn publish(&self, metrics: MetricBatch) -> Result<()> {
        self.published
            .lock()
            .unwrap()
            .push(metrics.metrics().to_vec());
        Ok(())
    }

    async fn notify(&self, subject: &str, message: &str) -> Result<()> {
        self.alerts
            .lock()
            .unwrap()
            .push((subject.into(), message.into()));
        Ok(())
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
}
