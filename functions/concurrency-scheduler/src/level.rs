//! The level computation: pure, synchronous, no SDK types.
//!
//! First that applies of: an active override, surge (a peer region evacuated or
//! a drill on a peer preparing), the schedule window in force, the baseline;
//! optionally adjusted by utilisation; then clamped to [min, max] and to the
//! account's headroom.

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
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use shared::Duration;

    fn target() -> Target {
        Target {
            function: "orders-api".into(),
            alias: "live".into(),
            regions: vec![],
            baseline: 2,
            min: 1,
            max: 50,
            surge: None,
        }
    }

    fn windows() -> Vec<Window> {
        vec![Window {
            name: "business-hours".into(),
            cron: "0 7 * * MON-FRI".into(),
            duration: Duration::from_mins(11 * 60),
            timezone: "Europe/Berlin".into(),
            level: 6,
        }]
    }

    /// Wed 2026-11-25 09:00 Berlin (inside the window) and Sat 2026-11-28 (outside).
    fn weekday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
    }
    fn weekend() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap()
    }

    fn policy(w: &[Window]) -> Policy<'_> {
        Policy {
            windows: w,
            surge_factor: 2.0,
            utilization_target: 0.7,
        }
    }

    struct Case {
        name: &'static str,
        target: Target,
        inputs: Inputs,
        now: DateTime<Utc>,
        level: u32,
        rule: Rule,
    }

    #[test]
    fn each_rule_in_order() {
        let w = windows();
        let until = weekday() + chrono::Duration::hours(1);
        let over = Some(OverrideLevel { level: 9, until });
        let expired = Some(OverrideLevel {
            level: 9,
            until: weekday() - chrono::Duration::seconds(1),
        });
        let surge_target = Target {
            surge: Some(12),
            ..target()
        };
        let window = || Rule::Window {
            window: "business-hours".into(),
        };
        let cases = vec![
            Case {
                name: "baseline outside windows",
                target: target(),
                inputs: Inputs::default(),
                now: weekend(),
                level: 2,
                rule: Rule::Baseline,
            },
            Case {
                name: "window in force",
                target: target(),
                inputs: Inputs::default(),
                now: weekday(),
                level: 6,
                rule: window(),
            },
            Case {
                name: "surge doubles the window level",
                target: target(),
                inputs: Inputs {
                    surge: Some(true),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 12,
                rule: Rule::Surge,
            },
            Case {
                name: "surge doubles the baseline",
                target: target(),
                inputs: Inputs {
                    surge: Some(true),
                    ..Inputs::default()
                },
                now: weekend(),
                level: 4,
                rule: Rule::Surge,
            },
            Case {
                name: "target surge wins over the factor",
                target: surge_target,
                inputs: Inputs {
                    surge: Some(true),
                    ..Inputs::default()
                },
                now: weekend(),
                level: 12,
                rule: Rule::Surge,
            },
            Case {
                name: "override beats surge",
                target: target(),
                inputs: Inputs {
                    surge: Some(true),
                    override_level: over,
                    ..Inputs::default()
                },
                now: weekday(),
                level: 9,
                rule: Rule::Override { until },
            },
            Case {
                name: "expired override is ignored",
                target: target(),
                inputs: Inputs {
                    override_level: expired,
                    ..Inputs::default()
                },
                now: weekday(),
                level: 6,
                rule: window(),
            },
            Case {
                name: "no traffic scales the baseline to the floor",
                target: Target {
                    baseline: 5,
                    min: 2,
                    ..target()
                },
                inputs: Inputs {
                    utilization: Utilization::NoTraffic,
                    ..Inputs::default()
                },
                now: weekend(),
                level: 2,
                rule: Rule::Baseline,
            },
            Case {
                name: "no traffic keeps the window level",
                target: target(),
                inputs: Inputs {
                    utilization: Utilization::NoTraffic,
                    ..Inputs::default()
                },
                now: weekday(),
                level: 6,
                rule: window(),
            },
            Case {
                name: "hot alias scales above the window",
                target: target(),
                inputs: Inputs {
                    current: Some(6),
                    utilization: Utilization::Max(1.0),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 9,
                rule: window(),
            },
            Case {
                name: "cool alias lowers the baseline",
                target: Target {
                    baseline: 10,
                    ..target()
                },
                inputs: Inputs {
                    current: Some(10),
                    utilization: Utilization::Max(0.2),
                    ..Inputs::default()
                },
                now: weekend(),
                level: 3,
                rule: Rule::Baseline,
            },
            Case {
                name: "min 0 reads as 1",
                target: Target {
                    baseline: 0,
                    min: 0,
                    ..target()
                },
                inputs: Inputs::default(),
                now: weekend(),
                level: 1,
                rule: Rule::Baseline,
            },
            Case {
                name: "clamped to max",
                target: Target { max: 4, ..target() },
                inputs: Inputs::default(),
                now: weekday(),
                level: 4,
                rule: window(),
            },
            Case {
                name: "raised to min",
                target: Target { min: 3, ..target() },
                inputs: Inputs::default(),
                now: weekend(),
                level: 3,
                rule: Rule::Baseline,
            },
            Case {
                name: "clamped to headroom",
                target: target(),
                inputs: Inputs {
                    headroom: Some(5),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 5,
                rule: window(),
            },
            Case {
                name: "no headroom gives 0",
                target: target(),
                inputs: Inputs {
                    headroom: Some(0),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 0,
                rule: window(),
            },
            Case {
                name: "unreadable routing never lowers",
                target: target(),
                inputs: Inputs {
                    surge: None,
                    current: Some(12),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 12,
                rule: window(),
            },
            Case {
                name: "unreadable routing may raise",
                target: target(),
                inputs: Inputs {
                    surge: None,
                    current: Some(2),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 6,
                rule: window(),
            },
            Case {
                name: "recently failed level is held",
                target: target(),
                inputs: Inputs {
                    failed_level: Some(6),
                    current: Some(2),
                    ..Inputs::default()
                },
                now: weekday(),
                level: 2,
                rule: window(),
            },
        ];
        for c in cases {
            let (level, why) = level(&c.target, &policy(&w), &c.inputs, c.now);
            assert_eq!(
                (level, &why.rule),
                (c.level, &c.rule),
                "{}: {}",
                c.name,
                why.text()
            );
        }
    }

    #[test]
    fn why_serialises_flat_with_notes() {
        let w = windows();
        let (_, why) = level(
            &Target { max: 4, ..target() },
            &policy(&w),
            &Inputs::default(),
            weekday(),
        );
        let v = serde_json::to_value(&why).unwrap();
        assert_eq!(v["rule"], "window");
        assert_eq!(v["window"], "business-hours");
        assert_eq!(v["notes"][0], "clamped 6 to max 4");
        assert!(why.text().contains("schedule window business-hours"));
    }

    fn arb_inputs() -> impl Strategy<Value = (Target, Inputs, i64, f64)> {
        (
            (
                0u32..20,
                0u32..20,
                0u32..200,
                proptest::option::of(0u32..300),
                0u32..500,
            ),
            (
                proptest::option::of(0u32..300),
                proptest::option::of((0u32..200, -100i64..100)),
                proptest::option::of(any::<bool>()),
                0u8..3,
                0.0f64..1.0,
                proptest::option::of(0u32..300),
                proptest::option::of(0u32..300),
            ),
            0i64..(14 * 86_400),
            1.0f64..10.0,
        )
            .prop_map(
                |(
                    (min, extra, baseline, surge, _),
                    (current, over, surge_on, util_kind, util, failed, headroom),
                    offset,
                    factor,
                )| {
                    let target = Target {
                        min,
                        max: min + extra,
                        baseline,
                        surge,
                        ..target()
                    };
                    let until = weekday() + chrono::Duration::seconds(offset);
                    let inputs = Inputs {
                        current,
                        override_level: over.map(|(level, mins)| OverrideLevel {
                            level,
                            until: until + chrono::Duration::minutes(mins),
                        }),
                        surge: surge_on,
                        utilization: match util_kind {
                            0 => Utilization::Ignored,
                            1 => Utilization::NoTraffic,
                            _ => Utilization::Max(util),
                        },
                        failed_level: failed,
                        headroom,
                    };
                    (target, inputs, offset, factor)
                },
            )
    }

    proptest! {
        #[test]
        fn within_bounds_and_headroom((target, inputs, offset, factor) in arb_inputs()) {
            let w = windows();
            let p = Policy { windows: &w, surge_factor: factor, utilization_target: 0.7 };
            let now = weekday() + chrono::Duration::seconds(offset);
            let (level, why) = level(&target, &p, &inputs, now);
            let floor = floor_of(&target);
            let ceiling = target.max.max(floor);
            prop_assert!(level <= ceiling, "{level} above max: {}", why.text());
            if let Some(h) = inputs.headroom {
                prop_assert!(level <= h, "{level} above headroom {h}: {}", why.text());
            }
            if inputs.headroom.is_none_or(|h| h >= floor) {
                prop_assert!(level >= floor, "{level} below min: {}", why.text());
            }
        }

        #[test]
        fn an_active_override_wins((target, inputs, offset, factor) in arb_inputs(), over in 0u32..300) {
            let w = windows();
            let p = Policy { windows: &w, surge_factor: factor, utilization_target: 0.7 };
            let now = weekday() + chrono::Duration::seconds(offset);
            let inputs = Inputs { override_level: Some(OverrideLevel { level: over, until: now + chrono::Duration::minutes(5) }), headroom: None, ..inputs };
            let (level, why) = level(&target, &p, &inputs, now);
            prop_assert_eq!(level, over.clamp(floor_of(&target), target.max.max(floor_of(&target))));
            prop_assert!(matches!(why.rule, Rule::Override { .. }), "override must be the rule");
        }

        #[test]
        fn an_expired_override_never_applies((target, inputs, offset, factor) in arb_inputs()) {
            let w = windows();
            let p = Policy { windows: &w, surge_factor: factor, utilization_target: 0.7 };
            let now = weekday() + chrono::Duration::seconds(offset);
            let expired = Inputs { override_level: Some(OverrideLevel { level: 77, until: now }), ..inputs };
            let none = Inputs { override_level: None, ..inputs };
            prop_assert_eq!(level(&target, &p, &expired, now), level(&target, &p, &none, now));
        }

        #[test]
        fn surge_never_lowers((target, inputs, offset, factor) in arb_inputs()) {
            let w = windows();
            let p = Policy { windows: &w, surge_factor: factor, utilization_target: 0.7 };
            let now = weekday() + chrono::Duration::seconds(offset);
            let base = Inputs { override_level: None, surge: Some(false), ..inputs };
            let surged = Inputs { surge: Some(true), ..base };
            let target = Target { surge: None, ..target };
            prop_assert!(level(&target, &p, &surged, now).0 >= level(&target, &p, &base, now).0);
        }

        #[test]
        fn unknown_routing_never_lowers_below_current((target, inputs, offset, factor) in arb_inputs()) {
            let w = windows();
            let p = Policy { windows: &w, surge_factor: factor, utilization_target: 0.7 };
            let now = weekday() + chrono::Duration::seconds(offset);
            let inputs = Inputs { override_level: None, surge: None, headroom: None, ..inputs };
            let (level, _) = level(&target, &p, &inputs, now);
            if let Some(c) = inputs.current {
                prop_assert!(level >= c.min(target.max.max(floor_of(&target))));
            }
        }
    }
}
