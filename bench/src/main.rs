//! `make bench`: every benchmark in one run, printed as tables, the raw results
//! written as JSON (`--out`, default docs/bench/results.json; the smoke run
//! writes nowhere unless asked).
//!
//! bench [--smoke] [--out PATH] [--bin-dir DIR] [--only cost|budget] [--cost-minutes N]
//!     [--budget-rounds N] [--outage-rounds N]
//!
//! `--only cost` runs the whole-system monthly cost alone (bench/src/cost.rs) in a
//! local AWS world of its own and writes docs/bench/cost.json (or `--out`); the Lambda
//! durations it bills are then docs/bench/results.json's. `--only budget` runs the
//! recovery-time budget alone (bench/src/budget.rs) and writes docs/bench/budget.json
//! (or `--out`).

use bench::{processes::Peer, Options, FUNCTIONS};
use serde_json::{json, Value};
use testkit::topology::{Spec, Topology};
use testkit::LocalAws;

fn usage() -> ! {
    eprintln!(
        "usage: bench [--smoke] [--out PATH] [--bin-dir DIR] [--only cost|budget] [--cost-minutes N] [--budget-rounds N] [--outage-rounds N]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut options = Options::full();
    let mut out = None;
    let mut bin_dir = None;
    let mut inprocess_to = None;
    let mut only = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => options = Options::smoke(),
            "--inprocess-to" => inprocess_to = Some(args.next().unwrap_or_else(|| usage())),
            "--out" => out = Some(args.next().unwrap_or_else(|| usage())),
            "--bin-dir" => bin_dir = Some(args.next().unwrap_or_else(|| usage())),
            "--only" => only = Some(args.next().unwrap_or_else(|| usage())),
            "--cost-minutes" => {
                options.cost_minutes = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--budget-rounds" => {
                options.budget_rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=38).contains(n))
                    .unwrap_or_else(|| usage())
            }
            "--outage-rounds" => {
                options.outage_rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    if let Some(dir) = bin_dir {
        options.bin_dir = dir.into();
    }
    if let Some(path) = inprocess_to {
        // The child of `run`: the handlers log their decision lines to stdout.
        let rows = bench::inprocess::run(&options).await;
        std::fs::write(path, rows.to_string()).expect("write in-process results");
        return;
    }
    match only.as_deref() {
        None => {}
        Some("cost") => return only_cost(&options, out).await,
        Some("budget") => return only_budget(&options, out).await,
        Some(_) => usage(),
    }
    if out.is_none() && !options.smoke {
        out = Some(
            testkit::repo_root()
                .join("docs/bench/results.json")
                .display()
                .to_string(),
        );
    }
    let results = run(&options).await;
    print_tables(&results);
    if let Some(path) = out {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir).expect("results directory");
        }
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&results).expect("JSON") + "\n",
        )
        .expect("write results");
        println!("\nraw results: {path}");
    }
    let failures = bench::checks(&results);
    for f in &failures {
        println!("CHECK FAILED: {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

/// `--only cost`: the whole-system monthly cost in a local AWS world of its own.
async fn only_cost(options: &bench::Options, out: Option<String>) {
    for name in FUNCTIONS {
        if !options.binary(name).exists() {
            eprintln!(
                "{} is missing: build it first",
                options.binary(name).display()
            );
            std::process::exit(2);
        }
    }
    let started = chrono::Utc::now();
    let run = format!("{}", started.timestamp() % 100_000);
    let world = LocalAws::start().await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "whole-system cost: {} simulated minutes of both regions' ticks ...",
        options.cost_minutes
    );
    let cost = monthly_cost(options, &world, &run, None).await;
    bench::cost::print(&cost);
    let path = out.unwrap_or_else(|| {
        testkit::repo_root()
            .join("docs/bench/cost.json")
            .display()
            .to_string()
    });
    let doc = json!({"started_at": started.to_rfc3339(), "mode": if options.smoke { "smoke" } else { "full" },
                     "machine": bench::machine(), "monthly_cost": cost});
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("JSON") + "\n",
    )
    .expect("write cost results");
    println!("\nraw results: {path}");
}

/// `--only budget`: the recovery-time budget in a local AWS world of its own.
async fn only_budget(options: &bench::Options, out: Option<String>) {
    require_binaries(options);
    let started = chrono::Utc::now();
    let run = format!("{}", started.timestamp() % 100_000);
    let world = LocalAws::start().await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "recovery-time budget: {} rounds of every path ...",
        options.budget_rounds
    );
    let budget = bench::budget::run(options, &world, &run).await;
    bench::budget::print(&budget);
    let path = out.unwrap_or_else(|| {
        testkit::repo_root()
            .join("docs/bench/budget.json")
            .display()
            .to_string()
    });
    let doc = json!({"started_at": started.to_rfc3339(), "mode": if options.smoke { "smoke" } else { "full" },
                     "machine": bench::machine(), "budget": budget});
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("JSON") + "\n",
    )
    .expect("write budget results");
    println!("\nraw results: {path}");
    if let Some(e) = budget["error"].as_str() {
        println!("CHECK FAILED: recovery-time budget: {e}");
        std::process::exit(1);
    }
}

/// The simulation priced with the warm tick durations of `results` (this run's) or of
/// docs/bench/results.json.
async fn monthly_cost(
    options: &bench::Options,
    world: &LocalAws,
    run: &str,
    results: Option<&Value>,
) -> Value {
    let simulation = bench::cost::simulate(options, world, run).await;
    let warm = bench::cost::warm_ms(results);
    let priced = bench::cost::price_month(&simulation, &warm);
    json!({"simulation": simulation, "warm_ms": warm, "priced": priced})
}

/// The in-process part runs in a child process whose stdout (the handlers'
/// decision lines, thousands of them) goes nowhere.
fn inprocess(options: &Options) -> Value {
    let path = std::env::temp_dir().join(format!("bench-inprocess-{}.json", std::process::id()));
    let mut command = std::process::Command::new(std::env::current_exe().expect("own path"));
    if options.smoke {
        command.arg("--smoke");
    }
    let status = command
        .arg("--inprocess-to")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("in-process run starts");
    assert!(status.success(), "the in-process run failed: {status}");
    let text = std::fs::read_to_string(&path).expect("in-process results");
    let _ = std::fs::remove_file(&path);
    serde_json::from_str(&text).expect("in-process results are JSON")
}

/// Exits (2) naming the first of the functions and ctl missing from the bin dir.
fn require_binaries(options: &Options) {
    for name in FUNCTIONS.iter().chain(&["ctl"]) {
        if !options.binary(name).exists() {
            eprintln!(
                "{} is missing: build it first (cargo build --release)",
                options.binary(name).display()
            );
            std::process::exit(2);
        }
    }
}

async fn run(options: &Options) -> Value {
    require_binaries(options);
    if let Err(e) = bench::processes::python_ready(options) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let started = chrono::Utc::now();
    let run = format!("{}", started.timestamp() % 100_000);
    eprintln!(
        "in-process handler work ({} events each) ...",
        options.inprocess_events
    );
    let inprocess = inprocess(options);

    // A local AWS world of this run's own, so no one else's calls are counted.
    let world = Box::leak(Box::new(
        LocalAws::start().await.unwrap_or_else(|e| panic!("{e}")),
    ));
    let topology = Topology::create(world, Spec::new(&format!("bench-{run}")))
        .await
        .expect("topology");
    let peer = Peer {
        options,
        world,
        topology: &topology,
        config: topology.config(),
    };
    let mut processes = Vec::new();
    for name in FUNCTIONS {
        eprintln!(
            "{name}: {} cold starts of each runtime, {} warm events ...",
            options.cold_starts, options.warm_events
        );
        processes.push(peer.compare(name).await);
    }
    let mut ticks = Vec::new();
    for name in FUNCTIONS {
        eprintln!(
            "{name}: {} warm ticks against the local AWS world ...",
            options.ticks
        );
        ticks.push(peer.ticks(name).await);
    }
    eprintln!("API calls: evacuation ...");
    let evacuation = bench::calls::evacuation(options, world, &run).await;
    eprintln!(
        "API calls: replication sweep ({} old images) ...",
        options.images.0
    );
    let replication = bench::calls::replication(options, world, &run).await;
    eprintln!(
        "API calls: reconcile of {} aliases under the Lambda quota ...",
        options.aliases.0
    );
    let reconcile = bench::calls::reconcile(options, world, &run).await;

    eprintln!(
        "recovery-time budget: {} rounds of every path ...",
        options.budget_rounds
    );
    let budget = bench::budget::run(options, world, &run).await;

    eprintln!(
        "whole-system cost: {} simulated minutes of both regions' ticks ...",
        options.cost_minutes
    );
    let monthly_cost = monthly_cost(
        options,
        world,
        &run,
        Some(&json!({ "ticks": ticks.clone() })),
    )
    .await;

    let cost: Vec<Value> = FUNCTIONS
        .iter()
        .zip(&ticks)
        .zip(&processes)
        .map(|((name, tick), p)| {
            let warm_ms = tick["latency"]["median_us"].as_f64().unwrap_or(0.0) / 1000.0;
            let init_ms = p["cold_start"]["rust"]["median_us"].as_f64().unwrap_or(0.0) / 1000.0;
            let mut row = bench::cost(name, warm_ms, init_ms);
            row["function"] = json!(name);
            row
        })
        .collect();

    json!({
        "started_at": started.to_rfc3339(),
        "mode": if options.smoke { "smoke" } else { "full" },
        "machine": bench::machine(),
        "options": format!("{options:?}"),
        "sizes": bench::sizes(options),
        "inprocess": inprocess,
        "processes": processes,
        "ticks": ticks,
        "calls": {"evacuation": evacuation, "replication": replication, "reconcile": reconcile},
        "cost": cost,
        "budget": budget,
        "monthly_cost": monthly_cost,
    })
}

fn ms(us: &Value) -> String {
    us.as_f64()
        .map(|v| format!("{:.1}", v / 1000.0))
        .unwrap_or_else(|| "-".into())
}

fn mib(kib: &Value) -> String {
    kib.as_f64()
        .map(|v| format!("{:.1}", v / 1024.0))
        .unwrap_or_else(|| "-".into())
}

/// Rust's and Python's p50 and p90 (ms): the columns both process tables share.
fn percentiles(rust: &Value, python: &Value) -> [String; 4] {
    [
        ms(&rust["median_us"]),
        ms(&rust["p90_us"]),
        ms(&python["median_us"]),
        ms(&python["p90_us"]),
    ]
}

fn print_tables(r: &Value) {
    println!("\nmachine: {}", r["machine"]);
    println!(
        "\n== init: spawn to the first /next request (ms, what Lambda bills as Init Duration), {} starts each",
        r["processes"][0]["init"]["rust"]["n"]
    );
    println!(
        "{:<22} {:>9} {:>9} {:>11} {:>11} {:>8}",
        "function", "rust p50", "rust p90", "python p50", "python p90", "ratio"
    );
    for p in r["processes"].as_array().into_iter().flatten() {
        let [r50, r90, py50, py90] = [
            &p["init"]["rust"]["median_us"],
            &p["init"]["rust"]["p90_us"],
            &p["init"]["python"]["median_us"],
            &p["init"]["python"]["p90_us"],
        ]
        .map(|us| {
            us.as_f64()
                .map(|v| format!("{:.2}", v / 1000.0))
                .unwrap_or_else(|| "-".into())
        });
        println!(
            "{:<22} {r50:>9} {r90:>9} {py50:>11} {py90:>11} {:>7}x",
            p["function"].as_str().unwrap_or(""),
            p["init_ratio_median"].to_string(),
        );
    }
    println!(
        "\n== cold start: spawn to first response (ms), {} starts each",
        r["processes"][0]["cold_start"]["rust"]["n"]
    );
    println!(
        "{:<22} {:>9} {:>9} {:>11} {:>11} {:>8}  peak RSS rust / python (MiB)",
        "function", "rust p50", "rust p90", "python p50", "python p90", "ratio"
    );
    for p in r["processes"].as_array().into_iter().flatten() {
        let [r50, r90, py50, py90] =
            percentiles(&p["cold_start"]["rust"], &p["cold_start"]["python"]);
        println!(
            "{:<22} {r50:>9} {r90:>9} {py50:>11} {py90:>11} {:>7}x  {} / {}",
            p["function"].as_str().unwrap_or(""),
            p["cold_start_ratio_median"].to_string(),
            mib(&p["warm"]["rust"]["peak_rss_kib"]),
            mib(&p["warm"]["python"]["peak_rss_kib"]),
        );
    }
    println!("\n== warm invoke through the Runtime API emulator (ms)");
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>11} {:>11}  same AWS calls",
        "function", "n", "rust p50", "rust p90", "python p50", "python p90"
    );
    for p in r["processes"].as_array().into_iter().flatten() {
        let w = &p["warm"];
        let [r50, r90, py50, py90] = percentiles(&w["rust"]["latency"], &w["python"]["latency"]);
        println!(
            "{:<22} {:>6} {r50:>9} {r90:>9} {py50:>11} {py90:>11}  {}",
            p["function"].as_str().unwrap_or(""),
            w["rust"]["latency"]["n"],
            p["same_calls"],
        );
    }
    println!("\n== the handler's own work, in process with in-memory AWS (us)");
    println!(
        "{:<22} {:<50} {:>6} {:>8} {:>8}  outcome",
        "function", "event", "n", "p50", "p90"
    );
    for row in r["inprocess"].as_array().into_iter().flatten() {
        println!(
            "{:<22} {:<50} {:>6} {:>8} {:>8}  {}",
            row["function"].as_str().unwrap_or(""),
            row["event"].as_str().unwrap_or(""),
            row["stats"]["n"],
            row["stats"]["median_us"],
            row["stats"]["p90_us"],
            row["outcome"],
        );
    }
    println!("\n== sizes (bytes)");
    for name in FUNCTIONS {
        let s = &r["sizes"][name];
        println!(
            "{:<22} binary {:>10}  zip {:>10}",
            name, s["binary_bytes"], s["zip_bytes"]
        );
    }
    println!("\n== warm scheduled ticks against the local AWS world (ms)");
    for t in r["ticks"].as_array().into_iter().flatten() {
        println!(
            "{:<22} p50 {:>7} p90 {:>7}  calls/tick {}",
            t["function"].as_str().unwrap_or(""),
            ms(&t["latency"]["median_us"]),
            ms(&t["latency"]["p90_us"]),
            t["calls_per_tick"],
        );
    }
    let c = &r["calls"];
    println!("\n== API calls per action");
    for run in c["evacuation"]["runs"].as_array().into_iter().flatten() {
        println!(
            "evacuation, {:>4} records/region: {:>3} calls  {}",
            run["records_per_region"], run["total"], run["calls"]
        );
    }
    println!("  same count: {}", c["evacuation"]["same_count"]);
    for run in c["replication"]["runs"].as_array().into_iter().flatten() {
        println!(
            "replication sweep, {:<18}: {:>3} calls  {}",
            run["images"].as_str().unwrap_or(""),
            run["total"],
            run["calls"]
        );
    }
    println!(
        "  status calls grow with the new images only: {}",
        c["replication"]["status_calls_grow_with_new_only"]
    );
    let rc = &c["reconcile"];
    println!(
        "reconcile {} aliases, {} changed: {} writes, {} Lambda calls ({} throttled) in {} s; quota minimum {} s",
        rc["aliases"], rc["changed"], rc["writes"], rc["lambda_calls_total"], rc["throttled"], rc["seconds"], rc["quota_minimum_seconds"]
    );
    println!(
        "\n== monthly Lambda cost, arm64, 256 MB, 3 functions x 2 regions x 2 environments (USD)"
    );
    println!(
        "{:<22} {:<18} {:>12} {:>10} {:>10} {:>10} {:>12}",
        "function", "schedule", "invocations", "warm ms", "cold ms", "warm $", "all-cold $"
    );
    let mut sum = (0.0, 0.0);
    for row in r["cost"].as_array().into_iter().flatten() {
        sum.0 += row["usd_per_month_warm"].as_f64().unwrap_or(0.0);
        sum.1 += row["usd_per_month_all_cold"].as_f64().unwrap_or(0.0);
        println!(
            "{:<22} {:<18} {:>12} {:>10} {:>10} {:>10} {:>12}",
            row["function"].as_str().unwrap_or(""),
            row["schedule"].as_str().unwrap_or(""),
            row["invocations_per_month"],
            row["billed_warm_ms"],
            row["billed_cold_ms"],
            row["usd_per_month_warm"],
            row["usd_per_month_all_cold"],
        );
    }
    println!(
        "{:<22} {:<18} {:>12} {:>10} {:>10} {:>10.2} {:>12.2}",
        "total", "", "", "", "", sum.0, sum.1
    );
    if !r["budget"].is_null() {
        bench::budget::print(&r["budget"]);
    }
    if !r["monthly_cost"].is_null() {
        bench::cost::print(&r["monthly_cost"]);
    }
}
