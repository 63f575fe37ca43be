//! The safety rules every routing change is checked against, and the state edits
//! of an evacuation and a restore.

use super::{Actor, RegionHealth};
use chrono::{DateTime, Utc};
use shared::config::FailoverConfig;
use shared::routing::{Evacuation, RoutingState};
use shared::Region;
use std::collections::BTreeMap;

pub(super) fn may_evacuate(
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
    #[cfg(not(feature = "broken-min-active"))]
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

pub(super) fn may_restore(
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

pub(super) fn dwell_ok(
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

pub(super) fn evacuate(
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

pub(super) fn restore(next: &mut RoutingState, region: &Region, now: DateTime<Utc>) {
    next.evacuated.remove(region);
    next.recovered_at.remove(region);
    next.epoch += 1;
    next.changed_at = Some(now);
}
