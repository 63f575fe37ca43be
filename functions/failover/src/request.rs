//! Reads an event into a [`Command`]: every input problem is found here, before AWS
//! is touched.

use crate::decide::{Actor, Request};
use chrono::{DateTime, Utc};
use shared::events::{AlarmChange, Event, ManualRequest, ScheduleTask};
use shared::routing::{truncate_stored, REASON_MAX, REQUESTED_BY_MAX};
use shared::{Config, Error, Region, Result};

/// The validated request of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Status,
    Tick,
    /// A health alarm changed state: decided on the alarm's state as read now.
    Alarm {
        region: Region,
        alarm: AlarmChange,
    },
    /// A routing change asked by a person or by a drill-end schedule.
    Change {
        request: Request,
        trigger: String,
        dry_run: bool,
        /// The person who asked; None for schedules (no one waits for the answer).
        by: Option<String>,
    },
    Drill {
        region: Region,
        duration: shared::Duration,
        actor: Actor,
        dry_run: bool,
    },
    /// A refusal known from the input alone (unknown region, an alarm from elsewhere).
    Refuse {
        action: String,
        trigger: String,
        reason: String,
    },
}

impl Command {
    /// Whether a failure should be a function error, so Lambda's async retry tries
    /// again: nobody waits for the answer of an alarm or a schedule.
    pub fn is_event_driven(&self) -> bool {
        matches!(self, Self::Alarm { .. } | Self::Change { by: None, .. })
    }
}

pub fn read(event: Event, config: &Config, now: DateTime<Utc>) -> Result<Command> {
    match event {
        Event::Manual(m) => manual(&m, config),
        Event::Alarm(alarm) => {
            let trigger = format!("alarm {} {:?}", alarm.alarm_name, alarm.state);
            match config.failover.watched_region(&alarm, now) {
                Ok(region) => Ok(Command::Alarm {
                    region: region.clone(),
                    alarm,
                }),
                Err(why) => Ok(Command::Refuse {
                    action: "alarm".into(),
                    trigger,
                    reason: format!("{why}; nothing done"),
                }),
            }
        }
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok(Command::Tick),
            ScheduleTask::EndDrill { drill_id } => Ok(Command::Change {
                trigger: format!("drill-end schedule for {drill_id}"),
                request: Request::EndDrill {
                    drill_id: Some(drill_id),
                    actor: Actor::system("controlplane:drill-schedule", "drill time is up"),
                },
                dry_run: false,
                by: None,
            }),
        },
        other => Err(Error::invalid_event(format!(
            "failover does not handle {} events (it takes alarm state changes, schedules and manual actions)",
            other.kind()
        ))),
    }
}

/// The actor of a health alarm: its texts are CloudWatch's (a reason up to 1,023
/// characters, a name up to 255), not a person's to shorten: cut to what the state holds.
pub fn alarm_actor(alarm_name: &str, reason: &str) -> Actor {
    Actor {
        by: truncate_stored(&format!("alarm:{alarm_name}"), REQUESTED_BY_MAX),
        reason: truncate_stored(reason, REASON_MAX),
        automatic: true,
        force: false,
    }
}

fn manual_actor(m: &ManualRequest, force: bool) -> Result<Actor> {
    Ok(Actor {
        by: m
            .requested_by
            .clone()
            .unwrap_or_else(|| "unknown caller (no requested_by)".into()),
        reason: m.require_reason()?.to_string(),
        automatic: false,
        force,
    })
}

fn manual(m: &ManualRequest, config: &Config) -> Result<Command> {
    // An unknown region is a refusal with a record, not a malformed event.
    let region_arg = |m: &ManualRequest| -> Result<std::result::Result<Region, String>> {
        let name = m.str_arg("region")?;
        Ok(config.region(name).map_err(|e| {
            e.to_string()
                .trim_start_matches("rejected event: ")
                .to_string()
        }))
    };
    match m.action.as_str() {
        "status" => {
            m.deny_unknown_args(&[])?;
            Ok(Command::Status)
        }
        "evacuate" | "restore" => {
            m.deny_unknown_args(&["region", "force"])?;
            let force = m.bool_arg("force")?;
            let actor = manual_actor(m, force)?;
            let trigger = format!("manual {} by {}", m.action, actor.by);
            let region = match region_arg(m)? {
                Ok(r) => r,
                Err(reason) => {
                    return Ok(Command::Refuse {
                        action: m.action.clone(),
                        trigger,
                        reason,
                    })
                }
            };
            let request = if m.action == "evacuate" {
                Request::Evacuate {
                    region,
                    actor: actor.clone(),
                    observed_at: None,
                }
            } else {
                Request::Restore {
                    region,
                    actor: actor.clone(),
                }
            };
            Ok(Command::Change {
                request,
                trigger,
                dry_run: m.dry_run,
                by: Some(actor.by),
            })
        }
        "drill" => {
            m.deny_unknown_args(&["region", "duration_minutes"])?;
            let actor = manual_actor(m, false)?;
            let minutes = m.u64_arg("duration_minutes")?;
            let duration = minutes.map_or(
                config.failover.drill.default_duration,
                shared::Duration::from_mins,
            );
            if duration.secs() == 0 || duration > config.failover.drill.max_duration {
                return Err(Error::invalid_event(format!(
                    "drill: duration_minutes must be between 1 and {} minutes (failover.drill.max_duration)",
                    config.failover.drill.max_duration.secs() / 60
                )));
            }
            let region = match region_arg(m)? {
                Ok(r) => r,
                Err(reason) => {
                    return Ok(Command::Refuse {
                        action: "drill".into(),
                        trigger: format!("manual drill by {}", actor.by),
                        reason,
                    })
                }
            };
            Ok(Command::Drill {
                region,
                duration,
                actor,
                dry_run: m.dry_run,
            })
        }
        "end_drill" => {
            m.deny_unknown_args(&["drill_id"])?;
            let actor = manual_actor(m, false)?;
            let drill_id = m.opt_str_arg("drill_id")?.map(str::to_string);
            Ok(Command::Change {
                trigger: format!("manual end_drill by {}", actor.by),
                by: Some(actor.by.clone()),
                request: Request::EndDrill { drill_id, actor },
                dry_run: m.dry_run,
            })
        }
        other => Err(Error::invalid_event(format!(
            "unknown action {other:?} for failover (known: status, evacuate, restore, drill, end_drill)"
        ))),
    }
}
