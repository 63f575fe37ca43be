//! Event recognition by shape. Every function receives a raw JSON payload and
//! turns it into one of these variants, or a non-retryable error naming what was
//! wrong. Nothing here calls AWS.

use crate::error::{Error, Result};
use crate::routing::{stored_len, REASON_MAX, REQUESTED_BY_MAX};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CONTROL_PLANE_SOURCE: &str = "controlplane.failover";
/// The source of the event EventBridge Scheduler sends a Lambda target that has no `Input`.
pub const SCHEDULER_SOURCE: &str = "aws.scheduler";

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A CloudWatch alarm changed state (via EventBridge or a direct alarm action).
    Alarm(AlarmChange),
    /// A periodic tick: EventBridge `Scheduled Event`, EventBridge Scheduler's default
    /// payload (a `Scheduled Event` from `aws.scheduler`), or an EventBridge Scheduler input.
    Schedule(ScheduleTick),
    /// An `ECR Image Action` event.
    EcrImage(EcrImageAction),
    /// One of the control plane's own events.
    ControlPlane(ControlPlaneEvent),
    /// A manual `{"action": ...}` payload, parsed further by the function that owns the action.
    Manual(ManualRequest),
}

impl Event {
    /// A short name for logs and refusals.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Alarm(_) => "alarm state change",
            Self::Schedule(_) => "schedule",
            Self::EcrImage(_) => "ECR image action",
            Self::ControlPlane(_) => "control-plane event",
            Self::Manual(_) => "manual action",
        }
    }

    /// Recognises the payload by its shape.
    pub fn parse(payload: &Value) -> Result<Self> {
        let Value::Object(map) = payload else {
            return Err(Error::invalid_event(format!(
                "expected a JSON object, got {}",
                json_type(payload)
            )));
        };
        if map.contains_key("action") {
            return ManualRequest::parse(map).map(Self::Manual);
        }
        if map.contains_key("alarmData") {
            return AlarmChange::from_alarm_action(payload).map(Self::Alarm);
        }
        if let Some(detail_type) = map.get("detail-type") {
            return parse_eventbridge(map, detail_type);
        }
        if map.contains_key("task") {
            return ScheduleTick::from_scheduler(map).map(Self::Schedule);
        }
        let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
        Err(Error::invalid_event(format!(
            "unrecognised event (top-level keys: [{}]): expected an EventBridge event (detail-type), \
             a CloudWatch alarm action (alarmData), an EventBridge Scheduler input (task) or a manual \
             payload (action)",
            keys.join(", ")
        )))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Error::invalid_event(format!("{what}: `{key}` is empty"))),
        Some(other) => Err(Error::invalid_event(format!(
            "{what}: `{key}` must be a string, got {}",
            json_type(other)
        ))),
        None => Err(Error::invalid_event(format!("{what}: missing `{key}`"))),
    }
}

fn parse_eventbridge(map: &Map<String, Value>, detail_type: &Value) -> Result<Event> {
    let what = "EventBridge event";
    let detail_type = detail_type
        .as_str()
        .ok_or_else(|| Error::invalid_event(format!("{what}: `detail-type` must be a string")))?;
    let source = str_field(map, "source", what)?;
    let detail = map.get("detail").unwrap_or(&Value::Null);
    let time = map
        .get("time")
        .and_then(Value::as_str)
        .map(|t| parse_time(t, what))
        .transpose()?;
    match (source, detail_type) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            AlarmChange::from_eventbridge(map, detail).map(Event::Alarm)
        }
        ("aws.events", "Scheduled Event") => Ok(Event::Schedule(ScheduleTick {
            task: ScheduleTask::Tick,
            time,
            schedule: first_resource(map),
            via: ScheduleVia::EventBridgeRule,
        })),
        (SCHEDULER_SOURCE, "Scheduled Event") => {
            ScheduleTick::from_scheduler_default(map, detail, time).map(Event::Schedule)
        }
        (SCHEDULER_SOURCE, _) => Err(Error::invalid_event(format!(
            "EventBridge event from source {SCHEDULER_SOURCE:?} with detail-type {detail_type:?} is not handled by \
             this control plane: from EventBridge Scheduler only its default payload (detail-type \
             \"Scheduled Event\", detail \"{{}}\") or an input with `task` is a tick"
        ))),
        ("aws.ecr", "ECR Image Action") => EcrImageAction::from_detail(detail, time).map(Event::EcrImage),
        (CONTROL_PLANE_SOURCE, _) => ControlPlaneEvent::parse(detail_type, detail, time).map(Event::ControlPlane),
        _ => Err(Error::invalid_event(format!(
            "EventBridge event from source {source:?} with detail-type {detail_type:?} is not handled by this control plane"
        ))),
    }
}

/// The first ARN of `resources`: the rule or schedule that fired.
fn first_resource(map: &Map<String, Value>) -> Option<String> {
    map.get("resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::invalid_event(format!("{what}: bad timestamp {text:?}: {e}")))
}

// ---------------------------------------------------------------- alarms

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    fn parse(text: &str, what: &str) -> Result<Self> {
        match text {
            "OK" => Ok(Self::Ok),
            "ALARM" => Ok(Self::Alarm),
            "INSUFFICIENT_DATA" => Ok(Self::InsufficientData),
            other => Err(Error::invalid_event(format!(
                "{what}: unknown alarm state {other:?} (expected OK, ALARM or INSUFFICIENT_DATA)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmVia {
    EventBridge,
    AlarmAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmChange {
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    pub timestamp: Option<DateTime<Utc>>,
    /// The region the alarm lives in (from the envelope), not the region it watches.
    pub alarm_region: Option<String>,
    pub account: Option<String>,
    pub via: AlarmVia,
}

impl AlarmChange {
    fn from_eventbridge(map: &Map<String, Value>, detail: &Value) -> Result<Self> {
        let what = "CloudWatch Alarm State Change";
        let detail = detail
            .as_object()
            .ok_or_else(|| Error::invalid_event(format!("{what}: `detail` must be an object")))?;
        let mut change = Self::from_alarm_data(detail, what)?;
        change.alarm_arn = map
            .get("resources")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(Value::as_str)
            .map(str::to_string);
        change.alarm_region = map
            .get("region")
            .and_then(Value::as_str)
            .map(str::to_string);
        change.account = map
            .get("account")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(change)
    }

    fn from_alarm_action(payload: &Value) -> Result<Self> {
        let what = "CloudWatch alarm action";
        // Validate the documented envelope with the upstream type, then read the fields we use.
        let typed: aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarm =
            serde_json::from_value(payload.clone())
                .map_err(|e| Error::invalid_event(format!("{what}: malformed payload: {e}")))?;
        let data = payload["alarmData"].as_object().ok_or_else(|| {
            Error::invalid_event(format!("{what}: `alarmData` must be an object"))
        })?;
        let mut change = Self::from_alarm_data(data, what)?;
        change.alarm_arn = typed.alarm_arn;
        change.alarm_region = typed.region;
        change.account = typed.account_id;
        change.via = AlarmVia::AlarmAction;
        Ok(change)
    }

    /// `alarmData` (alarm action) and `detail` (EventBridge) share this shape.
    fn from_alarm_data(data: &Map<String, Value>, what: &str) -> Result<Self> {
        let alarm_name = str_field(data, "alarmName", what)?.to_string();
        let state = data
            .get("state")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::invalid_event(format!("{what}: missing `state` object")))?;
        let value = str_field(state, "value", what)?;
        let previous_state = data
            .get("previousState")
            .and_then(|p| p.get("value"))
            .and_then(Value::as_str)
            .map(|v| AlarmState::parse(v, what))
            .transpose()?;
        let timestamp = state
            .get("timestamp")
            .and_then(Value::as_str)
            .map(|t| parse_alarm_time(t, what))
            .transpose()?;
        Ok(Self {
            alarm_name,
            alarm_arn: None,
            state: AlarmState::parse(value, what)?,
            previous_state,
            reason: state
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            timestamp,
            alarm_region: None,
            account: None,
            via: AlarmVia::EventBridge,
        })
    }
}

/// CloudWatch writes `2019-10-02T17:04:40.985+0000`, which is not strict RFC 3339.
fn parse_alarm_time(text: &str, what: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::invalid_event(format!("{what}: bad timestamp {text:?}: {e}")))
}

// ---------------------------------------------------------------- schedules

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum ScheduleTask {
    /// The periodic run: reconcile, sweep, publish.
    Tick,
    /// The one-time schedule that ends a drill.
    EndDrill { drill_id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleVia {
    EventBridgeRule,
    Scheduler,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleTick {
    #[serde(flatten)]
    pub task: ScheduleTask,
    pub time: Option<DateTime<Utc>>,
    /// The rule or schedule ARN that fired, when the envelope carries it.
    pub schedule: Option<String>,
    pub via: ScheduleVia,
}

impl ScheduleTick {
    /// EventBridge Scheduler input, as Terraform and the drill logic write it:
    /// `{"task": "tick" | "end_drill", "drill_id": "...", "schedule_arn": "<aws.scheduler.schedule-arn>",
    ///   "scheduled_time": "<aws.scheduler.scheduled-time>"}`.
    fn from_scheduler(map: &Map<String, Value>) -> Result<Self> {
        let what = "EventBridge Scheduler input";
        let task = match str_field(map, "task", what)? {
            "tick" => ScheduleTask::Tick,
            "end_drill" => ScheduleTask::EndDrill {
                drill_id: str_field(map, "drill_id", what)?.to_string(),
            },
            other => {
                return Err(Error::invalid_event(format!(
                    "{what}: unknown task {other:?} (expected tick or end_drill)"
                )))
            }
        };
        let time = map
            .get("scheduled_time")
            .and_then(Value::as_str)
            .map(|t| parse_time(t, what))
            .transpose()?;
        Ok(Self {
            task,
            time,
            schedule: map
                .get("schedule_arn")
                .and_then(Value::as_str)
                .map(str::to_string),
            via: ScheduleVia::Scheduler,
        })
    }

    /// EventBridge Scheduler's default payload: what a Lambda target with no `Input` receives.
    /// AWS documents only that Scheduler then "delivers a default notification to the target"
    /// ("Target - EventBridge Scheduler", `Input`,
    /// https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html); the
    /// notification Lambda receives is an EventBridge envelope: `version` "0", `id`,
    /// `detail-type` "Scheduled Event", `source` "aws.scheduler", `account`, `time` (the
    /// scheduled time), `region`, `resources` [the schedule ARN] and `detail` the *string*
    /// "{}" (not an object, unlike a rule's `Scheduled Event`); see
    /// tests/fixtures/scheduler-default-payload.json. It is a tick; any other `detail` is refused.
    fn from_scheduler_default(
        map: &Map<String, Value>,
        detail: &Value,
        time: Option<DateTime<Utc>>,
    ) -> Result<Self> {
        let what = "EventBridge Scheduler default payload (source aws.scheduler, Scheduled Event)";
        let empty = match detail {
            Value::String(text) => serde_json::from_str::<Map<String, Value>>(text)
                .map(|m| m.is_empty())
                .unwrap_or(false),
            _ => false,
        };
        if !empty {
            return Err(Error::invalid_event(format!(
                "{what}: `detail` must be the string \"{{}}\", got {}",
                match detail {
                    Value::String(s) => format!("the string {s:?}"),
                    other => json_type(other).to_string(),
                }
            )));
        }
        Ok(Self {
            task: ScheduleTask::Tick,
            time,
            schedule: first_resource(map),
            via: ScheduleVia::Scheduler,
        })
    }
}

// ---------------------------------------------------------------- ECR

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcrImageAction {
    pub action_type: String,
    pub result: String,
    pub repository: String,
    pub image_digest: String,
    pub image_tag: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

impl EcrImageAction {
    fn from_detail(detail: &Value, time: Option<DateTime<Utc>>) -> Result<Self> {
        let what = "ECR Image Action";
        let d = detail
            .as_object()
            .ok_or_else(|| Error::invalid_event(format!("{what}: `detail` must be an object")))?;
        let digest = str_field(d, "image-digest", what)?;
        if !digest.starts_with("sha256:") {
            return Err(Error::invalid_event(format!(
                "{what}: image-digest {digest:?} is not a sha256 digest"
            )));
        }
        Ok(Self {
            action_type: str_field(d, "action-type", what)?.to_string(),
            result: str_field(d, "result", what)?.to_string(),
            repository: str_field(d, "repository-name", what)?.to_string(),
            image_digest: digest.to_string(),
            image_tag: d
                .get("image-tag")
                .and_then(Value::as_str)
                .map(str::to_string),
            time,
        })
    }

    pub fn is_successful_push(&self) -> bool {
        self.action_type == "PUSH" && self.result == "SUCCESS"
    }
}

// ---------------------------------------------------------------- control plane

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlPlaneKind {
    #[serde(rename = "Region Evacuated")]
    RegionEvacuated,
    #[serde(rename = "Region Restored")]
    RegionRestored,
    #[serde(rename = "Drill Started")]
    DrillStarted,
    #[serde(rename = "Drill Ended")]
    DrillEnded,
}

impl ControlPlaneKind {
    pub const ALL: [Self; 4] = [
        Self::RegionEvacuated,
        Self::RegionRestored,
        Self::DrillStarted,
        Self::DrillEnded,
    ];

    pub fn detail_type(self) -> &'static str {
        match self {
            Self::RegionEvacuated => "Region Evacuated",
            Self::RegionRestored => "Region Restored",
            Self::DrillStarted => "Drill Started",
            Self::DrillEnded => "Drill Ended",
        }
    }
}

/// The detail every control-plane event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlPlaneDetail {
    /// The region evacuated/restored, or the region a drill evacuates.
    pub region: String,
    /// The routing-state epoch after the change.
    #[serde(default)]
    pub epoch: u64,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlPlaneEvent {
    pub kind: ControlPlaneKind,
    pub detail: ControlPlaneDetail,
    pub time: Option<DateTime<Utc>>,
}

impl ControlPlaneEvent {
    fn parse(detail_type: &str, detail: &Value, time: Option<DateTime<Utc>>) -> Result<Self> {
        let kind = ControlPlaneKind::ALL
            .into_iter()
            .find(|k| k.detail_type() == detail_type)
            .ok_or_else(|| {
                Error::invalid_event(format!(
                    "control-plane event with unknown detail-type {detail_type:?} (expected Region Evacuated, \
                     Region Restored, Drill Started or Drill Ended)"
                ))
            })?;
        let detail: ControlPlaneDetail = serde_json::from_value(detail.clone())
            .map_err(|e| Error::invalid_event(format!("{detail_type}: malformed detail: {e}")))?;
        Ok(Self { kind, detail, time })
    }
}

// ---------------------------------------------------------------- manual

/// A manual invocation: `{"action": "...", "dry_run": bool, "reason": "...", ...}`.
/// The owning function turns `args` into its typed action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManualRequest {
    pub action: String,
    pub dry_run: bool,
    pub reason: Option<String>,
    /// Who asked, as the payload claims it (`requested_by`): a claim, not a verified
    /// identity; nothing adds the invoker's identity to it.
    pub requested_by: Option<String>,
    /// Every other field of the payload.
    pub args: Map<String, Value>,
}

/// Refuses a text that would take more than `max` characters in the routing-state
/// record (see [`stored_len`]: non-ASCII and escaped characters take more than one).
fn check_stored_len(what: &str, field: &str, text: &str, max: usize) -> Result<()> {
    let stored = stored_len(text);
    if stored <= max {
        return Ok(());
    }
    let chars = text.chars().count();
    let size = if stored == chars {
        format!("{chars} characters")
    } else {
        format!(
            "{chars} characters, which take {stored} in the routing-state record (a non-ASCII \
             character takes 7, or 14 beyond U+FFFF; a quote or backslash 4)"
        )
    };
    Err(Error::invalid_event(format!(
        "{what}: `{field}` is too long: {size}; the limit is {max} characters as stored"
    )))
}

impl ManualRequest {
    fn parse(map: &Map<String, Value>) -> Result<Self> {
        let what = "manual action";
        let action = str_field(map, "action", what)?.to_string();
        let dry_run = match map.get("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(Error::invalid_event(format!(
                    "{what}: `dry_run` must be true or false, got {}",
                    json_type(other)
                )))
            }
        };
        let reason = match map.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                return Err(Error::invalid_event(format!(
                    "{what}: `reason` must be a string, got {}",
                    json_type(other)
                )))
            }
        };
        let requested_by = map
            .get("requested_by")
            .and_then(Value::as_str)
            .map(str::to_string);
        // Both end up in the routing state's one Route 53 record: bounded here, so a
        // request that could not be stored is refused before anything is done.
        for (field, text, max) in [
            ("reason", &reason, REASON_MAX),
            ("requested_by", &requested_by, REQUESTED_BY_MAX),
        ] {
            if let Some(text) = text {
                check_stored_len(what, field, text, max)?;
            }
        }
        let args = map
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "action" | "dry_run" | "reason" | "requested_by")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            action,
            dry_run,
            reason,
            requested_by,
            args,
        })
    }

    pub fn str_arg(&self, key: &str) -> Result<&str> {
        str_field(&self.args, key, &format!("action {:?}", self.action))
    }

    pub fn opt_str_arg(&self, key: &str) -> Result<Option<&str>> {
        match self.args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.str_arg(key).map(Some),
        }
    }

    pub fn bool_arg(&self, key: &str) -> Result<bool> {
        match self.args.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(Error::invalid_event(format!(
                "action {:?}: `{key}` must be true or false, got {}",
                self.action,
                json_type(other)
            ))),
        }
    }

    pub fn u64_arg(&self, key: &str) -> Result<Option<u64>> {
        match self.args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                Error::invalid_event(format!(
                    "action {:?}: `{key}` must be a non-negative whole number, got {v}",
                    self.action
                ))
            }),
        }
    }

    /// Mutating actions must say why (unless they only plan).
    pub fn require_reason(&self) -> Result<&str> {
        match (&self.reason, self.dry_run) {
            (Some(r), _) => Ok(r),
            (None, true) => Ok("dry run"),
            (None, false) => Err(Error::invalid_event(format!(
                "action {:?} changes routing or capacity and needs a \"reason\"",
                self.action
            ))),
        }
    }

    /// Refuses fields the action does not know, so a typo is never ignored.
    pub fn deny_unknown_args(&self, known: &[&str]) -> Result<()> {
        let unknown: Vec<&str> = self
            .args
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_event(format!(
                "action {:?}: unknown field(s) {} (known: {})",
                self.action,
                unknown.join(", "),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

/// What a manual request may store in the routing state: table tests and a property.
#[cfg(test)]
mod stored_text_bounds {
    use super::*;
    use crate::routing::{RoutingState, STATE_VALUE_MAX};
    use crate::Region;
    use proptest::prelude::*;
    use serde_json::json;

    fn manual(reason: &str, requested_by: &str) -> Result<ManualRequest> {
        let payload = json!({"action": "evacuate", "region": "us-east-1",
                             "reason": reason, "requested_by": requested_by});
        match Event::parse(&payload)? {
            Event::Manual(m) => Ok(m),
            other => panic!("not manual: {other:?}"),
        }
    }

    #[test]
    fn reason_and_requested_by_are_bounded_as_stored() {
        let arn = "arn:aws:sts::333333333333:assumed-role/sre/alice";
        // (reason, requested_by, refusal naming the field and the limit, or None)
        let cases: Vec<(String, String, Option<&str>)> = vec![
            ("API errors 40%".into(), arn.into(), None),
            ("r".repeat(500), arn.into(), None),
            ("é".repeat(71), arn.into(), None), // 497 as stored
            (
                "r".repeat(501),
                arn.into(),
                Some("manual action: `reason` is too long: 501 characters; the limit is 500 characters as stored"),
            ),
            (
                "r".repeat(5000),
                arn.into(),
                Some("`reason` is too long: 5000 characters; the limit is 500"),
            ),
            (
                "é".repeat(300),
                arn.into(),
                Some("`reason` is too long: 300 characters, which take 2100 in the routing-state record"),
            ),
            (
                "🚨".repeat(36),
                arn.into(),
                Some("`reason` is too long: 36 characters, which take 504"),
            ),
            (
                "\"".repeat(126),
                arn.into(),
                Some("`reason` is too long: 126 characters, which take 504"),
            ),
            // Trimmed before it is measured, as it is stored.
            (format!("  {}  ", "r".repeat(500)), arn.into(), None),
            ("ok".into(), "b".repeat(200), None),
            (
                "ok".into(),
                "b".repeat(201),
                Some("manual action: `requested_by` is too long: 201 characters; the limit is 200 characters as stored"),
            ),
            (
                "ok".into(),
                "ü".repeat(30),
                Some("`requested_by` is too long: 30 characters, which take 210"),
            ),
        ];
        for (reason, by, refusal) in cases {
            let parsed = manual(&reason, &by);
            match refusal {
                None => {
                    let m = parsed.unwrap_or_else(|e| panic!("{reason:?}/{by:?}: {e}"));
                    assert_eq!(m.reason.as_deref(), Some(reason.trim()));
                    assert_eq!(m.requested_by.as_deref(), Some(by.as_str()));
                }
                Some(needle) => {
                    let err = parsed.expect_err(&format!("{reason:?}/{by:?} accepted"));
                    assert!(!err.is_retryable());
                    assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
                }
            }
        }
    }

    /// Any text from the whole of Unicode, weighted towards what grows in the record:
    /// mostly short enough to be accepted, often not.
    fn any_text(longest: usize) -> impl Strategy<Value = String> {
        let chars = prop::collection::vec(
            prop_oneof![
                Just('a'),
                Just(' '),
                Just('"'),
                Just('\\'),
                Just('é'),
                Just('🚨'),
                any::<char>()
            ],
            0..longest,
        );
        prop_oneof![
            chars.prop_map(String::from_iter),
            // Plain ASCII up to and past the limit.
            (0..longest * 6).prop_map(|n| "a".repeat(n)),
        ]
    }

    proptest! {
        /// Whatever a request carries, if it is accepted its texts in every place of the
        /// largest state (two or three regions, a drill) fit in one Route 53 value.
        #[test]
        fn any_accepted_request_fits_in_the_state_record(reason in any_text(120), by in any_text(50)) {
            if let Ok(m) = manual(&reason, &by) {
                let reason = m.reason.unwrap_or_default();
                let by = m.requested_by.unwrap_or_default();
                let names = ["eu-central-1", "us-east-1", "ap-southeast-2"];
                for n in 2..=3 {
                    let regions: Vec<Region> =
                        names[..n].iter().map(|r| Region::parse(r).unwrap()).collect();
                    let worst = RoutingState::worst_case(&regions, 2, &by, &reason);
                    let txt = worst.to_txt();
                    prop_assert!(txt.len() <= STATE_VALUE_MAX, "{} characters", txt.len());
                    prop_assert_eq!(RoutingState::from_txt(&txt).unwrap(), worst);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn scheduler_default_payload_is_a_tick() {
        let Event::Schedule(tick) =
            Event::parse(&fixture("scheduler-default-payload.json")).unwrap()
        else {
            panic!("not a schedule")
        };
        assert_eq!(tick.task, ScheduleTask::Tick);
        assert_eq!(tick.via, ScheduleVia::Scheduler);
        assert_eq!(
            tick.schedule.as_deref(),
            Some("arn:aws:scheduler:eu-central-1:333333333333:schedule/default/orders-controlplane-tick")
        );
        assert_eq!(
            tick.time,
            Some(parse_time("2026-11-27T15:05:00Z", "t").unwrap())
        );
    }

    #[test]
    fn anything_else_from_the_scheduler_is_refused_with_a_reason() {
        let refused = |mutate: &dyn Fn(&mut Value)| {
            let mut event = fixture("scheduler-default-payload.json");
            mutate(&mut event);
            match Event::parse(&event) {
                Err(e @ Error::InvalidEvent(_)) => e.to_string(),
                other => panic!("{event} accepted: {other:?}"),
            }
        };
        let other_type = refused(&|e| e["detail-type"] = json!("AWS API Call via CloudTrail"));
        assert!(
            other_type.contains("aws.scheduler") && other_type.contains("not handled"),
            "{other_type}"
        );
        for (detail, names) in [
            (json!({}), "an object"),
            (json!("{\"task\":\"end_drill\"}"), "the string"),
            (json!("not json"), "the string"),
            (json!(null), "null"),
        ] {
            let message = refused(&|e| e["detail"] = detail.clone());
            assert!(
                message.contains("must be the string \"{}\"") && message.contains(names),
                "{message}"
            );
        }
        // A rule's Scheduled Event keeps its object detail.
        let mut rule = fixture("scheduler-default-payload.json");
        rule["source"] = json!("aws.events");
        rule["detail"] = json!({});
        assert!(matches!(
            Event::parse(&rule),
            Ok(Event::Schedule(ScheduleTick {
                via: ScheduleVia::EventBridgeRule,
                ..
            }))
        ));
    }
}
