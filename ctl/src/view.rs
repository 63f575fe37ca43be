//! Pure views over the functions' answers: the plan, an action's answer, and the
//! borderless tables both use. No I/O here.

use crate::answers::{Answer, SchedulerPlan};
use crate::error::CallError;
use comfy_table::{presets, Table};
use serde::de::IgnoredAny;
use serde_json::Value;
use shared::Region;
use std::collections::BTreeMap;

/// A borderless table, columns two spaces apart; a cell may hold several lines.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec())
        .add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt() + "\n"
}

/// The scheduler's plan of every region, as one table, then each region's summary.
pub fn plan_text(plans: &BTreeMap<Region, Result<Answer<SchedulerPlan>, CallError>>) -> String {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (region, plan) in plans {
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                notes.push(format!("error: {e}"));
                continue;
            }
        };
        notes.push(format!("{region}: {}", plan.record.reason));
        for r in plan.state.iter().flat_map(|s| &s.rows) {
            let why = match (r.why.rule.as_str(), &r.why.window) {
                ("window", Some(w)) => format!("window {w}"),
                (rule, _) => rule.to_string(),
            };
            let notes = if r.why.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", r.why.notes.join("; "))
            };
            rows.push(vec![
                region.to_string(),
                format!("{}:{}", r.function, r.alias),
                r.current.map_or("none".into(), |c| c.to_string()),
                r.level.to_string(),
                r.status.clone().unwrap_or_else(|| "-".into()),
                format!("{why}{notes}"),
            ]);
        }
    }
    let header = ["REGION", "TARGET", "NOW", "WANTED", "STATUS", "WHY"];
    let mut out = table(&header, rows);
    out.push('\n');
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// A change's from/to, compactly: a drill or an evacuation by its id and phase.
fn compact(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        Value::Object(m) if m.get("id").is_some_and(Value::is_string) => {
            let id = m["id"].as_str().unwrap_or_default();
            match m.get("phase").and_then(Value::as_str) {
                Some(phase) => format!("{id} ({phase})"),
                None => id.to_string(),
            }
        }
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// An action's decision record as text: outcome and reason, changes, timeline, errors.
pub fn answer_text(answer: &Answer<IgnoredAny>, function: &str, region: &str) -> String {
    let r = &answer.record;
    let mut out = format!("{}: {}\n", r.outcome.as_str(), r.reason);
    for c in &r.changes {
        out.push_str(&format!(
            "  change {} {}: {} → {}\n",
            c.resource,
            c.field,
            compact(&c.from),
            compact(&c.to)
        ));
    }
    for step in &r.timeline {
        out.push_str(&format!("  · +{} ms {}\n", step.elapsed_ms, step.step));
    }
    for e in &r.errors {
        out.push_str(&format!("  error: {e}\n"));
    }
    out.push_str(&format!("({function} in {region}, {} ms)\n", r.duration_ms));
    out
}

/// Exit status for an answer: refused and failed are 1.
pub fn exit_code<S>(answer: &Answer<S>) -> i32 {
    if answer.succeeded() {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::tests::{plan, record};
    use crate::error::{Failure, Role};
    use serde_json::json;

    #[test]
    fn plan_table_lists_every_region() {
        let plans: BTreeMap<Region, Result<Answer<SchedulerPlan>, CallError>> = [
            (
                Region::parse("eu-central-1").unwrap(),
                Answer::read(plan("eu-central-1", 2, 4, "surge")).map_err(|e| panic!("{e}")),
            ),
            (
                Region::parse("us-east-1").unwrap(),
                Err(CallError {
                    role: Role::Scheduler,
                    region: "us-east-1".into(),
                    failure: Failure::Unreadable("timed out".into()),
                }),
            ),
        ]
        .into_iter()
        .collect();
        let text = plan_text(&plans);
        assert!(
            text.starts_with("REGION        TARGET           NOW  WANTED  STATUS  WHY\n"),
            "{text}"
        );
        assert!(
            text.contains("\neu-central-1  orders-api:live  2    4       READY   surge\n"),
            "{text}"
        );
        assert!(
            text.contains("eu-central-1: plan: 1 of 1 alias(es) would change"),
            "{text}"
        );
        assert!(
            text.contains("error: concurrency-scheduler in us-east-1: Lambda's answer could not be read (timed out)"),
            "{text}"
        );
    }

    #[test]
    fn answers_and_exit_codes() {
        let mut raw = record(
            "failover",
            "applied",
            "evacuated us-east-1: test",
            Value::Null,
        );
        raw["changes"] =
            json!([{"resource": "gate us-east-1", "field": "threshold", "from": 2, "to": 3}]);
        raw["timeline"] = json!([{"at": "2026-01-01T10:00:00Z", "elapsed_ms": 37, "step": "state epoch 1 written"}]);
        raw["duration_ms"] = json!(120);
        let answer = Answer::read(raw).unwrap();
        assert_eq!(
            answer_text(&answer, "orders-failover-eu-central-1", "eu-central-1"),
            "applied: evacuated us-east-1: test\n  change gate us-east-1 threshold: 2 → 3\n  · +37 ms state epoch 1 written\n(orders-failover-eu-central-1 in eu-central-1, 120 ms)\n"
        );
        let mut drill = record("failover", "applied", "drill", Value::Null);
        drill["changes"] = json!([{"resource": "drill", "field": "drill", "from": null,
            "to": {"id": "drill-eu-1", "phase": "preparing", "by": "x"}}]);
        assert!(answer_text(&Answer::read(drill).unwrap(), "f", "r")
            .contains("change drill drill: none → drill-eu-1 (preparing)\n"));
        for (outcome, code) in [
            ("applied", 0),
            ("noop", 0),
            ("dry_run", 0),
            ("refused", 1),
            ("failed", 1),
        ] {
            let answer: Answer<IgnoredAny> =
                Answer::read(record("failover", outcome, "", Value::Null)).unwrap();
            assert_eq!(exit_code(&answer), code, "{outcome}");
        }
    }
}
