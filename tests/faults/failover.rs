//! The failover fault matrix. Every action is run against each region (the copy in the
//! other region asks, as an operator in the healthy region would), the last active
//! region is asked to go (refused, whatever breaks), and both copies evacuate each
//! other's region at once. For each, every call of the clean run is broken in turn,
//! and the case is judged on the state, the gates, the report, the heal by the next
//! tick, and the events and notices: a change whose `Region Evacuated` (or notice)
//! never landed is a loss unless a later run of the case sent it.

use super::{
    answered_calls_since, call_list, invoke_ok, kinds_for, last_seq, manual, occurrence,
    outcome_of, private_world, reported, send_ok, settle, spawn_copy, tick, view, Announced, Call,
    Matrix, View, ATTEMPTS,
};
use serde_json::{json, Value};
use testkit::runtime::FunctionProcess;
use testkit::topology::{Spec, Topology};
use testkit::{PRIMARY, SECONDARY};

/// What the world is arranged to before an action.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pre {
    Active,
    Evacuated(&'static str),
    Drill(&'static str),
}

/// Which copy runs a payload: the one in eu-central-1 or the one in us-east-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copy {
    Primary,
    Secondary,
}

struct Copies {
    eu: FunctionProcess,
    us: FunctionProcess,
    /// The operator session routing actions are signed by.
    operator: String,
}

impl Copies {
    fn get(&mut self, copy: Copy) -> &mut FunctionProcess {
        match copy {
            Copy::Primary => &mut self.eu,
            Copy::Secondary => &mut self.us,
        }
    }
}

/// The copy that acts on `region`: the one in the other region.
fn other(region: &str) -> Copy {
    if region == PRIMARY {
        Copy::Secondary
    } else {
        Copy::Primary
    }
}

struct Action {
    name: String,
    pre: Pre,
    /// One payload, or two run at once (by different copies).
    payloads: Vec<(Copy, Value)>,
    /// The clean run's outcomes, sorted.
    expect: Vec<&'static str>,
}

fn evacuate(region: &'static str) -> Value {
    manual("evacuate", json!({"region": region}))
}

fn actions() -> Vec<Action> {
    let full = std::env::var("FAULTS_FULL").is_ok_and(|v| v == "1");
    let one = |name: String, pre, region: &str, payload: Value, expect| Action {
        name,
        pre,
        payloads: vec![(other(region), payload)],
        expect: vec![expect],
    };
    let mut out = Vec::new();
    for region in [SECONDARY, PRIMARY] {
        out.push(one(
            format!("evacuate {region}"),
            Pre::Active,
            region,
            evacuate(region),
            "applied",
        ));
        out.push(one(
            format!("restore {region}"),
            Pre::Evacuated(region),
            region,
            manual("restore", json!({"region": region})),
            "applied",
        ));
    }
    // Drills: on us-east-1 always, on eu-central-1 too in the soak.
    for region in if full {
        vec![SECONDARY, PRIMARY]
    } else {
        vec![SECONDARY]
    } {
        out.push(one(
            format!("drill start {region}"),
            Pre::Active,
            region,
            manual("drill", json!({"region": region, "duration_minutes": 30})),
            "applied",
        ));
        out.push(one(
            format!("drill end {region}"),
            Pre::Drill(region),
            region,
            manual("end_drill", json!({})),
            "applied",
        ));
    }
    // Both in turn: the other region is out, so this one is the last; forced, so only
    // min_active_regions stands in the way.
    for (region, out_already) in [(PRIMARY, SECONDARY), (SECONDARY, PRIMARY)] {
        let mut payload = evacuate(region);
        payload["force"] = json!(true);
        out.push(one(
            format!("evacuate last {region}"),
            Pre::Evacuated(out_already),
            region,
            payload,
            "refused",
        ));
    }
    // At once: each copy evacuates the other's region; exactly one may win.
    out.push(Action {
        name: "evacuate both at once".into(),
        pre: Pre::Active,
        payloads: vec![
            (Copy::Primary, evacuate(SECONDARY)),
            (Copy::Secondary, evacuate(PRIMARY)),
        ],
        expect: vec!["applied", "refused"],
    });
    out
}

/// Brings the world to `pre` (no faults): ends drills, restores, evacuates, ticks.
pub(super) async fn arrange(f: &mut FunctionProcess, operator: &str, pre: Pre) -> View {
    let v = view(f).await;
    if v.drill.is_some() {
        send_ok(f, operator, manual("end_drill", json!({}))).await;
    }
    let v = view(f).await;
    for region in &v.evacuated {
        send_ok(
            f,
            operator,
            manual("restore", json!({"region": region, "force": true})),
        )
        .await;
    }
    match pre {
        Pre::Active => {}
        Pre::Evacuated(region) => {
            send_ok(f, operator, evacuate(region)).await;
        }
        Pre::Drill(region) => {
            send_ok(
                f,
                operator,
                manual("drill", json!({"region": region, "duration_minutes": 30})),
            )
            .await;
        }
    }
    invoke_ok(f, tick()).await;
    let v = view(f).await;
    assert!(v.gates_match && v.owed == 0, "arranged {pre:?}: {v:?}");
    v
}

/// Runs the action's payloads (at once when there are two); their replies, in order.
async fn run(copies: &mut Copies, action: &Action) -> Vec<testkit::runtime::Reply> {
    let answer = |r: Result<testkit::runtime::Reply, _>| r.expect("the function answers");
    match action.payloads.as_slice() {
        [(copy, payload)] => {
            let operator = copies.operator.clone();
            vec![answer(
                super::send(copies.get(*copy), &operator, payload.clone()).await,
            )]
        }
        [(Copy::Primary, pa), (Copy::Secondary, pb)] => {
            let (a, b) = tokio::join!(
                super::send(&mut copies.eu, &copies.operator, pa.clone()),
                super::send(&mut copies.us, &copies.operator, pb.clone())
            );
            vec![answer(a), answer(b)]
        }
        other => panic!("{} payloads", other.len()),
    }
}

fn outcomes(replies: &[testkit::runtime::Reply]) -> Vec<String> {
    let mut o: Vec<String> = replies.iter().map(outcome_of).collect();
    o.sort();
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix_failover() {
    let world = &private_world().await;
    // Route 53's request quota off in this private world, and only here: the matrix
    // replays a failover run for every call of it and every fault kind, dozens of runs
    // a second, far above a deployment's rate (a tick a minute per copy); a quota
    // refusal would be a fault the matrix did not inject and cannot attribute. The quota
    // itself is exercised by strict::quotas and the racing copies in failover.rs.
    world
        .post(
            "/throttling",
            json!({"service": "route53", "enabled": false}),
        )
        .await;
    let topology = Topology::create(world, Spec::new("fmf"))
        .await
        .expect("topology");
    let account = topology.spec.account.clone();
    let config = topology.config();
    let mut copies = Copies {
        eu: spawn_copy(world, &topology, &config, "failover", PRIMARY).await,
        us: spawn_copy(world, &topology, &config, "failover", SECONDARY).await,
        operator: topology.operator(),
    };
    let mut matrix = Matrix::default();

    for (a, action) in actions().into_iter().enumerate() {
        let name = action.name.as_str();
        // The clean run: its calls, the state it leads to, what it announces.
        let pre = arrange(&mut copies.eu, &copies.operator, action.pre).await;
        let seq = last_seq(world).await;
        let earlier = Announced::read(world, &account).await;
        let clean = run(&mut copies, &action).await;
        let sequence = answered_calls_since(world, &account, seq).await;
        let clean_announced = Announced::read(world, &account).await.since(&earlier);
        let post = view(&mut copies.eu).await;
        matrix.check(outcomes(&clean) == action.expect, || {
            format!(
                "{name}: the clean run answered {clean:?}, not {:?}",
                action.expect
            )
        });
        matrix.check(post.evacuated.len() < 2, || {
            format!("{name}: the clean run evacuated every region: {post:?}")
        });
        matrix.check(post.gates_match && post.owed == 0, || {
            format!("{name}: the clean run left {post:?}")
        });
        // What a case may end in: the state before, or one the clean run could reach
        // (at once, either copy may win).
        let afters: Vec<View> = if action.payloads.len() == 2 {
            [PRIMARY, SECONDARY]
                .iter()
                .map(|r| View {
                    evacuated: vec![r.to_string()],
                    ..post.clone()
                })
                .collect()
        } else {
            vec![post.clone()]
        };
        let changes = !post.same_state(&pre);
        println!(
            "{name}: {} AWS calls: {}",
            sequence.len(),
            call_list(&sequence)
        );

        // At once, the calls interleave differently each run: break the first call of
        // each operation (which every run makes); alone, every call in turn.
        let targets: Vec<(usize, Call)> = if action.payloads.len() == 2 {
            let mut seen: Vec<&Call> = Vec::new();
            sequence
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    let first = !seen.contains(c);
                    seen.push(c);
                    first
                })
                .map(|(i, c)| (i, c.clone()))
                .collect()
        } else {
            sequence.iter().cloned().enumerate().collect()
        };
        for (i, call) in targets {
            for kind in kinds_for(a, i, &call) {
                let skip = occurrence(&sequence, i);
                arrange(&mut copies.eu, &copies.operator, action.pre).await;
                let seq = last_seq(world).await;
                let earlier = Announced::read(world, &account).await;
                world
                    .post("/faults", kind.spec(&call, &account, skip, ATTEMPTS))
                    .await;
                let replies = run(&mut copies, &action).await;
                let ctx = || format!("{name} #{i} {call} {}: {replies:?}", kind.name());
                matrix.fired(world, &account, seq, &call, skip, ctx).await;
                settle(world, seq).await;
                let after = view(&mut copies.eu).await;
                let is_after = |v: &View| afters.iter().any(|p| v.same_state(p));
                matrix.check(after.same_state(&pre) || is_after(&after), || {
                    format!("{}: state is neither before nor after: {after:?}", ctx())
                });
                matrix.check(after.evacuated.len() < 2, || {
                    format!("{}: every region evacuated: {after:?}", ctx())
                });
                let done = is_after(&after) && after.gates_match && after.owed == 0;
                if !done && changes {
                    matrix.check(replies.iter().any(reported), || {
                        format!("{}: not done ({after:?}) and not reported", ctx())
                    });
                }
                // The next scheduled run heals what is left.
                let healed = invoke_ok(&mut copies.eu, tick()).await;
                matrix.check(healed["outcome"] != "failed", || {
                    format!("{}: the tick failed: {healed}", ctx())
                });
                let after_tick = view(&mut copies.eu).await;
                matrix.check(after_tick.gates_match && after_tick.owed == 0, || {
                    format!(
                        "{}: after the tick, gates or announcements are off: {after_tick:?}",
                        ctx()
                    )
                });
                matrix.check(after_tick.evacuated.len() < 2, || {
                    format!(
                        "{}: every region evacuated after the tick: {after_tick:?}",
                        ctx()
                    )
                });
                let mut outcome = if done && !changes {
                    format!("unchanged: {}", outcomes(&replies).join("+"))
                } else if done {
                    format!("completed: {}", outcomes(&replies).join("+"))
                } else if is_after(&after_tick) {
                    format!("healed by tick: {}", outcomes(&replies).join("+"))
                } else {
                    // Nothing was written: the caller's retry (or the re-delivered event) completes it.
                    let retry = run(&mut copies, &action).await;
                    let retried = view(&mut copies.eu).await;
                    matrix.check(is_after(&retried) && retried.gates_match, || {
                        format!(
                            "{}: the retry did not complete: {retry:?} {retried:?}",
                            ctx()
                        )
                    });
                    format!("failed, retry completes: {}", outcomes(&replies).join("+"))
                };
                // A change announces what the clean run announced: every event and its
                // notice landed at least once by the end of the case (the run itself,
                // the tick's re-send, or the retry); otherwise it is a loss.
                if changes {
                    let sent = Announced::read(world, &account).await.since(&earlier);
                    // At once, the winner's region is the one announced.
                    let owed = if action.payloads.len() == 2 {
                        let out = view(&mut copies.eu).await.evacuated.join(",");
                        let one = vec![format!("Region Evacuated {out}")];
                        Announced {
                            events: one.clone(),
                            notices: one,
                        }
                    } else {
                        clean_announced.clone()
                    };
                    let missing = sent.missing(&owed);
                    matrix.check(missing.is_empty(), || {
                        format!("{}: lost: {missing:?} (sent {sent:?})", ctx())
                    });
                    if sent.events.len() > clean_announced.events.len()
                        || sent.notices.len() > clean_announced.notices.len()
                    {
                        outcome.push_str(" (announced again: at least once)");
                    }
                }
                matrix.add(name, i, &call, kind, outcome);
            }
        }
    }
    copies.eu.stop().await;
    copies.us.stop().await;
    matrix.finish("failover");
}
