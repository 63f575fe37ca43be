//! `make bench`: cold start, warm latency, peak memory, artifact sizes, API calls
//! per action and the monthly Lambda cost of the control plane, each Rust
//! function side by side with a Python/boto3 peer (`bench/python`). Numbers are
//! measured, never asserted on time: only counts and outcomes are checked.

pub mod budget;
pub mod calls;
pub mod cost;
pub mod fakes;
pub mod inprocess;
pub mod processes;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub use testkit::deploy::FUNCTIONS;

/// How much to measure: the full run, or a smoke run that only proves the harness works.
#[derive(Debug, Clone)]
pub struct Options {
    pub smoke: bool,
    pub cold_starts: usize,
    pub warm_events: usize,
    pub inprocess_events: usize,
    pub ticks: usize,
    /// Where the Rust binaries are (`target/release` by default).
    pub bin_dir: PathBuf,
    /// The Python interpreter of the peer's venv (`.venv-bench/bin/python`).
    pub python: PathBuf,
    /// Aliases (and how many change) in the scheduler's reconcile.
    pub aliases: (usize, usize),
    /// Old and new images in the replication sweep.
    pub images: (usize, usize),
    /// Latency records per region in the large evacuation.
    pub records: usize,
    /// Simulated minutes of the whole-system cost run (`cost`): a day in the full run,
    /// scaled to a 30-day month (a shorter slice is scaled to a day first).
    pub cost_minutes: usize,
    /// Rounds of the recovery-time budget (`budget`): each runs every path once.
    /// The two regions' hourly cap allows 38 alarm evacuations an hour at most.
    pub budget_rounds: usize,
    /// Rounds of the budget's region outage, each in a topology of its own.
    pub outage_rounds: usize,
}

impl Options {
    pub fn full() -> Self {
        let root = testkit::repo_root();
        Self {
            smoke: false,
            cold_starts: 25,
            warm_events: 1000,
            inprocess_events: 5000,
            ticks: 30,
            bin_dir: root.join("target/release"),
            python: root.join(".venv-bench/bin/python"),
            aliases: (500, 20),
            images: (5000, 10),
            records: 200,
            cost_minutes: 1440,
            budget_rounds: 30,
            outage_rounds: 5,
        }
    }

    pub fn smoke() -> Self {
        Self {
            smoke: true,
            cold_starts: 2,
            warm_events: 20,
            inprocess_events: 50,
            ticks: 2,
            aliases: (30, 3),
            images: (300, 3),
            records: 20,
            cost_minutes: 10,
            budget_rounds: 1,
            outage_rounds: 1,
            ..Self::full()
        }
    }

    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Median, p90 and friends of a sample, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Self {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        if us.is_empty() {
            return Self::default();
        }
        us.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
        Self {
            n: us.len(),
            median: at(0.5),
            p90: at(0.9),
            min: us[0],
            max: us[us.len() - 1],
            mean: us.iter().sum::<f64>() / us.len() as f64,
        }
    }

    pub fn json(&self) -> Value {
        json!({"n": self.n, "median_us": round(self.median), "p90_us": round(self.p90),
               "min_us": round(self.min), "max_us": round(self.max), "mean_us": round(self.mean)})
    }
}

pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A process's peak resident set (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Sizes of the release binaries and, when present, the Lambda zips.
pub fn sizes(options: &Options) -> Value {
    let root = testkit::repo_root();
    let size = |p: PathBuf| std::fs::metadata(&p).ok().map(|m| m.len());
    let mut out = serde_json::Map::new();
    for name in FUNCTIONS {
        let zip = root.join("target/lambda").join(name).join("bootstrap.zip");
        out.insert(
            name.to_string(),
            json!({
                "binary_bytes": size(options.binary(name)),
                "binary_path": options.binary(name).display().to_string(),
                "zip_bytes": size(zip.clone()),
                "zip_path": zip.display().to_string(),
            }),
        );
    }
    out.into()
}

/// The machine the numbers came from.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = mem
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    json!({
        "cpu": model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "memory_gib": mem_kib.map(|k| round(k as f64 / 1024.0 / 1024.0)),
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
        "load_average_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

/// Lambda prices (us-east-1 and eu-central-1 list prices, arm64) and the control
/// plane's default deployment: 3 functions in 2 regions, in a dev and a prod account,
/// 256 MB each, on the schedules of `infra/modules/control-plane`.
pub const PRICE_PER_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
pub const PRICE_PER_REQUEST: f64 = 0.000_000_2;
pub const MEMORY_MB: f64 = 256.0;
pub const COPIES: f64 = 4.0; // 2 regions x 2 environments
pub const MINUTES_PER_MONTH: f64 = 30.0 * 24.0 * 60.0;

pub fn schedule_minutes(function: &str) -> f64 {
    match function {
        "failover" => 1.0,
        _ => 5.0,
    }
}

/// Monthly cost per function from the measured billed durations (ms, rounded up
/// to the next millisecond as Lambda bills) of a warm tick and of a cold start.
pub fn cost(function: &str, warm_ms: f64, init_ms: f64) -> Value {
    let invocations = MINUTES_PER_MONTH / schedule_minutes(function) * COPIES;
    let gb = MEMORY_MB / 1024.0;
    let monthly = |billed_ms: f64| {
        invocations
            * (billed_ms.ceil() / 1000.0 * gb * PRICE_PER_GB_SECOND_ARM64 + PRICE_PER_REQUEST)
    };
    json!({
        "schedule": format!("rate({} minute{})", schedule_minutes(function), if schedule_minutes(function) > 1.0 { "s" } else { "" }),
        "invocations_per_month": invocations,
        "billed_warm_ms": warm_ms.ceil(),
        "billed_cold_ms": (warm_ms + init_ms).ceil(),
        "usd_per_month_warm": (monthly(warm_ms) * 100.0).round() / 100.0,
        "usd_per_month_all_cold": (monthly(warm_ms + init_ms) * 100.0).round() / 100.0,
    })
}

/// What a run must show whatever the machine: outcomes and counts, never times.
pub fn checks(results: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for row in results["inprocess"].as_array().into_iter().flatten() {
        if row["outcome"].is_null() {
            failures.push(format!(
                "in-process {} / {}: no outcome",
                row["function"], row["event"]
            ));
        }
    }
    for p in results["processes"].as_array().into_iter().flatten() {
        if p["outcome"]["rust"] != p["outcome"]["python"] {
            failures.push(format!(
                "{}: outcomes differ: {}",
                p["function"], p["outcome"]
            ));
        }
        if p["same_calls"] != true {
            failures.push(format!(
                "{}: the Python peer's AWS calls differ: {}",
                p["function"], p["calls_per_event"]
            ));
        }
    }
    failures.extend(calls_checks(&results["calls"]));
    if let Some(e) = results["budget"]["error"].as_str() {
        failures.push(format!("recovery-time budget: {e}"));
    }
    let sim = &results["monthly_cost"]["simulation"];
    if !sim.is_null() {
        if sim["throttled"].as_u64() != Some(0) {
            failures.push(format!(
                "cost simulation: calls throttled: {}",
                sim["throttled"]
            ));
        }
        for (function, outcomes) in sim["outcomes"].as_object().into_iter().flatten() {
            if outcomes.get("failed").is_some() {
                failures.push(format!(
                    "cost simulation: {function} ticks failed: {outcomes}"
                ));
            }
        }
    }
    failures
}

/// The API-call targets: evacuation independent of the record count, the sweep
/// growing with new images only, the reconcile writing only the changed aliases.
pub fn calls_checks(calls: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let e = &calls["evacuation"];
    if e["same_count"] != true {
        failures.push(format!("evacuation calls depend on the record count: {e}"));
    }
    for run in e["runs"].as_array().into_iter().flatten() {
        if run["outcome"] != "applied" {
            failures.push(format!("evacuation not applied: {run}"));
        }
    }
    let r = &calls["replication"];
    if r["status_calls_grow_with_new_only"] != true {
        failures.push(format!(
            "replication status calls do not follow the new images: {r}"
        ));
    }
    let c = &calls["reconcile"];
    if c["writes_only_changed"] != true {
        failures.push(format!(
            "reconcile wrote {} aliases, {} changed",
            c["writes"], c["changed"]
        ));
    }
    failures
}
