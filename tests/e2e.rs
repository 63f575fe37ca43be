//! End to end: the real `failover` binary under the Lambda Runtime API emulator,
//! against the local AWS world, fed real event payloads.

use serde_json::json;
use testkit::runtime::{FunctionProcess, Reply};
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

pub use testkit::{binary, fixture};

/// Starts `name` for `topology` in `region` (see `testkit::deploy::start`).
pub async fn start(
    world: &LocalAws,
    name: &str,
    topology: &Topology,
    region: &str,
) -> FunctionProcess {
    testkit::deploy::start(world, name, topology, region)
        .await
        .expect("function starts")
}

async fn calls_by(world: &LocalAws, account: &str) -> u64 {
    world
        .get(&format!("/calls/counters?account={account}"))
        .await["total"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_binary_answers_status_rejects_malformed_and_evacuates() {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, Spec::new("e2e1"))
        .await
        .expect("topology");
    let mut f = start(world, "failover", &topology, PRIMARY).await;

    let status = f
        .invoke(json!({"action": "status"}))
        .await
        .unwrap()
        .ok()
        .unwrap();
    assert_eq!(status["outcome"], "noop", "{status}");
    assert_eq!(status["reason"], "2 of 2 regions active, epoch 0");
    assert_eq!(status["state"]["regions"][SECONDARY]["gate"]["open"], true);

    // Malformed input: a clear non-retryable error, and not one AWS call.
    let before = calls_by(world, &topology.spec.account).await;
    for bad in [
        json!({"hello": "world"}),
        json!([1, 2]),
        json!({"action": "evacuate", "region": "us-east-1"}),
    ] {
        match f.invoke(bad.clone()).await.unwrap() {
            Reply::Error {
                error_type,
                error_message,
            } => {
                assert_eq!(error_type, "NonRetryable", "{bad}: {error_message}");
                assert!(!error_message.is_empty());
            }
            other => panic!("{bad} was accepted: {other:?}"),
        }
    }
    assert_eq!(
        calls_by(world, &topology.spec.account).await,
        before,
        "rejected events must not call AWS"
    );

    // A routing action by direct Invoke (no function URL, so no verified caller) is
    // refused in one line, whatever it claims, and nothing is called or changed.
    let before = calls_by(world, &topology.spec.account).await;
    let direct = f
        .invoke(json!({"action": "evacuate", "region": SECONDARY, "reason": "test", "force": true}))
        .await
        .unwrap();
    let Reply::Error {
        error_type,
        error_message,
    } = direct
    else {
        panic!("a direct Invoke evacuated: {direct:?}");
    };
    assert_eq!(error_type, "NonRetryable");
    assert!(
        error_message.contains("needs the operator entry point") && !error_message.contains('\n'),
        "{error_message}"
    );
    assert_eq!(calls_by(world, &topology.spec.account).await, before);
    assert_eq!(topology.gate_threshold(world, SECONDARY).await, 2);

    // An unknown region is refused with a reason, and nothing changes.
    let operator = topology.operator();
    let refused = f
        .invoke_as(
            &operator,
            json!({"action": "evacuate", "region": "ap-south-1", "reason": "test"}),
        )
        .await
        .unwrap()
        .ok()
        .unwrap();
    assert_eq!(refused["outcome"], "refused");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("unknown region"),
        "{refused}"
    );

    // us-east-1's endpoints fail: Route 53 sees it, its health alarm goes to ALARM, and
    // the alarm fixture (EventBridge shape, dated days ago) evacuates it: failover decides
    // on the alarm as CloudWatch has it now, not on the event's age.
    topology.set_region_endpoints(world, SECONDARY, false).await;
    let changes = topology.evaluate_alarms(world).await;
    assert!(changes.iter().any(|c| c["state"] == "ALARM"), "{changes:?}");
    let mut alarm = fixture("cloudwatch-alarm-state-change.json");
    testkit::address_alarm_event(
        &mut alarm,
        &topology.alarm_arn(&format!("orders-health-{SECONDARY}-e2e1")),
    );
    let applied = f.invoke(alarm.clone()).await.unwrap().ok().unwrap();
    assert_eq!(applied["outcome"], "applied", "{applied}");
    assert_eq!(
        topology.gate_threshold(world, SECONDARY).await,
        3,
        "us-east-1's gate is closed"
    );
    assert_eq!(
        topology.gate_threshold(world, PRIMARY).await,
        2,
        "eu-central-1's gate stays open"
    );
    assert_eq!(
        topology.answering_regions(world).await,
        vec![PRIMARY.to_string()]
    );

    // The same alarm again: nothing more.
    let again = f.invoke(alarm).await.unwrap().ok().unwrap();
    assert_eq!(again["outcome"], "noop", "{again}");

    // The last region can never be evacuated, forced or not.
    let last = f
        .invoke_as(
            &operator,
            json!({"action": "evacuate", "region": PRIMARY, "reason": "test", "force": true}),
        )
        .await
        .unwrap()
        .ok()
        .unwrap();
    assert_eq!(last["outcome"], "refused");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("min_active_regions"),
        "{last}"
    );

    // Restore brings it back, once its endpoints are healthy again.
    topology.set_region_endpoints(world, SECONDARY, true).await;
    let restored = f
        .invoke_as(
            &operator,
            json!({"action": "restore", "region": SECONDARY, "reason": "recovered"}),
        )
        .await
        .unwrap()
        .ok()
        .unwrap();
    assert_eq!(restored["outcome"], "applied", "{restored}");
    assert_eq!(topology.gate_threshold(world, SECONDARY).await, 2);
    assert_eq!(
        topology.answering_regions(world).await,
        vec![PRIMARY.to_string(), SECONDARY.to_string()]
    );

    // Every decision was logged as one JSON line.
    assert!(f.decisions().len() >= 5, "{:?}", f.output());
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_is_refused_at_start_with_every_problem() {
    let world = LocalAws::shared().await;
    let mut env = world.function_env(testkit::PROD, PRIMARY);
    env.push((
        "CONTROL_PLANE_CONFIG".into(),
        json!({"environment": "staging", "regions": ["eu-central-1"], "typo": 1}).to_string(),
    ));
    let mut f = FunctionProcess::spawn(&binary("failover"), "failover", &env)
        .await
        .unwrap();
    let err = f
        .invoke_with_timeout(
            json!({"action": "status"}),
            std::time::Duration::from_secs(20),
        )
        .await
        .unwrap_err();
    for expected in [
        "environment",
        "regions",
        "typo: unknown key",
        "service_name: missing",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_in_a_region_outside_the_allow_list_refuses_to_start() {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, Spec::new("e2e-home"))
        .await
        .expect("topology");
    for function in ["failover", "replication-monitor", "concurrency-scheduler"] {
        let mut env = world.function_env(&topology.spec.account, "ap-south-1");
        env.push(("CONTROL_PLANE_CONFIG".into(), topology.config().to_string()));
        let mut f = FunctionProcess::spawn(&binary(function), function, &env)
            .await
            .unwrap();
        let err = f
            .invoke_with_timeout(json!({"task": "tick"}), std::time::Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(
            err.contains("runs in ap-south-1, which is not in `regions`"),
            "{function}: {err}"
        );
    }
}

/// EventBridge Scheduler's default payload (what a Lambda target without `Input` receives:
/// source `aws.scheduler`, detail-type "Scheduled Event", detail the string "{}") is a tick
/// for all three functions; anything else from `aws.scheduler` is refused, non-retryable,
/// without an AWS call.
#[tokio::test(flavor = "multi_thread")]
async fn every_function_takes_the_scheduler_default_payload_as_a_tick() {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, Spec::new("e2e-sched"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    for function in testkit::deploy::FUNCTIONS {
        let mut f = start(world, function, &topology, PRIMARY).await;
        let mut event = fixture("scheduler-default-payload.json");
        event["account"] = json!(account);
        event["region"] = json!(PRIMARY);
        event["time"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        event["resources"] = json!([format!(
            "arn:aws:scheduler:{PRIMARY}:{account}:schedule/default/{}",
            topology.function_name(function, PRIMARY)
        )]);
        let out = f
            .invoke(event.clone())
            .await
            .unwrap()
            .ok()
            .unwrap_or_else(|e| panic!("{function} did not take the tick: {e}"));
        assert_eq!(out["function"], function, "{out}");
        assert_eq!(out["trigger"], "schedule", "{function}: {out}");

        let before = calls_by(world, &account).await;
        let mut cloudtrail = event.clone();
        cloudtrail["detail-type"] = json!("AWS API Call via CloudTrail");
        let mut object_detail = event.clone();
        object_detail["detail"] = json!({});
        let mut other_detail = event.clone();
        other_detail["detail"] = json!("{\"task\":\"end_drill\"}");
        for bad in [cloudtrail, object_detail, other_detail] {
            match f.invoke(bad.clone()).await.unwrap() {
                Reply::Error {
                    error_type,
                    error_message,
                } => {
                    assert_eq!(
                        error_type, "NonRetryable",
                        "{function} {bad}: {error_message}"
                    );
                    assert!(
                        error_message.contains("aws.scheduler"),
                        "{function} {bad}: {error_message}"
                    );
                }
                other => panic!("{function}: {bad} was accepted: {other:?}"),
            }
        }
        assert_eq!(
            calls_by(world, &account).await,
            before,
            "{function}: refused events must not call AWS"
        );
        f.stop().await;
    }
}

/// Lambda's JSON log format (Terraform sets it) takes one JSON object per line; any other
/// line is stored as an unparsed string that Logs Insights cannot query. A refused event
/// is logged as its decision record, one line, whatever `AWS_LAMBDA_LOG_FORMAT` says.
#[tokio::test(flavor = "multi_thread")]
async fn every_line_a_function_writes_for_a_refused_event_is_json() {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, Spec::new("e2e-json"))
        .await
        .expect("topology");
    let bad = [
        json!({"hello": "world"}),
        json!([1, 2]),
        json!("tick"),
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}),
    ];
    for format in ["JSON", "Text"] {
        for function in testkit::deploy::FUNCTIONS {
            let mut env = world.function_env(&topology.spec.account, PRIMARY);
            env.push(("CONTROL_PLANE_CONFIG".into(), topology.config().to_string()));
            env.push(("AWS_LAMBDA_LOG_FORMAT".into(), format.into()));
            let mut f = FunctionProcess::spawn(
                &binary(function),
                &topology.function_name(function, PRIMARY),
                &env,
            )
            .await
            .unwrap();
            let mut messages = Vec::new();
            for event in &bad {
                match f.invoke(event.clone()).await.unwrap() {
                    Reply::Error {
                        error_type,
                        error_message,
                    } => {
                        assert_eq!(error_type, "NonRetryable", "{function} {event}");
                        messages.push(error_message);
                    }
                    other => panic!("{function}: {event} was accepted: {other:?}"),
                }
            }
            // A line written after the error was posted still arrives.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let output = f.output();
            let context = format!("{function} ({format}):\n{}", output.join("\n"));
            let lines: Vec<serde_json::Value> = output
                .iter()
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(v) if v["level"].is_string() && v["message"].is_string() => v,
                    _ => panic!("not a JSON line with level and message: {l}\n{context}"),
                })
                .collect();
            let decisions: Vec<_> = lines
                .iter()
                .filter(|l| l["message"] == "decision")
                .collect();
            assert_eq!(
                decisions.len(),
                bad.len(),
                "one decision per refusal: {context}"
            );
            for (decision, message) in decisions.iter().zip(&messages) {
                assert_eq!(decision["function"], function, "{context}");
                assert_eq!(decision["outcome"], "refused", "{context}");
                assert_eq!(decision["error_type"], "NonRetryable", "{context}");
                assert_eq!(decision["reason"], message.as_str(), "{context}");
            }
            // Nothing else repeats a refusal (the runtime's own line, in Rust debug form).
            for message in &messages {
                let quoted = serde_json::to_string(message).unwrap();
                let inner = &quoted[1..quoted.len() - 1];
                let lines_with_it = output.iter().filter(|l| l.contains(inner)).count();
                assert_eq!(
                    lines_with_it, 1,
                    "{message:?} logged more than once: {context}"
                );
            }
            f.stop().await;
        }
    }
}
