//! The compare-and-swap loop: read the state, gather health, decide, swap; a lost
//! swap re-reads and re-decides. After a swap, `effects` brings the world to it.

use crate::decide::{decide, Decision, RegionHealth, Replication, Request};
use crate::effects::{applied, noop, refuse};
use crate::ports::World;
use serde_json::{json, Value};
use shared::aws::route53::{CasResult, GateStatus, StateVersion};
use shared::events::ControlPlaneKind;
use shared::routing::RoutingState;
use shared::{Change, Config, DecisionRecord, Error, Outcome, Region, Result};
use std::collections::BTreeMap;

/// How many times a lost compare-and-swap is re-read and re-decided.
pub const CAS_ATTEMPTS: usize = 5;

/// One read of the state record: the state and its version, None when it does not exist.
pub type Read = Result<Option<(RoutingState, StateVersion)>>;

/// Where a change left things: the state as this run last knew it, its version (None
/// when no record exists or nothing was written in a dry run), and the gates it read.
pub struct Settled {
    pub state: RoutingState,
    pub version: Option<StateVersion>,
    pub gates: Gates,
}

/// Reads the state, gathers health, decides, and swaps; a lost swap re-reads and
/// re-decides. After a swap, gates are reconciled and events and notices sent.
pub async fn change(
    request: Request,
    dry_run: bool,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Option<Settled> {
    change_from(None, request, dry_run, config, world, record).await
}

/// [`change`], starting from a state this run has already read (the tick reads it
/// first to see whether a drill is preparing): one Route 53 read less.
pub async fn change_from(
    first_read: Option<Read>,
    request: Request,
    dry_run: bool,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Option<Settled> {
    // A write whose answer did not say "swapped": the next read tells whether it is
    // this run's own (a retry met it, or the answer was lost), or someone else's.
    let mut unanswered: Option<Unanswered> = None;
    let mut attempt = 0;
    let mut first_read = first_read;
    loop {
        let read = match first_read.take() {
            Some(read) => read,
            None => world.read_state().await,
        };
        if let Some(u) = unanswered.take() {
            if matches!(&read, Ok(Some((now, _))) if *now == u.write.next) {
                let why = u
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                record.step(format!(
                    "state epoch {} is this run's own write (its answer was lost{why})",
                    u.write.next.epoch
                ));
                return Some(applied(u.write, config, world, record).await);
            }
            if let Some(e) = u.error {
                return fail(record, e);
            }
            record.changes.clear();
        }
        attempt += 1;
        if attempt > CAS_ATTEMPTS {
            let lost = format!(
                "compare-and-swap lost {CAS_ATTEMPTS} times in a row; the next run retries"
            );
            fail::<()>(record, Error::State(lost.clone()));
            record.reason = lost;
            return None;
        }
        let (state, version) = match read {
            Ok(Some((s, v))) => (s, Some(v)),
            Ok(None) => (RoutingState::default(), None),
            Err(e) => return fail(record, e),
        };
        let mut request = request.clone();
        if let Request::Evacuate {
            region,
            observed_at,
            ..
        } = &request
        {
            if state.is_evacuated(region) && state.recovered_at.contains_key(region) {
                request = Request::Relapsed {
                    region: region.clone(),
                    observed_at: *observed_at,
                };
            }
        }
        let (health, gates) = match gather_health(config, world).await {
            Ok(read) => read,
            Err(e) => return fail(record, e),
        };
        let decision = decide(
            &request,
            &state,
            &config.regions,
            &health,
            &config.failover,
            world.now(),
        );
        record.state = state_json(&state, &health);
        match decision {
            Decision::Noop(reason) => {
                noop(&request, &state, reason, config, world, record).await;
                return Some(Settled {
                    state,
                    version,
                    gates,
                });
            }
            Decision::Refuse(reason) => {
                refuse(&request, reason, config, world, record).await;
                return Some(Settled {
                    state,
                    version,
                    gates,
                });
            }
            Decision::Note {
                state: next,
                refused,
                reason,
            } => {
                let mut settled = Settled {
                    state: state.clone(),
                    version: version.clone(),
                    gates,
                };
                if !dry_run {
                    match world.swap_state(version.as_ref(), &next).await {
                        Ok(CasResult::Swapped) => {
                            record.step("alarm news recorded: a repeat or an older one is now a noop");
                            settled.version = Some(StateVersion::written(&next));
                            settled.state = next;
                        }
                        Ok(CasResult::Lost) => {
                            record.step(format!(
                                "compare-and-swap lost (attempt {attempt}): re-reading"
                            ));
                            continue;
                        }
                        Err(e) => record.errors.push(format!(
                            "could not record the alarm event ({e}); a repeat of it is decided again"
                        )),
                    }
                }
                if refused {
                    refuse(&request, reason, config, world, record).await;
                } else {
                    noop(&request, &state, reason, config, world, record).await;
                }
                return Some(settled);
            }
            Decision::Change {
                state: next,
                reason,
                events,
            } => {
                record.changes = routing_changes(&state, &next, &config.regions);
                record.state = state_json(&next, &health);
                if dry_run {
                    record.outcome = Outcome::DryRun;
                    record.reason = format!("would apply: {reason}");
                    return Some(Settled {
                        state: next,
                        version: None,
                        gates,
                    });
                }
                let swapped = world.swap_state(version.as_ref(), &next).await;
                let write = Write {
                    old: state,
                    next,
                    reason,
                    events,
                    gates,
                };
                match swapped {
                    Ok(CasResult::Swapped) => {
                        record.step(format!(
                            "state epoch {} written (attempt {attempt})",
                            write.next.epoch
                        ));
                        return Some(applied(write, config, world, record).await);
                    }
                    Ok(CasResult::Lost) => {
                        record.step(format!(
                            "compare-and-swap lost (attempt {attempt}): re-reading"
                        ));
                        unanswered = Some(Unanswered { write, error: None });
                    }
                    // Refused as sent (too large for its record, an invalid batch,
                    // access denied): nothing was written and sending it again cannot help.
                    Err(e) if !e.is_retryable() => return fail(record, e),
                    // The answer is lost, not necessarily the write (a timeout, a
                    // dropped connection): look before reporting a failure.
                    Err(e) => {
                        unanswered = Some(Unanswered {
                            write,
                            error: Some(e),
                        })
                    }
                }
            }
        }
    }
}

/// One state write: from `old` to `next`, why, what to announce, and the gates as read
/// before it.
pub struct Write {
    pub old: RoutingState,
    pub next: RoutingState,
    pub reason: String,
    pub events: Vec<(ControlPlaneKind, Region)>,
    pub gates: Gates,
}

/// A state write that was not answered "swapped", kept until the next read.
struct Unanswered {
    write: Write,
    /// The error it was answered with; None when the swap was reported lost.
    error: Option<Error>,
}

pub fn fail<T>(record: &mut DecisionRecord, error: Error) -> Option<T> {
    record.outcome = Outcome::Failed;
    record.reason = "an AWS call failed; nothing further was changed".into();
    record.errors.push(error.to_string());
    None
}

pub fn routing_changes(old: &RoutingState, new: &RoutingState, regions: &[Region]) -> Vec<Change> {
    let mut changes = Vec::new();
    for region in regions {
        let (was, is) = (old.is_evacuated(region), new.is_evacuated(region));
        if was != is {
            let label = |out: bool| if out { "evacuated" } else { "active" };
            changes.push(Change::new(
                format!("region:{region}"),
                "routing",
                label(was),
                label(is),
            ));
        }
    }
    if old.drill != new.drill {
        changes.push(Change::new("drill", "drill", &old.drill, &new.drill));
    }
    if old.recovered_at != new.recovered_at {
        changes.push(Change::new(
            "failback",
            "recovered_at",
            &old.recovered_at,
            &new.recovered_at,
        ));
    }
    changes
}

/// Each region's gate as read by this run: the health decisions are made from them,
/// and the gate updates after a swap start from them (one Route 53 read per gate a run).
pub type Gates = BTreeMap<Region, GateStatus>;

pub async fn gather_health(
    config: &Config,
    world: &impl World,
) -> Result<(BTreeMap<Region, RegionHealth>, Gates)> {
    // Every region's gate and readiness at once: each read is a round trip (from
    // eu-central-1, across the Atlantic to Route 53 in us-east-1) and none depends on
    // another, so a decision waits for the slowest, not for their sum.
    let reads = config.regions.iter().map(|region| async move {
        let (gate, replication) =
            futures::try_join!(world.gate(region), replication_of(config, region, world))?;
        Ok::<_, Error>((region.clone(), gate, replication))
    });
    let mut health = BTreeMap::new();
    let mut gates = Gates::new();
    for (region, gate, replication) in futures::future::try_join_all(reads).await? {
        health.insert(
            region.clone(),
            RegionHealth {
                gate_healthy: gate.is_healthy(),
                endpoints_healthy: gate.children_healthy == gate.children.len(),
                replication,
            },
        );
        gates.insert(region, gate);
    }
    Ok((health, gates))
}

/// `region`'s replication readiness, when the rules ask for it.
async fn replication_of(
    config: &Config,
    region: &Region,
    world: &impl World,
) -> Result<Replication> {
    if !config.failover.readiness.require_replication_ready {
        return Ok(Replication::NotRequired);
    }
    let reading = world
        .replication_ready(region, config.failover.readiness.max_age.as_std())
        .await?;
    Ok(Replication::from_reading(reading))
}

pub fn state_json(state: &RoutingState, health: &BTreeMap<Region, RegionHealth>) -> Value {
    json!({ "routing": state, "health": health })
}
