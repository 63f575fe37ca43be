//! Every event shape the control plane recognises, parsed from real sample
//! payloads in tests/fixtures, and malformed variants rejected with a reason.

use serde_json::{json, Value};
use shared::events::{AlarmState, AlarmVia, ControlPlaneKind, Event, ScheduleTask, ScheduleVia};
use shared::{Config, Error};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

fn rejected(payload: Value) -> String {
    match Event::parse(&payload) {
        Err(e @ Error::InvalidEvent(_)) => {
            assert_eq!(e.error_type(), "NonRetryable");
            e.to_string()
        }
        other => panic!("{payload} should be rejected, got {other:?}"),
    }
}

#[test]
fn alarm_state_change_via_eventbridge() {
    let Event::Alarm(a) = Event::parse(&fixture("cloudwatch-alarm-state-change.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(a.alarm_name, "orders-health-us-east-1");
    assert_eq!(a.state, AlarmState::Alarm);
    assert_eq!(a.previous_state, Some(AlarmState::Ok));
    assert_eq!(a.via, AlarmVia::EventBridge);
    assert_eq!(a.alarm_region.as_deref(), Some("us-east-1"));
    assert!(a.timestamp.is_some());
}

#[test]
fn direct_alarm_action() {
    let Event::Alarm(a) = Event::parse(&fixture("cloudwatch-alarm-action.json")).unwrap() else {
        panic!()
    };
    assert_eq!(a.alarm_name, "orders-health-us-east-1");
    assert_eq!(a.state, AlarmState::Alarm);
    assert_eq!(a.via, AlarmVia::AlarmAction);
    assert!(a
        .alarm_arn
        .unwrap()
        .ends_with(":alarm:orders-health-us-east-1"));
}

#[test]
fn scheduled_event_and_scheduler_inputs() {
    let Event::Schedule(s) = Event::parse(&fixture("scheduled-event.json")).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.task, s.via),
        (ScheduleTask::Tick, ScheduleVia::EventBridgeRule)
    );
    let Event::Schedule(s) = Event::parse(&fixture("scheduler-tick.json")).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.task, s.via),
        (ScheduleTask::Tick, ScheduleVia::Scheduler)
    );
    let Event::Schedule(s) = Event::parse(&fixture("scheduler-end-drill.json")).unwrap() else {
        panic!()
    };
    assert_eq!(
        s.task,
        ScheduleTask::EndDrill {
            drill_id: "drill-eu-central-1-20261127T150000".into()
        }
    );
}

#[test]
fn ecr_image_action() {
    let Event::EcrImage(e) = Event::parse(&fixture("ecr-image-action.json")).unwrap() else {
        panic!()
    };
    assert!(e.is_successful_push());
    assert_eq!(e.repository, "orders-api");
    assert_eq!(e.image_tag.as_deref(), Some("2026.11.27-1"));
}

#[test]
fn control_plane_events() {
    for (file, kind) in [
        (
            "controlplane-region-evacuated.json",
            ControlPlaneKind::RegionEvacuated,
        ),
        (
            "controlplane-region-restored.json",
            ControlPlaneKind::RegionRestored,
        ),
        (
            "controlplane-drill-started.json",
            ControlPlaneKind::DrillStarted,
        ),
        (
            "controlplane-drill-ended.json",
            ControlPlaneKind::DrillEnded,
        ),
    ] {
        let Event::ControlPlane(e) = Event::parse(&fixture(file)).unwrap() else {
            panic!("{file}")
        };
        assert_eq!(e.kind, kind);
        assert_eq!(e.detail.region, "us-east-1");
        assert_eq!(e.detail.epoch, 4);
    }
}

#[test]
fn manual_actions() {
    let Event::Manual(m) = Event::parse(&fixture("manual-evacuate.json")).unwrap() else {
        panic!()
    };
    assert_eq!(m.action, "evacuate");
    assert!(m.dry_run);
    assert_eq!(m.reason.as_deref(), Some("us-east-1 API errors at 40%"));
    assert_eq!(m.str_arg("region").unwrap(), "us-east-1");
    assert!(m.deny_unknown_args(&["region"]).is_ok());
    assert!(m
        .deny_unknown_args(&[])
        .unwrap_err()
        .to_string()
        .contains("unknown field(s) region"));
}

#[test]
fn malformed_and_unknown_events_are_rejected_with_a_reason() {
    assert!(rejected(json!("tick")).contains("expected a JSON object"));
    assert!(rejected(json!({"foo": 1})).contains("unrecognised event"));
    assert!(rejected(json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}))
        .contains("not handled"));
    let mut alarm = fixture("cloudwatch-alarm-state-change.json");
    alarm["detail"]["state"]["value"] = json!("PANIC");
    assert!(rejected(alarm).contains("unknown alarm state"));
    let mut alarm = fixture("cloudwatch-alarm-action.json");
    alarm["alarmData"]
        .as_object_mut()
        .unwrap()
        .remove("alarmName");
    assert!(rejected(alarm).contains("alarmName"));
    let mut ecr = fixture("ecr-image-action.json");
    ecr["detail"]["image-digest"] = json!("md5:abc");
    assert!(rejected(ecr).contains("sha256"));
    let mut cp = fixture("controlplane-region-evacuated.json");
    cp["detail-type"] = json!("Region Vanished");
    assert!(rejected(cp).contains("unknown detail-type"));
    assert!(rejected(json!({"task": "explode"})).contains("unknown task"));
    assert!(rejected(json!({"task": "end_drill"})).contains("drill_id"));
    assert!(rejected(json!({"action": 7})).contains("must be a string"));
    assert!(rejected(json!({"action": "evacuate", "dry_run": "yes"})).contains("dry_run"));
}

#[test]
fn example_config_is_valid_and_complete() {
    let text = std::fs::read_to_string(format!(
        "{}/../config/example.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let config = Config::from_json(&text).unwrap();
    assert_eq!(config.regions.len(), 2);
    assert_eq!(config.failover.min_active_regions, 1);
    assert_eq!(config.concurrency.windows.len(), 1);
    assert!(config.replication.ecr.as_ref().unwrap().role.is_some());
}

#[test]
fn config_reports_every_problem_together() {
    let mut bad: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../config/example.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    bad["environment"] = json!("staging");
    bad["regions"] = json!(["eu-central-1", "us-east-1", "mars-north-1x"]);
    bad["failover"]["dwell"] = json!("ten minutes");
    bad["failover"]["gate_health_checks"]
        .as_object_mut()
        .unwrap()
        .remove("us-east-1");
    bad["failover"]["surprise"] = json!(true);
    bad["alerts_topic_arns"]["us-east-1"] = json!("arn:aws:sns:us-east-1:999999999999:alerts");
    bad["concurrency"]["requests_per_second"] = json!(50);
    bad["concurrency"]["windows"][0]["timezone"] = json!("Mars/Olympus");
    let Err(Error::Config(problems)) = Config::from_value(&bad) else {
        panic!("accepted")
    };
    let all = problems.join("\n");
    for expected in [
        "environment:",
        "regions[2]:",
        "failover.dwell: bad duration",
        "failover.gate_health_checks: missing an entry for region us-east-1",
        "failover.surprise: unknown key",
        "account 999999999999 is not in `allowed_accounts`",
        "concurrency.requests_per_second",
        "unknown time zone",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn config_region_outside_the_allow_list_is_refused() {
    let mut bad: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../config/example.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    bad["replication"]["ecr"]["destination_regions"] = json!(["ap-south-1"]);
    let Err(Error::Config(problems)) = Config::from_value(&bad) else {
        panic!("accepted")
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ap-south-1 is not in `regions`")),
        "{problems:?}"
    );
}

/// The routing state is one Route 53 record of at most 4,000 characters: a config whose
/// largest state (regions, hourly cap, a drill, texts at their limits) could outgrow it
/// is refused at start; two or three regions with a small cap are fine.
#[test]
fn config_refuses_what_the_state_record_could_not_hold() {
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../config/example.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let with = |regions: &[&str], cap: u32| {
        let mut v = example.clone();
        v["regions"] = json!(regions);
        v["failover"]["max_automatic_evacuations_per_hour"] = json!(cap);
        match Config::from_value(&v) {
            Ok(_) => Vec::new(),
            Err(Error::Config(problems)) => problems,
            Err(other) => panic!("{other}"),
        }
    };
    let state_problem = |problems: &[String]| {
        problems
            .iter()
            .find(|p| p.contains("over the 4000 of its Route 53 record"))
            .cloned()
    };
    let two = ["eu-central-1", "us-east-1"];
    assert_eq!(with(&two, 2), Vec::<String>::new());
    assert_eq!(state_problem(&with(&two, 30)), None);
    let three = ["eu-central-1", "us-east-1", "ap-southeast-2"];
    assert_eq!(state_problem(&with(&three, 2)), None);
    let too_many = state_problem(&with(&two, 1000)).expect("a cap of 1000 is refused");
    assert!(
        too_many.starts_with(
            "regions, failover.max_automatic_evacuations_per_hour: with 2 regions and 1000"
        ),
        "{too_many}"
    );
    let four = [
        "eu-central-1",
        "us-east-1",
        "ap-southeast-2",
        "us-gov-west-1",
    ];
    assert!(state_problem(&with(&four, 2)).is_some_and(|p| p.contains("with 4 regions")));
}
