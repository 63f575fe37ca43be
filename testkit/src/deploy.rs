//! The control plane "deployed" into the local AWS world: each function's real
//! binary under the Runtime API emulator, one copy per region as Terraform
//! deploys them, registered as the invoke target of its Terraform name, so that
//! Lambda `Invoke` (and so `ctl`) reaches it through `AWS_ENDPOINT_URL`.

use crate::runtime::FunctionProcess;
use crate::topology::{Topology, REGIONS};
use crate::{LocalAws, SECONDARY};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub const FUNCTIONS: [&str; 3] = ["failover", "replication-monitor", "concurrency-scheduler"];

/// Starts one function binary for `topology` in `region`, with its configuration.
pub async fn start(
    world: &LocalAws,
    function: &str,
    topology: &Topology,
    region: &str,
) -> Result<FunctionProcess, String> {
    start_with(world, function, topology, region, &topology.config()).await
}

/// Starts one function binary for `topology` in `region` with `config`.
pub async fn start_with(
    world: &LocalAws,
    function: &str,
    topology: &Topology,
    region: &str,
    config: &Value,
) -> Result<FunctionProcess, String> {
    start_with_env(world, function, topology, region, config, &[]).await
}

/// Like [`start_with`], with `extra` added to the function's environment (e.g.
/// `CONTROL_PLANE_ATTEMPT_TIMEOUT_MS`).
pub async fn start_with_env(
    world: &LocalAws,
    function: &str,
    topology: &Topology,
    region: &str,
    config: &Value,
    extra: &[(String, String)],
) -> Result<FunctionProcess, String> {
    start_from(
        &crate::debug_dir(),
        world,
        function,
        topology,
        region,
        config,
        extra,
    )
    .await
}

/// Like [`start_with_env`], the binary taken from `bin_dir` (e.g. `target/release`).
pub async fn start_from(
    bin_dir: &Path,
    world: &LocalAws,
    function: &str,
    topology: &Topology,
    region: &str,
    config: &Value,
    extra: &[(String, String)],
) -> Result<FunctionProcess, String> {
    let mut env = world.function_env(&topology.spec.account, region);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    env.extend(extra.iter().cloned());
    FunctionProcess::spawn(
        &bin_dir.join(function),
        &topology.function_name(function, region),
        &env,
    )
    .await
}

/// Every function in every region, reachable through Lambda `Invoke`.
pub struct Deployment {
    processes: BTreeMap<(String, String), FunctionProcess>,
}

impl Deployment {
    pub async fn start(world: &LocalAws, topology: &Topology) -> Result<Self, String> {
        Self::start_with(world, topology, &topology.config()).await
    }

    /// Like [`Deployment::start`], every function reading `config`.
    pub async fn start_with(
        world: &LocalAws,
        topology: &Topology,
        config: &Value,
    ) -> Result<Self, String> {
        Self::start_with_env(world, topology, config, &[]).await
    }

    /// Like [`Deployment::start_with`], every function with `extra` in its environment.
    pub async fn start_with_env(
        world: &LocalAws,
        topology: &Topology,
        config: &Value,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        Self::start_from(&crate::debug_dir(), world, topology, config, extra).await
    }

    /// Like [`Deployment::start_with_env`], the binaries taken from `bin_dir`.
    pub async fn start_from(
        bin_dir: &Path,
        world: &LocalAws,
        topology: &Topology,
        config: &Value,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        let mut processes = BTreeMap::new();
        for function in FUNCTIONS {
            for region in REGIONS {
                let mut process =
                    start_from(bin_dir, world, function, topology, region, config, extra).await?;
                let url = process.invoke_url().await?;
                world
                    .register_invoke_target(
                        &topology.spec.account,
                        region,
                        &topology.function_name(function, region),
                        &url,
                    )
                    .await;
                if function == "failover" {
                    operator_entry(world, topology, region).await?;
                }
                processes.insert((function.to_string(), region.to_string()), process);
            }
        }
        Ok(Self { processes })
    }

    /// The process of `function` in `region` (to feed it events directly, as
    /// EventBridge or a schedule would).
    pub fn function(&mut self, function: &str, region: &str) -> &mut FunctionProcess {
        self.processes
            .get_mut(&(function.to_string(), region.to_string()))
            .unwrap_or_else(|| panic!("{function} in {region} is not deployed"))
    }

    pub async fn stop(self) {
        for (_, process) in self.processes {
            process.stop().await;
        }
    }
}

/// The EventBridge rules Terraform creates for the control plane
/// (`infra/modules/control-plane`), in each region's default bus of the workload
/// account: failover's events → that region's concurrency-scheduler; the region-health
/// alarms' state changes → that region's failover; and both kinds, when they
/// originated in this region, forwarded to the peer's bus. Failover's events use `bus`
/// (the configuration's `event_bus_name`; a bus of its own, created here, keeps worlds
/// that share the local AWS from hearing each other), alarms the default bus, where
/// CloudWatch puts them. With the functions registered as invoke targets
/// ([`Deployment::start`]) the local world then delivers these events by itself,
/// asynchronously, as EventBridge does; without this call nothing is delivered and
/// tests feed the functions by hand.
pub async fn create_event_rules(
    world: &LocalAws,
    topology: &Topology,
    bus: &str,
) -> Result<(), String> {
    let account = &topology.spec.account;
    let failover_events = json!({
        "source": ["controlplane.failover"],
        "detail-type": ["Region Evacuated", "Region Restored", "Drill Started", "Drill Ended"],
        "account": [account],
    });
    // An alarm event's `resources` holds the alarm's ARN, which names its account and region.
    let alarm_arns: Vec<String> = topology
        .alarms
        .keys()
        .map(|n| topology.alarm_arn(n))
        .collect();
    let alarms = json!({
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "account": [account],
        "resources": alarm_arns,
    });
    let prefix = topology.service_name();
    for region in REGIONS {
        let events = aws_sdk_eventbridge::Client::new(&world.sdk_config(account, region));
        if bus != "default" {
            if let Err(e) = events.create_event_bus().name(bus).send().await {
                if !e
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception())
                {
                    return Err(format!("CreateEventBus {bus} in {region}: {e:?}"));
                }
            }
        }
        let function_arn = |function: &str| {
            format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                topology.function_name(function, region)
            )
        };
        let mut rules = vec![
            (
                bus,
                format!("{prefix}-failover-events-{region}"),
                failover_events.clone(),
                "concurrency-scheduler".to_string(),
                function_arn("concurrency-scheduler"),
            ),
            (
                "default",
                format!("{prefix}-region-health-{region}"),
                alarms.clone(),
                "failover".to_string(),
                function_arn("failover"),
            ),
        ];
        for peer in REGIONS.iter().filter(|r| **r != region) {
            for (on, kind, pattern) in [
                (bus, "events", &failover_events),
                ("default", "alarms", &alarms),
            ] {
                let mut pattern = pattern.clone();
                pattern["region"] = json!([region]);
                rules.push((
                    on,
                    format!("{prefix}-forward-{kind}-{region}"),
                    pattern,
                    format!("bus-{peer}"),
                    format!("arn:aws:events:{peer}:{account}:event-bus/{on}"),
                ));
            }
        }
        for (on, name, pattern, target_id, arn) in rules {
            events
                .put_rule()
                .event_bus_name(on)
                .name(&name)
                .event_pattern(pattern.to_string())
                .send()
                .await
                .map_err(|e| format!("PutRule {name} in {region}: {e:?}"))?;
            events
                .put_targets()
                .event_bus_name(on)
                .rule(&name)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id(target_id)
                        .arn(arn)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| format!("PutTargets {name} in {region}: {e:?}"))?;
        }
    }
    Ok(())
}

/// What one `ctl` run printed and returned.
#[derive(Debug, Clone)]
pub struct CtlRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CtlRun {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("ctl printed no JSON ({e}): {}{}", self.stdout, self.stderr))
    }
}

/// The environment an operator of this world would have: the SDK's standard
/// variables (endpoint, a session of the operator role, region) and the service name
/// the functions were deployed with.
pub async fn ctl_env(world: &LocalAws, topology: &Topology, region: &str) -> Vec<(String, String)> {
    let mut env = world.function_env(&topology.spec.account, region);
    env.push(("CTL_SERVICE".into(), topology.service_name()));
    // ctl acts as a session of the operator role, as an operator's profile would.
    let (key, secret, token) = operator_session(world, topology)
        .await
        .unwrap_or_else(|e| panic!("the operator role cannot be assumed: {e}"));
    env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_ACCESS_KEY_ID".into(), key));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), secret));
    env.push(("AWS_SESSION_TOKEN".into(), token));
    env
}

/// Credentials of a session of the world's operator role ([`Topology::operator`]): the
/// role is created in IAM and assumed through STS, so the local world knows the session
/// and names it as the caller of a signed request.
pub async fn operator_session(
    world: &LocalAws,
    topology: &Topology,
) -> Result<(String, String, String), String> {
    let account = &topology.spec.account;
    let role = world
        .post(
            "/iam/roles",
            json!({"account": account, "name": format!("operator-{}", topology.spec.suffix)}),
        )
        .await;
    let role_arn = role["arn"].as_str().ok_or("no role ARN")?.to_string();
    if role_arn != topology.operator_role() {
        return Err(format!(
            "created {role_arn}, expected {}",
            topology.operator_role()
        ));
    }
    let sts = aws_sdk_sts::Client::new(&world.sdk_config(account, SECONDARY));
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("sre")
        .send()
        .await
        .map_err(|e| format!("AssumeRole: {e:?}"))?;
    let c = out
        .credentials()
        .ok_or("AssumeRole returned no credentials")?;
    Ok((
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    ))
}

/// failover's operator entry point in `region`: its function URL with `AWS_IAM` auth, as
/// Terraform configures it (infra/modules/control-plane/operator_entry.tf).
pub async fn operator_entry(
    world: &LocalAws,
    topology: &Topology,
    region: &str,
) -> Result<String, String> {
    let lambda = aws_sdk_lambda::Client::new(&world.sdk_config(&topology.spec.account, region));
    let out = lambda
        .create_function_url_config()
        .function_name(topology.function_name("failover", region))
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .map_err(|e| format!("CreateFunctionUrlConfig: {e:?}"))?;
    Ok(out.function_url().to_string())
}

/// Runs the built `ctl` binary with exactly `env` (nothing of this process's own
/// AWS configuration leaks in).
pub async fn ctl(env: &[(String, String)], args: &[&str]) -> Result<CtlRun, String> {
    ctl_from(&crate::debug_dir(), env, args).await
}

/// Like [`ctl`], the binary taken from `bin_dir` (e.g. `target/release`).
pub async fn ctl_from(
    bin_dir: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Result<CtlRun, String> {
    let binary = bin_dir.join("ctl");
    if !binary.exists() {
        return Err(format!(
            "{} does not exist (build it first: cargo build -p ctl)",
            binary.display()
        ));
    }
    let run = tokio::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().cloned())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .map_err(|_| format!("ctl {} did not finish within 120 s", args.join(" ")))?
        .map_err(|e| format!("could not run {}: {e}", binary.display()))?;
    Ok(CtlRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
