//! The every-minute tick: re-reads the health alarms and re-decides (level-triggered,
//! see `decide/tick.rs`), repairs gates that disagree with the state, sends what the
//! state still owes, and publishes `RegionActive`.

use crate::alarm::alarm_levels;
use crate::cas::change_from;
use crate::decide::{Request, Surge};
use crate::drill::peer_surge;
use crate::effects::{reconcile_gates, send_owed};
use crate::ports::World;
use crate::FUNCTION;
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::routing::{Drill, DrillPhase};
use shared::{Config, DecisionRecord, Outcome, Region};

pub async fn tick(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "tick", "schedule");
    // Alarms and state at once; the state before deciding: a preparing drill needs its
    // peers' surge read.
    let ((alarms, unread), read) =
        tokio::join!(alarm_levels(config, world, None), world.read_state());
    for e in unread {
        record.step(format!("alarm not read (decided without it): {e}"));
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
    let Some(settled) = change_from(Some(read), request, false, config, world, &mut record).await
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
            let settled = send_owed(settled, &reason, config, world, &mut record).await;
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
    if let Err(e) = world.publish(metrics).await {
        record.errors.push(format!("metrics: {e}"));
    }
    record
}

/// How a preparing drill's surge stands: its peers' provisioned concurrency now.
async fn surge_of(drill: &Drill, config: &Config, world: &impl World) -> Surge {
    let peers: Vec<Region> = config.peers_of(&drill.region).cloned().collect();
    peer_surge(&peers, drill.peer_level_before.unwrap_or(0), world).await
}
