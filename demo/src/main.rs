//! `make demo`: the control plane's real binaries, deployed into the local AWS
//! world, through a failover scenario driven by events and by `ctl` (the scenario
//! is the `demo` library). Prints a timeline and a summary, and exits non-zero if any
//! step misbehaves.

#[tokio::main]
async fn main() {
    println!("== control plane demo: eu-central-1 + us-east-1 against the local AWS world\n");
    let world = testkit::LocalAws::shared().await;
    let suffix = format!("demo{}", chrono::Utc::now().timestamp() % 100_000);
    let report = demo::run(world, &suffix).await;
    println!("\n== summary");
    print!("{}", report.summary());
    std::process::exit(if report.failed().is_empty() { 0 } else { 1 });
}
