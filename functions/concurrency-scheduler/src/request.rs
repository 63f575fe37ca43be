//! Reads an event into a [`Command`]: every input problem is found here, before AWS
//! is touched.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::events::{ControlPlaneKind, Event, ManualRequest, ScheduleTask};
use shared::{Config, Error, Region, Result};

/// Longest an override may last: it must expire on its own.
pub const MAX_OVERRIDE: chrono::Duration = chrono::Duration::days(7);

/// The validated request of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Every target's level and why; nothing is changed.
    Plan { by: Option<String> },
    /// Brings every target to its level: a tick, a failover event, or a person.
    Reconcile {
        dry_run: bool,
        trigger: String,
        by: Option<String>,
    },
    /// An operator's level for one alias, until a time.
    Override(OverrideRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OverrideRequest {
    pub function: String,
    pub alias: String,
    pub level: u32,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub by: Option<String>,
    pub dry_run: bool,
}

impl Command {
    pub fn action(&self) -> &'static str {
        match self {
            Self::Plan { .. } => "plan",
            Self::Reconcile { .. } => "reconcile",
            Self::Override(_) => "override",
        }
    }

    pub fn trigger(&self) -> &str {
        match self {
            Self::Reconcile { trigger, .. } => trigger,
            Self::Plan { .. } | Self::Override(_) => "manual",
        }
    }

    pub fn requested_by(&self) -> Option<&str> {
        match self {
            Self::Plan { by } | Self::Reconcile { by, .. } => by.as_deref(),
            Self::Override(o) => o.by.as_deref(),
        }
    }

    /// Whether the run only shows what it would do (a plan always does).
    pub fn dry_run(&self) -> bool {
        match self {
            Self::Plan { .. } => true,
            Self::Reconcile { dry_run, .. } => *dry_run,
            Self::Override(o) => o.dry_run,
        }
    }

    /// A compact view of the command for the record.
    pub fn describe(&self) -> Value {
        match self {
            Self::Plan { .. } => json!({"action": "plan"}),
            Self::Reconcile { dry_run, .. } => json!({"action": "reconcile", "dry_run": dry_run}),
            Self::Override(o) => json!({
                "action": "override", "function": o.function, "alias": o.alias, "level": o.level,
                "until": o.until, "dry_run": o.dry_run,
            }),
        }
    }
}

/// `home` is the region this copy manages: an override for another region is refused.
pub fn read(event: Event, config: &Config, home: &Region, now: DateTime<Utc>) -> Result<Command> {
    let reconcile = |trigger: String| Command::Reconcile {
        dry_run: false,
        trigger,
        by: None,
    };
    match event {
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok(reconcile("schedule".into())),
            ScheduleTask::EndDrill { .. } => Err(Error::invalid_event(
                "end_drill schedules belong to the failover function, not the concurrency-scheduler",
            )),
        },
        Event::ControlPlane(e) => {
            let what = match e.kind {
                ControlPlaneKind::RegionEvacuated | ControlPlaneKind::DrillStarted => "surge",
                ControlPlaneKind::RegionRestored | ControlPlaneKind::DrillEnded => "back to schedule",
            };
            Ok(reconcile(format!(
                "{} {} ({what})",
                e.kind.detail_type(),
                e.detail.region
            )))
        }
        Event::Manual(m) => manual(&m, config, home, now),
        other => Err(Error::invalid_event(format!(
            "the concurrency-scheduler does not handle {} events (it handles schedules, control-plane events and \
             the manual actions plan, reconcile and override)",
            other.kind()
        ))),
    }
}

fn manual(
    m: &ManualRequest,
    config: &Config,
    home: &Region,
    now: DateTime<Utc>,
) -> Result<Command> {
    let by = m.requested_by.clone();
    match m.action.as_str() {
        "plan" => {
            m.deny_unknown_args(&[])?;
            Ok(Command::Plan { by })
        }
        "reconcile" => {
            m.deny_unknown_args(&[])?;
            Ok(Command::Reconcile {
                dry_run: m.dry_run,
                trigger: "manual".into(),
                by,
            })
        }
        "override" => {
            m.deny_unknown_args(&["function", "alias", "region", "level", "until"])?;
            let reason = m.require_reason()?.to_string();
            let function = m.str_arg("function")?.to_string();
            let alias = m
                .opt_str_arg("alias")?
                .unwrap_or(&config.concurrency.alias)
                .to_string();
            if let Some(r) = m.opt_str_arg("region")? {
                let r = config.region(r)?;
                if &r != home {
                    return Err(Error::invalid_event(format!(
                        "override: this copy of the concurrency-scheduler manages {home}; invoke the copy in {r}"
                    )));
                }
            }
            let level = m
                .u64_arg("level")?
                .ok_or_else(|| Error::invalid_event("action \"override\": missing `level`"))?;
            let level = u32::try_from(level)
                .ok()
                .filter(|l| *l >= 1)
                .ok_or_else(|| {
                    Error::invalid_event(format!(
                        "override: level {level} must be between 1 and max"
                    ))
                })?;
            let until = until(m.str_arg("until")?, now)?;
            Ok(Command::Override(OverrideRequest {
                function,
                alias,
                level,
                until,
                reason,
                by,
                dry_run: m.dry_run,
            }))
        }
        other => Err(Error::invalid_event(format!(
            "unknown action {other:?} for the concurrency-scheduler (expected plan, reconcile or override)"
        ))),
    }
}

/// `until`: an RFC 3339 time, or a duration from now (`90m`, `2h`).
pub fn until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let until = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => match shared::Duration::parse(text) {
            Ok(d) => now + d.as_chrono(),
            Err(_) => {
                return Err(Error::invalid_event(format!(
                    "override: until {text:?} is neither an RFC 3339 time nor a duration like 2h"
                )))
            }
        },
    };
    if until <= now {
        return Err(Error::invalid_event(format!(
            "override: until {} is not in the future",
            until.to_rfc3339()
        )));
    }
    if until - now > MAX_OVERRIDE {
        return Err(Error::invalid_event(
            "override: until is more than 7 days away; overrides must expire on their own",
        ));
    }
    Ok(until)
}
