//! Whole processes under the Runtime API emulator: each Rust binary and its
//! Python peer (`bench/python`, boto3 under awslambdaric) started again and again
//! for the cold start (spawn to first response), kept warm for per-event latency,
//! and measured for peak RSS; plus warm scheduled ticks against the local AWS
//! world, whose durations the cost table bills.

use super::{peak_rss_kib, round, Options, Stats};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::runtime::FunctionProcess;
use testkit::topology::Topology;
use testkit::{LocalAws, PRIMARY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Rust,
    Python,
}

impl Runtime {
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Rust => "rust",
            Runtime::Python => "python",
        }
    }
}

/// The event each function handles in the cold-start and warm runs: the smallest
/// thing it fully handles. failover and replication-monitor answer theirs with no
/// AWS call; the scheduler's `plan` reads what it must (the Python peer makes the
/// same calls; the run checks it).
pub fn event(function: &str) -> Value {
    match function {
        "failover" => super::inprocess::alarm("orders-health-not-mapped", "ALARM"),
        "replication-monitor" => testkit::fixture("ecr-image-action.json"),
        _ => json!({"action": "plan"}),
    }
}

pub struct Peer<'a> {
    pub options: &'a Options,
    pub world: &'a LocalAws,
    pub topology: &'a Topology,
    pub config: Value,
}

impl Peer<'_> {
    pub async fn spawn(&self, function: &str, runtime: Runtime) -> FunctionProcess {
        let mut env = self
            .world
            .function_env(&self.topology.spec.account, PRIMARY);
        env.push(("CONTROL_PLANE_CONFIG".into(), self.config.to_string()));
        let binary = match runtime {
            Runtime::Rust => self.options.binary(function),
            Runtime::Python => {
                env.push((
                    "BENCH_PYTHON".into(),
                    self.options.python.display().to_string(),
                ));
                env.push((
                    "_HANDLER".into(),
                    format!("{}.handler", function.replace('-', "_")),
                ));
                testkit::repo_root().join("bench/python/bootstrap")
            }
        };
        FunctionProcess::spawn(&binary, function, &env)
            .await
            .unwrap_or_else(|e| panic!("{function} ({}) does not start: {e}", runtime.label()))
    }

    async fn invoke(&self, f: &mut FunctionProcess, event: Value, runtime: Runtime) -> Value {
        match f.invoke_with_timeout(event, Duration::from_secs(120)).await {
            Ok(reply) => reply.ok().unwrap_or_else(|e| {
                panic!(
                    "{} ({}) failed: {e}\n{}",
                    f.name,
                    runtime.label(),
                    f.output().join("\n")
                )
            }),
            Err(e) => panic!(
                "{} ({}): {e}\n{}",
                f.name,
                runtime.label(),
                f.output().join("\n")
            ),
        }
    }

    /// The AWS calls (service:operation -> count) made since `seq`.
    pub async fn calls_since(&self, seq: u64) -> BTreeMap<String, u64> {
        super::calls::calls_since(self.world, seq, None).await.0
    }

    pub async fn last_seq(&self) -> u64 {
        super::calls::last_seq(self.world).await
    }

    /// Cold starts of both runtimes, interleaved so drift hits both alike; then
    /// one warm process of each for `warm_events` events; peak RSS of each.
    pub async fn compare(&self, function: &str) -> Value {
        let event = event(function);
        let mut cold: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut init: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut cold_rss: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        let mut first: BTreeMap<&str, Value> = BTreeMap::new();
        let mut calls: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
        for i in 0..self.options.cold_starts {
            for runtime in [Runtime::Rust, Runtime::Python] {
                let seq = self.last_seq().await;
                let start = Instant::now();
                let mut f = self.spawn(function, runtime).await;
                let answer = self.invoke(&mut f, event.clone(), runtime).await;
                let elapsed = start.elapsed();
                if let Some(took) = f.init_duration() {
                    init.entry(runtime.label()).or_default().push(took);
                }
                if let Some(kib) = f.pid().and_then(peak_rss_kib) {
                    cold_rss.entry(runtime.label()).or_default().push(kib);
                }
                f.stop().await;
                cold.entry(runtime.label()).or_default().push(elapsed);
                if i == 0 {
                    calls.insert(runtime.label(), self.calls_since(seq).await);
                    first.insert(runtime.label(), answer);
                }
            }
        }
        let mut warm = BTreeMap::new();
        for runtime in [Runtime::Rust, Runtime::Python] {
            let mut f = self.spawn(function, runtime).await;
            self.invoke(&mut f, event.clone(), runtime).await;
            let mut samples = Vec::with_capacity(self.options.warm_events);
            for _ in 0..self.options.warm_events {
                let start = Instant::now();
                self.invoke(&mut f, event.clone(), runtime).await;
                samples.push(start.elapsed());
            }
            let rss = f.pid().and_then(peak_rss_kib);
            f.stop().await;
            warm.insert(
                runtime.label(),
                json!({"latency": Stats::of(&samples).json(), "peak_rss_kib": rss}),
            );
        }
        let stats = |r: &str| Stats::of(&cold[r]);
        let init_stats = |r: &str| Stats::of(&init[r]);
        let median_rss = |r: &str| {
            let mut v = cold_rss.get(r).cloned().unwrap_or_default();
            v.sort_unstable();
            v.get(v.len() / 2).copied()
        };
        json!({
            "function": function,
            "event": event_label(function),
            "outcome": {"rust": first["rust"]["outcome"], "python": first["python"]["outcome"]},
            "calls_per_event": {"rust": calls["rust"], "python": calls["python"]},
            "same_calls": calls["rust"] == calls["python"],
            "cold_start": {"rust": stats("rust").json(), "python": stats("python").json()},
            "cold_start_ratio_median": round(stats("python").median / stats("rust").median),
            "cold_start_ratio_p90": round(stats("python").p90 / stats("rust").p90),
            "init": {"rust": init_stats("rust").json(), "python": init_stats("python").json()},
            "init_ratio_median": round(init_stats("python").median / init_stats("rust").median),
            "init_ratio_p90": round(init_stats("python").p90 / init_stats("rust").p90),
            "peak_rss_kib_after_first_event": {"rust": median_rss("rust"), "python": median_rss("python")},
            "warm": warm,
        })
    }

    /// Warm scheduled ticks of the Rust function against the local AWS world:
    /// what Lambda bills every few minutes.
    pub async fn ticks(&self, function: &str) -> Value {
        let mut f = self.spawn(function, Runtime::Rust).await;
        let tick = json!({"task": "tick", "schedule_arn": format!("arn:aws:scheduler:{PRIMARY}:{}:schedule/default/{function}-tick", self.topology.spec.account)});
        let first = self.invoke(&mut f, tick.clone(), Runtime::Rust).await;
        let seq = self.last_seq().await;
        let mut samples = Vec::new();
        let mut outcome = first["outcome"].clone();
        for _ in 0..self.options.ticks {
            let start = Instant::now();
            let out = self.invoke(&mut f, tick.clone(), Runtime::Rust).await;
            samples.push(start.elapsed());
            outcome = out["outcome"].clone();
        }
        let calls = self.calls_since(seq).await;
        let per_tick: BTreeMap<String, f64> = calls
            .into_iter()
            .map(|(k, v)| (k, round(v as f64 / self.options.ticks.max(1) as f64)))
            .collect();
        let rss = f.pid().and_then(peak_rss_kib);
        f.stop().await;
        json!({"function": function, "outcome": outcome, "latency": Stats::of(&samples).json(),
               "calls_per_tick": per_tick, "peak_rss_kib": rss})
    }
}

fn event_label(function: &str) -> &'static str {
    match function {
        "failover" => "CloudWatch alarm state change (EventBridge), alarm not mapped: refused, 1 SNS notice",
        "replication-monitor" => "ECR Image Action PUSH of an unwatched repository: ignored, 0 AWS calls",
        _ => "{\"action\":\"plan\"}: reads state, routing, account, alias and its provisioned concurrency",
    }
}

pub fn python_ready(options: &Options) -> Result<PathBuf, String> {
    if options.python.exists() {
        Ok(options.python.clone())
    } else {
        Err(format!(
            "{} is missing: `make bench` installs the Python peer's venv (bench/requirements.txt)",
            options.python.display()
        ))
    }
}
