use super::*;
use chrono::TimeZone;

fn at(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 6, min, 0).unwrap()
}

fn region(name: &str) -> Region {
    Region::parse(name).unwrap()
}

fn evacuated(epoch: u64, out: &[(&str, u32)]) -> RoutingState {
    let mut state = RoutingState {
        epoch,
        ..RoutingState::default()
    };
    for (name, min) in out {
        state.evacuated.insert(
            region(name),
            Evacuation {
                since: at(*min),
                by: "failover".into(),
                reason: format!("{name} down"),
                automatic: true,
                drill_id: None,
            },
        );
    }
    state
}

const EU: &str = "eu-central-1";
const US: &str = "us-east-1";
const AP: &str = "ap-southeast-2";

/// (case, regions, min_active, shared as read now, local base, pending, kept, dropped)
type Case = (
    &'static str,
    &'static [&'static str],
    usize,
    RoutingState,
    RoutingState,
    Option<RoutingState>,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn reconcile_cases() {
    let two: &[&str] = &[EU, US];
    let three: &[&str] = &[AP, EU, US];
    let cases: Vec<Case> = vec![
        (
            "nothing pending: the shared state as it is",
            two,
            1,
            evacuated(3, &[]),
            evacuated(3, &[]),
            None,
            &[],
            &[],
        ),
        (
            "us-east-1 closed on the data plane, nothing changed since: kept",
            two,
            1,
            evacuated(3, &[]),
            evacuated(3, &[]),
            Some(evacuated(4, &[(US, 5)])),
            &[US],
            &[],
        ),
        (
            "both sides closed each other: the shared state's stands, the data plane's is dropped",
            two,
            1,
            evacuated(4, &[(EU, 9)]),
            evacuated(3, &[]),
            Some(evacuated(4, &[(US, 5)])),
            &[],
            &[US],
        ),
        (
            "the shared state already has it: dropped as already there",
            two,
            1,
            evacuated(4, &[(US, 7)]),
            evacuated(3, &[]),
            Some(evacuated(4, &[(US, 5)])),
            &[],
            &[US],
        ),
        (
            "an evacuation already in the base is not the data plane's: nothing to merge",
            two,
            1,
            evacuated(3, &[(US, 1)]),
            evacuated(3, &[(US, 1)]),
            Some(evacuated(3, &[(US, 1)])),
            &[],
            &[],
        ),
        (
            "three regions, min 1: both data-plane evacuations fit",
            three,
            1,
            evacuated(2, &[]),
            evacuated(2, &[]),
            Some(evacuated(4, &[(US, 5), (AP, 6)])),
            &[US, AP],
            &[],
        ),
        (
            "three regions, min 2: the older one is kept, the later dropped",
            three,
            2,
            evacuated(2, &[]),
            evacuated(2, &[]),
            Some(evacuated(4, &[(US, 6), (AP, 5)])),
            &[AP],
            &[US],
        ),
    ];
    for (case, regions, min_active, shared, base, pending, kept, dropped) in cases {
        let regions: Vec<Region> = regions.iter().map(|r| region(r)).collect();
        let local = LocalRecord {
            shared: Some(base),
            pending,
            ..LocalRecord::default()
        };
        let out = reconcile(&shared, &local, &regions, min_active);
        let names = |rs: Vec<Region>| rs.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(names(out.kept.clone()), kept.to_vec(), "{case}: kept");
        assert_eq!(
            names(out.dropped.iter().map(|(r, _)| r.clone()).collect()),
            dropped.to_vec(),
            "{case}: dropped"
        );
        let active = regions
            .iter()
            .filter(|r| !out.state.is_evacuated(r))
            .count();
        assert!(active >= min_active, "{case}: {active} active");
        for r in shared.evacuated.keys() {
            assert!(
                out.state.is_evacuated(r),
                "{case}: the shared state's {r} was undone"
            );
        }
        if kept.is_empty() {
            assert_eq!(out.state, shared, "{case}: nothing kept, nothing written");
        } else {
            assert!(
                out.state.epoch > shared.epoch,
                "{case}: a merge is a new epoch"
            );
        }
    }
}

#[test]
fn closed_on_data_plane_is_the_pending_evacuations_the_shared_state_lacks() {
    let local = LocalRecord {
        shared: Some(evacuated(3, &[(EU, 1)])),
        pending: Some(evacuated(4, &[(EU, 1), (US, 5)])),
        ..LocalRecord::default()
    };
    assert_eq!(local.closed_on_data_plane(), BTreeSet::from([region(US)]));
    assert_eq!(local.view().epoch, 4);
    let settled = LocalRecord {
        pending: None,
        ..local
    };
    assert!(settled.closed_on_data_plane().is_empty());
    assert_eq!(settled.view().epoch, 3);
}
