//! The decision record: what every invocation returns and logs as one JSON line.
//! It deserialises from that line too, so readers of the answers (ctl) share the type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Changes were made.
    Applied,
    /// Nothing needed to change.
    Noop,
    /// A safety rule or a bad request stopped the action; nothing changed.
    Refused,
    /// The changes that would be made, without making them.
    DryRun,
    /// Something failed; `errors` says what, `changes` says what did happen.
    Failed,
}

impl Outcome {
    /// The word the record carries (`dry_run`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Noop => "noop",
            Self::Refused => "refused",
            Self::DryRun => "dry_run",
            Self::Failed => "failed",
        }
    }
}

/// One change, made or planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub resource: String,
    pub field: String,
    pub from: Value,
    pub to: Value,
}

impl Change {
    pub fn new(
        resource: impl Into<String>,
        field: impl Into<String>,
        from: impl Serialize,
        to: impl Serialize,
    ) -> Self {
        Self {
            resource: resource.into(),
            field: field.into(),
            from: serde_json::to_value(from).unwrap_or(Value::Null),
            to: serde_json::to_value(to).unwrap_or(Value::Null),
        }
    }
}

/// A step with its time, for drills and long actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub step: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// A `&'static str` when a function makes the record, owned when one is read.
    pub function: Cow<'static, str>,
    pub region: String,
    pub action: String,
    pub trigger: String,
    pub outcome: Outcome,
    pub reason: String,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub state: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Which path a routing change took: "control plane" (Route 53's API) or "data
    /// plane" (a metric the gate's CLOUDWATCH_METRIC child follows); None for no change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    #[serde(skip)]
    clock: Option<Instant>,
}

impl DecisionRecord {
    pub fn new(
        function: &'static str,
        region: impl Into<String>,
        action: impl Into<String>,
        trigger: impl Into<String>,
    ) -> Self {
        Self {
            function: Cow::Borrowed(function),
            region: region.into(),
            action: action.into(),
            trigger: trigger.into(),
            outcome: Outcome::Noop,
            reason: String::new(),
            changes: Vec::new(),
            state: Value::Null,
            requested_by: None,
            path: None,
            timeline: Vec::new(),
            errors: Vec::new(),
            started_at: Utc::now(),
            duration_ms: 0,
            clock: Some(Instant::now()),
        }
    }

    pub fn outcome(mut self, outcome: Outcome, reason: impl Into<String>) -> Self {
        self.outcome = outcome;
        self.reason = reason.into();
        self
    }

    pub fn step(&mut self, step: impl Into<String>) {
        let elapsed_ms = self.clock.map_or(0, |c| c.elapsed().as_millis() as u64);
        let step = step.into();
        tracing::info!(action = %self.action, elapsed_ms, step = %step, "step");
        self.timeline.push(Step {
            at: Utc::now(),
            elapsed_ms,
            step,
        });
    }

    /// Stamps the duration and writes the record to stdout as one JSON line.
    pub fn finish(mut self) -> Self {
        self.duration_ms = self.clock.map_or(0, |c| c.elapsed().as_millis() as u64);
        log_record(&self);
        self
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn log_record(record: &DecisionRecord) {
    // One JSON line, through the functions' one logging path (shared::logging).
    #[cfg(feature = "aws")]
    crate::logging::decision(&record.to_json());
    // The SDK-free core (ctl) has no subscriber: the same line, directly.
    #[cfg(not(feature = "aws"))]
    {
        let mut line = serde_json::json!({ "level": "INFO", "message": "decision" });
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, record.to_json()) {
            line.extend(fields);
        }
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_serialises_the_contract_fields() {
        let mut r = DecisionRecord::new("failover", "eu-central-1", "evacuate", "manual")
            .outcome(Outcome::Applied, "asked");
        r.changes
            .push(Change::new("gate:us-east-1", "health_threshold", 2, 3));
        r.step("cas");
        let v = r.finish().to_json();
        for key in [
            "action",
            "trigger",
            "outcome",
            "reason",
            "changes",
            "state",
            "timeline",
            "duration_ms",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["outcome"], "applied");
        assert_eq!(v["changes"][0]["to"], 3);
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let mut r = DecisionRecord::new("failover", "eu-central-1", "drill", "manual")
            .outcome(Outcome::DryRun, "would drill");
        r.changes.push(Change::new("drill", "drill", (), "drill-1"));
        r.state = serde_json::json!({"routing": {"epoch": 3}});
        r.requested_by = Some("alice".into());
        r.step("planned");
        let written = r.finish().to_json();
        let read: DecisionRecord = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(read.function, "failover");
        assert_eq!(read.outcome, Outcome::DryRun);
        assert_eq!(read.outcome.as_str(), "dry_run");
        assert_eq!(read.changes[0].to, "drill-1");
        assert_eq!(read.timeline[0].step, "planned");
        assert_eq!(read.to_json(), written);
        // the fields a record leaves out when empty read back empty
        let mut bare = written;
        for key in ["requested_by", "timeline", "errors"] {
            bare.as_object_mut().unwrap().remove(key);
        }
        let read: DecisionRecord = serde_json::from_value(bare).unwrap();
        assert!(read.requested_by.is_none() && read.timeline.is_empty() && read.errors.is_empty());
    }
}
