//! Bad input: every event parser (`Event::parse`, and the manual-action argument
//! readers) and the config parser, fed arbitrary JSON and mutations of real
//! payloads. Nothing panics; whatever is rejected is rejected with a clear,
//! non-retryable error that names what was wrong. `PROPTEST_CASES` sets the
//! number of cases (`make test` uses the default, `make soak` a large number).

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::events::Event;
use shared::{Config, Error};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn example_config() -> Value {
    let path = format!("{}/../config/example.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const FIXTURES: &[&str] = &[
    "cloudwatch-alarm-action.json",
    "cloudwatch-alarm-state-change.json",
    "controlplane-drill-ended.json",
    "controlplane-drill-started.json",
    "controlplane-region-evacuated.json",
    "controlplane-region-restored.json",
    "ecr-image-action.json",
    "manual-evacuate.json",
    "scheduled-event.json",
    "scheduler-default-payload.json",
    "scheduler-end-drill.json",
    "scheduler-tick.json",
];

/// Keys the parsers look for, so random objects reach deep into them.
const KEYS: &[&str] = &[
    "action",
    "region",
    "reason",
    "requested_by",
    "dry_run",
    "force",
    "duration_minutes",
    "drill_id",
    "alarmData",
    "alarmArn",
    "detail-type",
    "detail",
    "source",
    "task",
    "time",
    "state",
    "value",
    "alarmName",
    "repository-name",
    "image-digest",
    "action-type",
    "result",
    "epoch",
    "schedule_arn",
    "level",
    "until",
    "function",
    "alias",
    "resources",
    "account",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 _:./\\-]{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "ALARM",
            "OK",
            "INSUFFICIENT_DATA",
            "PUSH",
            "SUCCESS",
            "evacuate",
            "restore",
            "drill",
            "end_drill",
            "status",
            "tick",
            "check",
            "plan",
            "reconcile",
            "override",
            "us-east-1",
            "eu-central-1",
            "ap-south-1",
            "aws.cloudwatch",
            "aws.ecr",
            "controlplane.failover",
            "Region Evacuated",
            "Drill Started",
            "CloudWatch Alarm State Change",
            "ECR Image Action",
            "Scheduled Event",
            "2025-01-01T00:00:00Z",
            "not a time",
            "",
        ])
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// Every path (object keys and array indices) in a value.
fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(x, p, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    AddKey(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        value().prop_map(Mutation::Replace),
        ("[a-z_]{1,10}", value()).prop_map(|(k, v)| Mutation::AddKey(k, v)),
    ]
}

/// Applies mutations at chosen paths (indices taken modulo the number of paths).
fn mutate(mut v: Value, picks: &[(usize, Mutation)]) -> Value {
    for (pick, m) in picks {
        let mut all = Vec::new();
        paths(&v, Vec::new(), &mut all);
        if all.is_empty() {
            continue;
        }
        let path = &all[pick % all.len()];
        let (last, parent_path) = path.split_last().unwrap();
        let mut parent = &mut v;
        for p in parent_path {
            parent = match parent {
                Value::Object(m) => m.get_mut(p).unwrap(),
                Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
                _ => unreachable!(),
            };
        }
        match (parent, m) {
            (Value::Object(map), Mutation::Remove) => {
                map.remove(last);
            }
            (Value::Array(a), Mutation::Remove) => {
                a.remove(last.parse::<usize>().unwrap());
            }
            (Value::Object(map), Mutation::Replace(x)) => {
                map.insert(last.clone(), x.clone());
            }
            (Value::Array(a), Mutation::Replace(x)) => {
                a[last.parse::<usize>().unwrap()] = x.clone();
            }
            (Value::Object(map), Mutation::AddKey(k, x)) => {
                if let Some(Value::Object(inner)) = map.get_mut(last) {
                    inner.insert(k.clone(), x.clone());
                } else {
                    map.insert(k.clone(), x.clone());
                }
            }
            (_, Mutation::AddKey(..)) => {}
            _ => unreachable!(),
        }
    }
    v
}

/// A rejection must be an InvalidEvent, non-retryable, and say something specific.
fn assert_clear_rejection(payload: &Value, err: &Error) {
    assert!(
        matches!(err, Error::InvalidEvent(_)),
        "{payload}: wrong error kind {err:?}"
    );
    assert_eq!(err.error_type(), "NonRetryable", "{payload}");
    let text = err.to_string();
    assert!(
        text.len() > "rejected event: ".len() + 8,
        "{payload}: unclear error {text:?}"
    );
}

/// Parses, and for manual actions also runs every argument reader the functions use.
fn parse_all_the_way(payload: &Value) {
    match Event::parse(payload) {
        Ok(Event::Manual(m)) => {
            for key in ["region", "reason", "drill_id", "function", "alias", "until"] {
                if let Err(e) = m.str_arg(key) {
                    assert_clear_rejection(payload, &e);
                }
                if let Err(e) = m.opt_str_arg(key) {
                    assert_clear_rejection(payload, &e);
                }
            }
            for key in ["force", "dry_run"] {
                if let Err(e) = m.bool_arg(key) {
                    assert_clear_rejection(payload, &e);
                }
            }
            for key in ["duration_minutes", "level"] {
                if let Err(e) = m.u64_arg(key) {
                    assert_clear_rejection(payload, &e);
                }
            }
            if let Err(e) = m.require_reason() {
                assert_clear_rejection(payload, &e);
            }
            if let Err(e) = m.deny_unknown_args(&["region"]) {
                assert_clear_rejection(payload, &e);
            }
        }
        Ok(_) => {}
        Err(e) => assert_clear_rejection(payload, &e),
    }
}

proptest! {
    #[test]
    fn event_parse_never_panics_on_arbitrary_json(payload in value()) {
        parse_all_the_way(&payload);
    }

    #[test]
    fn event_parse_never_panics_on_mutated_fixtures(
        which in 0..FIXTURES.len(),
        picks in prop::collection::vec((any::<usize>(), mutation()), 1..4),
    ) {
        let payload = mutate(fixture(FIXTURES[which]), &picks);
        parse_all_the_way(&payload);
    }

    #[test]
    fn config_parse_never_panics_on_arbitrary_json(doc in value()) {
        if let Err(e) = Config::from_value(&doc) {
            assert_clear_config_error(&doc, &e);
        }
        let _ = Config::from_json(&doc.to_string());
    }

    #[test]
    fn config_parse_never_panics_on_mutated_example(
        picks in prop::collection::vec((any::<usize>(), mutation()), 1..4),
    ) {
        let doc = mutate(example_config(), &picks);
        match Config::from_value(&doc) {
            Ok(config) => {
                // Whatever is accepted stays inside its allow-lists.
                prop_assert!(config.regions.len() >= 2);
            }
            Err(e) => assert_clear_config_error(&doc, &e),
        }
    }

    #[test]
    fn config_text_that_is_not_json_is_a_clear_error(text in ".{0,64}") {
        if let Err(e) = Config::from_json(&text) {
            prop_assert!(matches!(e, Error::Config(ref p) if !p.is_empty() && p.iter().all(|m| !m.is_empty())), "{e:?}");
        }
    }
}

fn assert_clear_config_error(doc: &Value, err: &Error) {
    let Error::Config(problems) = err else {
        panic!("{doc}: config error of the wrong kind: {err:?}");
    };
    assert!(!problems.is_empty(), "{doc}: no problem named");
    for p in problems {
        assert!(p.len() >= 6, "{doc}: unclear problem {p:?}");
    }
    assert_eq!(err.error_type(), "NonRetryable");
}

/// The allow-lists: a config may not name a region or an account outside them.
#[test]
fn config_cannot_point_outside_its_allow_lists() {
    let base = example_config();
    let account = base["allowed_accounts"][0].as_str().unwrap().to_string();
    assert!(Config::from_value(&base).is_ok());
    type Tweak = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "alerts topic in another account",
            Box::new(|c: &mut Value| {
                c["alerts_topic_arns"]["us-east-1"] =
                    json!("arn:aws:sns:us-east-1:999999999999:alerts");
            }),
        ),
        (
            "alerts topic in a region outside regions",
            Box::new(move |c: &mut Value| {
                c["alerts_topic_arns"]["us-east-1"] =
                    json!(format!("arn:aws:sns:ap-south-1:{account}:alerts"));
            }),
        ),
        (
            "gate for a region outside regions",
            Box::new(|c: &mut Value| {
                c["failover"]["gate_health_checks"]["ap-south-1"] = json!("abc");
            }),
        ),
        (
            "scheduler role in another account",
            Box::new(|c: &mut Value| {
                c["failover"]["drill"]["scheduler_role_arns"]["us-east-1"] =
                    json!("arn:aws:iam::999999999999:role/x");
            }),
        ),
        (
            "an alarm mapped to a region outside regions",
            Box::new(|c: &mut Value| {
                c["failover"]["region_alarms"]
                    ["arn:aws:cloudwatch:us-east-1:333333333333:alarm:orders-health-ap-south-1"] =
                    json!("ap-south-1");
            }),
        ),
        (
            "an alarm in another account",
            Box::new(|c: &mut Value| {
                c["failover"]["region_alarms"]
                    ["arn:aws:cloudwatch:us-east-1:999999999999:alarm:orders-health-us-east-1"] =
                    json!("us-east-1");
            }),
        ),
        (
            "ECR registry outside allowed_accounts",
            Box::new(|c: &mut Value| {
                if c["replication"]["ecr"].is_object() {
                    c["replication"]["ecr"]["registry_id"] = json!("999999999999");
                } else {
                    c["allowed_accounts"] = json!(["not-an-account"]);
                }
            }),
        ),
        (
            "not a region at all",
            Box::new(|c: &mut Value| {
                c["regions"] = json!(["eu-central-1", "mars-north-1"]);
            }),
        ),
    ];
    for (what, tweak) in cases {
        let mut doc = base.clone();
        tweak(&mut doc);
        match Config::from_value(&doc) {
            Ok(_) => panic!("{what}: accepted"),
            Err(Error::Config(problems)) => {
                assert!(!problems.is_empty(), "{what}");
            }
            Err(other) => panic!("{what}: {other:?}"),
        }
    }
    // Each refusal names its key and why: an alarm is keyed by its ARN, in an allowed account;
    // the region it lives in need not be one of `regions`.
    let alarm_problems = |key: &str, region: &str| -> Vec<String> {
        let mut doc = base.clone();
        doc["failover"]["region_alarms"][key] = json!(region);
        match Config::from_value(&doc) {
            Ok(_) => Vec::new(),
            Err(Error::Config(problems)) => problems,
            Err(other) => panic!("{key}: {other:?}"),
        }
    };
    let format = "must be a CloudWatch alarm ARN (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)";
    for (key, why) in [
        ("orders-health-us-east-1", "not an ARN"),
        (
            "arn:aws:sns:us-east-1:333333333333:alerts",
            "the service is \"sns\"",
        ),
        (
            "arn:aws:cloudwatch:mars-1:333333333333:alarm:x",
            "not an AWS region code",
        ),
        (
            "arn:aws:cloudwatch:us-east-1:333333333333:x",
            "not alarm:NAME",
        ),
    ] {
        let problems = alarm_problems(key, "us-east-1");
        assert_eq!(problems.len(), 1, "{key}: {problems:?}");
        let p = &problems[0];
        assert!(
            p.starts_with(&format!("failover.region_alarms.{key}: {format}")) && p.contains(why),
            "{key}: {p}"
        );
    }
    let other_account = "arn:aws:cloudwatch:us-east-1:999999999999:alarm:orders-health-us-east-1";
    assert_eq!(
        alarm_problems(other_account, "us-east-1"),
        [format!(
            "failover.region_alarms.{other_account}: account 999999999999 is not in `allowed_accounts`"
        )]
    );
    let elsewhere = "arn:aws:cloudwatch:ap-south-1:333333333333:alarm:orders-health-eu-central-1";
    assert_eq!(
        alarm_problems(elsewhere, "eu-central-1"),
        Vec::<String>::new()
    );

    // And a function cannot be pointed at a region outside its list at run time.
    let config = Config::from_value(&base).unwrap();
    assert!(config.region("ap-south-1").is_err());
}
