//! The verdict tables and properties (pure: no I/O); the alert crossings in `tests/alerts.rs`.

use super::*;
use proptest::prelude::*;

mod alerts;

const US: &str = "us-east-1";
const EU: &str = "eu-central-1";

fn limits() -> Limits {
    Limits {
        lag_seconds: 900,
        failed: 0,
        pending: None,
    }
}

fn measurements() -> Measurements {
    let s3 = Limits {
        pending: Some(1000),
        ..limits()
    };
    Measurements {
        kinds: BTreeMap::from([
            (Kind::Ecr, (limits(), vec![US.to_string()])),
            (Kind::S3, (s3, vec![US.to_string()])),
            (Kind::Secrets, (limits(), vec![US.to_string()])),
        ]),
        regions: vec![EU.to_string(), US.to_string()],
    }
}

fn obs(kind: Kind, status: Status, lag: u64) -> Observation {
    Observation {
        kind,
        resource: format!("{}:r", kind.as_str()),
        destination: US.into(),
        status,
        lag_seconds: lag,
        pending: u64::from(status == Status::InProgress),
        failed: u64::from(status == Status::Failed),
        detail: None,
    }
}

fn err(kind: Kind) -> ReadError {
    ReadError {
        kind,
        resource: "x".into(),
        destination: None,
        message: "denied".into(),
    }
}

#[test]
fn verdict_table() {
    use Status::*;
    use Verdict::*;
    type Case = (
        &'static str,
        Vec<Observation>,
        Vec<ReadError>,
        Verdict,
        Verdict,
    );
    let cases: Vec<Case> = vec![
        ("nothing to replicate", vec![], vec![], Ready, Ready),
        (
            "complete",
            vec![obs(Kind::Ecr, Replicated, 0)],
            vec![],
            Ready,
            Ready,
        ),
        (
            "young in-progress",
            vec![obs(Kind::Ecr, InProgress, 300)],
            vec![],
            Ready,
            Ready,
        ),
        (
            "lag at the limit is fine",
            vec![obs(Kind::Ecr, InProgress, 900)],
            vec![],
            Ready,
            Ready,
        ),
        (
            "lag above the limit",
            vec![obs(Kind::Ecr, InProgress, 901)],
            vec![],
            NotReady,
            NotReady,
        ),
        (
            "one failure",
            vec![obs(Kind::Ecr, Failed, 10)],
            vec![],
            NotReady,
            NotReady,
        ),
        (
            "unreadable",
            vec![obs(Kind::Ecr, Replicated, 0)],
            vec![err(Kind::Ecr)],
            Unknown,
            Unknown,
        ),
        (
            "breach beats unknown",
            vec![obs(Kind::Ecr, Failed, 0)],
            vec![err(Kind::Ecr)],
            NotReady,
            NotReady,
        ),
        (
            "missing replica",
            vec![obs(Kind::Secrets, Missing, 0)],
            vec![],
            Ready,
            NotReady,
        ),
    ];
    for (name, o, e, ecr, region) in cases {
        let r = evaluate(&measurements(), o, e);
        assert_eq!(r.kinds[&Kind::Ecr].verdict, ecr, "{name}: ecr");
        assert_eq!(r.regions[US].verdict, region, "{name}: region");
        assert_eq!(
            r.regions[EU].verdict, Ready,
            "{name}: the source region has nothing to wait for"
        );
    }
}

#[test]
fn s3_pending_threshold_and_no_data() {
    let mut o = obs(Kind::S3, Status::InProgress, 10);
    o.pending = 1001;
    let r = evaluate(&measurements(), vec![o.clone()], vec![]);
    assert_eq!(r.kinds[&Kind::S3].verdict, Verdict::NotReady);
    o.pending = 1000;
    assert_eq!(
        evaluate(&measurements(), vec![o], vec![]).kinds[&Kind::S3].verdict,
        Verdict::Ready
    );
    let quiet = Observation {
        status: Status::NoData,
        pending: 0,
        ..obs(Kind::S3, Status::NoData, 0)
    };
    assert_eq!(
        evaluate(&measurements(), vec![quiet], vec![]).kinds[&Kind::S3].verdict,
        Verdict::Ready
    );
}

#[test]
fn one_unreadable_resource_does_not_hide_the_others() {
    let r = evaluate(
        &measurements(),
        vec![obs(Kind::Secrets, Status::InProgress, 5)],
        vec![err(Kind::Secrets)],
    );
    assert_eq!(r.kinds[&Kind::Secrets].verdict, Verdict::Unknown);
    assert_eq!(r.kinds[&Kind::Secrets].destinations[US].resources, 1);
    assert_eq!(r.resources.len(), 1);
    assert_eq!(
        r.kinds[&Kind::Ecr].verdict,
        Verdict::Ready,
        "other kinds unaffected"
    );
}

#[test]
fn metrics_cover_every_kind_destination_and_region() {
    let r = evaluate(
        &measurements(),
        vec![obs(Kind::Ecr, Status::InProgress, 1000)],
        vec![err(Kind::S3)],
    );
    let m = metrics(&r, true);
    let find = |name: &str, kind: Option<&str>| {
        m.iter()
            .filter(|x| {
                x.name == name
                    && kind.is_none_or(|k| x.dimensions.contains(&("Kind", k.to_string())))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(find("ReplicationLagSeconds", Some("ecr"))[0].value, 1000.0);
    assert!(
        find("ReplicationLagSeconds", Some("s3")).is_empty(),
        "nothing read: nothing published"
    );
    assert_eq!(find("ReplicationLagSeconds", Some("secrets"))[0].value, 0.0);
    let ready = find("ReplicationReady", None);
    assert_eq!(ready.len(), 2);
    let us = ready.iter().find(|x| x.dimensions[0].1 == US).unwrap();
    assert_eq!(us.value, 0.0);
    assert_eq!(find("ActionFailed", None)[0].value, 1.0);
}

fn arb_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Replicated),
        Just(Status::InProgress),
        Just(Status::Failed),
        Just(Status::Missing),
        Just(Status::NoData)
    ]
}

fn arb_obs() -> impl Strategy<Value = Observation> {
    (
        0..3usize,
        arb_status(),
        0..5_000u64,
        0..3u64,
        0..2_000u64,
        prop::bool::ANY,
    )
        .prop_map(|(k, status, lag, failed, pending, eu)| Observation {
            kind: Kind::ALL[k],
            resource: "r".into(),
            destination: if eu { EU.into() } else { US.into() },
            status,
            lag_seconds: lag,
            pending,
            failed,
            detail: None,
        })
}

proptest! {
    #[test]
    fn ready_only_when_nothing_breaches_and_everything_was_read(
        observations in prop::collection::vec(arb_obs(), 0..20),
        error_kinds in prop::collection::vec(0..3usize, 0..3),
    ) {
        let errors: Vec<ReadError> = error_kinds.iter().map(|k| err(Kind::ALL[*k])).collect();
        let p = measurements();
        let r = evaluate(&p, observations.clone(), errors.clone());
        for (region, rr) in &r.regions {
            let mine = observations.iter().filter(|o| &o.destination == region);
            let any_breach = mine.clone().any(|o| breaches(o, &p.kinds[&o.kind].0))
                || Kind::ALL.iter().any(|k| {
                    let l = &p.kinds[k].0;
                    let of_kind: Vec<&Observation> = observations.iter().filter(|o| o.kind == *k && &o.destination == region).collect();
                    of_kind.iter().map(|o| o.failed).sum::<u64>() > l.failed
                        || l.pending.is_some_and(|x| of_kind.iter().map(|o| o.pending).sum::<u64>() > x)
                });
            let touched_by_error = errors.iter().any(|e| {
                r.kinds[&e.kind].destinations.contains_key(region)
            });
            if any_breach {
                prop_assert_eq!(rr.verdict, Verdict::NotReady);
            } else if touched_by_error {
                prop_assert_eq!(rr.verdict, Verdict::Unknown);
            } else {
                prop_assert_eq!(rr.verdict, Verdict::Ready);
            }
            // Failover reads ReplicationReady: 1 exactly when ready.
            let m = metrics(&r, false);
            let ready = m.iter().find(|x| x.name == "ReplicationReady" && x.dimensions[0].1 == *region).unwrap();
            prop_assert_eq!(ready.value == 1.0, rr.verdict == Verdict::Ready);
        }
        for kr in r.kinds.values() {
            let worst = kr.destinations.values().map(|t| t.verdict).max().unwrap_or(Verdict::Ready);
            prop_assert!(kr.verdict >= worst);
        }
    }
}
