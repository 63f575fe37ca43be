//! The failover decisions: pure functions over the routing state, the health
//! of the regions and the policy. No I/O, no SDK types. The case tables are in
//! `decide/tests.rs`; the safety rules in `decide/rules.rs`; the tick in `decide/tick.rs`.

mod inputs;
mod rules;
mod tick;

pub use inputs::{Actor, AlarmLevel, RegionHealth, Replication, Surge};

use chrono::{DateTime, Utc};
use rules::{evacuate, may_evacuate, may_restore, restore};
use shared::config::FailoverConfig;
use shared::events::ControlPlaneKind;
use shared::routing::{AlarmNews, Drill, DrillPhase, RoutingState};
use shared::Region;
use std::collections::BTreeMap;

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
        /// The peers' requested provisioned concurrency in all, before the surge.
        peer_level_before: u64,
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
    /// The every-minute tick: drills (stop conditions, evacuating once the surge is
    /// READY, expiry), each region's health alarms as they are now, failback.
    Tick {
        alarms: BTreeMap<Region, AlarmLevel>,
        /// How a preparing drill's surge stands (read only while one prepares).
        surge: Option<Surge>,
    },
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
    match decide_news(request, state, regions, health, policy, now) {
        // What a change announces is owed in the state it writes, until sent.
        Decision::Change {
            mut state,
            reason,
            events,
        } => {
            state.owe(&events);
            Decision::Change {
                state,
                reason,
                events,
            }
        }
        other => other,
    }
}

fn decide_news(
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
            reminded_at: None,
        },
    ))
}

pub(crate) fn decide_request(
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
            // A stop condition, as in AWS FIS: a region serving during a drill fails.
            if let Some(drill) = state.drill.as_ref().filter(|d| &d.region != region) {
                if actor.automatic {
                    let why = format!(
                        "stopped: {region}, serving during the drill, failed its health alarm ({})",
                        actor.reason
                    );
                    return end_drill(drill, &why, state, next, now);
                }
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
            peer_level_before,
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
                peer_level_before: Some(*peer_level_before),
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
            let Some(drill) = &state.drill else {
                return Decision::Noop("no drill is in progress".into());
            };
            if drill_id.as_ref().is_some_and(|id| id != &drill.id) {
                return Decision::Noop(format!(
                    "drill {} already ended; {} is running",
                    drill_id.as_deref().unwrap_or(""),
                    drill.id
                ));
            }
            end_drill(drill, &actor.reason, state, next, now)
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
        Request::Tick { alarms, surge } => tick::decide_tick(
            state,
            next,
            alarms,
            surge.as_ref(),
            regions,
            health,
            policy,
            now,
        ),
    }
}

/// Ends `drill`: its region comes back if the drill evacuated it.
fn end_drill(
    drill: &Drill,
    why: &str,
    state: &RoutingState,
    mut next: RoutingState,
    now: DateTime<Utc>,
) -> Decision {
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
        reason: format!("drill {} ended: {why}", drill.id),
        events,
    }
}

#[cfg(test)]
mod tests;
