//! The alert crossings: one per crossing, none while unknown; the state document.

use crate::decide::alerts::*;
use crate::decide::{evaluate, Kind, Limits, Measurements, Observation, ReadError, Report, Status};
use chrono::Utc;
use proptest::prelude::*;

fn measurements() -> Measurements {
    Measurements {
        kinds: [(
            Kind::Ecr,
            (
                Limits {
                    lag_seconds: 60,
                    failed: 0,
                    pending: None,
                },
                vec!["us-east-1".into()],
            ),
        )]
        .into(),
        regions: vec!["eu-central-1".into(), "us-east-1".into()],
    }
}

fn report(lag: Option<u64>) -> Report {
    match lag {
        None => evaluate(
            &measurements(),
            vec![],
            vec![ReadError {
                kind: Kind::Ecr,
                resource: "r".into(),
                destination: None,
                message: "x".into(),
            }],
        ),
        Some(lag) => evaluate(
            &measurements(),
            vec![Observation {
                kind: Kind::Ecr,
                resource: "orders-api@sha256:1".into(),
                destination: "us-east-1".into(),
                status: Status::InProgress,
                lag_seconds: lag,
                pending: 1,
                failed: 0,
                detail: None,
            }],
            vec![],
        ),
    }
}

#[test]
fn one_alert_per_crossing_and_one_on_recovery() {
    let mut state = AlertState::default();
    let now = Utc::now();
    let mut sent = Vec::new();
    for lag in [
        Some(10),
        Some(100),
        Some(200),
        None,
        Some(300),
        Some(5),
        Some(6),
        Some(100),
    ] {
        for a in crossings(&state, &report(lag), "orders", "eu-central-1") {
            remember(&mut state, &a, now);
            sent.push(a.crossing);
        }
    }
    assert_eq!(
        sent,
        vec![Crossing::Breached, Crossing::Recovered, Crossing::Breached]
    );
}

#[test]
fn the_message_names_the_resource_and_survives_a_round_trip() {
    let a = &crossings(
        &AlertState::default(),
        &report(Some(100)),
        "orders",
        "eu-central-1",
    )[0];
    assert!(a.subject.contains("ecr replication over threshold"));
    assert!(
        a.message.contains("orders-api@sha256:1 -> us-east-1"),
        "{}",
        a.message
    );
    let mut s = AlertState::default();
    remember(&mut s, a, Utc::now());
    s.secrets_in_progress
        .insert("db|us-east-1".into(), Utc::now());
    assert_eq!(AlertState::parse(&s.to_text()).unwrap().kinds, s.kinds);
    assert!(
        AlertState::parse("{}").unwrap().kinds.is_empty(),
        "an empty document is the initial state"
    );
    assert!(AlertState::parse("nope").is_err());
}

type Loaded = shared::Result<Option<String>>;

#[test]
fn the_starting_state_table() {
    let denied = shared::Error::State("denied".into());
    let breaching = r#"{"kinds":{"ecr":{"breaching":true,"since":"2026-01-01T00:00:00Z"}}}"#;
    // (case, loaded, ecr breaching, usable, error says)
    type Case = (&'static str, Loaded, bool, bool, Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("first run: empty", Ok(None), false, true, None),
        ("a document", Ok(Some(breaching.into())), true, true, None),
        (
            "unreadable document: start over",
            Ok(Some("nope".into())),
            false,
            true,
            Some("starting from an empty state"),
        ),
        (
            "unknown: no alert, no overwrite",
            Err(denied),
            false,
            false,
            Some("alerts are skipped this run"),
        ),
    ];
    for (name, loaded, ecr_breaching, usable, error) in cases {
        let s = starting_state(loaded, "/p");
        assert_eq!(s.state.breaching(Kind::Ecr), ecr_breaching, "{name}");
        assert_eq!(s.usable, usable, "{name}");
        assert_eq!(s.error.is_some(), error.is_some(), "{name}");
        if let (Some(e), Some(want)) = (&s.error, error) {
            assert!(e.contains(want), "{name}: {e}");
        }
    }
}

proptest! {
    /// However lag moves, alerts alternate breach/recovery, starting with a breach,
    /// and their number equals the number of threshold crossings of the known values.
    #[test]
    fn alerts_alternate_and_count_crossings(lags in prop::collection::vec(prop::option::weighted(0.8, 0..200u64), 0..40)) {
        let mut state = AlertState::default();
        let now = Utc::now();
        let mut sent = Vec::new();
        for lag in &lags {
            for a in crossings(&state, &report(*lag), "s", "r") {
                remember(&mut state, &a, now);
                sent.push(a.crossing);
            }
        }
        for (i, c) in sent.iter().enumerate() {
            prop_assert_eq!(*c, if i % 2 == 0 { Crossing::Breached } else { Crossing::Recovered });
        }
        let mut breaching = false;
        let mut expected = 0;
        for lag in lags.iter().flatten() {
            let now_breaching = *lag > 60;
            if now_breaching != breaching { expected += 1; breaching = now_breaching; }
        }
        prop_assert_eq!(sent.len(), expected);
    }
}
