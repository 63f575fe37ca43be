//! The recovery-time budget: the control plane's own share of each path, from the
//! injected failure or the operator's command to each thing an operator waits for,
//! measured end to end in a local AWS world with AWS's quotas on (Route 53's 5
//! requests a second per account, Lambda's control-plane rates, …).
//!
//! The whole control plane is deployed as Terraform deploys it: the six functions
//! (release binaries) reachable through Lambda `Invoke`, failover's function URL for
//! `ctl`, and the EventBridge rules (alarms → failover, failover's events →
//! concurrency-scheduler, each forwarded to the peer region), so the world delivers
//! every event by itself, asynchronously, as EventBridge does. Each milestone's time is
//! the world's own record of it: the call log (a call's arrival), EventBridge's
//! deliveries (dispatch to the target), provisioned concurrency's READY time.
//!
//! Paths, each measured `budget_rounds` times in turn on one deployment:
//! - **alarm evacuation**: from us-east-1's region-health alarm going to ALARM;
//! - **restore**: from `ctl restore us-east-1` being started;
//! - **drill**: from `ctl drill us-east-1` being started (the drill waits for the peer's
//!   surge to be READY, which is AWS's allocation time, not the control plane's);
//! - **drill end**: from `ctl end-drill` being started.
//!
//! The control plane's own share of a path is the time to its last action (the
//! survivor's provisioned concurrency requested), less what the world took for AWS
//! (a drill's wait for READY). `ctl status` is timed after each path, as the operator
//! would look.

use super::{round, Options};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::deploy::{self, Deployment};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// How long a path may take before the run gives up on it (AWS's provisioned
/// concurrency at the world's time scale is a few seconds).
const PATH_LIMIT: Duration = Duration::from_secs(90);

/// Seconds since the epoch, as the local world stamps its records.
fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One measured run of a path: each milestone's ms after the path's start, the
/// control plane's own share, and how long `ctl status` took afterwards.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub milestones: Vec<(String, f64)>,
    pub own_ms: f64,
    pub status_ms: f64,
}

/// The deployed control plane the paths run against.
struct Deployed<'a> {
    options: &'a Options,
    world: &'a LocalAws,
    topology: Topology,
    deployment: Deployment,
    ctl_env: Vec<(String, String)>,
    workload: String,
}

/// What the world recorded after a path started.
struct Records {
    calls: Vec<Value>,
    deliveries: Vec<Value>,
    configs: Vec<Value>,
}

impl Records {
    /// The first call of `operation` (in `region`, if given), as an epoch time.
    fn call(&self, operation: &str, region: Option<&str>) -> Option<f64> {
        self.calls
            .iter()
            .filter(|c| c["operation"] == operation)
            .filter(|c| region.is_none_or(|r| c["region"] == r))
            .filter_map(|c| c["time"].as_f64())
            .reduce(f64::min)
    }

    /// When EventBridge dispatched the first `detail_type` to `function` (in `region`,
    /// if given).
    fn delivery(&self, detail_type: &str, function: &str, region: Option<&str>) -> Option<f64> {
        self.deliveries
            .iter()
            .filter(|d| d["event"]["detail-type"] == detail_type)
            .filter(|d| d["function"].as_str().is_some_and(|f| f.contains(function)))
            .filter(|d| region.is_none_or(|r| d["functionRegion"] == r))
            .filter_map(|d| d["time"].as_f64())
            .reduce(f64::min)
    }

    /// Every delivery of `detail_type` has finished, and there are `expect` of them.
    fn delivered(&self, detail_type: &str, expect: usize) -> bool {
        let ds: Vec<&Value> = self
            .deliveries
            .iter()
            .filter(|d| d["event"]["detail-type"] == detail_type)
            .collect();
        ds.len() >= expect && ds.iter().all(|d| d["status"] != "pending")
    }

    /// The workload's provisioned concurrency in `region`, if it was requested after
    /// `t0`: (requested at, ready at, status).
    fn surge(&self, region: &str, t0: f64) -> Option<(f64, f64, String)> {
        self.configs.iter().find_map(|c| {
            let requested = c["requestedAt"].as_f64()?;
            (c["region"] == region && requested >= t0).then(|| {
                (
                    requested,
                    c["readyAt"].as_f64().unwrap_or(f64::NAN),
                    c["Status"].as_str().unwrap_or("").to_string(),
                )
            })
        })
    }
}

impl<'a> Deployed<'a> {
    async fn new(options: &'a Options, world: &'a LocalAws, run: &str) -> Result<Self, String> {
        let topology = Topology::create(world, Spec::new(&format!("bench-budget-{run}")))
            .await
            .map_err(|e| e.to_string())?;
        let s = &topology.spec.suffix;
        let mut config = topology.config();
        // A bus and a namespace of its own, as in the demo; the drill waits for the peer's
        // surge (AWS's minute or two, at the world's scale) as deployed; the hourly cap
        // allows every round's alarm evacuation (38 is the most two regions allow).
        config["event_bus_name"] = json!(format!("controlplane-{s}"));
        config["metrics_namespace"] = json!(format!("ControlPlane-{s}"));
        config["failover"]["drill"]["surge_wait"] = json!("60s");
        config["failover"]["max_automatic_evacuations_per_hour"] = json!(38);
        config["concurrency"]["windows"] = json!([]);
        let deployment =
            Deployment::start_from(&options.bin_dir, world, &topology, &config, &[]).await?;
        let bus = config["event_bus_name"].as_str().unwrap_or("default");
        deploy::create_event_rules(world, &topology, bus).await?;
        let ctl_env = deploy::ctl_env(world, &topology, PRIMARY).await;
        let workload = topology.spec.workload_functions[0].clone();
        Ok(Self {
            options,
            world,
            topology,
            deployment,
            ctl_env,
            workload,
        })
    }

    /// Both schedulers at their baseline READY, the region-health alarms evaluated OK
    /// (a new alarm has no state until then) and their events handled.
    async fn steady(&mut self) -> Result<(), String> {
        let t0 = epoch_now();
        for region in [PRIMARY, SECONDARY] {
            let f = self.deployment.function("concurrency-scheduler", region);
            f.invoke(testkit::fixture("scheduler-tick.json"))
                .await
                .and_then(|r| r.ok())
                .map_err(|e| format!("scheduler tick in {region}: {e}"))?;
        }
        let changes = self.topology.evaluate_alarms(self.world).await;
        let expect = 2 * changes.len();
        self.wait_for("steady state", t0, |r| {
            r.delivered("CloudWatch Alarm State Change", expect)
                && [PRIMARY, SECONDARY]
                    .iter()
                    .all(|region| r.surge(region, t0).is_some_and(|(_, _, s)| s == "READY"))
        })
        .await
        .map(|_| ())
    }

    async fn records(&self, t0: f64) -> Records {
        let account = &self.topology.spec.account;
        let calls = self.world.get(&format!("/calls?account={account}")).await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["time"].as_f64().is_some_and(|t| t >= t0))
            .collect();
        let deliveries = self
            .world
            .get(&format!("/events/lambda-deliveries?account={account}"))
            .await["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d["time"].as_f64().is_some_and(|t| t >= t0))
            .collect();
        let configs = self.world.get("/lambda/provisioned-concurrency").await["configs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["account"] == account.as_str() && c["functionName"] == self.workload)
            .collect();
        Records {
            calls,
            deliveries,
            configs,
        }
    }

    /// Polls the world's records (every 50 ms, at most [`PATH_LIMIT`]) until `done`.
    async fn wait_for(
        &self,
        what: &str,
        t0: f64,
        done: impl Fn(&Records) -> bool,
    ) -> Result<Records, String> {
        let deadline = Instant::now() + PATH_LIMIT;
        loop {
            let records = self.records(t0).await;
            if done(&records) {
                return Ok(records);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: not finished within {PATH_LIMIT:?}: deliveries {:?}, calls {:?}",
                    records
                        .deliveries
                        .iter()
                        .map(|d| format!(
                            "{} → {} {}",
                            d["event"]["detail-type"], d["function"], d["status"]
                        ))
                        .collect::<Vec<_>>(),
                    records
                        .calls
                        .iter()
                        .map(|c| format!("{} {}", c["region"], c["operation"]))
                        .collect::<Vec<_>>()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ctl(&self, args: &[&str]) -> Result<(), String> {
        let run = deploy::ctl_from(&self.options.bin_dir, &self.ctl_env, args).await?;
        if run.code != 0 {
            return Err(format!(
                "ctl {}: exit {}: {}{}",
                args.join(" "),
                run.code,
                run.stdout,
                run.stderr
            ));
        }
        Ok(())
    }

    /// How long `ctl status` takes (ms); it must show `expect` in us-east-1's row.
    async fn status_ms(&self, expect: &str) -> Result<f64, String> {
        let started = Instant::now();
        let run = deploy::ctl_from(&self.options.bin_dir, &self.ctl_env, &["status"]).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(SECONDARY))
            .unwrap_or("");
        if run.code != 0 || !row.contains(expect) {
            return Err(format!(
                "ctl status does not show {SECONDARY} {expect}:\n{}{}",
                run.stdout, run.stderr
            ));
        }
        Ok(ms)
    }

    /// us-east-1's endpoints fail, its alarm goes to ALARM; EventBridge delivers the
    /// change to both failovers, one evacuates, both schedulers hear, eu-central-1 surges.
    async fn alarm_evacuation(&mut self) -> Result<Sample, String> {
        self.topology
            .set_region_endpoints(self.world, SECONDARY, false)
            .await;
        let t0 = epoch_now();
        let changes = self.topology.evaluate_alarms(self.world).await;
        if !changes.iter().any(|c| c["state"] == "ALARM") {
            return Err(format!("the alarm did not go to ALARM: {changes:?}"));
        }
        let r = self
            .wait_for("alarm evacuation", t0, |r| {
                r.delivered("Region Evacuated", 2)
                    && r.surge(PRIMARY, t0).is_some_and(|(_, _, s)| s == "READY")
            })
            .await?;
        let (requested, ready, _) = r.surge(PRIMARY, t0).unwrap_or_default();
        let mut sample = milestones(
            t0,
            &[
                (
                    "alarm event delivered to failover",
                    r.delivery("CloudWatch Alarm State Change", "failover", None),
                ),
                (
                    "decision written (state record)",
                    r.call("ChangeResourceRecordSets", None),
                ),
                (
                    "gate closed (UpdateHealthCheck)",
                    r.call("UpdateHealthCheck", None),
                ),
                (
                    "Region Evacuated delivered to eu-central-1's scheduler",
                    r.delivery("Region Evacuated", "scheduler", Some(PRIMARY)),
                ),
                ("surge requested in eu-central-1", Some(requested)),
                ("surge READY (AWS's allocation, scaled)", Some(ready)),
            ],
        )?;
        sample.own_ms = ms(t0, requested);
        sample.status_ms = self.status_ms("evacuated").await?;
        // The endpoints recover; the alarm's OK reaches both failovers (failback is an
        // operator's decision: nothing changes).
        self.topology
            .set_region_endpoints(self.world, SECONDARY, true)
            .await;
        let t1 = epoch_now();
        self.topology.evaluate_alarms(self.world).await;
        self.wait_for("alarm OK", t1, |r| {
            r.delivered("CloudWatch Alarm State Change", 2)
        })
        .await?;
        Ok(sample)
    }

    /// `ctl restore us-east-1`: the gate reopens, Region Restored reaches the
    /// schedulers, eu-central-1 returns to its baseline.
    async fn restore(&mut self) -> Result<Sample, String> {
        let args = ["restore", SECONDARY, "--reason", "bench: restore"];
        self.reopen("restore", &args, "Region Restored").await
    }

    /// `ctl end-drill`: us-east-1 comes back, Drill Ended returns eu-central-1 to its
    /// baseline.
    async fn drill_end(&mut self) -> Result<Sample, String> {
        let args = ["end-drill", "--reason", "bench: drill end"];
        self.reopen("drill end", &args, "Drill Ended").await
    }

    /// A command that brings us-east-1 back (`ctl <args>`): the state written, the gate
    /// open, `event` at eu-central-1's scheduler, which returns to its baseline.
    async fn reopen(&mut self, path: &str, args: &[&str], event: &str) -> Result<Sample, String> {
        let t0 = epoch_now();
        self.ctl(args).await?;
        let returned = epoch_now();
        let r = self
            .wait_for(path, t0, |r| {
                r.delivered(event, 2) && r.surge(PRIMARY, t0).is_some_and(|(_, _, s)| s == "READY")
            })
            .await?;
        let (requested, _, _) = r.surge(PRIMARY, t0).unwrap_or_default();
        let returned_name = format!("ctl {} returned", args[0]);
        let delivered_name = format!("{event} delivered to eu-central-1's scheduler");
        let mut sample = milestones(
            t0,
            &[
                (
                    "decision written (state record)",
                    r.call("ChangeResourceRecordSets", None),
                ),
                (
                    "gate open (UpdateHealthCheck)",
                    r.call("UpdateHealthCheck", None),
                ),
                (&returned_name, Some(returned)),
                (
                    &delivered_name,
                    r.delivery(event, "scheduler", Some(PRIMARY)),
                ),
                ("baseline requested in eu-central-1", Some(requested)),
            ],
        )?;
        sample.own_ms = ms(t0, requested);
        sample.status_ms = self.status_ms("active").await?;
        Ok(sample)
    }

    /// `ctl drill us-east-1`: the drill is prepared, Drill Started surges eu-central-1,
    /// and once that is READY the drill run evacuates us-east-1.
    async fn drill(&mut self) -> Result<Sample, String> {
        let t0 = epoch_now();
        self.ctl(&[
            "drill",
            SECONDARY,
            "--duration",
            "15m",
            "--reason",
            "bench: drill",
        ])
        .await?;
        let returned = epoch_now();
        let r = self
            .wait_for("drill", t0, |r| {
                r.delivered("Drill Started", 2)
                    && r.delivered("Region Evacuated", 2)
                    && r.call("UpdateHealthCheck", None).is_some()
            })
            .await?;
        let (requested, ready, _) = r.surge(PRIMARY, t0).unwrap_or_default();
        let closed = r.call("UpdateHealthCheck", None);
        let mut sample = milestones(
            t0,
            &[
                (
                    "drill prepared (state record)",
                    r.call("ChangeResourceRecordSets", None),
                ),
                (
                    "Drill Started delivered to eu-central-1's scheduler",
                    r.delivery("Drill Started", "scheduler", Some(PRIMARY)),
                ),
                ("surge requested in eu-central-1", Some(requested)),
                ("surge READY (AWS's allocation, scaled)", Some(ready)),
                ("gate closed (UpdateHealthCheck)", closed),
                ("ctl drill returned", Some(returned)),
            ],
        )?;
        // Ours: to the surge request, then from READY to the gate closed (the drill's
        // poll for READY is the control plane's).
        sample.own_ms = ms(t0, requested) + ms(ready, closed.unwrap_or(ready)).max(0.0);
        sample.status_ms = self.status_ms("evacuated").await?;
        Ok(sample)
    }
}

/// The region-outage path on the data-plane path (README "Two paths"): us-east-1 goes
/// dark (its API calls held, its endpoints failing, Route 53's control plane down) and
/// eu-central-1's copies detect, decide, close the gate's data-plane child and surge
/// without it. Detection is tick-driven here, as in `tests/dark_region.rs`: the harness
/// plays EventBridge Scheduler (ticks back to back) and CloudWatch's evaluation clock
/// (right after each tick); AWS runs both once a minute, which the budget's other
/// column adds. A world of the round's own (the outage switch is world-wide, and the
/// probe alarms must not remember a previous round).
struct Outage<'a> {
    options: &'a Options,
    world: &'a LocalAws,
    topology: Topology,
    deployment: Deployment,
    ctl_env: Vec<(String, String)>,
}

/// Route 53's attempt timeout in the outage rounds (as in `tests/dark_region.rs`): the
/// product's 5 s would make each tick wait 15 s on the held connections.
const OUTAGE_ATTEMPT_TIMEOUT_MS: &str = "800";

impl<'a> Outage<'a> {
    async fn new(options: &'a Options, world: &'a LocalAws, suffix: &str) -> Result<Self, String> {
        let mut spec = Spec::new(suffix);
        spec.data_plane = true;
        let topology = Topology::create(world, spec)
            .await
            .map_err(|e| e.to_string())?;
        let mut config = topology.config();
        config["concurrency"]["windows"] = json!([]);
        let extra = [(
            shared::aws::ATTEMPT_TIMEOUT_ENV.to_string(),
            OUTAGE_ATTEMPT_TIMEOUT_MS.to_string(),
        )];
        let deployment =
            Deployment::start_from(&options.bin_dir, world, &topology, &config, &extra).await?;
        // The operator's session is made while STS (us-east-1's global endpoint) answers.
        let mut ctl_env = deploy::ctl_env(world, &topology, PRIMARY).await;
        ctl_env.retain(|(k, _)| k != "AWS_REGION");
        Ok(Self {
            options,
            world,
            topology,
            deployment,
            ctl_env,
        })
    }

    async fn invoke(&mut self, function: &str, region: &str) -> Result<Value, String> {
        self.deployment
            .function(function, region)
            .invoke(testkit::fixture("scheduler-tick.json"))
            .await
            .and_then(|r| r.ok())
            .map_err(|e| format!("{function} tick in {region}: {e}"))
    }

    /// Both regions probed healthy (the probe alarms OK), both schedulers at baseline READY.
    async fn steady(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATH_LIMIT;
        let probes: Vec<(String, String)> = self
            .topology
            .dp()
            .probe_alarms
            .iter()
            .map(|(watched, name)| (self.topology.dp().observers[watched].clone(), name.clone()))
            .collect();
        loop {
            self.invoke("failover", PRIMARY).await?;
            self.invoke("failover", SECONDARY).await?;
            self.topology.evaluate_data_plane_alarms(self.world).await;
            self.topology.evaluate_alarms(self.world).await;
            let mut ok = true;
            for (region, name) in &probes {
                ok &= self
                    .topology
                    .alarm_state(self.world, region, name)
                    .await
                    .as_deref()
                    == Some("OK");
            }
            if ok {
                break;
            }
            if Instant::now() > deadline {
                return Err("the probe alarms did not go OK".into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let t0 = epoch_now();
        for region in [PRIMARY, SECONDARY] {
            self.invoke("concurrency-scheduler", region).await?;
        }
        self.wait_ready(t0, 2).await.map(|_| ())
    }

    /// The workload's configs requested after `t0`: waits until `count` are READY.
    async fn wait_ready(&self, t0: f64, count: usize) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + PATH_LIMIT;
        let workload = &self.topology.spec.workload_functions[0];
        loop {
            let configs: Vec<Value> = self.world.get("/lambda/provisioned-concurrency").await
                ["configs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| {
                    c["account"] == self.topology.spec.account.as_str()
                        && c["functionName"] == workload.as_str()
                        && c["requestedAt"].as_f64().is_some_and(|t| t >= t0)
                })
                .collect();
            if configs.len() >= count && configs.iter().all(|c| c["Status"] == "READY") {
                return Ok(configs);
            }
            if Instant::now() > deadline {
                return Err(format!("provisioned concurrency not READY: {configs:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn darken(&self, region: &str, dark: bool) {
        let endpoints: Vec<&String> = self.topology.endpoints[region]
            .iter()
            .map(|(_, fqdn)| fqdn)
            .collect();
        let body = if dark {
            json!({"region": region, "dark": true, "mode": "timeout", "holdSeconds": 2,
                   "endpoints": endpoints})
        } else {
            json!({"region": region, "dark": false})
        };
        self.world.post("/regions/outage", body).await;
    }

    /// us-east-1 dark until eu-central-1's surge is READY and `ctl status` has answered
    /// from eu-central-1's local store.
    async fn round(&mut self) -> Result<Sample, String> {
        let dp = self.topology.dp().clone();
        let (probe, gate_alarm) = (
            dp.probe_alarms[SECONDARY].clone(),
            dp.gate_alarms[SECONDARY].clone(),
        );
        self.darken(SECONDARY, true).await;
        let t0 = epoch_now();
        // (start, end) of the first tick after the failure and of the deciding tick.
        let (mut first_tick, mut decision_tick) = (None, None);
        let (mut detected, mut decided, mut gate_closed) = (None, None, None);
        let deadline = Instant::now() + PATH_LIMIT;
        while decided.is_none() || gate_closed.is_none() {
            if Instant::now() > deadline {
                return Err(format!(
                    "not decided within {PATH_LIMIT:?}: first tick {first_tick:?}, probe alarm \
                     {detected:?}, decided {decided:?}, gate alarm {gate_closed:?}"
                ));
            }
            let started = epoch_now();
            let record = self.invoke("failover", PRIMARY).await?;
            let ended = epoch_now();
            // The first tick sees the probes fail and publishes it.
            first_tick = first_tick.or(Some((started, ended)));
            if decided.is_none() && record["outcome"] == "applied" && record["path"] == "data plane"
            {
                decided = Some(ended);
                decision_tick = Some((started, ended));
            }
            for change in self.topology.evaluate_data_plane_alarms(self.world).await {
                let now = Some(epoch_now());
                if change["state"] == "ALARM" && change["alarmName"] == probe.as_str() {
                    detected = detected.or(now);
                }
                if change["state"] == "ALARM" && change["alarmName"] == gate_alarm.as_str() {
                    gate_closed = gate_closed.or(now);
                }
            }
        }
        let calls: Vec<Value> = self
            .world
            .get(&format!("/calls?account={}", self.topology.spec.account))
            .await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let first = |operation: &str, from: f64| {
            calls
                .iter()
                .filter(|c| {
                    c["operation"] == operation
                        && c["region"] == PRIMARY
                        && c["time"].as_f64().is_some_and(|t| t >= from)
                })
                .filter_map(|c| c["time"].as_f64())
                .reduce(f64::min)
        };
        let (first_start, first_end) = first_tick.unwrap_or_default();
        let probes_published = first("PutMetricData", first_start).filter(|t| *t <= first_end);
        let (decision_start, _) = decision_tick.unwrap_or_default();
        let written = first("PutItem", decision_start);
        let published = written.and_then(|w| first("PutMetricData", w));
        // eu-central-1's scheduler: the local store says Route 53 is down, it surges
        // from the local view.
        let surge_tick = epoch_now();
        self.invoke("concurrency-scheduler", PRIMARY).await?;
        let ready = self.wait_ready(surge_tick, 1).await?;
        let requested = ready[0]["requestedAt"].as_f64();
        let mut sample = milestones(
            t0,
            &[
                ("first tick publishes the failed probes", probes_published),
                ("first tick returns", Some(first_end)),
                ("probe alarm ALARM (CloudWatch evaluates)", detected),
                ("decision written (local store PutItem)", written),
                ("DataPlaneGateClosed published", published),
                ("decision tick returned", decided),
                (
                    "data-plane gate alarm ALARM (CloudWatch evaluates)",
                    gate_closed,
                ),
                ("surge requested in eu-central-1", requested),
                (
                    "surge READY (AWS's allocation, scaled)",
                    ready[0]["readyAt"].as_f64(),
                ),
            ],
        )?;
        // Ours: each run of the path to its action (the probes' metric, the gate's
        // metric, the surge's request); the waits between runs are AWS's schedule and
        // alarm periods.
        sample.own_ms = [
            (Some(first_start), probes_published),
            (Some(decision_start), published),
            (Some(surge_tick), requested),
        ]
        .iter()
        .map(|(from, to)| match (from, to) {
            (Some(from), Some(to)) => ms(*from, *to),
            _ => f64::NAN,
        })
        .sum();
        let started = Instant::now();
        let run = deploy::ctl_from(
            &self.options.bin_dir,
            &self.ctl_env,
            &["status", "--region", PRIMARY],
        )
        .await?;
        sample.status_ms = started.elapsed().as_secs_f64() * 1000.0;
        if !run.stdout.contains(&format!("local store in {PRIMARY}")) {
            return Err(format!(
                "ctl status did not answer from the local store:\n{}{}",
                run.stdout, run.stderr
            ));
        }
        Ok(sample)
    }
}

/// `rounds` outage rounds, each in a world of its own; us-east-1 is always brought back.
async fn outage_rounds(
    options: &Options,
    world: &LocalAws,
    run: &str,
    rounds: usize,
) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for round_no in 0..rounds {
        let mut outage =
            Outage::new(options, world, &format!("bench-dark{round_no}-{run}")).await?;
        let sample = match outage.steady().await {
            Ok(()) => outage.round().await,
            Err(e) => Err(e),
        };
        outage.darken(SECONDARY, false).await;
        outage.deployment.stop().await;
        samples.push(sample.map_err(|e| format!("round {}: {e}", round_no + 1))?);
    }
    Ok(samples)
}

fn ms(from: f64, to: f64) -> f64 {
    (to - from) * 1000.0
}

/// Each milestone's ms after `t0`; an error names the first one that never happened.
fn milestones(t0: f64, at: &[(&str, Option<f64>)]) -> Result<Sample, String> {
    let mut sample = Sample::default();
    for (name, time) in at {
        let time = time
            .filter(|t| t.is_finite())
            .ok_or_else(|| format!("{name}: not recorded"))?;
        sample.milestones.push((name.to_string(), ms(t0, time)));
    }
    Ok(sample)
}

/// Nearest-rank percentile `q` (0..=1) of `values`.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn summary(values: &[f64]) -> Value {
    json!({"n": values.len(), "p50_ms": round(percentile(values, 0.5)),
           "p99_ms": round(percentile(values, 0.99)),
           "max_ms": round(values.iter().copied().fold(f64::NAN, f64::max))})
}

/// The paths: the first four run in turn on one deployment, the outage in rounds of
/// its own.
pub const PATHS: [&str; 5] = [
    "alarm evacuation",
    "restore",
    "drill",
    "drill end",
    "region outage (us-east-1 dark)",
];

/// Every path `options.budget_rounds` times; per path, each milestone's and the own
/// share's p50/p99 (nearest rank) and the `ctl status` run.
pub async fn run(options: &Options, world: &LocalAws, run: &str) -> Value {
    let mut deployed = match Deployed::new(options, world, run).await {
        Ok(d) => d,
        Err(e) => return json!({"error": format!("deploy: {e}")}),
    };
    let mut samples: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    let mut error = deployed.steady().await.err();
    for round_no in 0..options.budget_rounds {
        if error.is_some() {
            break;
        }
        for path in &PATHS[..4] {
            let path = *path;
            let sample = match path {
                "alarm evacuation" => deployed.alarm_evacuation().await,
                "restore" => deployed.restore().await,
                "drill" => deployed.drill().await,
                _ => deployed.drill_end().await,
            };
            match sample {
                Ok(s) => samples.entry(path).or_default().push(s),
                Err(e) => {
                    error = Some(format!("round {}: {path}: {e}", round_no + 1));
                    break;
                }
            }
        }
    }
    deployed.deployment.stop().await;
    if error.is_none() {
        match outage_rounds(options, world, run, options.outage_rounds).await {
            Ok(runs) => {
                samples.insert("region outage (us-east-1 dark)", runs);
            }
            Err(e) => error = Some(format!("region outage: {e}")),
        }
    }
    let paths: Vec<Value> = PATHS
        .iter()
        .map(|path| {
            let runs = samples.get(path).cloned().unwrap_or_default();
            let names: Vec<&str> = runs
                .first()
                .map(|s| s.milestones.iter().map(|(n, _)| n.as_str()).collect())
                .unwrap_or_default();
            let milestones: Vec<Value> = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let values: Vec<f64> = runs.iter().map(|s| s.milestones[i].1).collect();
                    json!({"milestone": name, "ms": summary(&values)})
                })
                .collect();
            let own: Vec<f64> = runs.iter().map(|s| s.own_ms).collect();
            let status: Vec<f64> = runs.iter().map(|s| s.status_ms).collect();
            json!({"path": path, "milestones": milestones, "own_ms": summary(&own),
                   "ctl_status_ms": summary(&status)})
        })
        .collect();
    json!({"rounds": options.budget_rounds, "outage_rounds": options.outage_rounds, "time_scale": world.time_scale().await,
           "paths": paths, "error": error})
}

/// The budget table as `make bench` prints it.
pub fn print(budget: &Value) {
    println!(
        "\n== recovery-time budget: the control plane's own share, quotas on (ms after the path's start; p99 is nearest-rank)"
    );
    if let Some(e) = budget["error"].as_str() {
        println!("ERROR: {e}");
    }
    for path in budget["paths"].as_array().into_iter().flatten() {
        println!(
            "{} (n={})",
            path["path"].as_str().unwrap_or(""),
            path["own_ms"]["n"]
        );
        let row = |name: &str, s: &Value| {
            println!(
                "  {:<58} {:>8} {:>8} {:>8}",
                name,
                format!("{:.0}", s["p50_ms"].as_f64().unwrap_or(f64::NAN)),
                format!("{:.0}", s["p99_ms"].as_f64().unwrap_or(f64::NAN)),
                format!("{:.0}", s["max_ms"].as_f64().unwrap_or(f64::NAN)),
            )
        };
        println!(
            "  {:<58} {:>8} {:>8} {:>8}",
            "milestone", "p50", "p99", "max"
        );
        for m in path["milestones"].as_array().into_iter().flatten() {
            row(m["milestone"].as_str().unwrap_or(""), &m["ms"]);
        }
        row("control plane's own share", &path["own_ms"]);
        row(
            "ctl status run afterwards (its own time)",
            &path["ctl_status_ms"],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 15.0);
        assert_eq!(percentile(&v, 0.99), 30.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
