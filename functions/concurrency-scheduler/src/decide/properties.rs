//! Properties of the level over arbitrary targets, inputs and times.

use super::tests::{target, weekday, windows};
use super::*;
use proptest::prelude::*;

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
