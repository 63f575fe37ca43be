//! The plan's tables: the shared headroom, and which overrides may be set.

use super::super::tests::{target, weekday};
use super::super::Rule;
use super::*;

/// A row wanting `level`, with a config of `held` (None: no config yet).
fn planned(function: &str, held: Option<(u32, PcStatus)>, level: u32) -> Row {
    Row {
        function: function.into(),
        alias: "live".into(),
        region: "eu-central-1".into(),
        current: held.map(|(l, _)| l),
        status: held.map(|(_, s)| s),
        level,
        why: Why {
            rule: Rule::Baseline,
            notes: vec![],
        },
        result: None,
        config: held.map(|(requested, status)| PcConfig {
            requested,
            allocated: requested,
            status,
            reason: None,
        }),
        fallback: None,
    }
}

#[test]
fn headroom_is_shared_in_order_after_what_is_kept() {
    use PcStatus::{Failed, Ready};
    // (name, unreserved, rows as (held, wanted), levels after)
    type Want = (Option<(u32, PcStatus)>, u32);
    let cases: Vec<(&str, u32, Vec<Want>, Vec<u32>)> = vec![
        (
            "room for all",
            1000,
            vec![(None, 4), (Some((2, Ready)), 4)],
            vec![4, 4],
        ),
        // Headroom 6: billing's decrease keeps 4, orders-api gets the 2 left.
        (
            "decrease frees room",
            106,
            vec![(Some((5, Ready)), 4), (None, 4)],
            vec![4, 2],
        ),
        (
            "first come first served",
            106,
            vec![(None, 5), (None, 5)],
            vec![5, 1],
        ),
        // A FAILED config holds nothing.
        (
            "failed holds none",
            104,
            vec![(Some((9, Failed)), 3), (None, 3)],
            vec![3, 1],
        ),
        ("none left: 0", 100, vec![(None, 3)], vec![0]),
        (
            "a kept level is never cut",
            100,
            vec![(Some((3, Ready)), 3)],
            vec![3],
        ),
    ];
    for (name, unreserved, wants, expected) in cases {
        let mut rows: Vec<Row> = wants
            .iter()
            .enumerate()
            .map(|(i, (held, level))| planned(&format!("f{i}"), *held, *level))
            .collect();
        share_headroom(&mut rows, unreserved);
        let levels: Vec<u32> = rows.iter().map(|r| r.level).collect();
        assert_eq!(levels, expected, "{name}");
        for (row, (_, wanted)) in rows.iter().zip(&wants) {
            assert_eq!(
                row.level < *wanted,
                !row.why.notes.is_empty(),
                "{name}: {row:?}"
            );
        }
    }
    // A skipped row (its config unreadable) takes no part.
    let mut rows = vec![planned("a", None, 0), planned("b", None, 4)];
    rows[0].result = Some("skipped: boom".into());
    share_headroom(&mut rows, 103);
    assert_eq!((rows[0].level, rows[1].level), (0, 3));
}

#[test]
fn an_override_must_name_a_target_and_stay_within_its_bounds() {
    let home = Region::parse("eu-central-1").unwrap();
    let targets = vec![Target {
        min: 2,
        max: 10,
        ..target()
    }];
    let ask = |function: &str, level| OverrideRequest {
        function: function.into(),
        alias: "live".into(),
        level,
        until: weekday(),
        reason: "launch".into(),
        by: None,
        dry_run: false,
    };
    assert_eq!(
        check_override(&ask("orders-api", 10), &targets, &home).map(|t| t.function),
        Ok("orders-api".to_string())
    );
    for (o, needle) in [
        (
            ask("billing", 3),
            "billing:live is not a target in eu-central-1",
        ),
        (ask("orders-api", 11), "outside [2, 10]"),
        (ask("orders-api", 1), "outside [2, 10]"),
    ] {
        let why = check_override(&o, &targets, &home).unwrap_err();
        assert!(why.contains(needle), "{why:?} lacks {needle:?}");
    }
}
