//! The demo scenario: the control plane's real binaries, deployed into the local
//! AWS world (one copy per region, reachable through Lambda `Invoke`), driven
//! through a failover by real event payloads and by the operator's `ctl`.
//! `make demo` prints it; the end-to-end tests run it and require every step green.

use crate::deploy::{self, CtlRun, Deployment};
use crate::runtime::{FunctionProcess, Reply};
use crate::topology::{Spec, Topology};
use crate::{fixture, LocalAws, PRIMARY, SECONDARY};
use serde_json::{json, Value};
use std::time::Instant;

/// One step of the scenario and whether it behaved as expected.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub ms: u128,
}

#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn failed(&self) -> Vec<&Step> {
        self.steps.iter().filter(|s| !s.ok).collect()
    }

    /// The closing summary table.
    pub fn summary(&self) -> String {
        let mut out = format!("{:<48} {:<6} {:>8}\n", "step", "result", "ms");
        for s in &self.steps {
            out.push_str(&format!(
                "{:<48} {:<6} {:>8}\n",
                s.name,
                if s.ok { "ok" } else { "FAIL" },
                s.ms
            ));
        }
        let failed = self.failed().len();
        out.push_str(&format!(
            "\n{} passed, {} failed\n",
            self.steps.len() - failed,
            failed
        ));
        out
    }
}

struct Run {
    started: Instant,
    report: Report,
}

impl Run {
    fn step(&mut self, name: &str, ok: bool, detail: String, since: Instant) {
        let ms = since.elapsed().as_millis();
        println!(
            "[{:>6.1}s] {} {name}: {detail} ({ms} ms)",
            self.started.elapsed().as_secs_f64(),
            if ok { "ok  " } else { "FAIL" }
        );
        self.report.steps.push(Step {
            name: name.to_string(),
            ok,
            detail,
            ms,
        });
    }

    /// Runs `ctl`, prints what it printed under the step, and records the step.
    async fn ctl(
        &mut self,
        name: &str,
        env: &[(String, String)],
        args: &[&str],
        expect: impl Fn(&CtlRun) -> bool,
    ) -> Option<CtlRun> {
        let t = Instant::now();
        match deploy::ctl(env, args).await {
            Ok(run) => {
                let ok = expect(&run);
                let first = run
                    .stdout
                    .lines()
                    .next()
                    .or(run.stderr.lines().next())
                    .unwrap_or("")
                    .to_string();
                self.step(
                    name,
                    ok,
                    format!("$ ctl {} → exit {}: {first}", args.join(" "), run.code),
                    t,
                );
                for line in run.stdout.lines().skip(1).chain(run.stderr.lines()) {
                    println!("           │ {line}");
                }
                Some(run)
            }
            Err(e) => {
                self.step(name, false, e, t);
                None
            }
        }
    }
}

async fn invoke(f: &mut FunctionProcess, payload: Value) -> Value {
    match f.invoke(payload).await {
        Ok(Reply::Ok(v)) => v,
        Ok(Reply::Error {
            error_type,
            error_message,
        }) => json!({"outcome": "error", "reason": format!("{error_type}: {error_message}")}),
        Err(e) => json!({"outcome": "error", "reason": e}),
    }
}

fn said(v: &Value) -> String {
    format!(
        "{} — {}",
        v["outcome"].as_str().unwrap_or("?"),
        v["reason"].as_str().unwrap_or("")
    )
}

/// The table row of `region` in `ctl status` text output.
fn row<'a>(run: &'a CtlRun, region: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.starts_with(region))
        .unwrap_or("")
}

/// Delivers the control-plane events put since `seen` to the concurrency-scheduler
/// of the region they were put in, as the EventBridge rule does.
async fn deliver_events(
    world: &LocalAws,
    deployment: &mut Deployment,
    seen: &mut usize,
) -> Vec<Value> {
    let events = world
        .get("/events/put-events?source=controlplane.failover")
        .await;
    let entries: Vec<Value> = events["events"]
        .as_array()
        .or(events.as_array())
        .cloned()
        .unwrap_or_default();
    let mut answers = Vec::new();
    for entry in entries.iter().skip(*seen) {
        let region = entry["region"].as_str().unwrap_or(PRIMARY).to_string();
        let detail = match &entry["detail"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        let event = json!({
            "version": "0", "id": entry["eventId"], "detail-type": entry["detailType"],
            "source": entry["source"], "account": entry["account"],
            "time": chrono::Utc::now().to_rfc3339(), "region": region, "resources": [],
            "detail": detail,
        });
        let answer = invoke(deployment.function("concurrency-scheduler", &region), event).await;
        answers.push(json!({"event": entry["detailType"], "region": region, "answer": answer}));
    }
    *seen = entries.len();
    answers
}

/// Runs the whole scenario against `world` (a fresh topology, named by `suffix`).
pub async fn run(world: &LocalAws, suffix: &str) -> Report {
    let mut run = Run {
        started: Instant::now(),
        report: Report::default(),
    };
    let t = Instant::now();
    run.step(
        "local AWS world",
        world.healthy().await,
        world.url.clone(),
        t,
    );

    let t = Instant::now();
    let topology = match Topology::create(world, Spec::new(suffix)).await {
        Ok(topology) => topology,
        Err(e) => {
            run.step("topology", false, e.to_string(), t);
            return run.report;
        }
    };
    run.step(
        "topology",
        true,
        format!(
            "zone {} with gates, endpoint checks, alarms, ECR, secrets, alias live",
            topology.domain
        ),
        t,
    );

    let t = Instant::now();
    let mut deployment = match Deployment::start(world, &topology).await {
        Ok(d) => d,
        Err(e) => {
            run.step("deploy the functions", false, e, t);
            return run.report;
        }
    };
    run.step(
        "deploy the functions",
        true,
        format!(
            "{} in both regions (e.g. {}), reachable through Lambda Invoke",
            deploy::FUNCTIONS.join(", "),
            topology.function_name("failover", PRIMARY)
        ),
        t,
    );
    let env = deploy::ctl_env(world, &topology, PRIMARY);

    for region in [PRIMARY, SECONDARY] {
        let t = Instant::now();
        let v = invoke(
            deployment.function("concurrency-scheduler", region),
            fixture("scheduler-tick.json"),
        )
        .await;
        run.step(
            &format!("scheduler tick in {region}"),
            v["outcome"] == "applied" || v["outcome"] == "noop",
            said(&v),
            t,
        );
    }

    run.ctl("steady state: ctl status", &env, &["status"], |r| {
        r.code == 0 && row(r, PRIMARY).contains("active") && row(r, SECONDARY).contains("active")
    })
    .await;
    let t = Instant::now();
    let both = topology.answering_regions(world).await;
    run.step("data plane answers", both.len() == 2, both.join(", "), t);

    let t = Instant::now();
    topology.set_region_endpoints(world, SECONDARY, false).await;
    let mut alarm = fixture("cloudwatch-alarm-state-change.json");
    let alarm_name = topology
        .alarms
        .iter()
        .find(|(_, r)| r.as_str() == SECONDARY)
        .map(|(a, _)| a.clone())
        .unwrap_or_default();
    alarm["detail"]["alarmName"] = json!(alarm_name);
    run.step(
        "us-east-1 endpoints fail",
        true,
        format!("alarm {alarm_name} fires (EventBridge Alarm State Change)"),
        t,
    );

    let t = Instant::now();
    let v = invoke(deployment.function("failover", PRIMARY), alarm.clone()).await;
    run.step(
        "failover evacuates us-east-1",
        v["outcome"] == "applied",
        said(&v),
        t,
    );
    let t = Instant::now();
    let only = topology.answering_regions(world).await;
    run.step(
        "data plane answers only eu-central-1",
        only == vec![PRIMARY.to_string()],
        only.join(", "),
        t,
    );

    let t = Instant::now();
    let mut seen = 0;
    let delivered = deliver_events(world, &mut deployment, &mut seen).await;
    let surged = delivered
        .iter()
        .any(|d| d["event"] == "Region Evacuated" && d["answer"]["outcome"] == "applied");
    run.step(
        "Region Evacuated: eu-central-1 surges",
        surged,
        delivered
            .iter()
            .map(|d| {
                format!(
                    "{} → {}",
                    d["event"].as_str().unwrap_or("?"),
                    said(&d["answer"])
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        t,
    );

    let t = Instant::now();
    let v = invoke(deployment.function("failover", PRIMARY), alarm).await;
    run.step(
        "same alarm delivered again",
        v["outcome"] == "noop",
        said(&v),
        t,
    );

    run.ctl("after the evacuation: ctl status", &env, &["status"], |r| {
        r.code == 0
            && row(r, SECONDARY).contains("evacuated")
            && row(r, PRIMARY).contains("(surge)")
    })
    .await;

    topology.set_region_endpoints(world, SECONDARY, true).await;
    run.ctl(
        "us-east-1 recovers: ctl restore",
        &env,
        &[
            "restore",
            SECONDARY,
            "--reason",
            "endpoints recovered",
            "--requested-by",
            "demo",
        ],
        |r| r.code == 0 && r.stdout.starts_with("applied"),
    )
    .await;
    let t = Instant::now();
    let both = topology.answering_regions(world).await;
    run.step(
        "data plane answers both regions",
        both.len() == 2,
        both.join(", "),
        t,
    );
    let t = Instant::now();
    let delivered = deliver_events(world, &mut deployment, &mut seen).await;
    let back = delivered
        .iter()
        .any(|d| d["event"] == "Region Restored" && d["answer"]["outcome"] == "applied");
    run.step(
        "Region Restored: eu-central-1 to baseline",
        back,
        delivered
            .iter()
            .map(|d| {
                format!(
                    "{} → {}",
                    d["event"].as_str().unwrap_or("?"),
                    said(&d["answer"])
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        t,
    );
    run.ctl("after the restore: ctl status", &env, &["status"], |r| {
        r.code == 0
            && row(r, PRIMARY).contains("active")
            && row(r, SECONDARY).contains("active")
            && !row(r, PRIMARY).contains("(surge)")
    })
    .await;

    run.ctl(
        "drill on eu-central-1: ctl drill",
        &env,
        &[
            "drill",
            PRIMARY,
            "--duration",
            "1m",
            "--reason",
            "game day",
            "--requested-by",
            "demo",
        ],
        |r| r.code == 0 && r.stdout.starts_with("applied"),
    )
    .await;
    let t = Instant::now();
    let status = invoke(
        deployment.function("failover", PRIMARY),
        json!({"action": "status"}),
    )
    .await;
    let drill_id = status["state"]["routing"]["drill"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The local Scheduler stores the one-time schedule but does not fire it: deliver
    // its input exactly as EventBridge Scheduler would at the drill's end.
    let v = invoke(
        deployment.function("failover", PRIMARY),
        json!({"task": "end_drill", "drill_id": drill_id}),
    )
    .await;
    run.step(
        "drill ends itself (its schedule fires)",
        !drill_id.is_empty() && v["outcome"] == "applied",
        said(&v),
        t,
    );
    run.ctl("after the drill: ctl status", &env, &["status"], |r| {
        r.code == 0
            && row(r, PRIMARY).contains("active")
            && row(r, SECONDARY).contains("active")
            && !r.stdout.contains("drill drill-")
    })
    .await;

    let t = Instant::now();
    let v = invoke(
        deployment.function("failover", PRIMARY),
        fixture("scheduler-tick.json"),
    )
    .await;
    run.step(
        "scheduled tick reconciles",
        v["outcome"] != "failed" && v["outcome"] != "error",
        said(&v),
        t,
    );
    let t = Instant::now();
    let v = invoke(
        deployment.function("replication-monitor", PRIMARY),
        json!({"action": "check"}),
    )
    .await;
    run.step(
        "replication-monitor check",
        !matches!(v["outcome"].as_str(), Some("error" | "failed")),
        said(&v),
        t,
    );
    run.ctl(
        "concurrency-scheduler plan: ctl plan",
        &env,
        &["plan"],
        |r| r.code == 0 && r.stdout.starts_with("REGION"),
    )
    .await;

    deployment.stop().await;
    run.report
}
