//! The level decision: pure, synchronous, no I/O and no SDK types.
//!
//! Per target, the first that applies of: an active override, surge (a peer region
//! evacuated or a drill on a peer preparing), the schedule window in force, the
//! baseline; optionally adjusted by utilisation; then clamped to [min, max]
//! ([`level`]). Across targets, the plan of a run and the account's headroom they
//! share are in `decide/plan.rs`. The case tables are in `decide/tests.rs`, the
//! properties in `decide/properties.rs`.

mod plan;

pub use plan::{check_override, plan, share_headroom, Observed, Row};

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::config::{ConcurrencyConfig, Target, Window};

/// The policy knobs every target shares.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub windows: &'a [Window],
    pub surge_factor: f64,
    /// Utilisation the scheduler aims for (0.1..=1.0), when utilisation is enabled.
    pub utilization_target: f64,
}

impl<'a> Policy<'a> {
    pub fn from_config(c: &'a ConcurrencyConfig) -> Self {
        Self {
            windows: &c.windows,
            surge_factor: c.surge_factor,
            utilization_target: c.utilization.target,
        }
    }
}

/// An operator's level for one alias, until a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideLevel {
    pub level: u32,
    pub until: DateTime<Utc>,
}

/// ProvisionedConcurrencyUtilization (Maximum over the window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Utilization {
    /// Utilisation is not used (disabled, or the read failed).
    Ignored,
    /// No datapoints: no invocations in the window, so no traffic.
    NoTraffic,
    /// The maximum over the window, 0.0..=1.0.
    Max(f64),
}

/// What the scheduler knows about one target at `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    /// The level requested on the alias now (`None`: no config yet).
    pub current: Option<u32>,
    pub override_level: Option<OverrideLevel>,
    /// Whether this region must carry a peer's load; `None` when the routing
    /// state could not be read (then levels are never lowered).
    pub surge: Option<bool>,
    pub utilization: Utilization,
    /// A level that FAILED recently: not retried until the cool-down ends.
    pub failed_level: Option<u32>,
    /// The most this target may hold within the account's headroom.
    pub headroom: Option<u32>,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            current: None,
            override_level: None,
            surge: Some(false),
            utilization: Utilization::Ignored,
            failed_level: None,
            headroom: None,
        }
    }
}

/// The rule that chose the level.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    Override { until: DateTime<Utc> },
    Surge,
    Window { window: String },
    Baseline,
}

/// Why a level: the rule, then every adjustment in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Why {
    #[serde(flatten)]
    pub rule: Rule,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Why {
    pub fn text(&self) -> String {
        let rule = match &self.rule {
            Rule::Override { until } => format!("override until {}", until.to_rfc3339()),
            Rule::Surge => {
                "surge: a peer region is evacuated or a drill on a peer is preparing".to_string()
            }
            Rule::Window { window } => format!("schedule window {window}"),
            Rule::Baseline => "baseline".to_string(),
        };
        if self.notes.is_empty() {
            rule
        } else {
            format!("{rule}; {}", self.notes.join("; "))
        }
    }
}

/// The lowest level the scheduler sets: provisioned concurrency cannot be 0
/// (a 0 would mean deleting the config Terraform created), so min 0 reads as 1.
pub fn floor_of(target: &Target) -> u32 {
    target.min.max(1)
}

fn ceil_div(level: u32, factor: f64) -> u32 {
    let v = (f64::from(level) * factor).ceil();
    if v >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        v.max(0.0) as u32
    }
}

/// The level for `target` at `now`, and why. A result of 0 means the account has
/// no headroom left for this target (the caller keeps what is there).
pub fn level(
    target: &Target,
    policy: &Policy<'_>,
    inputs: &Inputs,
    now: DateTime<Utc>,
) -> (u32, Why) {
    let floor = floor_of(target);
    let ceiling = target.max.max(floor);
    let mut notes = Vec::new();
    let window = shared::schedule::active_window(policy.windows, now);
    let scheduled = window.map_or(target.baseline, |w| w.level);

    let active_override = inputs.override_level.filter(|o| o.until > now);
    let (rule, mut level) = if let Some(o) = active_override {
        (Rule::Override { until: o.until }, o.level)
    } else if inputs.surge == Some(true) {
        let surge = target
            .surge
            .unwrap_or_else(|| ceil_div(scheduled, policy.surge_factor));
        (Rule::Surge, surge)
    } else if let Some(w) = window {
        (
            Rule::Window {
                window: w.name.clone(),
            },
            w.level,
        )
    } else {
        (Rule::Baseline, target.baseline)
    };

    if active_override.is_none() {
        match inputs.utilization {
            Utilization::Ignored => {}
            Utilization::NoTraffic => {
                if rule == Rule::Baseline && level > floor {
                    notes.push(format!(
                        "no invocations in the utilisation window: {level} -> floor {floor}"
                    ));
                    level = floor;
                }
            }
            Utilization::Max(u) => {
                let basis = inputs.current.unwrap_or(level).max(1);
                let needed = ceil_div(basis, u.max(0.0) / policy.utilization_target);
                if needed > level {
                    notes.push(format!(
                        "utilisation {:.0}% of {basis}: raised {level} -> {needed}",
                        u * 100.0
                    ));
                    level = needed;
                } else if rule == Rule::Baseline && needed < level {
                    let to = needed.max(floor);
                    if to < level {
                        notes.push(format!(
                            "utilisation {:.0}% of {basis}: lowered {level} -> {to}",
                            u * 100.0
                        ));
                        level = to;
                    }
                }
            }
        }
        if inputs.surge.is_none() {
            if let Some(current) = inputs.current.filter(|c| *c > level) {
                notes.push(format!(
                    "routing state unreadable: keeping {current} rather than lowering to {level}"
                ));
                level = current;
            }
        }
        if let (Some(failed), Some(current)) = (inputs.failed_level, inputs.current) {
            if failed == level && current != level {
                notes.push(format!(
                    "level {failed} failed recently: holding {current} until the cool-down ends"
                ));
                level = current;
            }
        }
    }

    if level < floor {
        notes.push(format!("raised {level} to min {floor}"));
        level = floor;
    } else if level > ceiling {
        notes.push(format!("clamped {level} to max {ceiling}"));
        level = ceiling;
    }
    if let Some(headroom) = inputs.headroom.filter(|h| level > *h) {
        notes.push(format!(
            "clamped {level} to the account's headroom {headroom}"
        ));
        level = headroom;
    }
    (level, Why { rule, notes })
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
