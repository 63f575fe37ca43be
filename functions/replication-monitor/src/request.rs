//! Reads an event into a [`Command`]: every input problem is found here, before AWS
//! is touched.

use crate::observe::PushedImage;
use crate::ACTIONS;
use chrono::{DateTime, Utc};
use shared::events::{ManualRequest, ScheduleTask};
use shared::{Config, Error, Event, Result};

/// The validated request of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Look at every configured kind, publish the verdicts, alert on crossings.
    Sweep {
        trigger: &'static str,
        /// The image of a PUSH event, checked even if DescribeImages does not list it yet.
        pushed: Option<PushedImage>,
        dry_run: bool,
        requested_by: Option<String>,
    },
    /// An event with nothing to do (another image action, an unwatched repository).
    Ignore {
        trigger: &'static str,
        reason: String,
    },
}

pub fn read(event: Event, config: &Config, now: DateTime<Utc>) -> Result<Command> {
    match event {
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok(Command::Sweep {
                trigger: "schedule",
                pushed: None,
                dry_run: false,
                requested_by: None,
            }),
            ScheduleTask::EndDrill { .. } => Err(Error::invalid_event(
                "replication-monitor does not handle the end_drill task (failover does); it runs on task \"tick\"",
            )),
        },
        Event::EcrImage(action) => {
            let watched = config
                .replication
                .ecr
                .as_ref()
                .is_some_and(|e| e.repositories.contains(&action.repository));
            if !action.is_successful_push() {
                return Ok(Command::Ignore {
                    trigger: "ecr_image_action",
                    reason: format!(
                        "ECR {} {} of {}: only successful pushes start replication",
                        action.action_type, action.result, action.repository
                    ),
                });
            }
            if !watched {
                return Ok(Command::Ignore {
                    trigger: "ecr_image_action",
                    reason: format!(
                        "repository {} is not in replication.ecr.repositories",
                        action.repository
                    ),
                });
            }
            Ok(Command::Sweep {
                trigger: "ecr_push",
                pushed: Some(PushedImage {
                    repository: action.repository,
                    digest: action.image_digest,
                    tag: action.image_tag,
                    // Never in the future: the lag is counted from here.
                    pushed_at: action.time.unwrap_or(now).min(now),
                }),
                dry_run: false,
                requested_by: None,
            })
        }
        Event::Manual(m) => manual(m),
        other => Err(Error::invalid_event(format!(
            "replication-monitor does not handle {} events; it handles schedule ticks, ECR Image Action PUSH events and the manual action \"check\"",
            other.kind()
        ))),
    }
}

fn manual(m: ManualRequest) -> Result<Command> {
    match m.action.as_str() {
        "check" => {
            m.deny_unknown_args(&[])?;
            Ok(Command::Sweep {
                trigger: "manual",
                pushed: None,
                dry_run: m.dry_run,
                requested_by: m.requested_by,
            })
        }
        other => Err(Error::invalid_event(format!(
            "unknown action {other:?}: replication-monitor accepts {}",
            ACTIONS
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
