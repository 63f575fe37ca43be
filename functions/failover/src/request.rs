//! Reads an event into a [`Command`]: every input problem is found here, before AWS
//! is touched. Manual routing actions come only through the function URL, whose
//! `AWS_IAM` auth names the caller ([`shared::operator`]); the caller must be a session
//! of a role in `failover.operator_roles`, and is what the records say asked.

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

/// How the event arrived: by the function URL, with the caller Lambda authenticated, or
/// by a direct Invoke (EventBridge, Scheduler, an alarm action, `aws lambda invoke`),
/// which tells the function nothing about who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Url { caller: &'a str },
    Invoke,
}

/// The manual actions that change routing: only an operator, through the function URL.
pub const ROUTING_ACTIONS: &[&str] = &["evacuate", "restore", "drill", "end_drill"];

pub fn read(
    event: Event,
    entry: Entry<'_>,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Command> {
    if let Entry::Url { .. } = entry {
        if !matches!(event, Event::Manual(_)) {
            return Err(Error::invalid_event(format!(
                "failover's function URL takes manual actions only, not {} events",
                event.kind()
            )));
        }
    }
    match event {
        Event::Manual(m) => manual(&m, entry, config),
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

fn manual_actor(m: &ManualRequest, by: &str, force: bool) -> Result<Actor> {
    Ok(Actor {
        by: truncate_stored(by, REQUESTED_BY_MAX),
        reason: m.require_reason()?.to_string(),
        automatic: false,
        force,
    })
}

/// Who may take a routing action: the caller the function URL authenticated, when it is
/// a session of an operator role. `Err` for a direct Invoke (nothing known of the
/// caller); `Ok(Err(refusal))` for an authenticated caller who is not an operator.
fn operator(
    m: &ManualRequest,
    entry: Entry<'_>,
    config: &Config,
) -> Result<std::result::Result<String, Command>> {
    let Entry::Url { caller } = entry else {
        return Err(Error::invalid_event(format!(
            "failover: manual {} needs the operator entry point (the function URL, AWS_IAM auth, as \
             `ctl` calls it), which names the caller; a direct Invoke does not, so nothing was done",
            m.action
        )));
    };
    if shared::operator::operator_role(caller, &config.failover.operator_roles).is_some() {
        return Ok(Ok(caller.to_string()));
    }
    Ok(Err(Command::Refuse {
        action: m.action.clone(),
        trigger: format!("manual {} by {caller}", m.action),
        reason: format!(
            "{caller} may not {}: manual routing actions need a session of a role in \
             failover.operator_roles; nothing done",
            m.action
        ),
    }))
}

fn manual(m: &ManualRequest, entry: Entry<'_>, config: &Config) -> Result<Command> {
    // Who asked is the caller Lambda authenticated, never a payload field.
    if m.requested_by.is_some() {
        return Err(Error::invalid_event(
            "failover: `requested_by` is not accepted; the records name the caller the function \
             URL authenticated",
        ));
    }
    let by = if ROUTING_ACTIONS.contains(&m.action.as_str()) {
        match operator(m, entry, config)? {
            Ok(by) => by,
            Err(refusal) => return Ok(refusal),
        }
    } else {
        String::new()
    };
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
            let actor = manual_actor(m, &by, force)?;
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
            let actor = manual_actor(m, &by, false)?;
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
            let actor = manual_actor(m, &by, false)?;
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
