//! Applies the differences: decreases first (they free headroom), with bounded
//! concurrency under the pacer; follows each change to READY, falls back to the
//! last good level on FAILED, retries 409s later in the run; then records what
//! each change taught in the state document.

use crate::decide::Row;
use crate::pace::{bounded, Pacer};
use crate::state::{FailedLevel, State};
use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::lambda::{is_quota_refusal, PcStatus};
use shared::config::ConcurrencyConfig;
use shared::error::AwsErrorKind;
use std::time::Duration;
use tokio::time::Instant;

/// Between GetProvisionedConcurrencyConfig polls while a change is IN_PROGRESS.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Before retrying the changes that met a 409 ResourceConflictException.
pub const CONFLICT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How many times a 409 is retried in one run.
pub const CONFLICT_ROUNDS: u32 = 3;

/// How one change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Ready,
    /// Still IN_PROGRESS at ready_timeout; the next run follows it.
    InProgress,
    Failed {
        reason: String,
        /// The last good level tried, and whether it became READY again.
        fallback: Option<(u32, bool)>,
    },
    /// 409 ResourceConflictException: another update is in flight.
    Conflict,
    Refused(String),
    Error(String),
}

impl Applied {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Failed { .. } | Self::Refused(_) | Self::Error(_) | Self::Conflict
        )
    }

    /// Whether Lambda took a Put (even one that then FAILED).
    pub fn changed(&self) -> bool {
        !matches!(self, Self::Refused(_) | Self::Error(_) | Self::Conflict)
    }

    pub fn text(&self, level: u32) -> String {
        match self {
            Self::Ready => format!("READY at {level}"),
            Self::InProgress => {
                format!("IN_PROGRESS toward {level} at ready_timeout; the next run follows it")
            }
            Self::Failed {
                reason,
                fallback: Some((good, true)),
            } => {
                format!(
                    "FAILED at {level} ({reason}); fell back to the last good level {good} (READY)"
                )
            }
            Self::Failed {
                reason,
                fallback: Some((good, false)),
            } => {
                format!("FAILED at {level} ({reason}); fallback to {good} did not become READY")
            }
            Self::Failed {
                reason,
                fallback: None,
            } => format!("FAILED at {level} ({reason}); no last good level known"),
            Self::Conflict => {
                "409 ResourceConflictException after every retry in this run; the next run retries"
                    .into()
            }
            Self::Refused(why) => format!("refused: {why}"),
            Self::Error(e) => format!("error: {e}"),
        }
    }
}

/// The result of following a change.
enum Followed {
    Ready,
    Failed(String),
    Timeout,
    Error(String),
}

/// Applies `changes` (indices into `rows`): decreases first, then the rest; 409s
/// are retried in later rounds. Results in index order.
pub async fn apply(
    rows: &[Row],
    changes: &[usize],
    config: &ConcurrencyConfig,
    world: &impl World,
    pacer: &Pacer,
) -> Vec<(usize, Applied)> {
    let (decreases, increases): (Vec<usize>, Vec<usize>) = changes
        .iter()
        .copied()
        .partition(|i| rows[*i].is_decrease());
    let mut done = Vec::new();
    for phase in [decreases, increases] {
        let mut pending = phase;
        let mut round = 0;
        loop {
            let results = bounded(
                pending.clone(),
                config.max_in_flight,
                |i: usize| async move { (i, apply_one(&rows[i], config, world, pacer).await) },
            )
            .await;
            pending.clear();
            for (i, applied) in results {
                if applied == Applied::Conflict && round < CONFLICT_ROUNDS {
                    pending.push(i);
                } else {
                    done.push((i, applied));
                }
            }
            if pending.is_empty() {
                break;
            }
            round += 1;
            tracing::info!(
                conflicts = pending.len(),
                round,
                "409 ResourceConflictException: retrying later in the run"
            );
            world.sleep(CONFLICT_RETRY_AFTER).await;
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done
}

async fn apply_one(
    row: &Row,
    config: &ConcurrencyConfig,
    world: &impl World,
    pacer: &Pacer,
) -> Applied {
    let (f, a) = (row.function.as_str(), row.alias.as_str());
    match pacer.call(|| world.alias(f, a)).await {
        Ok(None) => return Applied::Refused(format!("alias {a} of {f} does not exist")),
        Ok(Some(info)) if info.weighted => {
            return Applied::Refused(format!("alias {a} of {f} routes by version weights; Lambda refuses provisioned concurrency on it"))
        }
        Ok(Some(_)) => {}
        Err(e) => return Applied::Error(e.to_string()),
    }
    let follow = |level| set_and_follow(f, a, level, config, world, pacer);
    match follow(row.level).await {
        Ok(Followed::Ready) => Applied::Ready,
        Ok(Followed::Timeout) => Applied::InProgress,
        Ok(Followed::Error(e)) => Applied::Error(e),
        Ok(Followed::Failed(reason)) => {
            let fallback = match row.fallback.filter(|g| *g != row.level) {
                None => None,
                Some(good) => Some((good, matches!(follow(good).await, Ok(Followed::Ready)))),
            };
            Applied::Failed { reason, fallback }
        }
        Err(e) if e.aws_kind() == Some(AwsErrorKind::Conflict) => Applied::Conflict,
        Err(e) if is_quota_refusal(&e) => {
            Applied::Refused(format!("the account's headroom is exhausted: {e}"))
        }
        Err(e) => Applied::Error(e.to_string()),
    }
}

/// Puts `level` and follows it to READY or FAILED, bounded by ready_timeout.
async fn set_and_follow(
    f: &str,
    a: &str,
    level: u32,
    config: &ConcurrencyConfig,
    world: &impl World,
    pacer: &Pacer,
) -> shared::Result<Followed> {
    let put = pacer.call(|| world.set_provisioned(f, a, level)).await?;
    match put.status {
        PcStatus::Ready if put.requested == level => return Ok(Followed::Ready),
        PcStatus::Failed => {
            return Ok(Followed::Failed(
                put.reason.unwrap_or_else(|| "no reason given".into()),
            ))
        }
        _ => {}
    }
    let deadline = Instant::now() + config.ready_timeout.as_std();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Followed::Timeout);
        }
        world.sleep(POLL_INTERVAL.min(deadline - now)).await;
        match pacer.call(|| world.provisioned(f, a)).await {
            Ok(Some(c)) if c.status == PcStatus::Ready && c.requested == level => {
                return Ok(Followed::Ready)
            }
            Ok(Some(c)) if c.status == PcStatus::Failed => {
                return Ok(Followed::Failed(
                    c.reason.unwrap_or_else(|| "no reason given".into()),
                ))
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Ok(Followed::Error(format!(
                    "the config of {f}:{a} disappeared while IN_PROGRESS"
                )))
            }
            Err(e) => return Ok(Followed::Error(e.to_string())),
        }
    }
}

/// Records what a change taught in the state document: a READY level clears the
/// alias's entries, a FAILED one starts its cool-down, and a change not yet READY
/// keeps the level to fall back to.
pub fn remember(st: &mut State, row: &Row, applied: &Applied, now: DateTime<Utc>) {
    let key = row.key();
    match applied {
        Applied::Ready => {
            st.last_good.remove(&key);
            st.failed.remove(&key);
        }
        Applied::Failed { fallback, .. } => {
            st.failed.insert(
                key.clone(),
                FailedLevel {
                    level: row.level,
                    at: now,
                },
            );
            match fallback {
                Some((_, true)) => {
                    st.last_good.remove(&key);
                }
                Some((good, false)) => {
                    st.last_good.insert(key, *good);
                }
                None => {}
            }
        }
        Applied::InProgress | Applied::Conflict | Applied::Refused(_) | Applied::Error(_) => {
            if let Some(good) = row.fallback {
                st.last_good.insert(key, good);
            }
        }
    }
}
