//! The data-plane path: Route 53's control plane (us-east-1) does not answer, and
//! eu-central-1's copy evacuates us-east-1 from what it reads in its own region, then
//! reconciles once Route 53 answers again.

use super::*;
use crate::data_plane::{CONTROL_PLANE, DATA_PLANE};
use shared::aws::cloudwatch::AlarmReading;
use shared::local::LocalRecord;
use shared::metrics::MetricBatch;

const PROBE_US: &str = "orders-probe-us-east-1";
const US_URL: &str = "https://orders-us.example.com/health";

fn probing() -> Config {
    Config::from_value(&config_with_probes()).unwrap()
}

fn set_named_alarm(world: &FakeWorld, name: &str, state: AlarmState, at: DateTime<Utc>) {
    let reading = AlarmReading {
        name: name.into(),
        state,
        since: at,
    };
    world.alarms.lock().unwrap().insert(name.into(), reading);
}

/// The last value published for `name` with dimension Region=`region`.
fn last_metric(world: &FakeWorld, name: &str, region: &str) -> Option<f64> {
    let published = world.published.lock().unwrap();
    published
        .iter()
        .flat_map(MetricBatch::metrics)
        .filter(|m| m.name == name && m.dimensions == vec![("Region", region.to_string())])
        .map(|m| m.value)
        .next_back()
}

fn local(world: &FakeWorld) -> LocalRecord {
    world.local.lock().unwrap().0.clone()
}

/// A world where us-east-1 has been healthy for a while (the Route 53 alarms OK) and
/// eu-central-1's copy has read the shared state once.
async fn settled_world(c: &Config) -> FakeWorld {
    let world = FakeWorld::default();
    world.set_state(&RoutingState {
        epoch: 4,
        changed_at: Some(minutes(-60)),
        ..Default::default()
    });
    world.set_alarm("us-east-1", AlarmState::Ok, minutes(-60));
    world.set_alarm("eu-central-1", AlarmState::Ok, minutes(-60));
    set_named_alarm(&world, PROBE_US, AlarmState::Ok, minutes(-60));
    set_named_alarm(
        &world,
        "orders-probe-eu-central-1",
        AlarmState::Ok,
        minutes(-60),
    );
    world
        .probes
        .lock()
        .unwrap()
        .insert(US_URL.into(), shared::probe::ProbeAnswer::Status(200));
    let out = handle(tick_event(), &Invocation::default(), c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "noop", "{out}");
    assert_eq!(
        local(&world).shared.map(|s| s.epoch),
        Some(4),
        "the shared state is cached"
    );
    assert_eq!(
        last_metric(&world, "EndpointProbeHealthy", "us-east-1"),
        Some(1.0)
    );
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(0.0)
    );
    world
}

#[tokio::test]
async fn with_route53_dark_the_observer_evacuates_on_the_data_plane_then_reconciles() {
    let c = probing();
    let inv = Invocation::default();
    let world = settled_world(&c).await;
    // us-east-1 goes dark: its endpoints stop answering eu's probes, Route 53's
    // control plane stops answering everyone.
    world.probes.lock().unwrap().clear();
    *world.control_plane_down.lock().unwrap() = true;
    let thresholds = world.thresholds.lock().unwrap().clone();
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
        .await
        .unwrap();
    assert_eq!(
        out["outcome"], "noop",
        "the probe alarm is not in ALARM yet: {out}"
    );
    assert_eq!(
        last_metric(&world, "EndpointProbeHealthy", "us-east-1"),
        Some(0.0)
    );
    assert!(local(&world).control_plane_down_since.is_some(), "{out}");

    // Three minutes of failed probes later, eu's probe alarm (in eu) is in ALARM.
    set_named_alarm(&world, PROBE_US, AlarmState::Alarm, minutes(4));
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(4)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(out["path"], DATA_PLANE, "{out}");
    assert_eq!(out["changes"][0]["resource"], "region:us-east-1", "{out}");
    let record = local(&world);
    assert_eq!(
        record
            .closed_on_data_plane()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![us()]
    );
    assert!(
        record.view().evacuated[&us()].by.contains(PROBE_US),
        "{record:?}"
    );
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(1.0)
    );
    assert_eq!(
        *world.thresholds.lock().unwrap(),
        thresholds,
        "no UpdateHealthCheck"
    );
    assert_eq!(world.state().epoch, 4, "the shared state is untouched");
    assert_eq!(
        world
            .emitted
            .lock()
            .unwrap()
            .last()
            .map(|(k, r)| (*k, r.clone())),
        Some((ControlPlaneKind::RegionEvacuated, "us-east-1".into()))
    );

    // Still dark: the next tick keeps the gate closed and changes nothing.
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(5)))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "noop", "{out}");
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(1.0)
    );

    // us-east-1 back: reconciled into the shared state, the gate closed by its
    // threshold, and the data-plane child released.
    *world.control_plane_down.lock().unwrap() = false;
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(6)))
        .await
        .unwrap();
    let state = world.state();
    assert!(state.is_evacuated(&us()), "{out}");
    assert!(state.epoch > 4, "{out}");
    assert_eq!(
        world.thresholds.lock().unwrap().get(&us()),
        Some(&3),
        "{out}"
    );
    assert_eq!(out["path"], CONTROL_PLANE, "{out}");
    let timeline = out["timeline"].to_string();
    assert!(timeline.contains("reconciled"), "{out}");
    let record = local(&world);
    assert!(record.pending.is_none() && record.control_plane_down_since.is_none());
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(0.0)
    );

    // Failback by the usual rules: an operator restores it (the probe alarm OK).
    world
        .probes
        .lock()
        .unwrap()
        .insert(US_URL.into(), shared::probe::ProbeAnswer::Status(200));
    set_named_alarm(&world, PROBE_US, AlarmState::Ok, minutes(20));
    let out = arrive(
        json!({"action": "restore", "region": "us-east-1", "reason": "back"}),
        &inv,
        &c,
        &eu(),
        world.at(minutes(30)),
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert!(!world.state().is_evacuated(&us()));
}

#[tokio::test]
async fn the_data_plane_keeps_min_active_regions() {
    let c = probing();
    let world = settled_world(&c).await;
    // eu-central-1 itself was evacuated through Route 53 before it went dark.
    let mut cached = local(&world);
    let mut shared = cached.shared.clone().unwrap();
    shared.evacuated.insert(
        eu(),
        shared::routing::Evacuation {
            since: minutes(-30),
            by: "alice".into(),
            reason: "maintenance".into(),
            automatic: false,
            drill_id: None,
        },
    );
    cached.shared = Some(shared);
    world.local.lock().unwrap().0 = cached;
    *world.control_plane_down.lock().unwrap() = true;
    set_named_alarm(&world, PROBE_US, AlarmState::Alarm, minutes(1));
    let out = handle(
        tick_event(),
        &Invocation::default(),
        &c,
        &eu(),
        world.at(minutes(2)),
    )
    .await
    .unwrap();
    assert_ne!(out["outcome"], "applied", "{out}");
    assert!(local(&world).closed_on_data_plane().is_empty(), "{out}");
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_operator_evacuates_on_the_data_plane_and_status_answers_from_the_local_store() {
    let c = probing();
    let inv = Invocation::default();
    let world = settled_world(&c).await;
    *world.control_plane_down.lock().unwrap() = true;
    let out = arrive(
        json!({"action": "evacuate", "region": "us-east-1", "reason": "us-east-1 impaired"}),
        &inv,
        &c,
        &eu(),
        world.at(minutes(1)),
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(out["path"], DATA_PLANE, "{out}");
    assert_eq!(out["requested_by"], OPERATOR, "{out}");
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(1.0)
    );

    // A restore needs Route 53: it fails and changes nothing.
    let out = arrive(
        json!({"action": "restore", "region": "us-east-1", "reason": "too early"}),
        &inv,
        &c,
        &eu(),
        world.at(minutes(2)),
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "failed", "{out}");
    assert_eq!(local(&world).closed_on_data_plane().len(), 1);

    // eu-central-1 evacuating itself cannot be done from eu on the data plane: its
    // gate's data-plane child is closed by its observer, us-east-1.
    let out = arrive(
        json!({"action": "evacuate", "region": "eu-central-1", "reason": "x", "force": true}),
        &inv,
        &c,
        &eu(),
        world.at(minutes(3)),
    )
    .await
    .unwrap();
    assert_ne!(out["outcome"], "applied", "{out}");

    let out = handle(json!({"action": "status"}), &inv, &c, &eu(), &world)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "noop", "{out}");
    assert_eq!(
        out["state"]["source"], "local store in eu-central-1",
        "{out}"
    );
    assert_eq!(
        out["state"]["routing"]["evacuated"]["us-east-1"]["by"], OPERATOR,
        "{out}"
    );
    assert_eq!(
        out["state"]["data_plane"]["closed_on_data_plane"],
        json!(["us-east-1"])
    );
    let errors = out["errors"].to_string();
    assert!(
        errors.contains("routing state unreadable") && errors.contains("gate us-east-1 unreadable"),
        "{out}"
    );
}

/// The probe alarm's own event (in eu-central-1, where it lives) while Route 53 does
/// not answer: decided on the data plane at once, not failed into the dead-letter queue.
#[tokio::test]
async fn a_probe_alarm_event_with_route53_dark_evacuates_on_the_data_plane() {
    let c = probing();
    let world = settled_world(&c).await;
    *world.control_plane_down.lock().unwrap() = true;
    set_named_alarm(&world, PROBE_US, AlarmState::Alarm, minutes(3));
    let mut event = alarm_event_at("us-east-1", "ALARM", 3);
    event["region"] = json!("eu-central-1");
    event["resources"] = json!([format!(
        "arn:aws:cloudwatch:eu-central-1:333333333333:alarm:{PROBE_US}"
    )]);
    event["detail"]["alarmName"] = json!(PROBE_US);
    let out = handle(
        event,
        &Invocation::default(),
        &c,
        &eu(),
        world.at(minutes(3)),
    )
    .await
    .expect("not a retryable failure");
    assert_eq!(out["outcome"], "applied", "{out}");
    assert_eq!(out["path"], DATA_PLANE, "{out}");
    assert_eq!(
        last_metric(&world, "DataPlaneGateClosed", "us-east-1"),
        Some(1.0)
    );
    assert_eq!(world.state().epoch, 4, "the shared state is untouched");
}

/// A tick with the peer dark (its probe URLs do not answer, Route 53's control plane
/// down) whose first `call` and first Route 53 read must be in flight together: each waits
/// at one barrier for the other ([`meeting`]).
async fn dark_peer_tick_meeting(c: &Config, world: &FakeWorld, call: &str, apart: &str) -> Value {
    world.probes.lock().unwrap().clear();
    *world.control_plane_down.lock().unwrap() = true;
    world.meet_together(&[call, "read_state"]);
    meeting(
        handle(tick_event(), &Invocation::default(), c, &eu(), world),
        apart,
    )
    .await
    .unwrap()
}

/// A dark peer's probes and a Route 53 that does not answer are waited out together in
/// one tick, not one after the other: the first tick after the failure publishes the
/// failed probes after the longer of the two timeouts, not their sum.
#[tokio::test]
async fn a_tick_probes_while_it_reads_route53() {
    let c = probing();
    let world = settled_world(&c).await;
    let out = dark_peer_tick_meeting(
        &c,
        &world,
        "probe",
        "the probes and the Route 53 read were made one after the other",
    )
    .await;
    assert!(
        out.to_string().contains("probe of us-east-1 failed"),
        "{out}"
    );
    assert_eq!(
        last_metric(&world, "EndpointProbeHealthy", "us-east-1"),
        Some(0.0)
    );
}

/// A failed probe is published while the tick still waits on Route 53 (dark with
/// us-east-1, three attempt timeouts): the probe alarm does not wait for the rest of the
/// tick, and the tick's own batch does not publish the probes a second time.
#[tokio::test]
async fn a_failed_probe_is_published_before_route53_answers() {
    let c = probing();
    let world = settled_world(&c).await;
    world.published.lock().unwrap().clear();
    let out = dark_peer_tick_meeting(
        &c,
        &world,
        "publish",
        "the failed probes were published only after Route 53's read",
    )
    .await;
    assert!(
        out.to_string().contains("probe of us-east-1 failed"),
        "{out}"
    );
    let probe_metrics: Vec<(usize, f64)> = world
        .published
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            b.metrics()
                .iter()
                .filter(|m| m.name == "EndpointProbeHealthy")
                .map(|m| (i, m.value))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(probe_metrics, vec![(0, 0.0)], "published once, first");
}

/// While Route 53 is down, a tick decides and publishes the data-plane gates before it
/// probes: the close waits on nothing of the dark region (the probes' timeouts come
/// after, in a batch of their own).
#[tokio::test]
async fn with_route53_down_the_gates_are_published_before_the_probes() {
    let c = probing();
    let inv = Invocation::default();
    let world = settled_world(&c).await;
    world.probes.lock().unwrap().clear();
    *world.control_plane_down.lock().unwrap() = true;
    handle(tick_event(), &inv, &c, &eu(), world.at(minutes(1)))
        .await
        .unwrap();
    assert!(local(&world).control_plane_down_since.is_some());
    set_named_alarm(&world, PROBE_US, AlarmState::Alarm, minutes(4));
    world.published.lock().unwrap().clear();
    let out = handle(tick_event(), &inv, &c, &eu(), world.at(minutes(4)))
        .await
        .unwrap();
    assert_eq!(out["path"], DATA_PLANE, "{out}");
    let batches: Vec<Vec<(String, f64)>> = world
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            b.metrics()
                .iter()
                .map(|m| (m.name.to_string(), m.value))
                .collect()
        })
        .collect();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert!(
        batches[0].contains(&("DataPlaneGateClosed".into(), 1.0))
            && !batches[0].iter().any(|(n, _)| n == "EndpointProbeHealthy"),
        "the first batch closes the gate without the probes: {batches:?}"
    );
    assert_eq!(
        batches[1],
        vec![("EndpointProbeHealthy".to_string(), 0.0)],
        "{batches:?}"
    );
}
