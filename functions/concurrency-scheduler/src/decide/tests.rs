//! The level rules' case tables (the plan's are in `decide/plan/tests.rs`).

use super::*;
use chrono::TimeZone;
use shared::Duration;

pub(super) fn target() -> Target {
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

pub(super) fn windows() -> Vec<Window> {
    vec![Window {
        name: "business-hours".into(),
        cron: "0 7 * * MON-FRI".into(),
        duration: Duration::from_mins(11 * 60),
        timezone: "Europe/Berlin".into(),
        level: 6,
    }]
}

/// Wed 2026-11-25 09:00 Berlin (inside the window) and Sat 2026-11-28 (outside).
pub(super) fn weekday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}
pub(super) fn weekend() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap()
}

pub(super) fn policy(w: &[Window]) -> Policy<'_> {
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
