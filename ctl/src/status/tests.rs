use super::*;
use crate::answers::tests::{plan, record};
use crate::error::{Failure, Role};

fn failover_status(evacuated: bool) -> Value {
    let evac = if evacuated {
        json!({"us-east-1": {"since": "2026-01-01T10:00:00.123Z", "by": "alarm orders-health", "reason": "endpoints failing", "automatic": true}})
    } else {
        json!({})
    };
    let reason = if evacuated {
        "1 of 2 regions active, epoch 1"
    } else {
        "2 of 2 regions active, epoch 0"
    };
    record(
        "failover",
        "noop",
        reason,
        json!({
            "routing": {"v": 1, "epoch": if evacuated { 1 } else { 0 }, "evacuated": evac},
            "regions": {
                "eu-central-1": {"routing": "active", "gate": {"id": "g1", "open": true, "healthy": true, "threshold": 2, "children": 2, "children_healthy": 2}, "gate_matches_state": true},
                "us-east-1": {"routing": if evacuated { "evacuated" } else { "active" },
                              "gate": {"id": "g2", "open": !evacuated, "healthy": !evacuated, "threshold": if evacuated { 3 } else { 2 }, "children": 2, "children_healthy": if evacuated { 0 } else { 2 }},
                              "gate_matches_state": true}
            }
        }),
    )
}

fn monitor_check() -> Value {
    record(
        "replication-monitor",
        "dry_run",
        "regions: eu-central-1 ready, us-east-1 not_ready",
        json!({
            "regions": {"eu-central-1": {"verdict": "ready", "kinds": {}}, "us-east-1": {"verdict": "not_ready", "kinds": {"ecr": "not_ready"}}},
            "kinds": {
                "ecr": {"verdict": "not_ready", "destinations": {"us-east-1": {"verdict": "not_ready", "max_lag_seconds": 1500, "pending": 0, "failed": 1}}},
                "secrets": {"verdict": "ready", "destinations": {"us-east-1": {"verdict": "ready", "max_lag_seconds": 0, "pending": 0, "failed": 0}}}
            }
        }),
    )
}

fn region(name: &str) -> Region {
    Region::parse(name).unwrap()
}

fn not_found(role: Role, function: &str, region: &str) -> CallError {
    CallError {
        role,
        region: region.into(),
        failure: Failure::NotFound {
            function: function.into(),
            region: region.into(),
            hint: role.hint(),
        },
    }
}

fn gathered(evacuated: bool) -> Gathered {
    Gathered {
        service: "orders".into(),
        via: "eu-central-1".into(),
        failover: Ok(Answer::read(failover_status(evacuated)).unwrap()),
        replication: Ok(Answer::read(monitor_check()).unwrap()),
        concurrency: [
            (
                region("eu-central-1"),
                Ok(Answer::read(plan("eu-central-1", 2, 4, "surge")).unwrap()),
            ),
            (
                region("us-east-1"),
                Err(not_found(
                    Role::Scheduler,
                    "orders-concurrency-scheduler-us-east-1",
                    "us-east-1",
                )),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

#[test]
fn status_table_shows_each_region_on_its_own_rows() {
    let text = gathered(true).to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "control plane orders (via eu-central-1): 1 of 2 regions active, epoch 1"
    );
    assert!(lines[2].starts_with("REGION"), "{text}");
    let eu = lines
        .iter()
        .find(|l| l.starts_with("eu-central-1"))
        .unwrap();
    for part in [
        "active",
        "2/2 healthy",
        "open 2/2",
        "ready (nothing replicates into it)",
        "orders-api:live 2 → 4 READY (surge)",
    ] {
        assert!(eu.contains(part), "{eu:?} lacks {part:?}");
    }
    let us = lines
        .iter()
        .position(|l| l.starts_with("us-east-1"))
        .unwrap();
    for part in [
        "evacuated",
        "0/2 healthy (DOWN)",
        "closed 3/2 unhealthy",
        "ecr not_ready, lag 25m, 1 failed",
        "unavailable (see below)",
    ] {
        assert!(lines[us].contains(part), "{:?} lacks {part:?}", lines[us]);
    }
    // the second replication kind continues on the next line, under its column
    let col = lines[us].find("ecr not_ready").unwrap();
    assert_eq!(
        lines[us + 1].find("secrets ready, lag 0s"),
        Some(col),
        "{text}"
    );
    // columns two spaces apart, as wide as their widest cell
    assert!(
        lines[2].starts_with("REGION        ROUTING    ENDPOINTS           GATE"),
        "{text}"
    );
    assert!(text.contains("us-east-1 evacuated since 2026-01-01 10:00:00 UTC by alarm orders-health (automatic): endpoints failing"), "{text}");
    assert!(text.contains("\nerror: concurrency-scheduler in us-east-1: function orders-concurrency-scheduler-us-east-1 not found in us-east-1: "), "{text}");
}

#[test]
fn status_json_normalises_per_region_and_keeps_records() {
    let v = gathered(false).to_json();
    assert_eq!(v["epoch"], 0);
    assert_eq!(v["summary"], "2 of 2 regions active, epoch 0");
    assert_eq!(v["regions"]["us-east-1"]["routing"], "active");
    assert_eq!(
        v["regions"]["us-east-1"]["endpoints"],
        json!({"healthy": 2, "total": 2})
    );
    assert_eq!(
        v["regions"]["us-east-1"]["gate"],
        json!({"id": "g2", "open": true, "healthy": true, "threshold": 2, "children": 2, "children_healthy": 2})
    );
    assert_eq!(
        v["regions"]["us-east-1"]["replication"],
        json!({"verdict": "not_ready", "kinds": {
            "ecr": {"verdict": "not_ready", "lag_seconds": 1500, "pending": 0, "failed": 1},
            "secrets": {"verdict": "ready", "lag_seconds": 0, "pending": 0, "failed": 0}}})
    );
    assert_eq!(
        v["regions"]["eu-central-1"]["concurrency"],
        json!([{"function": "orders-api", "alias": "live", "current": 2, "status": "READY", "level": 4, "rule": "surge"}])
    );
    assert!(v["regions"]["us-east-1"]["concurrency"].is_null());
    assert!(v["regions"]["us-east-1"]["evacuation"].is_null());
    assert!(v["drill"].is_null());
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert_eq!(v["records"]["failover"], failover_status(false));
    assert!(v["records"]["concurrency-scheduler"]["us-east-1"]["error"].is_string());
}

#[test]
fn an_evacuation_and_a_drill_read_back_as_written() {
    let mut g = gathered(true);
    let mut raw = failover_status(true);
    raw["state"]["routing"]["evacuated"]["us-east-1"]["drill_id"] = json!("drill-us-1");
    raw["state"]["routing"]["drill"] = json!({"id": "drill-us-1", "region": "us-east-1",
        "phase": "active", "started_at": "2026-01-01T10:00:00Z",
        "expires_at": "2026-01-01T10:15:00.500Z", "by": "alice", "reason": "game day"});
    g.failover = Ok(Answer::read(raw.clone()).unwrap());
    let v = g.to_json();
    assert_eq!(v["drill"], raw["state"]["routing"]["drill"]);
    assert_eq!(
        v["regions"]["us-east-1"]["evacuation"],
        raw["state"]["routing"]["evacuated"]["us-east-1"]
    );
    let text = g.to_text();
    assert!(text.contains("evacuated (drill)"), "{text}");
    assert!(
        text.contains(
            "drill drill-us-1 on us-east-1 (active) until 2026-01-01 10:15:00 UTC, by alice: game day"
        ),
        "{text}"
    );
}

#[test]
fn a_failed_failover_status_is_an_error_but_the_rest_still_shows() {
    let mut g = gathered(false);
    g.failover = Err(not_found(
        Role::Failover,
        "orders-failover-eu-central-1",
        "eu-central-1",
    ));
    let text = g.to_text();
    assert!(
        text.contains(
            "error: failover in eu-central-1: function orders-failover-eu-central-1 not found"
        ),
        "{text}"
    );
    // the monitor's regions, in its order
    assert!(
        text.lines()
            .any(|l| l.starts_with("us-east-1") && l.contains("ecr not_ready")),
        "{text}"
    );
    assert!(
        text.starts_with("control plane orders (via eu-central-1)\n\n"),
        "{text}"
    );
    // an answered `failed` with errors: each is a line
    let mut raw = failover_status(false);
    raw["outcome"] = json!("failed");
    raw["errors"] = json!(["gate us-east-1: timed out"]);
    g.failover = Ok(Answer::read(raw).unwrap());
    assert_eq!(
        g.errors()[..2],
        [
            "failover in eu-central-1: 2 of 2 regions active, epoch 0",
            "failover in eu-central-1: gate us-east-1: timed out"
        ]
    );
}
