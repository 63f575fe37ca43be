//! The decision record: what every invocation returns and logs as one JSON line.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// One change, made or planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub step: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    pub function: &'static str,
    pub region: String,
    pub action: String,
    pub trigger: String,
    pub outcome: Outcome,
    pub reason: String,
    pub changes: Vec<Change>,
    pub state: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Step>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
            function,
            region: region.into(),
            action: action.into(),
            trigger: trigger.into(),
            outcome: Outcome::Noop,
            reason: String::new(),
            changes: Vec::new(),
            state: Value::Null,
            requested_by: None,
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
    // One line, already JSON, so CloudWatch Logs Insights can query every field.
    let mut line = serde_json::json!({ "level": "INFO", "message": "decision" });
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, record.to_json()) {
        line.extend(fields);
    }
    println!("{line}");
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
}
