//! `ctl status`: failover's status, the monitor's check and each region's scheduler
//! plan, as one table per region (text) or one document (JSON). No I/O here.

#[cfg(test)]
mod tests;

use crate::answers::{Answer, FailoverStatus, Gate, ReplicationCheck, SchedulerPlan};
use crate::error::CallError;
use crate::view::table;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use shared::routing::{DrillPhase, Evacuation, RoutingState};
use shared::Region;
use std::collections::BTreeMap;

/// What `status` gathered, each part an answer or why there is none.
pub struct Gathered {
    pub service: String,
    /// The region whose failover and monitor were asked.
    pub via: String,
    pub failover: Result<Answer<FailoverStatus>, CallError>,
    pub replication: Result<Answer<ReplicationCheck>, CallError>,
    pub concurrency: BTreeMap<Region, Result<Answer<SchedulerPlan>, CallError>>,
}

/// One region, normalised from the three answers (`--json` prints it as is).
#[derive(Serialize)]
struct RegionView<'a> {
    routing: Option<&'a str>,
    evacuation: Option<&'a Evacuation>,
    endpoints: Option<Endpoints>,
    gate: Option<&'a Gate>,
    gate_matches_state: Option<bool>,
    replication: Option<ReplicationView<'a>>,
    concurrency: Option<Vec<TargetView<'a>>>,
}

#[derive(Serialize)]
struct Endpoints {
    healthy: u64,
    total: u64,
}

#[derive(Serialize)]
struct ReplicationView<'a> {
    verdict: Option<&'a str>,
    kinds: BTreeMap<&'a str, KindView<'a>>,
}

#[derive(Serialize)]
struct KindView<'a> {
    verdict: &'a str,
    lag_seconds: u64,
    pending: u64,
    failed: u64,
}

#[derive(Serialize)]
struct TargetView<'a> {
    function: &'a str,
    alias: &'a str,
    current: Option<u64>,
    status: Option<&'a str>,
    level: u64,
    rule: &'a str,
}

fn state<S>(answer: &Result<Answer<S>, CallError>) -> Option<&S> {
    answer.as_ref().ok()?.state.as_ref()
}

/// Why `label`'s part is missing or incomplete, one line each.
fn problems<S>(label: &str, answer: &Result<Answer<S>, CallError>, out: &mut Vec<String>) {
    match answer {
        Err(e) => out.push(e.to_string()),
        Ok(a) => {
            if a.record.outcome == shared::Outcome::Failed {
                out.push(format!("{label}: {}", a.record.reason));
            }
            out.extend(a.record.errors.iter().map(|e| format!("{label}: {e}")));
        }
    }
}

fn raw_or_error<S>(answer: &Result<Answer<S>, CallError>) -> Value {
    match answer {
        Ok(a) => a.raw.clone(),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// `90s`, `25m`, `2h05m`: a lag at a glance.
fn seconds(n: u64) -> String {
    match n {
        0..=119 => format!("{n}s"),
        120..=7199 => format!("{}m", n / 60),
        _ => format!("{}h{:02}m", n / 3600, (n % 3600) / 60),
    }
}

/// A time to the second, as the operator's notes show it.
fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl Gathered {
    fn routing(&self) -> Option<&RoutingState> {
        state(&self.failover).map(|f| &f.routing)
    }

    /// The regions to show: failover's, else the monitor's, else the schedulers'.
    pub fn regions(&self) -> Vec<Region> {
        if let Some(f) = state(&self.failover).filter(|f| !f.regions.is_empty()) {
            return f.regions.iter().map(|(r, _)| r.clone()).collect();
        }
        let monitored: Vec<Region> = state(&self.replication)
            .into_iter()
            .flat_map(|m| m.regions.keys())
            .filter_map(|r| Region::parse(r).ok())
            .collect();
        if !monitored.is_empty() {
            return monitored;
        }
        self.concurrency.keys().cloned().collect()
    }

    /// Every part that failed or answered `failed`, named, one line each.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        problems(
            &format!("failover in {}", self.via),
            &self.failover,
            &mut out,
        );
        let monitor = format!("replication-monitor in {}", self.via);
        problems(&monitor, &self.replication, &mut out);
        for (region, r) in &self.concurrency {
            problems(&format!("concurrency-scheduler in {region}"), r, &mut out);
        }
        out
    }

    fn view(&self, region: &Region) -> RegionView<'_> {
        let f = state(&self.failover).and_then(|f| f.region(region));
        let gate = f.and_then(|f| f.gate.as_ref());
        RegionView {
            routing: f.map(|f| f.routing.as_str()),
            evacuation: self.routing().and_then(|r| r.evacuated.get(region)),
            endpoints: gate.map(|g| Endpoints {
                healthy: g.children_healthy,
                total: g.children,
            }),
            gate,
            gate_matches_state: f.and_then(|f| f.gate_matches_state),
            replication: state(&self.replication).map(|m| ReplicationView {
                verdict: m.regions.get(region.as_str()).map(|v| v.verdict.as_str()),
                kinds: m
                    .kinds
                    .iter()
                    .filter_map(|(kind, report)| {
                        let t = report.destinations.get(region.as_str())?;
                        Some((
                            kind.as_str(),
                            KindView {
                                verdict: &t.verdict,
                                lag_seconds: t.max_lag_seconds,
                                pending: t.pending,
                                failed: t.failed,
                            },
                        ))
                    })
                    .collect(),
            }),
            concurrency: self.concurrency.get(region).and_then(state).map(|plan| {
                plan.rows
                    .iter()
                    .filter(|r| r.region.as_deref().is_none_or(|r| r == region.as_str()))
                    .map(|r| TargetView {
                        function: &r.function,
                        alias: &r.alias,
                        current: r.current,
                        status: r.status.as_deref(),
                        level: r.level,
                        rule: &r.why.rule,
                    })
                    .collect()
            }),
        }
    }

    /// The status as one JSON document: a normalised view per region, then the raw answers.
    pub fn to_json(&self) -> Value {
        let routing = self.routing();
        let regions: Map<String, Value> = self
            .regions()
            .iter()
            .map(|r| (r.to_string(), json!(self.view(r))))
            .collect();
        let schedulers: Map<String, Value> = self
            .concurrency
            .iter()
            .map(|(r, a)| (r.to_string(), raw_or_error(a)))
            .collect();
        json!({
            "service": self.service,
            "via": self.via,
            "summary": self.failover.as_ref().ok().map(|f| &f.record.reason),
            "epoch": routing.map(|r| r.epoch),
            "drill": routing.and_then(|r| r.drill.as_ref()),
            "regions": regions,
            "errors": self.errors(),
            "records": {
                "failover": raw_or_error(&self.failover),
                "replication-monitor": raw_or_error(&self.replication),
                "concurrency-scheduler": schedulers,
            },
        })
    }

    /// The status as text: a heading, one table, then evacuations, the drill and errors.
    pub fn to_text(&self) -> String {
        let mut out = format!("control plane {} (via {})", self.service, self.via);
        if let Ok(f) = &self.failover {
            out.push_str(&format!(": {}", f.record.reason));
        }
        out.push_str("\n\n");
        let regions = self.regions();
        let rows = regions
            .iter()
            .map(|region| {
                let v = self.view(region);
                vec![
                    region.to_string(),
                    routing_cell(&v),
                    endpoints_cell(&v),
                    gate_cell(&v),
                    replication_cell(&v),
                    concurrency_cell(&v),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "REGION",
                "ROUTING",
                "ENDPOINTS",
                "GATE",
                "REPLICATION (into region)",
                "PROVISIONED CONCURRENCY",
            ],
            rows,
        ));
        let mut notes = Vec::new();
        if let Some(f) = state(&self.failover) {
            if let Some(source) = f.source.as_deref().filter(|s| *s != "shared") {
                notes.push(format!(
                    "routing from the {source}: Route 53's control plane does not answer; \
                     parts marked ? could not be read"
                ));
            }
            if let Some(dp) = &f.data_plane {
                if let Some(since) = &dp.control_plane_down_since {
                    notes.push(format!(
                        "Route 53's control plane has not answered {} since {}",
                        self.via,
                        when(since)
                    ));
                }
                for region in &dp.closed_on_data_plane {
                    notes.push(format!(
                        "{region} closed on the data plane (DataPlaneGateClosed in {}), not yet in the shared state",
                        self.via
                    ));
                }
            }
        }
        for region in &regions {
            if let Some(e) = self.routing().and_then(|r| r.evacuated.get(region)) {
                let automatic = if e.automatic { " (automatic)" } else { "" };
                notes.push(format!(
                    "{region} evacuated since {} by {}{automatic}: {}",
                    when(&e.since),
                    e.by,
                    e.reason
                ));
            }
        }
        if let Some(d) = self.routing().and_then(|r| r.drill.as_ref()) {
            let phase = match d.phase {
                DrillPhase::Preparing => "preparing",
                DrillPhase::Active => "active",
            };
            notes.push(format!(
                "drill {} on {} ({phase}) until {}, by {}: {}",
                d.id,
                d.region,
                when(&d.expires_at),
                d.by,
                d.reason
            ));
        }
        notes.extend(self.errors().into_iter().map(|e| format!("error: {e}")));
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

fn routing_cell(v: &RegionView) -> String {
    match (
        v.routing,
        v.evacuation.is_some_and(|e| e.drill_id.is_some()),
    ) {
        (None, _) => "?".into(),
        (Some("evacuated"), true) => "evacuated (drill)".into(),
        (Some(other), _) => other.into(),
    }
}

fn endpoints_cell(v: &RegionView) -> String {
    match &v.endpoints {
        Some(e) if e.healthy == e.total => format!("{}/{} healthy", e.healthy, e.total),
        Some(e) => format!("{}/{} healthy (DOWN)", e.healthy, e.total),
        None => "?".into(),
    }
}

fn gate_cell(v: &RegionView) -> String {
    let Some(g) = v.gate else {
        return "?".into();
    };
    let state = if g.open { "open" } else { "closed" };
    let mut text = format!("{state} {}/{}", g.threshold, g.children);
    if !g.healthy {
        text.push_str(" unhealthy");
    }
    if v.gate_matches_state == Some(false) {
        text.push_str(" (≠ state)");
    }
    text
}

fn replication_cell(v: &RegionView) -> String {
    let Some(r) = &v.replication else {
        return "unavailable (see below)".into();
    };
    if r.kinds.is_empty() {
        return match r.verdict {
            Some(v) => format!("{v} (nothing replicates into it)"),
            None => "-".into(),
        };
    }
    let lines: Vec<String> = r
        .kinds
        .iter()
        .map(|(kind, t)| {
            let mut line = format!("{kind} {}, lag {}", t.verdict, seconds(t.lag_seconds));
            if t.pending > 0 {
                line.push_str(&format!(", {} pending", t.pending));
            }
            if t.failed > 0 {
                line.push_str(&format!(", {} failed", t.failed));
            }
            line
        })
        .collect();
    lines.join("\n")
}

fn concurrency_cell(v: &RegionView) -> String {
    let Some(rows) = &v.concurrency else {
        return "unavailable (see below)".into();
    };
    if rows.is_empty() {
        return "no targets".into();
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let levels = match r.current {
                Some(c) if c == r.level => c.to_string(),
                Some(c) => format!("{c} → {}", r.level),
                None => format!("none → {}", r.level),
            };
            let status = r.status.map(|s| format!(" {s}")).unwrap_or_default();
            format!("{}:{} {levels}{status} ({})", r.function, r.alias, r.rule)
        })
        .collect();
    lines.join("\n")
}
