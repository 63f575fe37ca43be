//! What follows a decision: gates brought to the state, events and notices sent (and
//! owed in the state until they are), the end schedule of a finished drill removed.

use crate::cas::{Gates, Settled, Write};
use crate::decide::Request;
use crate::ports::World;
use shared::aws::route53::{CasResult, GateStatus, StateVersion};
use shared::routing::{Announcement, RoutingState};
use shared::{Change, Config, DecisionRecord, Error, Outcome, Result};

/// The state moved from `old` to `next`: bring the gates to it, send what it owes, and
/// drop the end schedule of a drill that is over.
pub async fn applied(
    write: Write,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Settled {
    record.outcome = Outcome::Applied;
    record.reason = write.reason.clone();
    if let Err(e) = reconcile_gates(&write.next, &write.gates, config, world, record).await {
        record.outcome = Outcome::Failed;
        record.errors.push(format!(
            "state written, gate update failed (the next tick repairs it): {e}"
        ));
    }
    cancel_ended_drill(&write.old, &write.next, world, record).await;
    let settled = Settled {
        version: Some(StateVersion::written(&write.next)),
        state: write.next,
        gates: write.gates,
    };
    send_owed(settled, &write.reason, config, world, record).await
}

/// Sends every event (and one notice) the state owes, then records them as sent by
/// compare-and-swap. Anything not sent stays owed, for the next tick to send; a sent
/// one whose record is lost may be sent twice (each carries its epoch).
pub async fn send_owed(
    mut settled: Settled,
    reason: &str,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Settled {
    if settled.state.unannounced.is_empty() {
        return settled;
    }
    let epoch = settled.state.epoch;
    let mut sent: Vec<Announcement> = Vec::new();
    for owed in &settled.state.unannounced {
        let why = if owed.epoch == epoch {
            reason.to_string()
        } else {
            format!("owed since epoch {} (re-sent)", owed.epoch)
        };
        let detail = shared::events::ControlPlaneDetail {
            region: owed.region.to_string(),
            epoch: owed.epoch,
            reason: why,
            drill_id: settled.state.drill.as_ref().map(|d| d.id.clone()),
            expires_at: settled.state.drill.as_ref().map(|d| d.expires_at),
        };
        match world.emit(owed.kind, &detail).await {
            Ok(()) => {
                record.step(format!(
                    "emitted {} {} (epoch {})",
                    owed.kind.detail_type(),
                    owed.region,
                    owed.epoch
                ));
                sent.push(owed.clone());
            }
            Err(e) => record.errors.push(format!(
                "could not emit {} (the next tick sends it again): {e}",
                owed.kind.detail_type()
            )),
        }
    }
    let subject = format!(
        "[{}] {}",
        config.service_name,
        settled
            .state
            .unannounced
            .iter()
            .map(|a| format!("{} {}", a.kind.detail_type(), a.region))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Err(e) = world.notify(&subject, reason).await {
        // The notice goes with its events: keep them all owed, to be sent again together.
        record
            .errors
            .push(format!("could not notify (the next tick tries again): {e}"));
        return settled;
    }
    if sent.is_empty() {
        return settled;
    }
    let mut next = settled.state.clone();
    next.unannounced.retain(|a| !sent.contains(a));
    match world.swap_state(settled.version.as_ref(), &next).await {
        Ok(CasResult::Swapped) => {
            record.step(format!("{} announcement(s) recorded as sent", sent.len()));
            settled.version = Some(StateVersion::written(&next));
            settled.state = next;
        }
        Ok(CasResult::Lost) => record.step(
            "the state moved on before the announcements were recorded as sent: the next writer or tick may send them again",
        ),
        Err(e) => record.errors.push(format!(
            "could not record the announcements as sent (the next tick may send them again): {e}"
        )),
    }
    settled
}

/// Nothing to change. An evacuated region's alarm went OK but failback is manual:
/// tell a person, once per OK state change (a repeated or late delivery of one already
/// handled is not news).
pub async fn noop(
    request: &Request,
    state: &RoutingState,
    reason: String,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    if let Request::Recovered {
        region,
        observed_at,
    } = request
    {
        let repeat = observed_at.is_some_and(|at| state.is_stale_alarm(region, at));
        if state.is_evacuated(region) && !config.failover.failback.automatic && !repeat {
            if let Err(e) = world
                .notify(
                    &format!("[{}] {region} recovered", config.service_name),
                    &reason,
                )
                .await
            {
                record.errors.push(format!("could not notify: {e}"));
            }
        }
    }
    record.outcome = Outcome::Noop;
    record.reason = reason;
}

/// A refusal; an automatic evacuation refused is worth a notification.
pub async fn refuse(
    request: &Request,
    reason: String,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    // Only the tick's refusals that are due a notice reach here (see decide/tick.rs).
    if matches!(request, Request::Evacuate { actor, .. } if actor.automatic)
        || matches!(request, Request::Tick { .. })
    {
        let _ = world
            .notify(
                &format!("[{}] automatic evacuation refused", config.service_name),
                &reason,
            )
            .await;
    }
    record.outcome = Outcome::Refused;
    record.reason = reason;
}

/// A drill that left the state (ended by hand, by the tick, or aborted) no longer
/// needs its one-time end schedule; deleting it keeps the schedule group clean and
/// stops a stale schedule from firing later. A failure here is harmless: the
/// schedule would find the drill already ended (a noop).
async fn cancel_ended_drill(
    old: &RoutingState,
    new: &RoutingState,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    let Some(ended) = &old.drill else { return };
    if new.drill.as_ref().is_some_and(|d| d.id == ended.id) {
        return;
    }
    match world.cancel_drill_end(&ended.id).await {
        Ok(()) => record.step(format!("drill-end schedule for {} removed", ended.id)),
        Err(e) => record.errors.push(format!(
            "could not remove the drill-end schedule for {} ({e}); when it fires it finds the drill ended",
            ended.id
        )),
    }
}

/// Sets every gate to what the state wants: closed for evacuated regions. Starts from
/// the gates this run read (`known`); a gate changed since (its version moved on) is
/// read again once.
pub async fn reconcile_gates(
    state: &RoutingState,
    known: &Gates,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Result<()> {
    let mut first_error = None;
    for region in &config.regions {
        let result = async {
            let want = |gate: &GateStatus| {
                if state.is_evacuated(region) {
                    gate.closed_threshold()
                } else {
                    gate.open_threshold()
                }
            };
            let mut gate = match known.get(region) {
                Some(gate) => gate.clone(),
                None => world.gate(region).await?,
            };
            let set = match world.set_gate(&gate, want(&gate)).await {
                Err(e)
                    if known.contains_key(region)
                        && e.aws_kind() == Some(shared::error::AwsErrorKind::Conflict) =>
                {
                    gate = world.gate(region).await?;
                    world.set_gate(&gate, want(&gate)).await
                }
                other => other,
            };
            let want = want(&gate);
            if set? {
                record.changes.push(Change::new(
                    format!("gate:{region}"),
                    "health_threshold",
                    gate.health_threshold,
                    want,
                ));
                record.step(format!(
                    "gate {region} {}",
                    if state.is_evacuated(region) {
                        "closed"
                    } else {
                        "opened"
                    }
                ));
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            record.errors.push(format!("gate {region}: {e}"));
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
