//! End to end as an operator sees it: the demo scenario (every step must be
//! green), and the real `ctl` binary against the deployed functions in the local
//! AWS world, through Lambda Invoke and nothing else.

use serde_json::Value;
use testkit::deploy::{ctl, ctl_env, Deployment};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// A local AWS world of this module's own: other modules switch throttling,
/// faults and the provisioned-concurrency delay in theirs, which would make the
/// scenario's timing and outcomes depend on what runs beside it.
async fn world() -> &'static LocalAws {
    static WORLD: tokio::sync::OnceCell<LocalAws> = tokio::sync::OnceCell::const_new();
    WORLD
        .get_or_init(|| async { LocalAws::start().await.unwrap_or_else(|e| panic!("{e}")) })
        .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        chrono::Utc::now().timestamp_micros() % 100_000_000
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_scenario_runs_green() {
    let world = world().await;
    let report = ::demo::run(world, &unique("dm")).await;
    let failed: Vec<String> = report
        .failed()
        .iter()
        .map(|s| format!("{}: {}", s.name, s.detail))
        .collect();
    assert!(failed.is_empty(), "failed steps:\n{}", failed.join("\n"));
    // the scenario ran to its end, with ctl at every key step
    assert!(report.steps.len() >= 20, "{}", report.summary());
    for step in [
        "steady state: ctl status",
        "after the evacuation: ctl status",
        "us-east-1 recovers: ctl restore",
        "drill on eu-central-1: ctl drill",
        "after the drill: ctl status",
    ] {
        assert!(
            report.steps.iter().any(|s| s.name == step),
            "no step {step:?}:\n{}",
            report.summary()
        );
    }
}

/// A fresh topology with the functions deployed into it, and ctl's environment for it.
async fn deployed(
    world: &'static LocalAws,
    prefix: &str,
) -> (Topology, Deployment, Vec<(String, String)>) {
    let topology = Topology::create(world, Spec::new(&unique(prefix)))
        .await
        .expect("topology");
    let deployment = Deployment::start(world, &topology)
        .await
        .expect("deployment");
    let env = ctl_env(world, &topology, PRIMARY).await;
    (topology, deployment, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctl_shows_status_as_json_evacuates_and_refuses() {
    let world = world().await;
    let (topology, deployment, env) = deployed(world, "ct").await;

    let status = ctl(&env, &["status", "--json"]).await.unwrap();
    assert_eq!(status.code, 0, "{status:?}");
    let v = status.json();
    assert_eq!(v["via"], PRIMARY);
    assert_eq!(v["errors"], serde_json::json!([]));
    for region in [PRIMARY, SECONDARY] {
        let r = &v["regions"][region];
        assert_eq!(r["routing"], "active", "{region}: {r}");
        assert_eq!(r["gate"]["open"], true, "{region}: {r}");
        assert_eq!(
            r["endpoints"],
            serde_json::json!({"healthy": 2, "total": 2})
        );
        let rows = r["concurrency"].as_array().expect("concurrency rows");
        assert_eq!(rows.len(), 1, "{region}: {r}");
        assert_eq!(rows[0]["function"], topology.spec.workload_functions[0]);
        assert_eq!(rows[0]["level"], 2, "prod baseline");
    }
    assert_eq!(
        v["regions"][SECONDARY]["replication"]["kinds"]["secrets"]["verdict"],
        "ready"
    );

    // A dry run changes nothing.
    let dry = ctl(
        &env,
        &[
            "evacuate",
            SECONDARY,
            "--reason",
            "test",
            "--dry-run",
            "--json",
        ],
    )
    .await
    .unwrap();
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["outcome"], "dry_run");
    assert_eq!(topology.answering_regions(world).await.len(), 2);

    // Routing actions go through failover's function URL, signed by the caller: one who
    // is not a session of an operator role (here the account's own key) is refused, and
    // a wrong secret is refused by the URL itself; nothing changes either way.
    let stranger = with(
        &with(
            &without(&env, "AWS_SESSION_TOKEN"),
            "AWS_ACCESS_KEY_ID",
            &testkit::localaws::access_key(&topology.spec.account),
        ),
        "AWS_SECRET_ACCESS_KEY",
        testkit::localaws::SECRET_KEY,
    );
    let refused = ctl(
        &stranger,
        &["evacuate", SECONDARY, "--reason", "not mine", "--force"],
    )
    .await
    .unwrap();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stdout.starts_with("refused:")
            && refused.stdout.contains(&format!(
                "arn:aws:iam::{}:root may not evacuate",
                topology.spec.account
            ))
            && refused.stdout.contains("failover.operator_roles"),
        "{refused:?}"
    );
    let forged = with(&env, "AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let denied = ctl(
        &forged,
        &["evacuate", SECONDARY, "--reason", "forged", "--force"],
    )
    .await
    .unwrap();
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied
            .stderr
            .contains("function URL refused the call: The request signature")
            && denied.stderr.lines().count() == 1,
        "{denied:?}"
    );
    assert_eq!(topology.answering_regions(world).await.len(), 2);

    // Evacuate as the operator: the record names the session that signed the request.
    let evacuated = ctl(&env, &["evacuate", SECONDARY, "--reason", "API errors 40%"])
        .await
        .unwrap();
    assert_eq!(evacuated.code, 0, "{evacuated:?}");
    assert!(
        evacuated
            .stdout
            .starts_with("applied: evacuated us-east-1: API errors 40%"),
        "{}",
        evacuated.stdout
    );
    assert_eq!(
        topology.answering_regions(world).await,
        vec![PRIMARY.to_string()]
    );
    let v = ctl(&env, &["status", "--json"]).await.unwrap().json();
    let evacuation = &v["regions"][SECONDARY]["evacuation"];
    assert_eq!(v["regions"][SECONDARY]["routing"], "evacuated", "{v}");
    assert_eq!(evacuation["reason"], "API errors 40%");
    assert_eq!(
        evacuation["by"],
        topology.operator(),
        "requested_by is the signed caller: {evacuation}"
    );
    assert_eq!(v["regions"][SECONDARY]["gate"]["open"], false);

    // The last active region: refused by failover, exit 1, nothing changes.
    let refused = ctl(&env, &["evacuate", PRIMARY, "--reason", "test", "--force"])
        .await
        .unwrap();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stdout.starts_with("refused:") && refused.stdout.contains("min_active_regions"),
        "{}",
        refused.stdout
    );
    assert_eq!(
        topology.answering_regions(world).await,
        vec![PRIMARY.to_string()]
    );

    let restored = ctl(&env, &["restore", SECONDARY, "--reason", "recovered"])
        .await
        .unwrap();
    assert_eq!(restored.code, 0, "{restored:?}");
    assert_eq!(topology.answering_regions(world).await.len(), 2);
    deployment.stop().await;
}

fn without(env: &[(String, String)], key: &str) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| k != key).cloned().collect()
}

fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env = without(env, key);
    env.push((key.to_string(), value.to_string()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn ctl_says_what_is_missing() {
    let world = world().await;
    let topology = Topology::create(world, Spec::new(&unique("cm")))
        .await
        .expect("topology");
    let env = ctl_env(world, &topology, PRIMARY).await;

    // Nothing deployed under this name: the function name, the region and the fix.
    let run = ctl(&env, &["evacuate", SECONDARY, "--reason", "x"])
        .await
        .unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    let name = topology.function_name("failover", PRIMARY);
    for part in [
        format!("function {name} not found in {PRIMARY}"),
        "--service".into(),
        "CTL_FAILOVER_FUNCTION".into(),
        "--region".into(),
    ] {
        assert!(run.stderr.contains(&part), "{part:?} not in {}", run.stderr);
    }

    // Status reports every missing part and exits 1.
    let run = ctl(&env, &["status"]).await.unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    for function in ["failover", "replication-monitor", "concurrency-scheduler"] {
        assert!(
            run.stdout
                .contains(&topology.function_name(function, PRIMARY)),
            "{function}: {}",
            run.stdout
        );
    }

    // No region anywhere: a usage error.
    let run = ctl(&without(&env, "AWS_REGION"), &["status"])
        .await
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no region"), "{}", run.stderr);

    // No credentials.
    let run = ctl(
        &without(&without(&env, "AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY"),
        &["status"],
    )
    .await
    .unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no usable AWS credentials"),
        "{}",
        run.stderr
    );

    // A region given explicitly wins over AWS_REGION, and names the function there.
    let run = ctl(
        &with(&env, "CTL_REGION", SECONDARY),
        &["end-drill", "--reason", "x"],
    )
    .await
    .unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "function {} not found in {SECONDARY}",
            topology.function_name("failover", SECONDARY)
        )),
        "{}",
        run.stderr
    );

    // Usage errors: exit 2 with the usage text.
    let run = ctl(&env, &["evacuate", SECONDARY]).await.unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("needs --reason"), "{}", run.stderr);
    assert!(run.stderr.contains("usage: ctl"), "{}", run.stderr);
    let help: Value = Value::String(ctl(&env, &["help"]).await.unwrap().stdout);
    assert!(help.as_str().unwrap().contains("exit codes"));
}

/// Lambda answers an operator's Invoke with 429 `TooManyRequestsException` while other runs
/// hold the function's reserved concurrency (the tick, an event run, a drill waiting for its
/// surge). `ctl` retries it itself, one stderr line per retry naming Lambda's reason, and
/// answers as if nothing happened (the SDK's own hidden retries do not count: ctl must say so).
#[tokio::test(flavor = "multi_thread")]
async fn ctl_retries_a_throttled_invoke_and_still_answers() {
    let world = world().await;
    let (topology, deployment, env) = deployed(world, "cb").await;

    // this topology's account only: the other tests of this world are left alone
    let fault = world
        .post(
            "/faults",
            serde_json::json!({"service": "lambda", "operation": "Invoke", "kind": "throttle",
                               "count": 2, "account": topology.spec.account}),
        )
        .await;
    let id = fault["id"].as_str().expect("fault id").to_string();
    let run = ctl(&env, &["status", "--json"]).await.unwrap();
    let faults = world.get("/faults").await;
    world.delete(&format!("/faults/{id}")).await;

    let injected = faults["faults"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["id"] == id.as_str()))
        .map(|f| f["injected"].clone());
    assert_eq!(injected, Some(serde_json::json!(2)), "{faults}");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["errors"], serde_json::json!([]), "{run:?}");
    let retries: Vec<&str> = run.stderr.lines().filter(|l| l.contains("retry")).collect();
    assert_eq!(retries.len(), 2, "one line per retry: {}", run.stderr);
    eprintln!("ctl's stderr:\n{}", run.stderr);
    for line in retries {
        for part in [
            "is busy",
            "TooManyRequestsException",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        ] {
            assert!(line.contains(part), "{part:?} not in {line:?}");
        }
    }
    deployment.stop().await;
}
