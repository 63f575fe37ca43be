//! Crash points: a function killed between two steps, and the next run converging.
//! For every mutating call of every function's action (each state write, each gate,
//! each event, each notice, each schedule, each provisioned-concurrency write, each SSM
//! write, each metric), the world lets the call take effect and holds its answer, and
//! the process is killed as soon as the world shows the effect: the function dies just
//! after that step. A fresh process then runs the next scheduled run (failover's tick,
//! the scheduler's reconcile, the monitor's check), which must leave the state
//! converged (before or after the action, gates agreeing, nothing owed, nothing lost),
//! and the run after it must change nothing.

use super::failover::{arrange, Pre};
use super::{
    alerts, calls_since, env_for, evacuated_event, function_binary, invoke_ok, is_write, last_seq,
    manual, monitor_world, occurrence, pc, private_world, replica, scheduler_world, send, send_ok,
    set_routing, settle, tick, view, write_summary, Announced, Call, FaultKind, Matrix, View,
};
use serde_json::{json, Value};
use std::time::Duration;
use testkit::runtime::FunctionProcess;
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, SECONDARY};

/// Runs `payload` in `f` with the `skip`-th `call` held after its effect, and kills `f`
/// once the world shows that effect. False if the function answered without reaching
/// the call.
#[allow(clippy::too_many_arguments)]
async fn crash_after(
    mut f: FunctionProcess,
    world: &LocalAws,
    account: &str,
    operator: &str,
    payload: Value,
    call: &Call,
    skip: usize,
) -> bool {
    let seq = last_seq(world).await;
    world
        .post("/faults", FaultKind::Crash.spec(call, account, skip, 1))
        .await;
    let watch = async {
        loop {
            let v = world
                .get(&format!(
                    "/calls?account={account}&service={}&operation={}&since={seq}",
                    call.service, call.operation
                ))
                .await;
            if v["calls"]
                .as_array()
                .is_some_and(|calls| calls.iter().any(|c| c["outcome"] == "fault:latency-after"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let reached = tokio::select! {
        _ = send(&mut f, operator, payload) => false,
        () = watch => true,
    };
    f.stop().await;
    reached
}

/// The writes of a clean run: (index in the sequence, call).
fn writes(sequence: &[Call]) -> Vec<(usize, Call)> {
    sequence
        .iter()
        .enumerate()
        .filter(|(_, c)| is_write(c))
        .map(|(i, c)| (i, c.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_points_failover_every_write_then_the_next_tick_converges() {
    let world = &private_world().await;
    world
        .post(
            "/throttling",
            json!({"service": "route53", "enabled": false}),
        )
        .await;
    let topology = Topology::create(world, Spec::new("cpf"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let env = env_for(world, &topology, &topology.config());
    let bin = function_binary("failover");
    let spawn = || async {
        FunctionProcess::spawn(&bin, "failover", &env)
            .await
            .expect("failover starts")
    };
    let mut g = spawn().await;
    let operator = topology.operator();
    let mut matrix = Matrix::default();
    let actions = [
        (
            "evacuate",
            Pre::Active,
            manual("evacuate", json!({"region": SECONDARY})),
        ),
        (
            "restore",
            Pre::Evacuated(SECONDARY),
            manual("restore", json!({"region": SECONDARY})),
        ),
        (
            "drill start",
            Pre::Active,
            manual(
                "drill",
                json!({"region": SECONDARY, "duration_minutes": 30}),
            ),
        ),
        (
            "drill end",
            Pre::Drill(SECONDARY),
            manual("end_drill", json!({})),
        ),
    ];
    for (name, pre_at, payload) in actions {
        let name = format!("failover {name}");
        let pre = arrange(&mut g, &operator, pre_at).await;
        let seq = last_seq(world).await;
        let earlier = Announced::read(world, &account).await;
        let clean = send_ok(&mut g, &operator, payload.clone()).await;
        let sequence = calls_since(world, &account, seq).await;
        let clean_announced = Announced::read(world, &account).await.since(&earlier);
        assert_eq!(clean["outcome"], "applied", "{name}: {clean}");
        let post = view(&mut g).await;
        for (i, call) in writes(&sequence) {
            let skip = occurrence(&sequence, i);
            arrange(&mut g, &operator, pre_at).await;
            let seq = last_seq(world).await;
            let earlier = Announced::read(world, &account).await;
            let reached = crash_after(
                spawn().await,
                world,
                &account,
                &operator,
                payload.clone(),
                &call,
                skip,
            )
            .await;
            let ctx = || format!("{name} killed after #{i} {call}");
            matrix.check(reached, || format!("{}: the call was never made", ctx()));
            matrix.fired(world, &account, seq, &call, skip, ctx).await;
            settle(world, seq).await;
            let died = view(&mut g).await;
            // The next scheduled run, in a fresh process.
            let mut next = spawn().await;
            let healed = invoke_ok(&mut next, tick()).await;
            let after: View = view(&mut next).await;
            matrix.check(healed["outcome"] != "failed", || {
                format!("{}: the next tick failed: {healed}", ctx())
            });
            matrix.check(after.same_state(&pre) || after.same_state(&post), || {
                format!("{}: neither before nor after: {after:?}", ctx())
            });
            matrix.check(after.gates_match && after.owed == 0, || {
                format!(
                    "{}: not converged after the tick: {after:?} ({healed})",
                    ctx()
                )
            });
            let again = invoke_ok(&mut next, tick()).await;
            matrix.check(again["outcome"] == "noop", || {
                format!("{}: the tick after is not a noop: {again}", ctx())
            });
            if after.same_state(&post) {
                let sent = Announced::read(world, &account).await.since(&earlier);
                let missing = sent.missing(&clean_announced);
                matrix.check(missing.is_empty(), || {
                    format!("{}: lost: {missing:?} (sent {sent:?})", ctx())
                });
            }
            next.stop().await;
            let outcome = format!(
                "{}: {} after the crash, next tick {}, then {}",
                if after.same_state(&post) {
                    "converged after"
                } else {
                    "converged before"
                },
                if died.same_state(&post) {
                    "state after"
                } else {
                    "state before"
                },
                healed["outcome"].as_str().unwrap_or("?"),
                again["outcome"].as_str().unwrap_or("?"),
            );
            matrix.add(&name, i, &call, FaultKind::Crash, outcome);
        }
    }
    g.stop().await;
    matrix.finish("crash-points-failover");
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_points_scheduler_every_write_then_the_next_reconcile_converges() {
    let (world, topology, config) = scheduler_world("cps").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let env = env_for(world, &topology, &config);
    let bin = function_binary("concurrency-scheduler");
    let spawn = || async {
        FunctionProcess::spawn(&bin, "concurrency-scheduler", &env)
            .await
            .expect("concurrency-scheduler starts")
    };
    let mut g = spawn().await;
    let _ = g.invoke(json!({"action": "plan"})).await;
    let mut matrix = Matrix::default();
    let name = "scheduler surge 2->4";
    async fn arrange(g: &mut FunctionProcess, world: &LocalAws, topology: &Topology) {
        set_routing(world, topology, None).await;
        invoke_ok(g, tick()).await;
        assert_eq!(pc(world, topology).await, Some((2, "READY".into())));
        set_routing(world, topology, Some(SECONDARY)).await;
    }
    arrange(&mut g, world, &topology).await;
    let seq = last_seq(world).await;
    let clean = invoke_ok(&mut g, evacuated_event(SECONDARY)).await;
    let sequence = calls_since(world, &account, seq).await;
    assert_eq!(clean["outcome"], "applied", "{clean}");
    for (i, call) in writes(&sequence) {
        let skip = occurrence(&sequence, i);
        arrange(&mut g, world, &topology).await;
        let seq = last_seq(world).await;
        let reached = crash_after(
            spawn().await,
            world,
            &account,
            &topology.operator(),
            evacuated_event(SECONDARY),
            &call,
            skip,
        )
        .await;
        let ctx = || format!("{name} killed after #{i} {call}");
        matrix.check(reached, || format!("{}: the call was never made", ctx()));
        matrix.fired(world, &account, seq, &call, skip, ctx).await;
        settle(world, seq).await;
        let mut next = spawn().await;
        let healed = invoke_ok(&mut next, tick()).await;
        let now = pc(world, &topology).await;
        matrix.check(healed["outcome"] != "failed", || {
            format!("{}: the next reconcile failed: {healed}", ctx())
        });
        matrix.check(now == Some((4, "READY".into())), || {
            format!("{}: the next reconcile left {now:?}: {healed}", ctx())
        });
        let again = invoke_ok(&mut next, tick()).await;
        matrix.check(again["outcome"] == "noop", || {
            format!("{}: the reconcile after is not a noop: {again}", ctx())
        });
        next.stop().await;
        matrix.add(
            name,
            i,
            &call,
            FaultKind::Crash,
            format!(
                "converged: next reconcile {}, then {}",
                healed["outcome"].as_str().unwrap_or("?"),
                again["outcome"].as_str().unwrap_or("?")
            ),
        );
    }
    g.stop().await;
    matrix.finish("crash-points-scheduler");
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_points_monitor_every_write_then_the_next_check_converges() {
    let (world, topology, config) = monitor_world("cpm").await;
    let world = &world;
    let account = topology.spec.account.clone();
    let env = env_for(world, &topology, &config);
    let bin = function_binary("replication-monitor");
    let spawn = || async {
        FunctionProcess::spawn(&bin, "replication-monitor", &env)
            .await
            .expect("replication-monitor starts")
    };
    let mut g = spawn().await;
    let _ = g.invoke(json!({"action": "check", "dry_run": true})).await;
    let mut matrix = Matrix::default();
    let name = "monitor secrets alert";
    let breach = "secrets replication over threshold";
    async fn arrange(g: &mut FunctionProcess, world: &LocalAws, topology: &Topology) {
        replica(world, topology, "InSync").await;
        let r = invoke_ok(g, tick()).await;
        assert_ne!(r["outcome"], "failed", "{r}");
        replica(world, topology, "Failed").await;
    }
    arrange(&mut g, world, &topology).await;
    let seq = last_seq(world).await;
    let before = alerts(world, &topology, breach).await;
    invoke_ok(&mut g, tick()).await;
    let sequence = calls_since(world, &account, seq).await;
    assert_eq!(alerts(world, &topology, breach).await, before + 1);
    for (i, call) in writes(&sequence) {
        let skip = occurrence(&sequence, i);
        arrange(&mut g, world, &topology).await;
        let before = alerts(world, &topology, breach).await;
        let seq = last_seq(world).await;
        let reached = crash_after(
            spawn().await,
            world,
            &account,
            &topology.operator(),
            tick(),
            &call,
            skip,
        )
        .await;
        let ctx = || format!("{name} killed after #{i} {call}");
        matrix.check(reached, || format!("{}: the call was never made", ctx()));
        matrix.fired(world, &account, seq, &call, skip, ctx).await;
        settle(world, seq).await;
        let mut next = spawn().await;
        let healed = invoke_ok(&mut next, tick()).await;
        matrix.check(healed["outcome"] != "failed", || {
            format!("{}: the next check failed: {healed}", ctx())
        });
        let total = alerts(world, &topology, breach).await - before;
        matrix.check(total >= 1, || {
            format!("{}: the crossing was never alerted", ctx())
        });
        invoke_ok(&mut next, tick()).await;
        let settled = alerts(world, &topology, breach).await - before;
        matrix.check(settled == total, || {
            format!("{}: alerted again without a new crossing", ctx())
        });
        next.stop().await;
        matrix.add(
            name,
            i,
            &call,
            FaultKind::Crash,
            format!(
                "converged: alerted {total}x (at least once), next check {}",
                healed["outcome"].as_str().unwrap_or("?")
            ),
        );
    }
    g.stop().await;
    matrix.finish("crash-points-monitor");
}

/// Invokes `payload` and kills the process as soon as the call log shows `operation`
/// (which the world holds without answering): the process dies between two steps.
async fn kill_at(
    mut f: FunctionProcess,
    world: &LocalAws,
    account: &str,
    operator: &str,
    payload: Value,
    service: &str,
    operation: &str,
) {
    let seq = last_seq(world).await;
    let watch = async {
        loop {
            let calls = calls_since(world, account, seq).await;
            if calls
                .iter()
                .any(|c| c.service == service && c.operation == operation)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        reply = send(&mut f, operator, payload) => panic!("the function answered before {operation}: {reply:?}"),
        () = watch => {}
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_after_the_state_cas_before_the_gate_heals_on_the_next_tick() {
    let world = &private_world().await;
    let topology = Topology::create(world, Spec::new("crf"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let env = env_for(world, &topology, &topology.config());
    let bin = function_binary("failover");
    let spawn = || FunctionProcess::spawn(&bin, "failover", &env);
    // The gate update hangs (and is then dropped unapplied): the process is killed meanwhile.
    for spec in [
        json!({"service": "route53", "operation": "UpdateHealthCheck", "kind": "latency", "latencyMs": 20000, "count": 1}),
        json!({"service": "route53", "operation": "UpdateHealthCheck", "kind": "drop", "count": 1}),
    ] {
        world.post("/faults", spec).await;
    }
    let f = spawn().await.unwrap();
    kill_at(
        f,
        world,
        &account,
        &topology.operator(),
        manual("evacuate", json!({"region": SECONDARY})),
        "route53",
        "UpdateHealthCheck",
    )
    .await;
    world.delete("/faults").await;

    let mut g = spawn().await.unwrap();
    let died = view(&mut g).await;
    assert_eq!(
        died.evacuated,
        vec![SECONDARY.to_string()],
        "the CAS happened"
    );
    assert!(!died.gates_match, "the gate was not updated: {died:?}");
    let healed = invoke_ok(&mut g, tick()).await;
    assert_eq!(healed["outcome"], "applied", "{healed}");
    assert!(
        healed["reason"]
            .as_str()
            .unwrap()
            .contains("repaired gates"),
        "{healed}"
    );
    let after = view(&mut g).await;
    assert!(
        after.gates_match && after.evacuated == died.evacuated,
        "{after:?}"
    );
    let again = invoke_ok(&mut g, tick()).await;
    assert_eq!(again["outcome"], "noop", "converged: {again}");
    println!("crash point failover (after CAS, before gate): killed; next tick repaired the gate");
    write_summary(
        "crash-failover",
        "failover killed after the state CAS, before the gate update: next tick applied (repaired gates), then noop\n",
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_after_a_provisioned_concurrency_put_before_ready_converges() {
    let (world, topology, mut config) = scheduler_world("crs").await;
    let world = &world;
    let account = topology.spec.account.clone();
    config["concurrency"]["ready_timeout"] = json!("30s");
    let env = env_for(world, &topology, &config);
    let bin = function_binary("concurrency-scheduler");
    let spawn = || FunctionProcess::spawn(&bin, "concurrency-scheduler", &env);
    let mut f = spawn().await.unwrap();
    let _ = f.invoke(json!({"action": "plan"})).await;
    invoke_ok(&mut f, tick()).await;
    assert_eq!(pc(world, &topology).await, Some((2, "READY".into())));
    // Slow to become READY, so the process dies while the change is IN_PROGRESS.
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 3}),
        )
        .await;
    set_routing(world, &topology, Some(SECONDARY)).await;
    kill_at(
        f,
        world,
        &account,
        &topology.operator(),
        evacuated_event(SECONDARY),
        "lambda",
        "PutProvisionedConcurrencyConfig",
    )
    .await;
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"readyDelaySeconds": 0.2}),
        )
        .await;
    let mut g = spawn().await.unwrap();
    let next = invoke_ok(&mut g, tick()).await;
    assert_ne!(next["outcome"], "failed", "{next}");
    assert_eq!(pc(world, &topology).await, Some((4, "READY".into())));
    let again = invoke_ok(&mut g, tick()).await;
    assert_eq!(again["outcome"], "noop", "converged: {again}");
    // Back down after the region returns: the crash left nothing behind.
    set_routing(world, &topology, None).await;
    let down = invoke_ok(&mut g, tick()).await;
    assert_eq!(down["outcome"], "applied", "{down}");
    assert_eq!(pc(world, &topology).await, Some((2, "READY".into())));
    println!("crash point scheduler (after put, before READY): killed; next reconcile converged at 4, then back to 2");
    write_summary(
        "crash-scheduler",
        "scheduler killed after PutProvisionedConcurrencyConfig, before READY: next reconcile converged (4 READY), noop after, back to 2 on restore\n",
    );
    g.stop().await;
}
