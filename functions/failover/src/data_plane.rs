//! The data-plane path (README, "Two paths"). While Route 53's control plane (served
//! from us-east-1) does not answer, a region's copy decides on what it can read in its
//! own region (its alarms, its local store) under the same rules, and closes the gate
//! of a region it observes by publishing `DataPlaneGateClosed` in its own region: the
//! gate's CLOUDWATCH_METRIC child follows the alarm on that metric. Nothing on this
//! path calls Route 53 or another region. What it decides is kept in the local store and
//! merged into the shared state ([`shared::local::reconcile`]) once Route 53 answers.

use crate::cas::{fail, routing_changes, CAS_ATTEMPTS};
use crate::decide::{decide, Decision, RegionHealth, Replication, Request};
use crate::ports::World;
use serde_json::json;
use shared::aws::local_store::LocalWrite;
use shared::aws::route53::{CasResult, StateVersion};
use shared::config::DataPlaneConfig;
use shared::events::ControlPlaneDetail;
use shared::local::{reconcile, LocalRecord, LocalVersion};
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::probe::all_healthy;
use shared::routing::RoutingState;
use shared::{Config, DecisionRecord, Error, Outcome, Region, Result};
use std::collections::BTreeMap;

/// Which path a change took, as decision records say it.
pub const CONTROL_PLANE: &str = "control plane";
pub const DATA_PLANE: &str = "data plane";

/// The local store as this run last read or wrote it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Local {
    pub record: LocalRecord,
    pub version: LocalVersion,
}

/// Whether a failed Route 53 call means its control plane is not answering (a
/// timeout, a 5xx, throttling past the retries) rather than a refusal of the request.
pub fn control_plane_unreachable(error: &Error) -> bool {
    error.is_retryable()
}

/// The local store, when the data-plane path is configured.
pub async fn read_local(config: &Config, world: &impl World) -> Result<Option<Local>> {
    if config.failover.data_plane.is_none() {
        return Ok(None);
    }
    let (record, version) = world.read_local().await?;
    Ok(Some(Local { record, version }))
}

/// Probes every region `home` observes: region -> reachable, with each probe's answer.
pub async fn probe_observed(
    config: &Config,
    home: &Region,
    world: &impl World,
) -> BTreeMap<Region, (bool, String)> {
    let Some(dp) = &config.failover.data_plane else {
        return BTreeMap::new();
    };
    let probes = dp.observed_by(home).map(|region| async move {
        let urls = dp.probes.get(region).cloned().unwrap_or_default();
        let answers = world.probe(&urls, dp.probe_timeout.as_std()).await;
        let told = answers
            .iter()
            .map(|(url, a)| format!("{url}: {a:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        (region.clone(), (all_healthy(&answers), told))
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .collect()
}

/// `EndpointProbeHealthy` and `DataPlaneGateClosed` for every region `home` observes.
pub fn push_metrics(
    dp: &DataPlaneConfig,
    home: &Region,
    local: &LocalRecord,
    probes: &BTreeMap<Region, (bool, String)>,
    metrics: &mut MetricBatch,
) {
    let closed = local.closed_on_data_plane();
    for region in dp.observed_by(home) {
        let value = if closed.contains(region) { 1.0 } else { 0.0 };
        metrics.push(
            Metric::new("DataPlaneGateClosed", value, Unit::None).dim("Region", region.as_str()),
        );
    }
    push_probe_metrics(dp, home, probes, metrics);
}

/// `EndpointProbeHealthy` for every region `home` observes and probed.
pub fn push_probe_metrics(
    dp: &DataPlaneConfig,
    home: &Region,
    probes: &BTreeMap<Region, (bool, String)>,
    metrics: &mut MetricBatch,
) {
    for region in dp.observed_by(home) {
        if let Some((healthy, _)) = probes.get(region) {
            let value = if *healthy { 1.0 } else { 0.0 };
            metrics.push(
                Metric::new("EndpointProbeHealthy", value, Unit::None)
                    .dim("Region", region.as_str()),
            );
        }
    }
}

/// Health as the data plane can know it: this region is serving (it runs this
/// function and reads its own alarms; its replication readiness is read here when the
/// rules ask for it); every other region's gate is unknown, so counted unhealthy, which
/// the rules never evacuate towards.
async fn local_health(
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> BTreeMap<Region, RegionHealth> {
    let replication = if config.failover.readiness.require_replication_ready {
        match world
            .replication_ready(home, config.failover.readiness.max_age.as_std())
            .await
        {
            Ok(latest) => Replication::from_reading(latest),
            Err(e) => {
                record
                    .errors
                    .push(format!("ReplicationReady in {home}: {e}"));
                Replication::Stale
            }
        }
    } else {
        Replication::NotRequired
    };
    config
        .regions
        .iter()
        .map(|region| {
            let health = if region == home {
                RegionHealth {
                    gate_healthy: true,
                    endpoints_healthy: true,
                    replication,
                }
            } else {
                RegionHealth {
                    gate_healthy: false,
                    endpoints_healthy: false,
                    replication: Replication::Stale,
                }
            };
            (region.clone(), health)
        })
        .collect()
}

/// Decides `request` on this region's view (the local store) and, for an evacuation
/// of a region `home` observes, records it in the local store and announces it. Any
/// other change waits for Route 53's control plane: restoring is not urgent, and only
/// the observer can close a region's data-plane gate child.
pub async fn decide_locally(
    request: Request,
    mut local: Local,
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Local {
    let Some(dp) = &config.failover.data_plane else {
        return local;
    };
    let health = local_health(config, home, world, record).await;
    for attempt in 1..=CAS_ATTEMPTS {
        let view = local.record.view();
        let decision = decide(
            &request,
            &view,
            &config.regions,
            &health,
            &config.failover,
            world.now(),
        );
        record.state = json!({ "routing": view, "path": DATA_PLANE, "local": &local.record });
        let (next, reason, events) = match decision {
            Decision::Noop(reason) => {
                record.outcome = Outcome::Noop;
                record.reason = reason;
                return local;
            }
            Decision::Refuse(reason) => {
                record.outcome = Outcome::Refused;
                record.reason = reason.clone();
                let _ = world
                    .notify(
                        &format!("[{}] failover refused", config.service_name),
                        &reason,
                    )
                    .await;
                return local;
            }
            // Alarm news alone: the shared state records it once Route 53 answers.
            Decision::Note {
                reason, refused, ..
            } => {
                record.outcome = if refused {
                    Outcome::Refused
                } else {
                    Outcome::Noop
                };
                record.reason = reason;
                return local;
            }
            Decision::Change {
                state,
                reason,
                events,
            } => (state, reason, events),
        };
        let evacuating: Vec<Region> = next
            .evacuated
            .keys()
            .filter(|r| !view.is_evacuated(r))
            .cloned()
            .collect();
        let only_evacuations = view.evacuated.keys().all(|r| next.is_evacuated(r))
            && view.drill == next.drill
            && !evacuating.is_empty();
        let observed: Vec<&Region> = dp.observed_by(home).collect();
        if !only_evacuations || !evacuating.iter().all(|r| observed.contains(&r)) {
            record.outcome = Outcome::Noop;
            record.reason = format!(
                "would apply: {reason}; this waits for Route 53's control plane: on the data plane \
                 {home} only evacuates the regions it observes ({})",
                observed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return local;
        }
        let mut next = next;
        // Announced from here, now: nothing is owed to the shared state.
        next.unannounced.clear();
        let mut written = local.record.clone();
        written.pending = Some(next.clone());
        match world.write_local(local.version, &written).await {
            Ok(LocalWrite::Written(version)) => {
                record.changes = routing_changes(&view, &next, &config.regions);
                record.path = Some(DATA_PLANE.into());
                record.outcome = Outcome::Applied;
                record.reason = format!(
                    "{reason} (on the data plane: DataPlaneGateClosed=1 in {home} closes the gate's \
                     metric child; reconciled into the shared state when Route 53 answers)"
                );
                record.step(format!(
                    "local store written (version {}): {} closed on the data plane",
                    version.0,
                    evacuating
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                announce(&next, &reason, &events, config, world, record).await;
                return Local {
                    record: written,
                    version,
                };
            }
            Ok(LocalWrite::Lost) => {
                record.step(format!(
                    "local store moved on (attempt {attempt}): re-reading"
                ));
                match world.read_local().await {
                    Ok((r, v)) => {
                        local = Local {
                            record: r,
                            version: v,
                        }
                    }
                    Err(e) => return fail(record, e).unwrap_or(local),
                }
            }
            Err(e) => return fail(record, e).unwrap_or(local),
        }
    }
    record.outcome = Outcome::Failed;
    record.reason =
        format!("the local store moved on {CAS_ATTEMPTS} times in a row; the next run retries");
    local
}

async fn announce(
    state: &RoutingState,
    reason: &str,
    events: &[(shared::events::ControlPlaneKind, Region)],
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    for (kind, region) in events {
        let detail = ControlPlaneDetail {
            region: region.to_string(),
            epoch: state.epoch,
            reason: format!("{reason} (data plane)"),
            drill_id: None,
            expires_at: None,
        };
        match world.emit(*kind, &detail).await {
            Ok(()) => record.step(format!("emitted {} {region}", kind.detail_type())),
            Err(e) => record
                .errors
                .push(format!("could not emit {}: {e}", kind.detail_type())),
        }
    }
    let subject = format!(
        "[{}] {} (data plane)",
        config.service_name,
        events
            .iter()
            .map(|(k, r)| format!("{} {r}", k.detail_type()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Err(e) = world.notify(&subject, reason).await {
        record.errors.push(format!("could not notify: {e}"));
    }
}

/// Merges what this region decided on the data plane into the shared state by
/// compare-and-swap (the rule: [`shared::local::reconcile`]), starting from `read`;
/// then the local store holds nothing pending. True when the shared state changed.
pub async fn reconcile_into_shared(
    read: Option<(RoutingState, StateVersion)>,
    local: &mut Local,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Result<bool> {
    if local.record.pending.is_none() {
        return Ok(false);
    }
    let mut read = Some(read);
    for attempt in 1..=CAS_ATTEMPTS {
        let (shared, version) = match read.take() {
            Some(Some((s, v))) => (s, Some(v)),
            Some(None) => (RoutingState::default(), None),
            None => match world.read_state().await? {
                Some((s, v)) => (s, Some(v)),
                None => (RoutingState::default(), None),
            },
        };
        let merged = reconcile(
            &shared,
            &local.record,
            &config.regions,
            config.failover.min_active_regions,
        );
        if !merged.kept.is_empty() {
            match world.swap_state(version.as_ref(), &merged.state).await? {
                CasResult::Swapped => {}
                CasResult::Lost => {
                    record.step(format!(
                        "reconcile: compare-and-swap lost (attempt {attempt}): re-reading"
                    ));
                    continue;
                }
            }
            record
                .changes
                .extend(routing_changes(&shared, &merged.state, &config.regions));
        }
        let kept = merged
            .kept
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        record.step(format!(
            "reconciled the data plane's decisions into the shared state (epoch {}): kept [{kept}]",
            merged.state.epoch
        ));
        for (region, why) in &merged.dropped {
            record.step(format!(
                "reconcile: {region}'s data-plane evacuation dropped: {why}"
            ));
        }
        if !merged.dropped.is_empty() {
            let _ = world
                .notify(
                    &format!("[{}] failover reconciled", config.service_name),
                    &merged
                        .dropped
                        .iter()
                        .map(|(r, why)| format!("{r}: data-plane evacuation dropped: {why}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .await;
        }
        local.record.pending = None;
        local.record.shared = Some(merged.state);
        local.record.shared_read_at = Some(world.now());
        local.record.control_plane_down_since = None;
        save(local, world, record).await;
        return Ok(!merged.kept.is_empty());
    }
    Err(Error::State(format!(
        "reconcile: compare-and-swap lost {CAS_ATTEMPTS} times in a row; the next run retries"
    )))
}

/// An event or an operator's request decided at once on the data plane (the tick would
/// reach the same within a minute): the local store read, the decision recorded in it,
/// and the data-plane gates published. False when there is no local store to decide on
/// (no `failover.data_plane`, or it does not answer): the caller fails as before.
pub async fn decide_now(
    request: Request,
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> bool {
    let Some(dp) = &config.failover.data_plane else {
        return false;
    };
    let mut local = match read_local(config, world).await {
        Ok(Some(local)) => local,
        Ok(None) => return false,
        Err(e) => {
            record.errors.push(format!("local store: {e}"));
            return false;
        }
    };
    let read_version = local.version;
    local
        .record
        .control_plane_down_since
        .get_or_insert(world.now());
    let mut local = decide_locally(request, local, config, home, world, record).await;
    if local.version == read_version {
        // Nothing decided: still remember that Route 53 did not answer.
        save(&mut local, world, record).await;
    }
    let mut metrics = MetricBatch::default();
    push_metrics(dp, home, &local.record, &BTreeMap::new(), &mut metrics);
    if let Err(e) = world.publish(metrics).await {
        record.errors.push(format!("metrics: {e}"));
    }
    true
}

/// Writes the local record as this run leaves it (one conditional write). A write lost
/// to another run of this region is left to the next tick, which reads it again: the
/// pending decisions are written by [`decide_locally`] itself, never only here.
pub async fn save(local: &mut Local, world: &impl World, record: &mut DecisionRecord) {
    match world.write_local(local.version, &local.record).await {
        Ok(LocalWrite::Written(version)) => local.version = version,
        Ok(LocalWrite::Lost) => {
            record.step("local store moved on meanwhile: the next tick writes it")
        }
        Err(e) => record.errors.push(format!("local store: {e}")),
    }
}
