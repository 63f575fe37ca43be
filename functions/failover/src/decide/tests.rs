//! The decision tables and properties over request sequences (pure: no I/O).

use super::*;
use crate::tests::{
    alarm, all_healthy, apply, config, eu, evacuate, healthy, person, quiet_tick, refused, t0, us,
};
use chrono::Duration as Chrono;
use proptest::prelude::*;
use shared::routing::RoutingState;

#[test]
fn evacuation_table() {
    let c = config();
    let p = &c.failover;
    let regions = &c.regions;
    let s0 = RoutingState::default();

    // Healthy peer: evacuate.
    let s1 = apply(decide(
        &evacuate(us(), alarm()),
        &s0,
        regions,
        &all_healthy(),
        p,
        t0(),
    ));
    assert!(s1.is_evacuated(&us()) && s1.epoch == 1);
    // Again: noop.
    assert!(matches!(
        decide(
            &evacuate(us(), alarm()),
            &s1,
            regions,
            &all_healthy(),
            p,
            t0()
        ),
        Decision::Noop(_)
    ));
    // The last region: refused, even forced.
    let later = t0() + Chrono::hours(2);
    refused(
        &decide(
            &evacuate(eu(), person(true)),
            &s1,
            regions,
            &all_healthy(),
            p,
            later,
        ),
        "min_active_regions",
    );
    // Peer gate unhealthy: refused unless forced.
    let mut sick = all_healthy();
    sick.insert(
        us(),
        RegionHealth {
            gate_healthy: false,
            ..healthy()
        },
    );
    refused(
        &decide(&evacuate(eu(), alarm()), &s0, regions, &sick, p, t0()),
        "gate health check is unhealthy",
    );
    refused(
        &decide(&evacuate(eu(), person(false)), &s0, regions, &sick, p, t0()),
        "force",
    );
    assert!(matches!(
        decide(&evacuate(eu(), person(true)), &s0, regions, &sick, p, t0()),
        Decision::Change { .. }
    ));
    // Replication not ready or stale: refused.
    for replication in [Replication::NotReady, Replication::Stale] {
        let mut h = all_healthy();
        h.insert(
            us(),
            RegionHealth {
                replication,
                ..healthy()
            },
        );
        refused(
            &decide(&evacuate(eu(), alarm()), &s0, regions, &h, p, t0()),
            "ReplicationReady",
        );
    }
    // Dwell: a change 5 minutes ago blocks automation and unforced people.
    let mut recent = s0.clone();
    recent.changed_at = Some(t0() - Chrono::minutes(5));
    refused(
        &decide(
            &evacuate(us(), alarm()),
            &recent,
            regions,
            &all_healthy(),
            p,
            t0(),
        ),
        "dwell",
    );
    assert!(matches!(
        decide(
            &evacuate(us(), person(true)),
            &recent,
            regions,
            &all_healthy(),
            p,
            t0()
        ),
        Decision::Change { .. }
    ));
    // Hourly cap: two automatic evacuations in the last hour.
    let mut busy = s0.clone();
    busy.automatic_evacuations = vec![t0() - Chrono::minutes(50), t0() - Chrono::minutes(20)];
    refused(
        &decide(
            &evacuate(us(), alarm()),
            &busy,
            regions,
            &all_healthy(),
            p,
            t0(),
        ),
        "max_automatic_evacuations_per_hour",
    );
    // ...but a person is not capped.
    assert!(matches!(
        decide(
            &evacuate(us(), person(false)),
            &busy,
            regions,
            &all_healthy(),
            p,
            t0()
        ),
        Decision::Change { .. }
    ));
}

#[test]
fn restore_and_failback_table() {
    let c = config();
    let regions = &c.regions;
    let s1 = apply(decide(
        &evacuate(us(), alarm()),
        &RoutingState::default(),
        regions,
        &all_healthy(),
        &c.failover,
        t0(),
    ));
    let later = t0() + Chrono::hours(1);
    // Unhealthy endpoints: restore refused unless forced.
    let mut down = all_healthy();
    down.insert(
        us(),
        RegionHealth {
            endpoints_healthy: false,
            gate_healthy: false,
            ..healthy()
        },
    );
    refused(
        &decide(
            &Request::Restore {
                region: us(),
                actor: person(false),
            },
            &s1,
            regions,
            &down,
            &c.failover,
            later,
        ),
        "not healthy",
    );
    let s2 = apply(decide(
        &Request::Restore {
            region: us(),
            actor: person(false),
        },
        &s1,
        regions,
        &all_healthy(),
        &c.failover,
        later,
    ));
    assert!(!s2.is_evacuated(&us()) && s2.epoch == 2);
    // OK with manual failback: a notice and nothing else.
    let d = decide(
        &Request::Recovered {
            region: us(),
            observed_at: None,
        },
        &s1,
        regions,
        &all_healthy(),
        &c.failover,
        later,
    );
    assert!(
        matches!(&d, Decision::Noop(why) if why.contains("failback is manual")),
        "{d:?}"
    );
    // Automatic failback after the stable period.
    let mut auto = c.failover.clone();
    auto.failback.automatic = true;
    auto.failback.stable_for = shared::Duration::from_mins(30);
    let s3 = apply(decide(
        &Request::Recovered {
            region: us(),
            observed_at: None,
        },
        &s1,
        regions,
        &all_healthy(),
        &auto,
        later,
    ));
    assert!(matches!(
        decide(
            &quiet_tick(),
            &s3,
            regions,
            &all_healthy(),
            &auto,
            later + Chrono::minutes(10)
        ),
        Decision::Noop(_)
    ));
    let s4 = apply(decide(
        &quiet_tick(),
        &s3,
        regions,
        &all_healthy(),
        &auto,
        later + Chrono::minutes(31),
    ));
    assert!(!s4.is_evacuated(&us()));
}

#[test]
fn drills_prepare_evacuate_and_expire() {
    let c = config();
    let regions = &c.regions;
    let expires = t0() + Chrono::minutes(15);
    let prepare = Request::PrepareDrill {
        region: eu(),
        drill_id: "d1".into(),
        expires_at: expires,
        actor: person(false),
        peer_level_before: 0,
    };
    let s1 = apply(decide(
        &prepare,
        &RoutingState::default(),
        regions,
        &all_healthy(),
        &c.failover,
        t0(),
    ));
    assert!(s1.should_surge(&us(), regions) && !s1.is_evacuated(&eu()));
    refused(
        &decide(&prepare, &s1, regions, &all_healthy(), &c.failover, t0()),
        "already in progress",
    );
    let s2 = apply(decide(
        &Request::StartDrill {
            drill_id: "d1".into(),
            actor: person(false),
        },
        &s1,
        regions,
        &all_healthy(),
        &c.failover,
        t0(),
    ));
    assert!(s2.is_evacuated(&eu()));
    assert!(matches!(
        decide(
            &quiet_tick(),
            &s2,
            regions,
            &all_healthy(),
            &c.failover,
            expires - Chrono::seconds(1)
        ),
        Decision::Noop(_)
    ));
    let s3 = apply(decide(
        &quiet_tick(),
        &s2,
        regions,
        &all_healthy(),
        &c.failover,
        expires,
    ));
    assert!(!s3.is_evacuated(&eu()) && s3.drill.is_none());
    // A late drill-end schedule for an ended drill does nothing.
    let late = Request::EndDrill {
        drill_id: Some("d1".into()),
        actor: alarm(),
    };
    assert!(matches!(
        decide(&late, &s3, regions, &all_healthy(), &c.failover, expires),
        Decision::Noop(_)
    ));
}

fn arb_request() -> impl Strategy<Value = (Request, i64)> {
    let region = prop_oneof![Just(eu()), Just(us())];
    let actor = prop_oneof![Just(alarm()), Just(person(false)), Just(person(true))];
    let request = prop_oneof![
        (region.clone(), actor.clone()).prop_map(|(region, actor)| Request::Evacuate {
            region,
            actor,
            observed_at: None
        }),
        (region.clone(), actor.clone())
            .prop_map(|(region, actor)| Request::Restore { region, actor }),
        region.clone().prop_map(|region| Request::Recovered {
            region,
            observed_at: None
        }),
        Just(quiet_tick()),
        (region, actor.clone()).prop_map(|(region, actor)| Request::PrepareDrill {
            region,
            drill_id: "d".into(),
            expires_at: t0() + Chrono::hours(3),
            actor,
            peer_level_before: 0,
        }),
        actor.clone().prop_map(|actor| Request::StartDrill {
            drill_id: "d".into(),
            actor
        }),
        actor.prop_map(|actor| Request::EndDrill {
            drill_id: None,
            actor
        }),
    ];
    (request, 0i64..1_200)
}

proptest! {
    /// For any sequence of events: never fewer than min_active_regions active, and
    /// no routing change inside the dwell time unless a person forced it or a drill ends.
    #[test]
    fn invariants_hold_for_any_sequence(steps in proptest::collection::vec(arb_request(), 1..40), sick in any::<bool>()) {
        let c = config();
        let mut health = all_healthy();
        if sick {
            health.insert(us(), RegionHealth { gate_healthy: false, endpoints_healthy: false, replication: Replication::Stale });
        }
        let mut state = RoutingState::default();
        let mut now = t0();
        for (request, advance) in steps {
            now += Chrono::seconds(advance);
            if let Decision::Change { state: next, .. } = decide(&request, &state, &c.regions, &health, &c.failover, now) {
                let active = next.active_regions(&c.regions).count();
                prop_assert!(active >= c.failover.min_active_regions, "{request:?} left {active} active");
                let routing_changed = next.evacuated.keys().collect::<Vec<_>>() != state.evacuated.keys().collect::<Vec<_>>();
                let forced = matches!(&request, Request::Evacuate { actor, .. } | Request::Restore { actor, .. } if actor.force);
                // Ending a drill (its time, by hand, or a stop condition) is not held by the dwell.
                let stop_condition = matches!(&request, Request::Evacuate { actor, .. } if actor.automatic) && state.drill.is_some();
                let expiry = stop_condition || matches!(&request, Request::Tick { .. } | Request::EndDrill { .. } | Request::StartDrill { .. });
                if routing_changed && !forced && !expiry {
                    if let Some(changed) = state.changed_at {
                        prop_assert!(now >= changed + c.failover.dwell.as_chrono(), "{request:?} inside dwell");
                    }
                }
                prop_assert!(next.epoch > state.epoch || next.recovered_at != state.recovered_at);
                state = next;
            }
        }
    }
}

#[test]
fn a_surge_is_ready_when_every_peer_target_is_ready_above_the_level_before() {
    let target = |level: i32, status: &str| ("api:live".to_string(), level, status.to_string());
    let cases: &[(u64, Vec<crate::ports::Capacity>, bool)] = &[
        (0, vec![], true),
        (2, vec![target(2, "READY")], false),
        (2, vec![target(4, "IN_PROGRESS")], false),
        (2, vec![target(4, "READY")], true),
        (4, vec![target(4, "READY"), target(2, "READY")], true),
        (4, vec![target(4, "READY"), target(2, "FAILED")], false),
    ];
    for (before, now, ready) in cases {
        let surge = Surge::of(*before, now);
        assert_eq!(surge.ready, *ready, "{before} {now:?}: {}", surge.detail);
        assert!(
            surge.detail.starts_with(if *ready {
                "peer surge READY"
            } else {
                "peer surge not READY"
            }) || now.is_empty()
        );
    }
}
