//! Pure views over the functions' decision records: the status table, the plan
//! and an action's answer, as text or JSON. No I/O here.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What `status` gathered: failover's status, the monitor's check, and each
/// region's scheduler plan (or why one could not be had).
pub struct Gathered {
    pub service: String,
    pub via: String,
    pub failover: Result<Value, String>,
    pub replication: Result<Value, String>,
    pub concurrency: BTreeMap<String, Result<Value, String>>,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn seconds(n: u64) -> String {
    match n {
        0..=119 => format!("{n}s"),
        120..=7199 => format!("{}m", n / 60),
        _ => format!("{}h{:02}m", n / 3600, (n % 3600) / 60),
    }
}

/// Timestamps as the records carry them (RFC 3339), shortened to the second.
fn when(v: &Value) -> String {
    let t = s(v);
    let t = t.split('.').next().unwrap_or(t).trim_end_matches('Z');
    format!("{} UTC", t.replace('T', " "))
}

impl Gathered {
    /// The regions to show: failover's, else the monitor's, else the schedulers'.
    fn regions(&self) -> Vec<String> {
        let from = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        if let Ok(f) = &self.failover {
            let r = from(&f["state"]["regions"]);
            if !r.is_empty() {
                return r;
            }
        }
        if let Ok(m) = &self.replication {
            let r = from(&m["state"]["regions"]);
            if !r.is_empty() {
                return r;
            }
        }
        self.concurrency.keys().cloned().collect()
    }

    /// Every part that failed or answered `failed`, named.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: &str, r: &Result<Value, String>| match r {
            Err(e) => out.push(format!("{what}: {e}")),
            Ok(v) => {
                if v["outcome"] == "failed" {
                    out.push(format!("{what}: {}", s(&v["reason"])));
                }
                for e in v["errors"].as_array().into_iter().flatten() {
                    out.push(format!("{what}: {}", e.as_str().unwrap_or_default()));
                }
            }
        };
        check(&format!("failover ({})", self.via), &self.failover);
        check(
            &format!("replication-monitor ({})", self.via),
            &self.replication,
        );
        for (region, r) in &self.concurrency {
            check(&format!("concurrency-scheduler ({region})"), r);
        }
        out
    }

    fn replication_of(&self, region: &str) -> Value {
        let Ok(m) = &self.replication else {
            return Value::Null;
        };
        let st = &m["state"];
        let mut kinds = Map::new();
        for (kind, report) in st["kinds"].as_object().into_iter().flatten() {
            if let Some(t) = report["destinations"].get(region) {
                kinds.insert(
                    kind.clone(),
                    json!({
                        "verdict": t["verdict"],
                        "lag_seconds": t["max_lag_seconds"],
                        "pending": t["pending"],
                        "failed": t["failed"],
                    }),
                );
            }
        }
        json!({ "verdict": st["regions"][region]["verdict"], "kinds": kinds })
    }

    fn concurrency_of(&self, region: &str) -> Value {
        match self.concurrency.get(region) {
            Some(Ok(v)) => Value::Array(
                v["state"]["rows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["region"] == region || r["region"].is_null())
                    .map(|r| {
                        json!({
                            "function": r["function"], "alias": r["alias"], "current": r["current"],
                            "status": r["status"], "level": r["level"], "rule": r["why"]["rule"],
                        })
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// The status as one JSON document: a normalised view per region, then the raw records.
    pub fn to_json(&self) -> Value {
        let routing = self
            .failover
            .as_ref()
            .map(|f| f["state"]["routing"].clone())
            .unwrap_or(Value::Null);
        let mut regions = Map::new();
        for region in self.regions() {
            let f = self
                .failover
                .as_ref()
                .map(|f| f["state"]["regions"][&region].clone())
                .unwrap_or(Value::Null);
            let gate = &f["gate"];
            regions.insert(
                region.clone(),
                json!({
                    "routing": f["routing"],
                    "evacuation": routing["evacuated"].get(&region).cloned().unwrap_or(Value::Null),
                    "endpoints": if gate.is_null() { Value::Null } else {
                        json!({"healthy": gate["children_healthy"], "total": gate["children"]})
                    },
                    "gate": gate,
                    "gate_matches_state": f["gate_matches_state"],
                    "replication": self.replication_of(&region),
                    "concurrency": self.concurrency_of(&region),
                }),
            );
        }
        let records: Map<String, Value> = [
            ("failover".to_string(), ok_or_error(&self.failover)),
            (
                "replication-monitor".to_string(),
                ok_or_error(&self.replication),
            ),
            (
                "concurrency-scheduler".to_string(),
                Value::Object(
                    self.concurrency
                        .iter()
                        .map(|(r, v)| (r.clone(), ok_or_error(v)))
                        .collect(),
                ),
            ),
        ]
        .into_iter()
        .collect();
        json!({
            "service": self.service,
            "via": self.via,
            "summary": self.failover.as_ref().map(|f| f["reason"].clone()).unwrap_or(Value::Null),
            "epoch": routing["epoch"],
            "drill": routing["drill"],
            "regions": regions,
            "errors": self.errors(),
            "records": records,
        })
    }

    /// The status as text: a heading, one table, then evacuations, the drill and errors.
    pub fn to_text(&self) -> String {
        let view = self.to_json();
        let mut out = format!("control plane {} (via {})", self.service, self.via);
        if let Some(summary) = view["summary"].as_str() {
            out.push_str(&format!(": {summary}"));
        }
        out.push_str("\n\n");
        let mut table = Table::new(&[
            "REGION",
            "ROUTING",
            "ENDPOINTS",
            "GATE",
            "REPLICATION (into region)",
            "PROVISIONED CONCURRENCY",
        ]);
        for (region, r) in view["regions"].as_object().into_iter().flatten() {
            let routing = match (s(&r["routing"]), r["evacuation"]["drill_id"].is_string()) {
                ("", _) => "?".to_string(),
                ("evacuated", true) => "evacuated (drill)".to_string(),
                (other, _) => other.to_string(),
            };
            let endpoints = match (
                r["endpoints"]["healthy"].as_u64(),
                r["endpoints"]["total"].as_u64(),
            ) {
                (Some(h), Some(t)) if h == t => format!("{h}/{t} healthy"),
                (Some(h), Some(t)) => format!("{h}/{t} healthy (DOWN)"),
                _ => "?".into(),
            };
            let g = &r["gate"];
            let gate = if g.is_null() {
                "?".to_string()
            } else {
                let mut text = format!(
                    "{} {}/{}",
                    if g["open"] == true { "open" } else { "closed" },
                    g["threshold"],
                    g["children"]
                );
                if g["healthy"] == false {
                    text.push_str(" unhealthy");
                }
                if r["gate_matches_state"] == false {
                    text.push_str(" (≠ state)");
                }
                text
            };
            let replication = replication_lines(&r["replication"], self.replication.is_ok());
            let concurrency = match &r["concurrency"] {
                Value::Array(rows) if rows.is_empty() => vec!["no targets".to_string()],
                Value::Array(rows) => rows.iter().map(concurrency_line).collect(),
                _ => vec!["unavailable (see below)".to_string()],
            };
            table.row(vec![
                vec![region.clone()],
                vec![routing],
                vec![endpoints],
                vec![gate],
                replication,
                concurrency,
            ]);
        }
        out.push_str(&table.render());
        let mut notes = Vec::new();
        for (region, r) in view["regions"].as_object().into_iter().flatten() {
            let e = &r["evacuation"];
            if e.is_object() {
                notes.push(format!(
                    "{region} evacuated since {} by {}{}: {}",
                    when(&e["since"]),
                    s(&e["by"]),
                    if e["automatic"] == true {
                        " (automatic)"
                    } else {
                        ""
                    },
                    s(&e["reason"])
                ));
            }
        }
        let d = &view["drill"];
        if d.is_object() {
            notes.push(format!(
                "drill {} on {} ({}) until {}, by {}: {}",
                s(&d["id"]),
                s(&d["region"]),
                s(&d["phase"]),
                when(&d["expires_at"]),
                s(&d["by"]),
                s(&d["reason"])
            ));
        }
        for e in self.errors() {
            notes.push(format!("error: {e}"));
        }
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&n);
                out.push('\n');
            }
        }
        out
    }
}

fn ok_or_error(r: &Result<Value, String>) -> Value {
    match r {
        Ok(v) => v.clone(),
        Err(e) => json!({ "error": e }),
    }
}

fn replication_lines(r: &Value, available: bool) -> Vec<String> {
    if !available {
        return vec!["unavailable (see below)".into()];
    }
    let kinds: Vec<String> = r["kinds"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(kind, t)| {
            let mut line = format!("{kind} {}", s(&t["verdict"]));
            if let Some(lag) = t["lag_seconds"].as_u64() {
                line.push_str(&format!(", lag {}", seconds(lag)));
            }
            if let Some(p) = t["pending"].as_u64().filter(|p| *p > 0) {
                line.push_str(&format!(", {p} pending"));
            }
            if let Some(f) = t["failed"].as_u64().filter(|f| *f > 0) {
                line.push_str(&format!(", {f} failed"));
            }
            line
        })
        .collect();
    if kinds.is_empty() {
        vec![match r["verdict"].as_str() {
            Some(v) => format!("{v} (nothing replicates into it)"),
            None => "-".into(),
        }]
    } else {
        kinds
    }
}

fn concurrency_line(r: &Value) -> String {
    let name = format!("{}:{}", s(&r["function"]), s(&r["alias"]));
    let level = r["level"].as_u64();
    let current = r["current"].as_u64();
    let levels = match (current, level) {
        (Some(c), Some(l)) if c == l => format!("{c}"),
        (Some(c), Some(l)) => format!("{c} → {l}"),
        (None, Some(l)) => format!("none → {l}"),
        (c, None) => c.map_or("none".into(), |c| c.to_string()),
    };
    let status = r["status"]
        .as_str()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let rule = r["rule"]
        .as_str()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    format!("{name} {levels}{status}{rule}")
}

/// A text table whose cells may hold several lines.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Vec<String>>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Vec<String>>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .flat_map(|r| r.get(i).into_iter().flatten())
                .map(|l| l.chars().count())
                .chain([self.header[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: &[&str]| -> String {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
                }
            }
            text.trim_end().to_string() + "\n"
        };
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        let mut out = line(&header);
        for row in &self.rows {
            let height = row.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for k in 0..height {
                let cells: Vec<&str> = (0..self.header.len())
                    .map(|i| row.get(i).and_then(|c| c.get(k)).map_or("", String::as_str))
                    .collect();
                out.push_str(&line(&cells));
            }
        }
        out
    }
}

/// The scheduler's plan of every region, as one table.
pub fn plan_text(plans: &BTreeMap<String, Result<Value, String>>) -> String {
    let mut table = Table::new(&["REGION", "TARGET", "NOW", "WANTED", "STATUS", "WHY"]);
    let mut notes = Vec::new();
    for (region, plan) in plans {
        match plan {
            Ok(v) => {
                notes.push(format!("{region}: {}", s(&v["reason"])));
                for r in v["state"]["rows"].as_array().into_iter().flatten() {
                    let why = match (s(&r["why"]["rule"]), r["why"]["window"].as_str()) {
                        ("window", Some(w)) => format!("window {w}"),
                        (rule, _) => rule.to_string(),
                    };
                    let notes_text = r["why"]["notes"]
                        .as_array()
                        .map(|n| {
                            n.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .filter(|n| !n.is_empty())
                        .map(|n| format!("; {n}"))
                        .unwrap_or_default();
                    table.row(vec![
                        vec![region.clone()],
                        vec![format!("{}:{}", s(&r["function"]), s(&r["alias"]))],
                        vec![r["current"]
                            .as_u64()
                            .map_or("none".into(), |c| c.to_string())],
                        vec![r["level"].to_string()],
                        vec![r["status"].as_str().unwrap_or("-").to_string()],
                        vec![format!("{why}{notes_text}")],
                    ]);
                }
            }
            Err(e) => notes.push(format!("{region}: error: {e}")),
        }
    }
    let mut out = table.render();
    out.push('\n');
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// A compact JSON value for a change's from/to.
fn compact(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        // a drill or an evacuation: its id and phase say which
        Value::Object(m) if m.get("id").is_some_and(Value::is_string) => {
            let phase = m.get("phase").and_then(Value::as_str);
            format!(
                "{}{}",
                s(&m["id"]),
                phase.map(|p| format!(" ({p})")).unwrap_or_default()
            )
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
pub fn answer_text(record: &Value, function: &str, region: &str) -> String {
    let mut out = format!("{}: {}\n", s(&record["outcome"]), s(&record["reason"]));
    for c in record["changes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  change {} {}: {} → {}\n",
            s(&c["resource"]),
            s(&c["field"]),
            compact(&c["from"]),
            compact(&c["to"])
        ));
    }
    for step in record["timeline"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  · +{} ms {}\n",
            step["elapsed_ms"],
            s(&step["step"])
        ));
    }
    for e in record["errors"].as_array().into_iter().flatten() {
        out.push_str(&format!("  error: {}\n", e.as_str().unwrap_or_default()));
    }
    out.push_str(&format!(
        "({function} in {region}, {} ms)\n",
        record["duration_ms"]
    ));
    out
}

/// Exit status for a decision record: refused and failed are 1.
pub fn exit_code(record: &Value) -> i32 {
    match record["outcome"].as_str() {
        Some("applied" | "noop" | "dry_run") => 0,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failover_status(evacuated: bool) -> Value {
        let evac = if evacuated {
            json!({"us-east-1": {"since": "2026-01-01T10:00:00.123Z", "by": "alarm orders-health", "reason": "endpoints failing", "automatic": true}})
        } else {
            json!({})
        };
        json!({
            "outcome": "noop",
            "reason": if evacuated { "1 of 2 regions active, epoch 1" } else { "2 of 2 regions active, epoch 0" },
            "state": {
                "routing": {"v": 1, "epoch": if evacuated { 1 } else { 0 }, "evacuated": evac},
                "regions": {
                    "eu-central-1": {"routing": "active", "gate": {"id": "g1", "open": true, "healthy": true, "threshold": 2, "children": 2, "children_healthy": 2}, "gate_matches_state": true},
                    "us-east-1": {"routing": if evacuated { "evacuated" } else { "active" },
                                  "gate": {"id": "g2", "open": !evacuated, "healthy": !evacuated, "threshold": if evacuated { 3 } else { 2 }, "children": 2, "children_healthy": if evacuated { 0 } else { 2 }},
                                  "gate_matches_state": true}
                }
            }
        })
    }

    fn monitor_check() -> Value {
        json!({
            "outcome": "dry_run",
            "reason": "regions: eu-central-1 ready, us-east-1 not_ready",
            "state": {
                "regions": {"eu-central-1": {"verdict": "ready", "kinds": {}}, "us-east-1": {"verdict": "not_ready", "kinds": {"ecr": "not_ready"}}},
                "kinds": {
                    "ecr": {"verdict": "not_ready", "destinations": {"us-east-1": {"verdict": "not_ready", "max_lag_seconds": 1500, "pending": 0, "failed": 1}}},
                    "secrets": {"verdict": "ready", "destinations": {"us-east-1": {"verdict": "ready", "max_lag_seconds": 0, "pending": 0, "failed": 0}}}
                }
            }
        })
    }

    fn plan(region: &str, current: u64, level: u64, rule: &str) -> Value {
        json!({
            "outcome": "dry_run",
            "reason": format!("plan: 1 of 1 alias(es) would change"),
            "state": {"rows": [{"function": "orders-api", "alias": "live", "region": region, "current": current, "status": "READY", "level": level, "why": {"rule": rule}}]}
        })
    }

    fn gathered(evacuated: bool) -> Gathered {
        Gathered {
            service: "orders".into(),
            via: "eu-central-1".into(),
            failover: Ok(failover_status(evacuated)),
            replication: Ok(monitor_check()),
            concurrency: [
                (
                    "eu-central-1".to_string(),
                    Ok(plan("eu-central-1", 2, 4, "surge")),
                ),
                (
                    "us-east-1".to_string(),
                    Err(
                        "function orders-concurrency-scheduler-us-east-1 not found in us-east-1"
                            .to_string(),
                    ),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn status_table_shows_each_region_on_its_own_rows() {
        let text = gathered(true).to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "control plane orders (via eu-central-1): 1 of 2 regions active, epoch 1"
        );
        assert!(lines[2].starts_with("REGION"), "{text}");
        let eu = lines
            .iter()
            .find(|l| l.starts_with("eu-central-1"))
            .unwrap();
        for part in [
            "active",
            "2/2 healthy",
            "open 2/2",
            "ready (nothing replicates into it)",
            "orders-api:live 2 → 4 READY (surge)",
        ] {
            assert!(eu.contains(part), "{eu:?} lacks {part:?}");
        }
        let us = lines
            .iter()
            .position(|l| l.starts_with("us-east-1"))
            .unwrap();
        for part in [
            "evacuated",
            "0/2 healthy (DOWN)",
            "closed 3/2 unhealthy",
            "ecr not_ready, lag 25m, 1 failed",
            "unavailable (see below)",
        ] {
            assert!(lines[us].contains(part), "{:?} lacks {part:?}", lines[us]);
        }
        // the second replication kind continues on the next line, under its column
        let col = lines[us].find("ecr not_ready").unwrap();
        assert_eq!(
            lines[us + 1].find("secrets ready, lag 0s"),
            Some(col),
            "{text}"
        );
        assert!(text.contains("us-east-1 evacuated since 2026-01-01 10:00:00 UTC by alarm orders-health (automatic): endpoints failing"), "{text}");
        assert!(text.contains("error: concurrency-scheduler (us-east-1): function orders-concurrency-scheduler-us-east-1 not found"), "{text}");
    }

    #[test]
    fn status_json_normalises_per_region_and_keeps_records() {
        let v = gathered(false).to_json();
        assert_eq!(v["epoch"], 0);
        assert_eq!(v["regions"]["us-east-1"]["routing"], "active");
        assert_eq!(
            v["regions"]["us-east-1"]["endpoints"],
            json!({"healthy": 2, "total": 2})
        );
        assert_eq!(
            v["regions"]["us-east-1"]["replication"]["kinds"]["ecr"]["lag_seconds"],
            1500
        );
        assert_eq!(v["regions"]["eu-central-1"]["concurrency"][0]["level"], 4);
        assert!(v["regions"]["us-east-1"]["concurrency"].is_null());
        assert_eq!(v["errors"].as_array().unwrap().len(), 1);
        assert_eq!(v["records"]["failover"]["outcome"], "noop");
        assert!(v["records"]["concurrency-scheduler"]["us-east-1"]["error"].is_string());
    }

    #[test]
    fn a_failed_failover_status_is_an_error_but_the_rest_still_shows() {
        let mut g = gathered(false);
        g.failover = Err("function orders-failover-eu-central-1 not found in eu-central-1".into());
        let text = g.to_text();
        assert!(
            text.contains(
                "error: failover (eu-central-1): function orders-failover-eu-central-1 not found"
            ),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("us-east-1") && l.contains("ecr not_ready")),
            "{text}"
        );
    }

    #[test]
    fn answers_and_exit_codes() {
        let record = json!({
            "outcome": "applied", "reason": "evacuated us-east-1: test",
            "changes": [{"resource": "gate us-east-1", "field": "threshold", "from": 2, "to": 3}],
            "timeline": [{"elapsed_ms": 37, "step": "state epoch 1 written"}],
            "duration_ms": 120
        });
        let text = answer_text(&record, "orders-failover-eu-central-1", "eu-central-1");
        assert_eq!(
            text,
            "applied: evacuated us-east-1: test\n  change gate us-east-1 threshold: 2 → 3\n  · +37 ms state epoch 1 written\n(orders-failover-eu-central-1 in eu-central-1, 120 ms)\n"
        );
        let drill = json!({"outcome": "applied", "reason": "drill", "duration_ms": 1, "changes": [
            {"resource": "drill", "field": "drill", "from": null, "to": {"id": "drill-eu-1", "phase": "preparing", "by": "x"}}]});
        assert!(answer_text(&drill, "f", "r")
            .contains("change drill drill: none → drill-eu-1 (preparing)\n"));
        for (outcome, code) in [
            ("applied", 0),
            ("noop", 0),
            ("dry_run", 0),
            ("refused", 1),
            ("failed", 1),
        ] {
            assert_eq!(exit_code(&json!({"outcome": outcome})), code, "{outcome}");
        }
        assert_eq!(exit_code(&json!("not a record")), 1);
    }

    #[test]
    fn plan_table_lists_every_region() {
        let plans: BTreeMap<String, Result<Value, String>> = [
            (
                "eu-central-1".to_string(),
                Ok(plan("eu-central-1", 2, 4, "surge")),
            ),
            ("us-east-1".to_string(), Err("timed out".to_string())),
        ]
        .into_iter()
        .collect();
        let text = plan_text(&plans);
        assert!(text.lines().next().unwrap().starts_with("REGION"));
        assert!(
            text.contains("eu-central-1  orders-api:live  2    4       READY   surge"),
            "{text}"
        );
        assert!(text.contains("us-east-1: error: timed out"), "{text}");
    }
}
