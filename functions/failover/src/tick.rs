//! The every-minute tick: re-reads the health alarms and re-decides (level-triggered,
//! see `decide/tick.rs`), repairs gates that disagree with the state, sends what the
//! state still owes, and publishes `RegionActive`.

use crate::alarm::alarm_levels;
use crate::cas::change_from;
use crate::data_plane;
use crate::decide::{Request, Surge};
use crate::drill::peer_surge;
use crate::effects::{reconcile_gates, send_owed};
use crate::ports::World;
use crate::FUNCTION;
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::routing::{Drill, DrillPhase};
use shared::{Config, DecisionRecord, Outcome, Region};
use std::collections::BTreeMap;

pub async fn tick(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "tick", "schedule");
    // The local store (this region's table, never through Route 53) says which path
    // comes first.
    let local = data_plane::read_local(config, world).await;
    let mut local = local.unwrap_or_else(|e| {
        record.errors.push(format!("local store not read: {e}"));
        None
    });
    let read_at_start = local.clone();
    let down = local
        .as_ref()
        .is_some_and(|l| l.record.control_plane_down_since.is_some());
    let (owed_probes, (alarms, unread), read) = if let Some(l) = local.take_if(|_| down) {
        // Route 53 did not answer the last run: decide on the data plane first, from
        // this region's own alarms, and only then look whether it is back.
        let (alarms, unread) = alarm_levels(config, world, None, Some(home)).await;
        for e in unread {
            record.step(format!("alarm not read (decided without it): {e}"));
        }
        record.step("Route 53's control plane did not answer the last run: data plane first");
        let request = Request::Tick {
            alarms,
            surge: None,
        };
        let l = data_plane::decide_locally(request, l, config, home, world, &mut record).await;
        // The data-plane gates are published before anything waits on the dark region:
        // neither the probes' timeouts nor Route 53's may delay them.
        let (l, record_back) = finish_on_data_plane(
            l,
            read_at_start.clone(),
            &BTreeMap::new(),
            config,
            home,
            world,
            record,
        )
        .await;
        record = record_back;
        let (owed_probes, read) =
            tokio::join!(probe(config, home, world, &mut record), world.read_state());
        if let Err(e) = &read {
            record.step(format!(
                "Route 53's control plane still does not answer: {e}"
            ));
            // What the probes still owe (the healthy ones: failed ones went out the moment
            // they failed) in a batch of its own: a second PutMetricData, only while
            // Route 53 is down.
            publish_probes(config, home, &owed_probes, world, &mut record).await;
            return record;
        }
        record.step("Route 53's control plane answers again");
        local = Some(l);
        (
            owed_probes,
            alarm_levels(config, world, None, None).await,
            read,
        )
    } else {
        // Probes, alarms and state at once (the state before deciding: a preparing drill
        // needs its peers' surge read): a dark peer's probe timeout and a Route 53 that
        // does not answer are waited out together, not one after the other.
        tokio::join!(
            probe(config, home, world, &mut record),
            alarm_levels(config, world, None, None),
            world.read_state()
        )
    };
    for e in unread {
        record.step(format!("alarm not read (decided without it): {e}"));
    }
    let mut reconciled = false;
    let read = match (read, local.take()) {
        (Err(e), Some(mut l)) if data_plane::control_plane_unreachable(&e) => {
            record.step(format!(
                "Route 53's control plane does not answer ({e}): deciding on the data plane"
            ));
            l.record.control_plane_down_since.get_or_insert(world.now());
            let request = Request::Tick {
                alarms,
                surge: None,
            };
            let l = data_plane::decide_locally(request, l, config, home, world, &mut record).await;
            return finish_on_data_plane(
                l,
                read_at_start,
                &owed_probes,
                config,
                home,
                world,
                record,
            )
            .await
            .1;
        }
        (Ok(state), Some(mut l)) => {
            l.record.control_plane_down_since = None;
            let read = match data_plane::reconcile_into_shared(
                state.clone(),
                &mut l,
                config,
                world,
                &mut record,
            )
            .await
            {
                // The state changed: decide on it as it is now.
                Ok(true) => {
                    reconciled = true;
                    world.read_state().await
                }
                Ok(false) => Ok(state),
                Err(e) => {
                    record.errors.push(format!("reconcile: {e}"));
                    Ok(state)
                }
            };
            local = Some(l);
            read
        }
        (read, l) => {
            local = l;
            read
        }
    };
    if record.path.is_none() {
        record.path = Some(data_plane::CONTROL_PLANE.into());
    }
    let preparing = match &read {
        Ok(Some((state, _))) => state
            .drill
            .clone()
            .filter(|d| d.phase == DrillPhase::Preparing),
        _ => None,
    };
    let surge = match &preparing {
        Some(drill) => Some(surge_of(drill, config, world).await),
        None => None,
    };
    let request = Request::Tick { alarms, surge };
    let Some(mut settled) =
        change_from(Some(read), request, false, config, world, &mut record).await
    else {
        return record;
    };
    let evacuated: Vec<Region> = settled.state.evacuated.keys().cloned().collect();
    let decided = record.outcome;
    if matches!(decided, Outcome::Noop | Outcome::Refused) {
        // A change brings the gates to the state and sends what is owed; without one, a
        // gate may still disagree (a failed update, a hand edit) or an event be owed.
        let before = record.changes.len();
        match reconcile_gates(&settled.state, &settled.gates, config, world, &mut record).await {
            Err(e) => {
                record.outcome = Outcome::Failed;
                record.reason = format!("gate repair failed: {e}");
            }
            Ok(()) if record.changes.len() > before => {
                record.outcome = Outcome::Applied;
                record.reason = "repaired gates that disagreed with the routing state".into();
                let _ = world
                    .notify(
                        &format!("[{}] failover repaired gates", config.service_name),
                        &record.reason,
                    )
                    .await;
            }
            Ok(()) => {}
        }
        let owed = settled.state.unannounced.len();
        if owed > 0 {
            let reason =
                format!("{owed} announcement(s) owed by an earlier change, sent by the tick");
            settled = send_owed(settled, &reason, config, world, &mut record).await;
            if settled.state.unannounced.is_empty() && record.outcome == Outcome::Noop {
                record.outcome = Outcome::Applied;
                record.reason = reason;
            }
        }
    }
    let mut metrics = MetricBatch::default();
    for region in &config.regions {
        let active = if evacuated.contains(region) { 0.0 } else { 1.0 };
        metrics
            .push(Metric::new("RegionActive", active, Unit::None).dim("Region", region.as_str()));
    }
    if let (Some(dp), Some(l)) = (&config.failover.data_plane, local.as_mut()) {
        if l.record.shared.as_ref() != Some(&settled.state) {
            l.record.shared = Some(settled.state.clone());
            l.record.shared_read_at = Some(world.now());
        }
        data_plane::push_metrics(dp, home, &l.record, &owed_probes, &mut metrics);
        if read_at_start.as_ref() != Some(l) {
            data_plane::save(l, world, &mut record).await;
        }
    }
    if let Err(e) = world.publish(metrics).await {
        record.errors.push(format!("metrics: {e}"));
    }
    if reconciled && record.outcome != Outcome::Failed {
        record.outcome = Outcome::Applied;
        record.reason = format!(
            "reconciled the data plane's decisions into the shared state; then: {}",
            record.reason
        );
    }
    if record.changes.is_empty() {
        record.path = None;
    }
    record
}

/// Probes the regions `home` observes and notes the failed ones. A failed probe is
/// published at once, in a batch of its own (one request more, only in failing minutes):
/// the probe alarm must not wait on the rest of the tick, which, with us-east-1 dark, is
/// Route 53's read timing out (three attempts of the attempt timeout). Returns the probes
/// whose metric the tick still owes: the healthy ones, or failed ones not published.
async fn probe(
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> BTreeMap<Region, (bool, String)> {
    let answers = data_plane::probe_observed(config, home, world).await;
    let mut failed = false;
    for (region, (healthy, told)) in &answers {
        if !healthy {
            failed = true;
            record.step(format!("probe of {region} failed: {told}"));
        }
    }
    if failed && publish_probes(config, home, &answers, world, record).await {
        return BTreeMap::new();
    }
    answers
}

/// `EndpointProbeHealthy` for every region `home` observes, in a batch of its own; false
/// when nothing went out (no probes, or the publish failed: noted in the record).
async fn publish_probes(
    config: &Config,
    home: &Region,
    probes: &BTreeMap<Region, (bool, String)>,
    world: &impl World,
    record: &mut DecisionRecord,
) -> bool {
    let Some(dp) = &config.failover.data_plane else {
        return false;
    };
    if probes.is_empty() {
        return false;
    }
    let mut metrics = MetricBatch::default();
    data_plane::push_probe_metrics(dp, home, probes, &mut metrics);
    match world.publish(metrics).await {
        Ok(()) => true,
        Err(e) => {
            record.errors.push(format!("metrics: {e}"));
            false
        }
    }
}

/// The end of a tick decided on the data plane: the local store kept, the probes' and
/// the data-plane gates' metrics published in this region. Nothing else is touched.
async fn finish_on_data_plane(
    mut local: data_plane::Local,
    read_at_start: Option<data_plane::Local>,
    probes: &BTreeMap<Region, (bool, String)>,
    config: &Config,
    home: &Region,
    world: &impl World,
    mut record: DecisionRecord,
) -> (data_plane::Local, DecisionRecord) {
    if read_at_start.as_ref() != Some(&local) {
        data_plane::save(&mut local, world, &mut record).await;
    }
    let mut metrics = MetricBatch::default();
    if let Some(dp) = &config.failover.data_plane {
        data_plane::push_metrics(dp, home, &local.record, probes, &mut metrics);
    }
    let view = local.record.view();
    for region in &config.regions {
        let active = if view.is_evacuated(region) { 0.0 } else { 1.0 };
        metrics
            .push(Metric::new("RegionActive", active, Unit::None).dim("Region", region.as_str()));
    }
    if let Err(e) = world.publish(metrics).await {
        record.errors.push(format!("metrics: {e}"));
    }
    (local, record)
}

/// How a preparing drill's surge stands: its peers' provisioned concurrency now.
async fn surge_of(drill: &Drill, config: &Config, world: &impl World) -> Surge {
    let peers: Vec<Region> = config.peers_of(&drill.region).cloned().collect();
    peer_surge(&peers, drill.peer_level_before.unwrap_or(0), world).await
}
