//! A graceful drill: record it as preparing (the peers surge on `Drill Started` and from
//! the state), leave a one-time schedule that ends it even if nobody comes back, and
//! evacuate once the peers' provisioned concurrency is READY: in this run if it is
//! within the time the run has, else on a later tick, which gives the drill up after
//! `surge_wait`. AWS allocates provisioned concurrency in a minute or two.

use crate::cas::change;
use crate::decide::{Actor, Request, Surge};
use crate::ports::{Capacity, Invocation, World};
use crate::FUNCTION;
use shared::{Config, DecisionRecord, Outcome, Region, Result};
use std::time::Duration;

/// What a drill keeps of its run's time for evacuating after the surge wait.
const DEADLINE_MARGIN_SECS: i64 = 15;

pub struct DrillAsk {
    pub region: Region,
    pub duration: shared::Duration,
    pub actor: Actor,
    pub dry_run: bool,
}

pub async fn drill(
    ask: DrillAsk,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    let DrillAsk {
        region,
        duration,
        actor,
        dry_run,
    } = ask;
    let mut record = DecisionRecord::new(
        FUNCTION,
        home.as_str(),
        "drill",
        format!("manual drill by {}", actor.by),
    );
    record.requested_by = Some(actor.by.clone());
    let now = world.now();
    let drill_id = format!("drill-{}-{}", region, now.format("%Y%m%dT%H%M%S"));
    let expires_at = now + duration.as_chrono();
    let peers: Vec<Region> = config.peers_of(&region).cloned().collect();
    let before = if dry_run {
        0
    } else {
        total_level(&peers, world).await
    };
    let prepare = Request::PrepareDrill {
        region: region.clone(),
        drill_id: drill_id.clone(),
        expires_at,
        actor: actor.clone(),
        peer_level_before: before,
    };
    change(prepare, dry_run, config, world, &mut record).await;
    if dry_run && record.outcome == Outcome::DryRun {
        record.reason = format!(
            "would drill {region} for {duration}: surge peers, evacuate once READY, end at {expires_at}"
        );
    }
    // Failed with the state written means only a gate read or update failed: the drill
    // is recorded, so go on (the tick repairs gates) rather than strand it.
    if dry_run || !matches!(record.outcome, Outcome::Applied | Outcome::Failed) {
        return record;
    }
    match world
        .schedule_drill_end(&drill_id, expires_at, &invocation.function_arn)
        .await
    {
        Ok(()) => record.step(format!("one-time schedule ends the drill at {expires_at}")),
        Err(e) => record.errors.push(format!(
            "could not create the drill-end schedule ({e}); the every-minute tick still ends the drill at {expires_at}"
        )),
    }
    // Never wait past the run's own deadline: the evacuation must still fit.
    let mut wait = config.failover.drill.surge_wait.as_std();
    if let Some(deadline) = invocation.deadline {
        let left = (deadline - world.now() - chrono::Duration::seconds(DEADLINE_MARGIN_SECS))
            .to_std()
            .unwrap_or_default();
        wait = wait.min(left);
    }
    record.step(format!(
        "drill {drill_id} prepared; waiting up to {wait:.0?} in this run for the peers' surge"
    ));
    let surge = if config.failover.drill.surge_wait.secs() == 0 {
        Surge {
            ready: true,
            detail: "drill.surge_wait is 0: evacuating without waiting for the peers' surge".into(),
        }
    } else {
        wait_for_surge(&peers, before, wait, world).await
    };
    record.step(surge.detail.clone());
    if !surge.ready {
        record.outcome = Outcome::Applied;
        record.reason = format!(
            "drill {drill_id} preparing: the peers' surge is not READY yet ({}); the tick evacuates {region} once it is, or gives the drill up {} after it started",
            surge.detail, config.failover.drill.surge_wait
        );
        return record;
    }
    let start = Request::StartDrill {
        drill_id: drill_id.clone(),
        actor: actor.clone(),
    };
    let prepared_changes = std::mem::take(&mut record.changes);
    let started = change(start, false, config, world, &mut record).await;
    record.changes.splice(0..0, prepared_changes);
    if started.is_none() || record.outcome != Outcome::Applied {
        // Evacuation refused or failed: withdraw the drill so the peers stop surging.
        let end = Request::EndDrill {
            drill_id: Some(drill_id.clone()),
            actor: Actor {
                reason: "drill aborted".into(),
                ..actor
            },
        };
        let (outcome, reason) = (record.outcome, record.reason.clone());
        change(end, false, config, world, &mut record).await;
        record.outcome = outcome;
        record.reason = format!("drill aborted: {reason}");
        return record;
    }
    record.reason = format!("drill {drill_id}: {region} evacuated until {expires_at}");
    record
}

/// The peers' requested provisioned concurrency in all (0 when unreadable: any surge
/// then shows as a rise).
async fn total_level(peers: &[Region], world: &impl World) -> u64 {
    peers_capacity(peers, world)
        .await
        .unwrap_or_default()
        .iter()
        .map(|(_, level, _)| (*level).max(0) as u64)
        .sum()
}

/// Every peer target's provisioned concurrency, as Lambda reports it now.
async fn peers_capacity(peers: &[Region], world: &impl World) -> Result<Vec<Capacity>> {
    let mut all = Vec::new();
    for peer in peers {
        all.extend(world.peer_capacity(peer).await?);
    }
    Ok(all)
}

/// How the peers' surge stands against their total before the drill (`before`).
pub async fn peer_surge(peers: &[Region], before: u64, world: &impl World) -> Surge {
    surge_of(before, peers_capacity(peers, world).await)
}

fn surge_of(before: u64, capacity: Result<Vec<Capacity>>) -> Surge {
    match capacity {
        Ok(now) => Surge::of(before, &now),
        Err(e) => Surge {
            ready: false,
            detail: format!("the peers' provisioned concurrency could not be read: {e}"),
        },
    }
}

/// How long to wait between two reads of `reads` provisioned-concurrency configs: as
/// soon as the READY is seen costs the drill at most this much, and the reads stay
/// at 5 a second or fewer, a third of Lambda's control-plane quota of 15 requests a
/// second per Region (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
/// which the peers' scheduler shares while it surges.
pub fn surge_poll_interval(reads: usize) -> Duration {
    Duration::from_millis(200 * reads.max(1) as u64).max(Duration::from_millis(500))
}

async fn wait_for_surge(
    peers: &[Region],
    before: u64,
    limit: Duration,
    world: &impl World,
) -> Surge {
    let started = std::time::Instant::now();
    loop {
        let capacity = peers_capacity(peers, world).await;
        let reads = capacity.as_ref().map_or(peers.len(), Vec::len);
        let surge = surge_of(before, capacity);
        if surge.ready || started.elapsed() >= limit {
            return Surge {
                detail: format!(
                    "{} after {:.1}s",
                    surge.detail,
                    started.elapsed().as_secs_f64()
                ),
                ..surge
            };
        }
        world.sleep(surge_poll_interval(reads).min(limit)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::surge_poll_interval;
    use std::time::Duration;

    #[test]
    fn surge_polls_stay_under_a_third_of_lambdas_quota() {
        // (configs read per poll, interval in ms)
        let cases = [(0, 500), (1, 500), (2, 500), (3, 600), (10, 2000)];
        for (reads, ms) in cases {
            let interval = surge_poll_interval(reads);
            assert_eq!(interval, Duration::from_millis(ms), "{reads} reads");
            // reads per second, never above 5 (Lambda allows 15 per second per Region)
            assert!(
                reads as f64 / interval.as_secs_f64() <= 5.0,
                "{reads} reads"
            );
        }
    }
}
