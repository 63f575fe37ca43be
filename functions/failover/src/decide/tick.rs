//! The every-minute tick, level-triggered: it decides from the alarms as they are now,
//! not from the events that reported them, so a refused or failed automatic evacuation
//! happens as soon as the rules allow. One change a run, in this order: a drill's stop
//! condition, its evacuation once the surge is READY (or giving it up), its expiry; then
//! each region's health alarms; then automatic failback.

use super::rules::restore;
use super::{decide_request, end_drill, Actor, AlarmLevel, Decision, RegionHealth, Request, Surge};
use chrono::{DateTime, Duration, Utc};
use shared::config::FailoverConfig;
use shared::events::ControlPlaneKind;
use shared::routing::{DrillPhase, RoutingState};
use shared::Region;
use std::collections::BTreeMap;

/// How often a person is reminded that an alarm's automatic evacuation is still refused.
pub const REMINDER_EVERY: Duration = Duration::hours(1);

#[allow(clippy::too_many_arguments)]
pub(super) fn decide_tick(
    state: &RoutingState,
    next: RoutingState,
    alarms: &BTreeMap<Region, AlarmLevel>,
    surge: Option<&Surge>,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(decision) = drill_due(state, &next, alarms, surge, regions, health, policy, now) {
        return decision;
    }
    let mut refusals = Vec::new();
    for (region, level) in alarms {
        let request = match (level.news.state.as_str(), state.is_evacuated(region)) {
            ("ALARM", false) => Request::Evacuate {
                region: region.clone(),
                actor: crate::request::alarm_actor(
                    &level.alarm,
                    &format!(
                        "alarm {} in ALARM since {} (seen by the tick)",
                        level.alarm, level.news.at
                    ),
                ),
                observed_at: Some(level.news.at),
            },
            ("ALARM", true) if state.recovered_at.contains_key(region) => Request::Relapsed {
                region: region.clone(),
                observed_at: Some(level.news.at),
            },
            ("OK", true)
                if policy.failback.automatic && !state.recovered_at.contains_key(region) =>
            {
                Request::Recovered {
                    region: region.clone(),
                    observed_at: Some(level.news.at),
                }
            }
            _ => continue,
        };
        match decide_request(&request, state, regions, health, policy, now) {
            Decision::Change {
                state: mut changed,
                reason,
                events,
            } => {
                changed.alarms.insert(region.clone(), level.news.clone());
                return Decision::Change {
                    state: changed,
                    reason,
                    events,
                };
            }
            Decision::Refuse(why) => refusals.push((region, level, why)),
            Decision::Noop(_) | Decision::Note { .. } => {}
        }
    }
    if let Some(decision) = failback_due(state, next.clone(), health, policy, now) {
        return decision;
    }
    match refusals.first() {
        Some((region, level, why)) => refused(state, region, level, why, now),
        None => Decision::Noop("routing state is current".into()),
    }
}

/// A drill's stop condition, evacuation, giving up, or expiry, if one is due.
#[allow(clippy::too_many_arguments)]
fn drill_due(
    state: &RoutingState,
    next: &RoutingState,
    alarms: &BTreeMap<Region, AlarmLevel>,
    surge: Option<&Surge>,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let drill = state.drill.as_ref()?;
    let serving_alarm = alarms.iter().find(|(region, level)| {
        **region != drill.region && level.news.state == "ALARM" && !state.is_evacuated(region)
    });
    if let Some((region, level)) = serving_alarm {
        let why = format!(
            "stopped: {region}, serving during the drill, has its health alarm {} in ALARM since {}",
            level.alarm, level.news.at
        );
        return Some(end_drill(drill, &why, state, next.clone(), now));
    }
    if drill.expires_at <= now {
        return Some(end_drill(drill, "drill expired", state, next.clone(), now));
    }
    if drill.phase != DrillPhase::Preparing {
        return None;
    }
    // surge_wait = 0 means "do not wait for the surge", not "give up at once".
    let no_wait = policy.drill.surge_wait.secs() == 0;
    match surge {
        _ if no_wait => Some(start_drill(
            drill, state, next, regions, health, policy, now,
        )),
        Some(surge) if surge.ready => Some(start_drill(
            drill, state, next, regions, health, policy, now,
        )),
        _ if now - drill.started_at >= policy.drill.surge_wait.as_chrono() => {
            let detail = surge.map_or("its progress is unknown".to_string(), |s| s.detail.clone());
            let why = format!(
                "given up: the peers' surge was not READY within surge_wait = {} ({detail})",
                policy.drill.surge_wait
            );
            Some(end_drill(drill, &why, state, next.clone(), now))
        }
        _ => None,
    }
}

/// Evacuates a preparing drill's region; a refusal then ends the drill.
fn start_drill(
    drill: &shared::routing::Drill,
    state: &RoutingState,
    next: &RoutingState,
    regions: &[Region],
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Decision {
    let start = Request::StartDrill {
        drill_id: drill.id.clone(),
        actor: Actor::system("controlplane:tick", format!("drill {}", drill.id)),
    };
    match decide_request(&start, state, regions, health, policy, now) {
        Decision::Refuse(why) => {
            end_drill(drill, &format!("aborted: {why}"), state, next.clone(), now)
        }
        decision => decision,
    }
}

fn failback_due(
    state: &RoutingState,
    mut next: RoutingState,
    health: &BTreeMap<Region, RegionHealth>,
    policy: &FailoverConfig,
    now: DateTime<Utc>,
) -> Option<Decision> {
    if !policy.failback.automatic {
        return None;
    }
    for (region, since) in &state.recovered_at {
        let stable = now - *since >= policy.failback.stable_for.as_chrono();
        let automatic = state.evacuated.get(region).is_some_and(|e| e.automatic);
        let healthy = health.get(region).is_some_and(|h| h.endpoints_healthy);
        if stable && automatic && healthy {
            restore(&mut next, region, now);
            return Some(Decision::Change {
                state: next,
                reason: format!(
                    "automatic failback: {region} stable for {}",
                    policy.failback.stable_for
                ),
                events: vec![(ControlPlaneKind::RegionRestored, region.clone())],
            });
        }
    }
    None
}

/// An alarm still in ALARM whose evacuation the rules refuse. A person is told when the
/// tick is the first to see this alarm state, and then once an hour: the state records
/// when (a Note write), so copies in both regions do not both remind.
fn refused(
    state: &RoutingState,
    region: &Region,
    level: &AlarmLevel,
    why: &str,
    now: DateTime<Utc>,
) -> Decision {
    let reason = format!("automatic evacuation of {region} refused: {why}");
    let seen = state.alarms.get(region);
    let first_sight = seen.is_none_or(|s| level.news.at > s.at);
    let last_told = seen.map(|s| s.reminded_at.unwrap_or(s.at));
    let reminder_due = last_told.is_some_and(|t| now - t >= REMINDER_EVERY);
    if !first_sight && !reminder_due {
        return Decision::Noop(format!(
            "{reason} (told at {}; reminded every {} hour)",
            last_told.unwrap_or(level.news.at),
            REMINDER_EVERY.num_hours()
        ));
    }
    let mut next = state.clone();
    let mut news = level.news.clone();
    news.reminded_at = Some(now);
    next.alarms.insert(region.clone(), news);
    Decision::Note {
        state: next,
        refused: true,
        reason,
    }
}
