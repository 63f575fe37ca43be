//! The failover decisions: pure functions over the routing state, the health
//! of the regions and the policy. No I/O, no SDK types.

use chrono::{DateTime, Utc};
use shared::config::FailoverConfig;
use shared::events::ControlPlaneKind;
use shared::routing::{AlarmNews, Drill, DrillPhase, Evacuation, RoutingState};
use shared::Region;
use std::collections::BTreeMap;

/// Who or what asked for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub by: String,
    pub reason: String,
    /// An alarm or timer rather than a person: subject to the hourly cap, never forced.
    pub automatic: bool,
    /// A person overriding the readiness gate and the dwell time (never the last-region rule).
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Evacuate {
        region: Region,
        actor: Actor,
        /// When the alarm changed state (alarm-driven requests only): an event older
        /// than the region's last routing change is a late or repeated delivery.
        observed_at: Option<DateTime<Utc>>,
    },
    Restore {
        region: Region,
        actor: Actor,
    },
    /// First step of a drill: record it as preparing, so the peer surges.
    PrepareDrill {
        region: Region,
        drill_id: String,
        expires_at: DateTime<Utc>,
        actor: Actor,
    },
    /// Second step: evacuate the drill's region.
    StartDrill {
        drill_id: String,
        actor: Actor,
    },
    /// End the drill (`None`: whichever is running).
    EndDrill {
        drill_id: Option<String>,
        actor: Actor,
    },
    /// A region's health alarm went OK.
    Recovered {
        region: Region,
        observed_at: Option<DateTime<Utc>>,
    },
    /// A region's health alarm went to ALARM while it is already out.
    Relapsed {
        region: Region,
        observed_at: Option<DateTime<Utc>>,
    },
    /// The scheduled tick: expired drills and automatic failback.
    Tick,
}

/// What failover knows about a region's ability to take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    Ready,
    NotReady,
    /// No datapoint within `readiness.max_age`.
    Stale,
    /// Not checked (not required by config).
    NotRequired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RegionHealth {
    /// The gate's children meet its threshold (endpoints healthy and gate open).
    pub gate_healthy: bool,
    /// The endpoint checks alone are healthy (ignoring the gate's threshold).
    pub endpoints_healthy: bool,
    pub replication: Replication,
}

impl RegionHealth {
    pub fn ready_for_traffic(&self) -> Result<(), String> {
        if !self.gate_healthy {
            return Err("its gate health check is unhealthy".into());
        }
        match self.replication {
            Replication::Ready | Replication::NotRequired => Ok(()),
            Replication::NotReady => Err("its ReplicationReady is 0".into()),
            Replication::Stale => Err("its ReplicationReady is stale or unknown".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
// A decision is made once per invocation: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// Write `state` (by CAS), then reconcile gates and emit `events`.
    Change {
        state: RoutingState,
        reason: String,
        events: Vec<(ControlPlaneKind, Region)>,
    },
    Noop(String),
    Refuse(String),
    /// Routing stays as it is, but `state` records an alarm event's news (so a
    /// repeat or an older event is recognised): write it by CAS, nothing else.
    Note {
        state: RoutingState,
        refused: bool,
        reason: String,
    },
}

/// Decides a request. Alarm-driven requests are first checked against the newest
/// alarm news of their region: a repeated or older event is a noop, and a newer
/// one is recorded in the state whatever the decision.
pub fn decide(
    request: &Request,
    state: &RoutingState,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Decision {
    let Some((region, news)) = alarm_news(request) else {
        return decide_request(request, state, regions, health, policy, now);
    };
    if state.is_stale_alarm(region, news.at) {
        let seen = &state.alarms[region];
        return Decision::Noop(format!(
            "stale alarm event for {region}: {} at {} is not newer than {} at {} already handled (a repeated or late delivery)",
            news.state, news.at, seen.state, seen.at
        ));
    }
    let remember = |mut next: RoutingState| {
        next.alarms.insert(region.clone(), news.clone());
        next
    };
    match decide_request(request, state, regions, health, policy, now) {
        Decision::Change {
            state: next,
            reason,
            events,
        } => Decision::Change {
            state: remember(next),
            reason,
            events,
        },
        Decision::Noop(reason) => Decision::Note {
            state: remember(state.clone()),
            refused: false,
            reason,
        },
        Decision::Refuse(reason) => Decision::Note {
            state: remember(state.clone()),
            refused: true,
            reason,
        },
        note @ Decision::Note { .. } => note,
    }
}

/// The alarm state change an alarm-driven request carries.
fn alarm_news(request: &Request) -> Option<(&Region, AlarmNews)> {
    let (region, at, state) = match request {
        Request::Evacuate {
            region,
            observed_at: Some(at),
            ..
        }
        | Request::Relapsed {
            region,
            observed_at: Some(at),
        } => (region, at, "ALARM"),
        Request::Recovered {
            region,
            observed_at: Some(at),
        } => (region, at, "OK"),
        _ => return None,
    };
    Some((
        region,
        AlarmNews {
            at: *at,
            state: state.into(),
        },
    ))
}

fn decide_request(
    request: &Request,
    state: &RoutingState,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Decision {
    let mut next = state.clone();
    next.prune(now);
    match request {
        Request::Evacuate { region, actor, .. } => {
            if let Some(e) = state.evacuated.get(region) {
                return Decision::Noop(format!(
                    "{region} is already evacuated since {} ({})",
                    e.since, e.reason
                ));
            }
            if let Err(why) = may_evacuate(region, actor, state, regions, health, policy, now) {
                return Decision::Refuse(why);
            }
            evacuate(&mut next, region, actor, None, now);
            Decision::Change {
                state: next,
                reason: format!("evacuated {region}: {}", actor.reason),
                events: vec![(ControlPlaneKind::RegionEvacuated, region.clone())],
            }
        }
        Request::Restore { region, actor } => {
            if !state.is_evacuated(region) {
                return Decision::Noop(format!("{region} is already active"));
            }
            if let Err(why) = may_restore(region, actor, state, health, policy, now) {
                return Decision::Refuse(why);
            }
            let mut events = vec![(ControlPlaneKind::RegionRestored, region.clone())];
            if next.drill.as_ref().is_some_and(|d| &d.region == region) {
                next.drill = None;
                events.push((ControlPlaneKind::DrillEnded, region.clone()));
            }
            restore(&mut next, region, now);
            Decision::Change {
                state: next,
                reason: format!("restored {region}: {}", actor.reason),
                events,
            }
        }
        Request::PrepareDrill {
            region,
            drill_id,
            expires_at,
            actor,
        } => {
            if let Some(d) = &state.drill {
                return Decision::Refuse(format!(
                    "drill {} on {} is already in progress until {}",
                    d.id, d.region, d.expires_at
                ));
            }
            if state.is_evacuated(region) {
                return Decision::Refuse(format!(
                    "{region} is already evacuated: nothing to drill"
                ));
            }
            if let Err(why) = may_evacuate(region, actor, state, regions, health, policy, now) {
                return Decision::Refuse(why);
            }
            next.drill = Some(Drill {
                id: drill_id.clone(),
                region: region.clone(),
                phase: DrillPhase::Preparing,
                started_at: now,
                expires_at: *expires_at,
                by: actor.by.clone(),
                reason: actor.reason.clone(),
            });
            next.epoch += 1;
            Decision::Change {
                state: next,
                reason: format!("drill {drill_id} on {region} preparing: the peer surges first"),
                events: vec![(ControlPlaneKind::DrillStarted, region.clone())],
            }
        }
        Request::StartDrill { drill_id, actor } => {
            let Some(drill) = state.drill.as_ref().filter(|d| &d.id == drill_id) else {
                return Decision::Refuse(format!("drill {drill_id} is no longer in progress"));
            };
            if drill.phase == DrillPhase::Active {
                return Decision::Noop(format!("drill {drill_id} is already active"));
            }
            let region = drill.region.clone();
            // Re-check at the moment of evacuation: things may have changed while surging.
            let actor = Actor {
                force: false,
                ..actor.clone()
            };
            let mut check_state = state.clone();
            check_state.changed_at = None; // the preparing step itself is not a routing change
            if let Err(why) =
                may_evacuate(&region, &actor, &check_state, regions, health, policy, now)
            {
                return Decision::Refuse(why);
            }
            // The drill's reason is stored once, in the drill: the evacuation names the drill.
            let by_drill = Actor {
                reason: format!("drill {drill_id}"),
                ..actor
            };
            evacuate(&mut next, &region, &by_drill, Some(drill_id.clone()), now);
            if let Some(d) = next.drill.as_mut() {
                d.phase = DrillPhase::Active;
            }
            Decision::Change {
                state: next,
                reason: format!(
                    "drill {drill_id}: evacuated {region} until {}",
                    drill.expires_at
                ),
                events: vec![(ControlPlaneKind::RegionEvacuated, region)],
            }
        }
        Request::EndDrill { drill_id, actor } => {
            let Some(drill) = state.drill.clone() else {
                return Decision::Noop("no drill is in progress".into());
            };
            if drill_id.as_ref().is_some_and(|id| id != &drill.id) {
                return Decision::Noop(format!(
                    "drill {} already ended; {} is running",
                    drill_id.as_deref().unwrap_or(""),
                    drill.id
                ));
            }
            next.drill = None;
            let mut events = vec![(ControlPlaneKind::DrillEnded, drill.region.clone())];
            let evacuated_by_drill = state
                .evacuated
                .get(&drill.region)
                .is_some_and(|e| e.drill_id.as_ref() == Some(&drill.id));
            if evacuated_by_drill {
                restore(&mut next, &drill.region, now);
                events.push((ControlPlaneKind::RegionRestored, drill.region.clone()));
            } else {
                next.epoch += 1;
            }
            Decision::Change {
                state: next,
                reason: format!("drill {} ended: {}", drill.id, actor.reason),
                events,
            }
        }
        Request::Recovered {
            region,
            observed_at,
        } => {
            if !state.is_evacuated(region) {
                return Decision::Noop(format!("{region}'s alarm is OK and it is active"));
            }
            if !policy.failback.automatic {
                return Decision::Noop(format!(
                    "{region}'s alarm is OK; failback is manual: restore it with {{\"action\":\"restore\",\"region\":\"{region}\"}}"
                ));
            }
            if state.recovered_at.contains_key(region) {
                return Decision::Noop(format!("{region} already recorded as recovering"));
            }
            // The clock starts when the alarm went OK, not when the event arrived.
            next.recovered_at
                .insert(region.clone(), observed_at.unwrap_or(now).min(now));
            Decision::Change {
                state: next,
                reason: format!(
                    "{region} recovering: automatic failback after {} stable",
                    policy.failback.stable_for
                ),
                events: vec![],
            }
        }
        Request::Relapsed { region, .. } => {
            if next.recovered_at.remove(region).is_some() {
                Decision::Change {
                    state: next,
                    reason: format!("{region} failed again: failback timer reset"),
                    events: vec![],
                }
            } else {
                Decision::Noop(format!("{region} is already evacuated"))
            }
        }
        Request::Tick => tick(state, next, health, policy, now),
    }
}

/// Lambda's longest run (15 minutes), plus a minute.
const STRANDED_PREPARING: chrono::Duration = chrono::Duration::minutes(16);

fn tick(
    state: &RoutingState,
    mut next: RoutingState,
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Decision {
    // A drill still preparing after the longest a Lambda run can live was left by a
    // run that died before evacuating: end it, so the peer stops surging.
    let due = state.drill.as_ref().and_then(|d| {
        if d.phase == DrillPhase::Preparing && now - d.started_at > STRANDED_PREPARING {
            Some((
                d,
                "drill stranded while preparing (its run ended before evacuating)",
            ))
        } else if d.expires_at <= now {
            Some((d, "drill expired"))
        } else {
            None
        }
    });
    if let Some((drill, why)) = due {
        let end = Request::EndDrill {
            drill_id: Some(drill.id.clone()),
            actor: Actor {
                by: "controlplane:tick".into(),
                reason: why.into(),
                automatic: true,
                force: false,
            },
        };
        return decide_request(&end, state, &[], health, policy, now);
    }
    if policy.failback.automatic {
        for (region, since) in &state.recovered_at {
            let stable = now - *since >= policy.failback.stable_for.as_chrono();
            let automatic = state.evacuated.get(region).is_some_and(|e| e.automatic);
            let healthy = health.get(region).is_some_and(|h| h.endpoints_healthy);
            if stable && automatic && healthy {
                restore(&mut next, region, now);
                return Decision::Change {
                    state: next,
                    reason: format!(
                        "automatic failback: {region} stable for {}",
                        policy.failback.stable_for
                    ),
                    events: vec![(ControlPlaneKind::RegionRestored, region.clone())],
                };
            }
        }
    }
    // Pruning old automatic evacuations alone is not worth a write.
    let _ = next;
    Decision::Noop("routing state is current".into())
}

fn may_evacuate(
    region: &Region,
    actor: &Actor,
    state: &RoutingState,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let remaining: Vec<&Region> = state
        .active_regions(regions)
        .filter(|r| *r != region)
        .collect();
    if remaining.len() < policy.min_active_regions {
        return Err(format!(
            "evacuating {region} would leave {} active region(s), below min_active_regions = {} (never overridable)",
            remaining.len(),
            policy.min_active_regions
        ));
    }
    if !actor.force {
        dwell_ok(state, policy, now)?;
        for peer in &remaining {
            let verdict = health.get(*peer).map_or(
                Err("its health is unknown".to_string()),
                RegionHealth::ready_for_traffic,
            );
            if let Err(why) = verdict {
                return Err(format!(
                    "peer {peer} is not ready to take {region}'s traffic: {why}{}",
                    if actor.automatic {
                        ""
                    } else {
                        " (use \"force\": true to override)"
                    }
                ));
            }
        }
    }
    if actor.automatic {
        let recent = state
            .automatic_evacuations
            .iter()
            .filter(|t| now - **t < chrono::Duration::hours(1))
            .count();
        if recent as u32 >= policy.max_automatic_evacuations_per_hour {
            return Err(format!(
                "{recent} automatic evacuation(s) in the last hour reach max_automatic_evacuations_per_hour = {}",
                policy.max_automatic_evacuations_per_hour
            ));
        }
    }
    Ok(())
}

fn may_restore(
    region: &Region,
    actor: &Actor,
    state: &RoutingState,
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if actor.force {
        return Ok(());
    }
    dwell_ok(state, policy, now)?;
    if !health.get(region).is_some_and(|h| h.endpoints_healthy) {
        return Err(format!(
            "{region}'s endpoint health checks are not healthy: restoring would send traffic to failing endpoints (use \"force\": true to override)"
        ));
    }
    Ok(())
}

fn dwell_ok(
    state: &RoutingState,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if let Some(changed) = state.changed_at {
        let until = changed + policy.dwell.as_chrono();
        if now < until {
            return Err(format!(
                "inside the dwell time: routing changed at {changed}, no change before {until} (dwell = {})",
                policy.dwell
            ));
        }
    }
    Ok(())
}

fn evacuate(
    next: &mut RoutingState,
    region: &Region,
    actor: &Actor,
    drill_id: Option<String>,
    now: DateTime<Utc>,
) {
    next.evacuated.insert(
        region.clone(),
        Evacuation {
            since: now,
            by: actor.by.clone(),
            reason: actor.reason.clone(),
            automatic: actor.automatic,
            drill_id,
        },
    );
    if actor.automatic {
        next.automatic_evacuations.push(now);
    }
    next.recovered_at.remove(region);
    next.epoch += 1;
    next.changed_at = Some(now);
}

fn restore(next: &mut RoutingState, region: &Region, now: DateTime<Utc>) {
    next.evacuated.remove(region);
    next.recovered_at.remove(region);
    next.epoch += 1;
    next.changed_at = Some(now);
}
