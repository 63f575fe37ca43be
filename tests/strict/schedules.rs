//! Time as AWS keeps it: an EventBridge Scheduler one-time schedule fires at its
//! time (within AWS's 60-second precision) into its Lambda target and deletes itself,
//! and provisioned concurrency stays IN_PROGRESS for the minute or two AWS takes to
//! allocate it. Both durations are scaled by the world's time scale
//! (`GET /_localaws/time-scale`), which these tests read, never change.

use serde_json::{json, Value};
use shared::aws::lambda::{Lambda, PcStatus, ProvisionedConcurrency};
use shared::aws::scheduler::DrillSchedules;
use std::time::{Duration, Instant};
use testkit::{LocalAws, PRIMARY};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// This test's own 12-digit account: "6" and 11 digits of a hash of its name, so
/// tests sharing the world never share quotas, functions or schedules.
fn account_for(test: &str) -> String {
    testkit::account_for('6', test)
}

fn unique() -> String {
    format!("{}", chrono::Utc::now().timestamp_micros() % 100_000_000)
}

/// The world's time scale: AWS's durations last `scale` times as long here.
async fn time_scale(world: &LocalAws) -> f64 {
    let v = world.get("/time-scale").await;
    v["scale"]
        .as_f64()
        .unwrap_or_else(|| panic!("no time scale: {v}"))
}

/// A stand-in for the failover function as the world's invoke target: every payload
/// POSTed to it goes to the channel (with when it arrived), answered like a function.
async fn function_stand_in() -> (
    String,
    mpsc::UnboundedReceiver<(chrono::DateTime<chrono::Utc>, Value)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/invoke", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(testkit::http::serve(listener, move |request| {
        let tx = tx.clone();
        async move {
            let payload = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&request.body).to_string())
            });
            let _ = tx.send((chrono::Utc::now(), payload));
            testkit::http::respond(200, &[], r#"{"outcome":"applied"}"#)
        }
    }));
    (url, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_end_schedule_fires_its_input_into_failover_and_deletes_itself() {
    let world = LocalAws::shared().await;
    let account = account_for("strict::schedules::drill_end");
    let id = unique();
    let function = format!("orders-failover-strict-{id}");
    let (url, mut received) = function_stand_in().await;
    world
        .register_invoke_target(&account, PRIMARY, &function, &url)
        .await;

    let scheduler = aws_sdk_scheduler::Client::new(&world.sdk_config(&account, PRIMARY));
    let group = format!("drills-{id}");
    scheduler
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("schedule group");
    let schedules = DrillSchedules::from_client(
        scheduler.clone(),
        &group,
        Some(format!("arn:aws:iam::{account}:role/scheduler-drills")),
        PRIMARY,
    );
    let drill_id = format!("drill-strict-{id}");
    let target_arn = format!("arn:aws:lambda:{PRIMARY}:{account}:function:{function}");
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    schedules
        .create(&drill_id, at, &target_arn)
        .await
        .expect("the drill-end schedule is created");
    let name = DrillSchedules::name(&drill_id);

    // at(...) has whole seconds; AWS invokes within the 60 s after that time.
    let scale = time_scale(world).await;
    let scheduled = at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos().into());
    let latest = scheduled + chrono::Duration::milliseconds((60_000.0 * scale) as i64 + 5_000);
    let wait = (latest - chrono::Utc::now()).to_std().unwrap_or_default();
    let (arrived, payload) = tokio::time::timeout(wait, received.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the schedule {group}/{name} did not fire within AWS's minute (time scale {scale})"
            )
        })
        .expect("stand-in alive");
    assert!(
        arrived >= scheduled - chrono::Duration::milliseconds(100),
        "fired at {arrived}, before its time {scheduled}"
    );
    assert_eq!(
        payload,
        json!({
            "task": "end_drill",
            "drill_id": drill_id,
            "schedule_arn": format!("arn:aws:scheduler:{PRIMARY}:{account}:schedule/{group}/{name}"),
        }),
        "the schedule's Input, context attributes substituted"
    );
    // … which failover reads as the end of this drill, fired by this schedule.
    match shared::events::Event::parse(&payload) {
        Ok(shared::events::Event::Schedule(tick)) => {
            assert_eq!(
                tick.task,
                shared::events::ScheduleTask::EndDrill {
                    drill_id: drill_id.clone()
                }
            );
            assert_eq!(tick.schedule.as_deref(), payload["schedule_arn"].as_str());
        }
        other => panic!("failover does not read the payload as a schedule: {other:?}"),
    }

    // ActionAfterCompletion DELETE: gone once its invocation completed.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match scheduler
            .get_schedule()
            .name(&name)
            .group_name(&group)
            .send()
            .await
        {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                break
            }
            other => assert!(
                Instant::now() < deadline,
                "the fired schedule is still there: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fired once: nothing more arrives, and ending the drill by hand finds it gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        received.try_recv().is_err(),
        "a one-time schedule fires once"
    );
    schedules
        .delete(&drill_id)
        .await
        .expect("deleting a schedule that deleted itself is fine");
    let firings = world
        .get(&format!("/scheduler/firings?account={account}&name={name}"))
        .await;
    assert_eq!(firings["firings"][0]["status"], "delivered", "{firings}");
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioned_concurrency_stays_in_progress_for_a_minute_or_two() {
    let world = LocalAws::shared().await;
    let account = account_for("strict::schedules::provisioned_concurrency");
    let function = format!("strict-pc-{}", unique());
    let config = world.sdk_config(&account, PRIMARY);
    testkit::topology::create_function_with_alias(
        world,
        &aws_sdk_lambda::Client::new(&config),
        &account,
        &function,
    )
    .await
    .expect("function with alias");
    // AWS's timing for this account, whatever delay other tests set world-wide.
    world
        .post(
            "/lambda/provisioned-concurrency/settings",
            json!({"account": account, "readyDelaySeconds": null}),
        )
        .await;
    let scale = time_scale(world).await;
    // "Lambda starts allocating provisioned concurrency after a minute or two of
    // preparation", then 6,000 environments a minute; none usable before all are.
    let level = 5u32;
    let earliest = Duration::from_secs_f64(60.0 * scale);
    let latest = Duration::from_secs_f64((120.0 + 60.0 * f64::from(level) / 6000.0) * scale)
        + Duration::from_secs(3);
    let poll = Duration::from_secs_f64((earliest.as_secs_f64() / 10.0).clamp(0.2, 2.0));

    let lambda = Lambda::new(&config);
    let start = Instant::now();
    let put = lambda.put(&function, "live", level).await.expect("put");
    assert_eq!(
        (put.status, put.requested, put.allocated),
        (PcStatus::InProgress, level, 0)
    );
    let ready_after = loop {
        let got = lambda
            .get(&function, "live")
            .await
            .expect("get")
            .expect("a config");
        let elapsed = start.elapsed();
        match got.status {
            PcStatus::Ready => {
                assert_eq!(got.allocated, level);
                break elapsed;
            }
            PcStatus::InProgress => {
                assert_eq!(got.allocated, 0, "nothing usable before all are allocated");
                assert!(
                    elapsed < latest,
                    "still IN_PROGRESS after {elapsed:?} (time scale {scale})"
                );
            }
            PcStatus::Failed => panic!("FAILED: {got:?}"),
        }
        tokio::time::sleep(poll).await;
    };
    assert!(
        ready_after >= earliest,
        "READY after {ready_after:?}: AWS prepares for at least a minute ({earliest:?} at time scale {scale})"
    );
}
