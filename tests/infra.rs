//! Layer 5: the Terraform under `infra/`, parsed with hcl-rs and cross-checked against the
//! crates: functions and their triggers, the config document's keys (config/example.json),
//! the IAM actions each function's role grants, and the ownership rules (lifecycle ignores).
//! No providers, no network: `terraform fmt -check` and checkov run beside this (infra/README.md).

use hcl::{Block, Body, Expression};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use testkit::repo_root;

const FUNCTIONS: [&str; 3] = ["failover", "replication-monitor", "concurrency-scheduler"];
const REGION_PROVIDERS: [&str; 2] = ["aws.workload_eu_central_1", "aws.workload_us_east_1"];

/// The log-group writes every role grants next to what the code calls.
const LOG_ACTIONS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];

/// Actions the Service Authorization Reference lists with no resource type, so `"*"` is the
/// only possible Resource: cloudwatch:GetMetricData / PutMetricData (Amazon CloudWatch),
/// lambda:GetAccountSettings (AWS Lambda), tag:GetResources (Resource Groups Tagging API).
/// Everything else (events:PutEvents on event-bus, route53:ChangeResourceRecordSets on hostedzone, ...) is scoped.
const NO_RESOURCE_LEVEL: [&str; 4] = [
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    "lambda:GetAccountSettings",
    "tag:GetResources",
];

/// Config maps keyed by data (regions, alarm ARNs): their keys are values, not schema
/// (`BTreeMap`s in shared/src/config.rs).
const DATA_KEYED_MAPS: [&str; 6] = [
    "alerts_topic_arns",
    "failover.gate_health_checks",
    "failover.region_alarms",
    "failover.drill.scheduler_role_arns",
    "failover.data_plane.observers",
    "failover.data_plane.probes",
];

fn tf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != ".terraform") {
                tf_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "tf") {
            out.push(path);
        }
    }
}

/// Every top-level block of every .tf file in `dir` (recursively), with its file.
struct Tf {
    blocks: Vec<(PathBuf, Block)>,
}

impl Tf {
    fn load(rel: &str) -> Tf {
        let dir = repo_root().join(rel);
        let mut files = Vec::new();
        tf_files(&dir, &mut files);
        assert!(!files.is_empty(), "no .tf files under {}", dir.display());
        let mut blocks = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read .tf");
            let body: Body =
                hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for block in body.blocks() {
                blocks.push((file.clone(), block.clone()));
            }
        }
        Tf { blocks }
    }

    /// Blocks `<kind> "<label0>" ...`, e.g. ("resource", "aws_lambda_function").
    fn of<'a, 'k>(
        &'a self,
        kind: &'k str,
        type_label: &'k str,
    ) -> impl Iterator<Item = &'a Block> + 'k
    where
        'a: 'k,
    {
        self.blocks
            .iter()
            .map(|(_, b)| b)
            .filter(move |b| b.identifier.as_str() == kind && label(b, 0) == Some(type_label))
    }

    fn named(&self, kind: &str, type_label: &str, name: &str) -> &Block {
        self.of(kind, type_label)
            .find(|b| label(b, 1) == Some(name))
            .unwrap_or_else(|| panic!("{kind} \"{type_label}\" \"{name}\" not found"))
    }

    fn local(&self, name: &str) -> &Expression {
        self.blocks
            .iter()
            .filter(|(_, b)| b.identifier.as_str() == "locals")
            .find_map(|(_, b)| attr(&b.body, name))
            .unwrap_or_else(|| panic!("local.{name} not found"))
    }
}

fn label(block: &Block, i: usize) -> Option<&str> {
    block.labels.get(i).map(|l| l.as_str())
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.expr)
}

fn attr_str(body: &Body, key: &str) -> String {
    attr(body, key).map(|e| e.to_string()).unwrap_or_default()
}

fn sub_blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks()
        .filter(move |b| b.identifier.as_str() == ident)
}

fn strings(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Array(items) => items
            .iter()
            .map(|i| match i {
                Expression::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => panic!("expected a list of strings, got {other}"),
    }
}

fn object_keys(expr: &Expression) -> BTreeSet<String> {
    match expr {
        Expression::Object(obj) => obj.keys().map(|k| k.to_string()).collect(),
        other => panic!("expected an object, got {other}"),
    }
}

/// Display output without whitespace, so checks do not depend on the formatter's layout.
fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Statements of a policy document: `statement` blocks and the content of `dynamic "statement"`.
fn statements(doc: &Block) -> Vec<&Body> {
    let mut out: Vec<&Body> = sub_blocks(&doc.body, "statement")
        .map(|b| &b.body)
        .collect();
    for dynamic in sub_blocks(&doc.body, "dynamic").filter(|b| label(b, 0) == Some("statement")) {
        out.extend(sub_blocks(&dynamic.body, "content").map(|b| &b.body));
    }
    out
}

fn policy_actions(doc: &Block) -> BTreeSet<String> {
    statements(doc)
        .into_iter()
        .flat_map(|s| attr(s, "actions").map(strings).unwrap_or_default())
        .collect()
}

// (1) ---------------------------------------------------------------------------------------

#[test]
fn infra_functions_exist_and_the_control_plane_runs_in_both_regions_of_both_envs() {
    let cp = Tf::load("infra/modules/control-plane");
    assert_eq!(
        object_keys(cp.local("functions")),
        set(&FUNCTIONS),
        "local.functions in control-plane"
    );

    let lambda = cp.named("resource", "aws_lambda_function", "this");
    let body = &lambda.body;
    assert_eq!(attr_str(body, "for_each"), "local.functions");
    assert_eq!(
        attr(body, "runtime"),
        Some(&Expression::String("provided.al2023".into()))
    );
    assert_eq!(
        attr(body, "handler"),
        Some(&Expression::String("bootstrap".into()))
    );
    assert_eq!(
        compact(&attr_str(body, "architectures")),
        "[var.architecture]"
    );
    for key in ["filename", "source_code_hash"] {
        let value = attr_str(body, key);
        assert!(
            compact(&value).contains("${var.artifacts_dir}/${each.key}/bootstrap.zip"),
            "{key} must point at <artifacts_dir>/<function>/bootstrap.zip: {value}"
        );
    }
    let env = sub_blocks(body, "environment")
        .next()
        .expect("environment block");
    let vars = attr(&env.body, "variables").expect("environment.variables");
    assert_eq!(
        attr_in_object(vars, "CONTROL_PLANE_CONFIG"),
        "jsonencode(local.config)",
        "{vars}"
    );
    let logging = sub_blocks(body, "logging_config")
        .next()
        .expect("logging_config block");
    assert_eq!(
        attr(&logging.body, "log_format"),
        Some(&Expression::String("JSON".into()))
    );

    // One copy at a time per region for concurrency-scheduler (failover: see
    // infra_failover_reserved_concurrency_leaves_room_for_an_operator).
    let functions = cp.local("functions").to_string();
    let entry = function_entry(cp.local("functions"), "concurrency-scheduler");
    assert_eq!(
        attr_in_object(entry, "reserved_concurrency"),
        "1",
        "concurrency-scheduler reserved concurrency in {functions}"
    );

    // One root for every environment; each env only brings its backend config and values.
    let root = Tf::load("infra/stack");
    {
        let env = "infra/stack";
        let providers: BTreeSet<String> = root
            .blocks
            .iter()
            .map(|(_, b)| b)
            .filter(|b| {
                b.identifier.as_str() == "module"
                    && attr(&b.body, "source")
                        == Some(&Expression::String("../modules/control-plane".into()))
            })
            .map(|b| {
                let p = attr(&b.body, "providers").expect("providers map");
                match p {
                    Expression::Object(obj) => obj
                        .iter()
                        .find(|(k, _)| k.to_string() == "aws")
                        .map(|(_, v)| v.to_string())
                        .expect("providers.aws"),
                    other => panic!("providers must be a map: {other}"),
                }
            })
            .collect();
        assert_eq!(
            providers,
            set(&REGION_PROVIDERS),
            "{env}: control-plane per region"
        );

        // One provider per account and region, each assuming a role with an external ID.
        let aliases: BTreeSet<String> = root
            .of("provider", "aws")
            .map(|b| match attr(&b.body, "alias") {
                Some(Expression::String(s)) => s.clone(),
                other => panic!("provider without alias: {other:?}"),
            })
            .collect();
        assert_eq!(
            aliases,
            set(&[
                "shared_eu_central_1",
                "shared_us_east_1",
                "workload_eu_central_1",
                "workload_us_east_1"
            ]),
            "{env}: provider aliases"
        );
        for provider in root.of("provider", "aws") {
            let assume = sub_blocks(&provider.body, "assume_role")
                .next()
                .expect("assume_role");
            assert!(
                attr(&assume.body, "external_id").is_some(),
                "{env}: assume_role without external_id"
            );
        }
        let terraform = root
            .blocks
            .iter()
            .map(|(_, b)| b)
            .find(|b| b.identifier.as_str() == "terraform")
            .expect("terraform block");
        let backend = sub_blocks(&terraform.body, "backend")
            .next()
            .expect("backend block");
        assert_eq!(label(backend, 0), Some("s3"));
        assert_eq!(
            attr(&backend.body, "use_lockfile"),
            Some(&Expression::Bool(true)),
            "{env}: S3 lockfile"
        );
    }
    let environment = root
        .of("variable", "environment")
        .next()
        .expect("var.environment");
    assert!(
        sub_blocks(&environment.body, "validation").next().is_some(),
        "var.environment is validated"
    );
    for env in ["dev", "prod"] {
        let dir = repo_root().join(format!("infra/envs/{env}"));
        assert!(
            dir.join("backend.hcl.example").is_file(),
            "{env}: backend.hcl.example"
        );
        let values: Body = hcl::parse(
            &std::fs::read_to_string(dir.join("terraform.tfvars.example")).expect("tfvars example"),
        )
        .expect("tfvars example parses");
        assert_eq!(
            attr(&values, "environment"),
            Some(&Expression::String(env.into())),
            "{env}: its tfvars example names the environment"
        );
        let tf_files = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "tf"))
            .count();
        assert_eq!(
            tf_files, 0,
            "{env}: no Terraform code of its own, only values"
        );
    }
}

/// failover's reserved concurrency is an upper bound on its concurrent runs. At 1, an
/// operator's synchronous Invoke (`ctl evacuate`, `ctl status`, …) got Lambda's 429 whenever
/// the every-minute tick, an alarm event or a drill (which waits up to ~35 s for the peer's
/// surge inside one run) was running. Writers need no such lock: the state record's
/// compare-and-swap serialises them. It must leave room for an operator beside the tick and
/// the event runs, and stay a small share of the account's pool.
#[test]
fn infra_failover_reserved_concurrency_leaves_room_for_an_operator() {
    let cp = Tf::load("infra/modules/control-plane");
    let functions = cp.local("functions");
    let value = attr_in_object(
        function_entry(functions, "failover"),
        "reserved_concurrency",
    );
    let reserved: u32 = value
        .parse()
        .unwrap_or_else(|_| panic!("failover reserved_concurrency must be a number: {value:?}"));
    assert!(
        reserved > 1,
        "failover reserved concurrency {reserved}: a manual action during a tick, an event run \
         or a drill would be throttled (429) in {functions}"
    );
    // the tick, two event runs (an alarm from each region, or an alarm and a drill-end
    // schedule) and an operator
    assert!(
        reserved >= 4,
        "failover reserved concurrency {reserved} leaves no room for an operator beside a tick \
         and the event runs"
    );
    assert!(reserved <= 10, "failover reserved concurrency {reserved}");
}

fn function_entry<'a>(functions: &'a Expression, name: &str) -> &'a Expression {
    match functions {
        Expression::Object(obj) => obj
            .iter()
            .find(|(k, _)| k.to_string() == name)
            .map(|(_, v)| v)
            .expect("function entry"),
        other => panic!("local.functions must be an object: {other}"),
    }
}

fn attr_in_object(object: &Expression, key: &str) -> String {
    match object {
        Expression::Object(obj) => obj
            .iter()
            .find(|(k, _)| k.to_string() == key)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default(),
        other => panic!("expected an object: {other}"),
    }
}

// (2) ---------------------------------------------------------------------------------------

/// The trigger in `local.event_triggers` whose pattern contains every needle invokes
/// `function`: its rule on the default bus, its Lambda target (retried, then the DLQ) and the
/// permission letting EventBridge invoke that function for that rule only, all three
/// `for_each` over that one map.
fn assert_rule_invokes(cp: &Tf, needles: &[&str], function: &str) {
    let triggers = match cp.local("event_triggers") {
        Expression::Object(obj) => obj,
        other => panic!("local.event_triggers must be an object: {other}"),
    };
    let matching: Vec<String> = triggers
        .iter()
        .filter(|(_, entry)| {
            let pattern = compact(&attr_in_object(entry, "event_pattern"));
            pattern.starts_with("jsonencode(")
                && needles.iter().all(|n| {
                    // A value is matched whole, in its quotes; `key = expr` as written.
                    let n = compact(n);
                    if n.contains('=') {
                        pattern.contains(&n)
                    } else {
                        pattern.contains(&format!("\"{n}\""))
                    }
                })
                && attr_in_object(entry, "function") == format!("\"{function}\"")
        })
        .map(|(key, _)| key.to_string())
        .collect();
    assert!(
        !matching.is_empty(),
        "no trigger in local.event_triggers matches {needles:?} and invokes {function}"
    );
    for (key, entry) in triggers.iter() {
        for field in [
            "name",
            "description",
            "function",
            "statement_id",
            "event_pattern",
        ] {
            assert!(
                !attr_in_object(entry, field).is_empty(),
                "trigger {key} lacks {field}"
            );
        }
        let age = attr_in_object(entry, "maximum_event_age_in_seconds");
        assert!(
            age.parse::<u32>().is_ok_and(|a| (60..=86_400).contains(&a)),
            "trigger {key}: maximum_event_age_in_seconds {age:?}"
        );
    }

    let rule = cp.named("resource", "aws_cloudwatch_event_rule", "trigger");
    assert_eq!(attr_str(&rule.body, "for_each"), "local.event_triggers");
    assert_eq!(
        attr_str(&rule.body, "event_pattern"),
        "each.value.event_pattern"
    );
    assert_eq!(attr_str(&rule.body, "event_bus_name"), "local.bus_name");

    let target = cp.named("resource", "aws_cloudwatch_event_target", "trigger");
    assert_eq!(attr_str(&target.body, "for_each"), "local.event_triggers");
    assert_eq!(
        compact(&attr_str(&target.body, "rule")),
        "aws_cloudwatch_event_rule.trigger[each.key].name"
    );
    assert_eq!(
        compact(&attr_str(&target.body, "arn")),
        "aws_lambda_function.this[each.value.function].arn"
    );
    let retry = sub_blocks(&target.body, "retry_policy")
        .next()
        .expect("trigger targets have a retry_policy");
    assert_eq!(attr_str(&retry.body, "maximum_retry_attempts"), "4");
    assert_eq!(
        attr_str(&retry.body, "maximum_event_age_in_seconds"),
        "each.value.maximum_event_age_in_seconds"
    );
    let dlq = sub_blocks(&target.body, "dead_letter_config")
        .next()
        .expect("trigger targets have a dead_letter_config");
    assert_eq!(attr_str(&dlq.body, "arn"), "aws_sqs_queue.dlq.arn");

    let permission = cp.named("resource", "aws_lambda_permission", "trigger");
    let p = &permission.body;
    assert_eq!(attr_str(p, "for_each"), "local.event_triggers");
    assert_eq!(
        compact(&attr_str(p, "source_arn")),
        "aws_cloudwatch_event_rule.trigger[each.key].arn"
    );
    assert_eq!(
        compact(&attr_str(p, "function_name")),
        "aws_lambda_function.this[each.value.function].function_name"
    );
    assert_eq!(
        attr(p, "principal"),
        Some(&Expression::String("events.amazonaws.com".into()))
    );
    assert_eq!(
        attr(p, "action"),
        Some(&Expression::String("lambda:InvokeFunction".into()))
    );
    assert_eq!(attr_str(p, "source_account"), "local.account_id");
    assert_eq!(attr_str(p, "statement_id"), "each.value.statement_id");
}

#[test]
fn infra_every_function_has_its_triggers() {
    let cp = Tf::load("infra/modules/control-plane");

    // Schedules: one per function (for_each over local.functions), each invoking its function.
    let schedule = cp.named("resource", "aws_scheduler_schedule", "tick");
    assert!(attr_str(&schedule.body, "for_each").contains("local.functions"));
    let target = sub_blocks(&schedule.body, "target")
        .next()
        .expect("schedule target");
    assert_eq!(
        compact(&attr_str(&target.body, "arn")),
        "aws_lambda_function.this[each.key].arn"
    );
    // A flexible window disperses the copies' ticks (AWS: "Managing a schedule's flexible
    // time window", EventBridge Scheduler User Guide): a minute at most, for every function.
    let window = sub_blocks(&schedule.body, "flexible_time_window")
        .next()
        .expect("flexible_time_window");
    assert_eq!(attr_str(&window.body, "mode"), "\"FLEXIBLE\"");
    assert_eq!(attr_str(&window.body, "maximum_window_in_minutes"), "1");
    let input = compact(&attr_str(&target.body, "input"));
    for needle in [
        "task=\"tick\"",
        "<aws.scheduler.schedule-arn>",
        "<aws.scheduler.scheduled-time>",
    ] {
        assert!(
            input.contains(needle),
            "schedule input lacks {needle}: {input}"
        );
    }
    for (f, rate) in [
        ("failover", "rate(1 minute)"),
        ("replication-monitor", "rate(5 minutes)"),
        ("concurrency-scheduler", "rate(5 minutes)"),
    ] {
        let entry = function_entry(cp.local("functions"), f);
        assert_eq!(
            attr_in_object(entry, "schedule"),
            format!("\"{rate}\""),
            "{f} schedule"
        );
    }

    assert_rule_invokes(
        &cp,
        &["aws.ecr", "ECR Image Action", "PUSH", "SUCCESS"],
        "replication-monitor",
    );
    assert_rule_invokes(
        &cp,
        &[
            "controlplane.failover",
            "Region Evacuated",
            "Region Restored",
            "Drill Started",
            "Drill Ended",
        ],
        "concurrency-scheduler",
    );
    assert_rule_invokes(
        &cp,
        &[
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            // By ARN: an alarm event's `resources` holds it; a name repeats across accounts.
            "resources = keys(var.region_alarms)",
            "account = [local.account_id]",
        ],
        "failover",
    );

    // Events EventBridge cannot deliver after its retries land in the DLQ, whose policy
    // admits exactly these rules (and the forwarding rule).
    let dlq = cp.named("data", "aws_iam_policy_document", "dlq");
    let dlq = compact(&dlq.body.to_string_lossy());
    for rule in ["trigger", "forward_to_peers"] {
        assert!(
            dlq.contains(&format!("[forrinaws_cloudwatch_event_rule.{rule}:r.arn]")),
            "the DLQ policy must admit aws_cloudwatch_event_rule.{rule}: {dlq}"
        );
    }

    // Both regions see both regions' failover events and alarms: forwarded to the peer buses,
    // only when they originated in this region (no loops).
    let forward = cp.named("resource", "aws_cloudwatch_event_rule", "forward_to_peers");
    let pattern = compact(&attr_str(&forward.body, "event_pattern"));
    for needle in [
        "controlplane.failover",
        "CloudWatchAlarmStateChange",
        // the Route 53 region-health alarms; the probe alarms stay where they live
        "resources=var.forwarded_alarm_arns",
        "region=[var.region]",
    ] {
        assert!(
            pattern.contains(needle),
            "forwarding pattern lacks {needle}: {pattern}"
        );
    }
    let fwd_target = cp.named(
        "resource",
        "aws_cloudwatch_event_target",
        "forward_to_peers",
    );
    assert!(attr_str(&fwd_target.body, "arn").contains("default_bus_arns"));
    assert!(
        attr(&fwd_target.body, "role_arn").is_some(),
        "cross-region bus targets need a role"
    );

    // ECR events come from shared-services: forwarded by the replication module's rule.
    let replication = Tf::load("infra/modules/replication");
    let ecr_rule = replication.named("resource", "aws_cloudwatch_event_rule", "ecr_push");
    assert!(attr_str(&ecr_rule.body, "event_pattern").contains("ECR Image Action"));
    let ecr_target = replication.named("resource", "aws_cloudwatch_event_target", "ecr_push");
    assert!(attr_str(&ecr_target.body, "arn").contains("each.value"));
    assert!(attr_str(&ecr_target.body, "provider").contains("aws.shared_primary"));

    // The region-health alarms are named <service>-health-<region>, in us-east-1 (Route 53 metrics).
    let routing = Tf::load("infra/modules/global-routing");
    let names = compact(&routing.local("region_alarm_names").to_string());
    assert!(
        names.contains("\"${var.service_name}-health-${region}\""),
        "{names}"
    );
    let alarm = routing.named("resource", "aws_cloudwatch_metric_alarm", "region_health");
    assert!(attr_str(&alarm.body, "for_each").contains("local.region_alarm_names"));
    assert!(alarm.body.to_string_lossy().contains("HealthCheckStatus"));
    // ... and handed to the control plane keyed by ARN (failover.region_alarms).
    let output = routing
        .of("output", "region_alarms")
        .next()
        .expect("output region_alarms");
    assert!(
        compact(&attr_str(&output.body, "value"))
            .contains("alarm.arn=>local.region_alarm_names[name]"),
        "{}",
        attr_str(&output.body, "value")
    );
}

/// Formats a block body back to HCL for substring checks.
trait Lossy {
    fn to_string_lossy(&self) -> String;
}

impl Lossy for Body {
    fn to_string_lossy(&self) -> String {
        hcl::format::to_string(self).expect("format body")
    }
}

// (3) ---------------------------------------------------------------------------------------

fn json_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                if !DATA_KEYED_MAPS.contains(&path.as_str()) {
                    json_paths(v, &path, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                json_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn hcl_paths(expr: &Expression, prefix: &str, out: &mut BTreeSet<String>) {
    match expr {
        Expression::Object(obj) => {
            for (k, v) in obj.iter() {
                let key = k.to_string();
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                if !DATA_KEYED_MAPS.contains(&path.as_str()) {
                    hcl_paths(v, &path, out);
                }
            }
        }
        Expression::Array(items) => {
            for item in items.iter().filter(|i| matches!(i, Expression::Object(_))) {
                hcl_paths(item, &format!("{prefix}[]"), out);
            }
        }
        // [for x in xs : { ... }]: the element shape, list index collapsed.
        Expression::ForExpr(f) if f.key_expr.is_none() => {
            hcl_paths(&f.value_expr, &format!("{prefix}[]"), out)
        }
        Expression::Parenthesis(inner) => hcl_paths(inner, prefix, out),
        _ => {}
    }
}

#[test]
fn infra_config_document_has_exactly_the_keys_of_the_example() {
    let text = std::fs::read_to_string(repo_root().join("config/example.json"))
        .expect("config/example.json");
    let example: serde_json::Value = serde_json::from_str(&text).expect("example.json is JSON");
    let mut expected = BTreeSet::new();
    json_paths(&example, "", &mut expected);

    let cp = Tf::load("infra/modules/control-plane");
    let mut actual = BTreeSet::new();
    hcl_paths(cp.local("config"), "", &mut actual);

    let missing: Vec<_> = expected.difference(&actual).collect();
    let unknown: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "local.config vs config/example.json\n  missing in HCL: {missing:?}\n  not in example (rejected at start): {unknown:?}"
    );
    // The required keys are there (shared/src/config.rs).
    for required in [
        "environment",
        "service_name",
        "regions",
        "allowed_accounts",
        "alerts_topic_arns",
        "failover.hosted_zone_id",
        "failover.state_record_name",
        "failover.gate_health_checks",
        "failover.drill.scheduler_role_arns",
    ] {
        assert!(actual.contains(required), "required key {required} missing");
    }
}

// (4) ---------------------------------------------------------------------------------------

/// What each role grants is derived from the code's own calls and checked resource by
/// resource in tests/iam.rs; here, the log writes every role has beside them.
#[test]
fn infra_each_role_writes_only_its_own_logs() {
    let cp = Tf::load("infra/modules/control-plane");
    for function in FUNCTIONS {
        let doc = cp.named("data", "aws_iam_policy_document", function);
        let granted = policy_actions(doc);
        for log in LOG_ACTIONS {
            assert!(
                granted.contains(log),
                "{function}: must grant {log} on its log group"
            );
        }

        // Log writes only on the function's own log group.
        for statement in statements(doc) {
            let actions = attr(statement, "actions").map(strings).unwrap_or_default();
            if actions.iter().any(|a| a.starts_with("logs:")) {
                let resources = attr_str(statement, "resources");
                assert!(
                    compact(&resources).contains(&format!("log_stream_arns[\"{function}\"]")),
                    "{function}: logs on {resources}"
                );
            }
        }
        // Attached to that function's role.
        let policies = cp.local("function_policies");
        assert_eq!(
            attr_in_object(policies, function),
            format!("data.aws_iam_policy_document.{function}.json")
        );
    }
    let role_policy = cp.named("resource", "aws_iam_role_policy", "function");
    assert_eq!(
        attr_str(&role_policy.body, "policy"),
        "local.function_policies[each.key]"
    );

    // failover may pass only its region's drill scheduler role, and only to EventBridge Scheduler.
    let failover = cp.named("data", "aws_iam_policy_document", "failover");
    let pass = statements(failover)
        .into_iter()
        .find(|s| attr(s, "actions").map(strings).unwrap_or_default() == ["iam:PassRole"])
        .expect("PassRole statement");
    assert_eq!(
        compact(&attr_str(pass, "resources")),
        "[local.drill_role_arns[var.region]]",
        "only this region's drill role: the code passes scheduler_role_arns[home]"
    );
    assert!(pass.to_string_lossy().contains("iam:PassedToService"));

    // failover may describe only the alarms it is configured with.
    let describe = statements(failover)
        .into_iter()
        .find(|s| {
            attr(s, "actions").map(strings).unwrap_or_default() == ["cloudwatch:DescribeAlarms"]
        })
        .expect("DescribeAlarms statement");
    assert_eq!(attr_str(describe, "resources"), "keys(var.region_alarms)");
}

// (5) ---------------------------------------------------------------------------------------

#[test]
fn infra_star_resources_only_where_aws_allows_no_scoping() {
    let all = Tf::load("infra");
    let mut checked = 0;
    for (file, block) in &all.blocks {
        if block.identifier.as_str() != "data" || label(block, 0) != Some("aws_iam_policy_document")
        {
            continue;
        }
        // A KMS key policy's "*" is the key itself: a key policy cannot name its own ARN.
        if label(block, 1) == Some("kms") {
            continue;
        }
        for statement in statements(block) {
            let Some(resources) = attr(statement, "resources") else {
                continue;
            };
            let is_star = matches!(resources, Expression::Array(items) if items.iter().any(|i| matches!(i, Expression::String(s) if s == "*")));
            if !is_star {
                continue;
            }
            checked += 1;
            let actions = attr(statement, "actions").map(strings).unwrap_or_default();
            for action in &actions {
                assert!(
                    NO_RESOURCE_LEVEL.contains(&action.as_str()),
                    "{}: data.aws_iam_policy_document.{}: {action} supports resource-level permissions, but the statement uses \"*\"",
                    file.display(),
                    label(block, 1).unwrap_or_default()
                );
            }
            if actions.iter().any(|a| a == "cloudwatch:PutMetricData") {
                assert!(
                    statement.to_string_lossy().contains("cloudwatch:namespace"),
                    "PutMetricData on \"*\" must be narrowed by the cloudwatch:namespace condition"
                );
            }
        }
    }
    assert!(checked > 0, "expected the metric statements to use \"*\"");
}

// (6) ---------------------------------------------------------------------------------------

fn ignores(block: &Block, attribute: &str) -> bool {
    sub_blocks(&block.body, "lifecycle").any(|l| {
        attr(&l.body, "ignore_changes").is_some_and(|e| match e {
            Expression::Array(items) => items.iter().any(|i| i.to_string() == attribute),
            _ => false,
        })
    })
}

#[test]
fn infra_terraform_leaves_what_the_functions_own_alone() {
    let all = Tf::load("infra");
    let pcs: Vec<&Block> = all
        .of("resource", "aws_lambda_provisioned_concurrency_config")
        .collect();
    assert!(
        !pcs.is_empty(),
        "the seed's provisioned concurrency config is missing"
    );
    for pc in pcs {
        assert!(
            ignores(pc, "provisioned_concurrent_executions"),
            "concurrency-scheduler owns the number"
        );
        assert_eq!(
            compact(&attr_str(&pc.body, "provisioned_concurrent_executions")),
            "var.provisioned_concurrency",
            "the seed's level comes from the control plane (infra_one_place_for_the_baseline)"
        );
    }

    let routing = Tf::load("infra/modules/global-routing");
    let gate = routing.named("resource", "aws_route53_health_check", "gate");
    assert_eq!(
        attr(&gate.body, "type"),
        Some(&Expression::String("CALCULATED".into()))
    );
    assert!(
        ignores(gate, "child_health_threshold"),
        "failover raises/restores the gate threshold"
    );
    let state = routing.named("resource", "aws_route53_record", "routing_state");
    assert_eq!(
        attr(&state.body, "type"),
        Some(&Expression::String("TXT".into()))
    );
    assert!(
        ignores(state, "records"),
        "failover owns the routing-state record"
    );
    for record in ["service", "api"] {
        let r = routing.named("resource", "aws_route53_record", record);
        assert!(attr_str(&r.body, "health_check_id").contains("aws_route53_health_check.gate"));
        assert!(sub_blocks(&r.body, "latency_routing_policy")
            .next()
            .is_some());
    }

    // The initial TXT value is what RoutingState reads: `jsonencode({v = 1, epoch = 0, evacuated = {}})`,
    // which Terraform renders as below, quotes escaped inside the TXT string.
    let initial = compact(&routing.local("initial_state").to_string());
    assert!(
        initial.contains("v=1") && initial.contains("epoch=0") && initial.contains("evacuated={}"),
        "{initial}"
    );
    let txt = r#""{\"epoch\":0,\"evacuated\":{},\"v\":1}""#;
    let state = shared::routing::RoutingState::from_txt(txt).expect("initial routing state parses");
    assert_eq!(state.epoch, 0);
    assert!(state.evacuated.is_empty());
}

/// The seed's provisioned concurrency (prod 2, dev 1), its alias and discovery tag have one
/// source: the control plane's `local.baseline_concurrency` and `var.concurrency` defaults,
/// rendered into the config (what concurrency-scheduler reads) and handed by the stack to
/// workload-concurrency (what the seed gets), so the two never disagree.
#[test]
fn infra_one_place_for_the_baseline() {
    use shared::config::Environment;

    let cp = Tf::load("infra/modules/control-plane");
    let baseline = cp.local("baseline_concurrency");
    for (env, environment) in [("prod", Environment::Prod), ("dev", Environment::Dev)] {
        assert_eq!(
            attr_in_object(baseline, env),
            environment.baseline_concurrency().to_string(),
            "local.baseline_concurrency.{env} vs shared::config (the functions' own default)"
        );
    }
    assert_eq!(object_keys(baseline), set(&["dev", "prod"]));

    let seed = cp.local("concurrency_seed");
    let expected = [
        ("alias", "var.concurrency.alias"),
        (
            "baseline",
            "coalesce(var.concurrency.baseline,local.baseline_concurrency[var.environment])",
        ),
        ("discovery_tag_key", "var.concurrency.discovery_tag_key"),
        ("discovery_tag_value", "var.concurrency.discovery_tag_value"),
    ];
    assert_eq!(
        object_keys(seed),
        expected.iter().map(|(k, _)| k.to_string()).collect()
    );
    for (key, value) in expected {
        assert_eq!(
            compact(&attr_in_object(seed, key)),
            value,
            "concurrency_seed.{key}"
        );
    }
    // The config's concurrency section reads the same values.
    let config = cp.local("config");
    let concurrency = object_at(config, &["concurrency"]);
    for (key, seed_key) in [("alias", "alias"), ("baseline", "baseline")] {
        assert_eq!(
            attr_in_object(concurrency, key),
            format!("local.concurrency_seed.{seed_key}")
        );
    }
    let discovery = object_at(config, &["concurrency", "discovery"]);
    assert_eq!(
        attr_in_object(discovery, "tag_key"),
        "local.concurrency_seed.discovery_tag_key"
    );
    assert_eq!(
        attr_in_object(discovery, "tag_value"),
        "local.concurrency_seed.discovery_tag_value"
    );
    let output = cp
        .of("output", "concurrency_seed")
        .next()
        .expect("output concurrency_seed");
    assert_eq!(attr_str(&output.body, "value"), "local.concurrency_seed");

    // The stack seeds each region from that region's control plane.
    let root = Tf::load("infra/stack");
    for region in ["eu_central_1", "us_east_1"] {
        let module = root
            .of("module", &format!("workload_concurrency_{region}"))
            .next()
            .unwrap_or_else(|| panic!("module workload_concurrency_{region}"));
        for (input, seed_key) in [
            ("provisioned_concurrency", "baseline"),
            ("alias_name", "alias"),
            ("discovery_tag_key", "discovery_tag_key"),
            ("discovery_tag_value", "discovery_tag_value"),
        ] {
            assert_eq!(
                attr_str(&module.body, input),
                format!("module.control_plane_{region}.concurrency_seed.{seed_key}"),
                "workload_concurrency_{region}.{input}"
            );
        }
    }
    // ... and workload-concurrency keeps no value of its own for them.
    let wc = Tf::load("infra/modules/workload-concurrency");
    for name in [
        "provisioned_concurrency",
        "alias_name",
        "discovery_tag_key",
        "discovery_tag_value",
    ] {
        let variable = wc
            .of("variable", name)
            .next()
            .unwrap_or_else(|| panic!("variable {name}"));
        assert!(
            attr(&variable.body, "default").is_none(),
            "workload-concurrency var.{name} must come from the control plane, not a default"
        );
    }

    // Nowhere else: no second "prod ? 2 : 1", no second copy of the discovery tag.
    let mut files = Vec::new();
    tf_files(&repo_root().join("infra"), &mut files);
    for file in files {
        let text = compact(&std::fs::read_to_string(&file).unwrap());
        assert!(
            !text.contains("==\"prod\"?"),
            "{}: the baseline is local.baseline_concurrency's alone",
            file.display()
        );
        let tags = text
            .matches("\"controlplane:provisioned-concurrency\"")
            .count();
        let expected = usize::from(file.ends_with("modules/control-plane/variables.tf"));
        assert_eq!(
            tags,
            expected,
            "{}: the discovery tag's default",
            file.display()
        );
    }

    // The example is a prod document: its baseline is prod's.
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("config/example.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(example["environment"], "prod");
    assert_eq!(
        example["concurrency"]["baseline"],
        Environment::Prod.baseline_concurrency()
    );
}

/// The config's defaults live in one place, the control plane's variable types
/// (`optional(type, default)`); config/example.json shows them: every leaf of `local.config`
/// read from a variable attribute with a default equals the example's value there.
#[test]
fn infra_config_defaults_are_the_examples() {
    let cp = Tf::load("infra/modules/control-plane");
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("config/example.json")).unwrap(),
    )
    .unwrap();
    let mut compared = Vec::new();
    let mut mismatches = Vec::new();
    walk_defaults(
        &cp,
        cp.local("config"),
        &mut Vec::new(),
        &mut |path, default| {
            let mut value = &example;
            for key in path {
                value = &value[key.as_str()];
            }
            let shown = path.join(".");
            if !same_value(default, value) {
                mismatches.push(format!("{shown}: default {default}, example {value}"));
            }
            compared.push(shown);
        },
    );
    assert!(
        mismatches.is_empty(),
        "config/example.json vs the defaults: {mismatches:#?}"
    );
    // Every tunable section is covered (the walk is not vacuous).
    for prefix in [
        "failover.",
        "replication.ecr.",
        "replication.s3.",
        "replication.secrets.",
        "concurrency.",
    ] {
        assert!(
            compared.iter().filter(|p| p.starts_with(prefix)).count() >= 2,
            "no defaults compared under {prefix}: {compared:?}"
        );
    }
    assert!(compared.len() >= 25, "{compared:?}");
}

/// The object at `path` inside an object expression.
fn object_at<'a>(expr: &'a Expression, path: &[&str]) -> &'a Expression {
    path.iter().fold(expr, |e, key| match e {
        Expression::Object(obj) => obj
            .iter()
            .find(|(k, _)| k.to_string() == *key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {e}")),
        other => panic!("expected an object at {key}: {other}"),
    })
}

/// Calls `found(path, default)` for each leaf of an object expression that reads a variable
/// attribute declared `optional(type, default)` (directly or through a local).
fn walk_defaults(
    tf: &Tf,
    expr: &Expression,
    path: &mut Vec<String>,
    found: &mut dyn FnMut(&[String], &Expression),
) {
    match expr {
        Expression::Object(obj) => {
            for (key, value) in obj.iter() {
                path.push(key.to_string());
                walk_defaults(tf, value, path, found);
                path.pop();
            }
        }
        leaf => {
            if let Some(default) = default_of(tf, &leaf.to_string()) {
                found(path, &default);
            }
        }
    }
}

/// The default of `var.a.b.c` (from variable a's type), following `local.x.y` to what it reads.
fn default_of(tf: &Tf, reference: &str) -> Option<Expression> {
    let parts: Vec<&str> = reference.split('.').collect();
    if parts
        .iter()
        .any(|p| !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return None;
    }
    match parts.as_slice() {
        ["local", name, rest @ ..] => {
            let inner = object_at(tf.local(name), rest);
            default_of(tf, &inner.to_string())
        }
        ["var", name, rest @ ..] if !rest.is_empty() => {
            let variable = tf.of("variable", name).next()?;
            let mut ty = attr(&variable.body, "type")?.clone();
            for (i, key) in rest.iter().enumerate() {
                let fields = match &ty {
                    Expression::FuncCall(f) if f.name.name.as_str() == "object" => {
                        f.args.first()?
                    }
                    _ => return None,
                };
                let field = match fields {
                    Expression::Object(obj) => obj.iter().find(|(k, _)| k.to_string() == *key)?.1,
                    _ => return None,
                };
                match field {
                    Expression::FuncCall(f) if f.name.name.as_str() == "optional" => {
                        if i + 1 == rest.len() {
                            return f.args.get(1).cloned();
                        }
                        ty = f.args.first()?.clone();
                    }
                    other => ty = other.clone(),
                }
            }
            None
        }
        _ => None,
    }
}

/// An HCL literal and a JSON value are the same value (numbers compared as numbers).
fn same_value(hcl: &Expression, json: &serde_json::Value) -> bool {
    match (hcl, json) {
        (Expression::String(a), serde_json::Value::String(b)) => a == b,
        (Expression::Bool(a), serde_json::Value::Bool(b)) => a == b,
        (Expression::Number(a), serde_json::Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Expression::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        _ => false,
    }
}

#[test]
fn infra_cross_account_roles_require_an_external_id() {
    let mut files = Vec::new();
    tf_files(&repo_root().join("infra"), &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Each policy statement: from one `statement {` to the next (or the next block).
        for statement in text.split("statement {").skip(1) {
            let statement = statement.split("\ndata \"").next().unwrap_or(statement);
            let compact: String = statement.split_whitespace().collect();
            let assume = compact.contains("\"sts:AssumeRole\"");
            let aws_principal = compact.contains("type=\"AWS\"");
            if assume && aws_principal {
                checked += 1;
                assert!(
                    compact.contains("variable=\"sts:ExternalId\""),
                    "{}: a cross-account AssumeRole without an sts:ExternalId condition",
                    file.display()
                );
            }
        }
    }
    assert!(checked >= 1, "no cross-account role found to check");
}

/// A module that declares only aliased providers gets an implied, empty default
/// `aws` provider for any block that names none (no region, no role, no account
/// pin): every resource and data block there must name its provider.
#[test]
fn infra_blocks_of_alias_only_modules_name_their_provider() {
    let modules = repo_root().join("infra/modules");
    let mut checked = 0;
    for entry in std::fs::read_dir(&modules).expect("infra/modules") {
        let dir = entry.expect("module dir").path();
        let versions = std::fs::read_to_string(dir.join("versions.tf")).unwrap_or_default();
        if !versions.contains("configuration_aliases") {
            continue;
        }
        let rel = dir.strip_prefix(repo_root()).unwrap().display().to_string();
        let tf = Tf::load(&rel);
        for (file, block) in &tf.blocks {
            if !matches!(block.identifier.as_str(), "resource" | "data") {
                continue;
            }
            checked += 1;
            assert!(
                attr(&block.body, "provider").is_some(),
                "{}: {} {:?} names no provider",
                file.display(),
                block.identifier.as_str(),
                block.labels.iter().map(|l| l.as_str()).collect::<Vec<_>>()
            );
        }
    }
    assert!(checked > 0, "no alias-only module found");
}

// (7) ---------------------------------------------------------------------------------------

/// Seconds between two ticks of a `rate(N minute[s])` schedule.
fn rate_seconds(expr: &str) -> u32 {
    let inner = expr
        .trim_matches('"')
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a rate expression: {expr}"));
    let (n, unit) = inner.split_once(' ').expect("rate(N unit)");
    let n: u32 = n.parse().expect("rate value");
    match unit.trim_end_matches('s') {
        "minute" => n * 60,
        "hour" => n * 3600,
        other => panic!("unit {other}"),
    }
}

/// An asynchronous invocation that fails every attempt or grows too old goes somewhere
/// visible: each function's on_failure destination is this region's SQS queue (encrypted,
/// written by the functions' roles, alarmed on its depth), and the event age and retries fit
/// each function's triggers: never older than one period of its own tick, which re-reads
/// everything anyway, and failover's (ticking every minute) at Lambda's minimum of 60 s.
#[test]
fn infra_failed_async_invocations_reach_an_alarmed_queue() {
    let cp = Tf::load("infra/modules/control-plane");
    let config = cp.named(
        "resource",
        "aws_lambda_function_event_invoke_config",
        "this",
    );
    let c = &config.body;
    assert_eq!(attr_str(c, "for_each"), "local.functions");
    assert_eq!(
        attr_str(c, "maximum_event_age_in_seconds"),
        "each.value.async_max_event_age",
        "the event age follows each function's triggers"
    );
    assert_eq!(
        attr_str(c, "maximum_retry_attempts"),
        "each.value.async_retries"
    );
    let destination = sub_blocks(c, "destination_config")
        .next()
        .and_then(|d| sub_blocks(&d.body, "on_failure").next())
        .expect("destination_config.on_failure");
    assert_eq!(
        attr_str(&destination.body, "destination"),
        "aws_sqs_queue.dlq.arn"
    );

    let functions = cp.local("functions");
    for f in FUNCTIONS {
        let entry = function_entry(functions, f);
        let age: u32 = attr_in_object(entry, "async_max_event_age")
            .parse()
            .unwrap_or_else(|_| panic!("{f}: async_max_event_age must be a number"));
        let retries: u32 = attr_in_object(entry, "async_retries")
            .parse()
            .unwrap_or_else(|_| panic!("{f}: async_retries must be a number"));
        let period = rate_seconds(&attr_in_object(entry, "schedule"));
        // Lambda: 60 s to 6 h, 0 to 2 retries.
        assert!((60..=21_600).contains(&age), "{f}: age {age}");
        assert!(retries <= 2, "{f}: retries {retries}");
        assert!(
            age <= period,
            "{f}: an event older than one tick ({period} s) is superseded by the tick; age {age}"
        );
        // Lambda waits about a minute before a retry: it must fit inside the age.
        assert!(
            retries == 0 || age >= 60 * (retries + 1),
            "{f}: {retries} retries cannot happen within {age} s"
        );
    }
    assert_eq!(
        attr_in_object(function_entry(functions, "failover"), "async_max_event_age"),
        "60"
    );

    let queue = cp.named("resource", "aws_sqs_queue", "dlq");
    assert!(
        attr(&queue.body, "sqs_managed_sse_enabled") == Some(&Expression::Bool(true))
            || attr(&queue.body, "kms_master_key_id").is_some(),
        "the queue is encrypted at rest"
    );
    assert!(
        attr(&queue.body, "fifo_queue").is_none(),
        "Lambda destinations take standard queues only"
    );

    // The roles may send to it (Lambda delivers with the execution role).
    let send = cp.named("data", "aws_iam_policy_document", "async_destination");
    let statement = statements(send)
        .into_iter()
        .next()
        .expect("async_destination statement");
    assert_eq!(
        attr(statement, "actions").map(strings).unwrap_or_default(),
        ["sqs:SendMessage"]
    );
    assert_eq!(
        compact(&attr_str(statement, "resources")),
        "[aws_sqs_queue.dlq.arn]"
    );
    let attach = cp.named("resource", "aws_iam_role_policy", "async_destination");
    assert_eq!(attr_str(&attach.body, "for_each"), "local.functions");

    // One message is enough to alert.
    let alarms: Vec<&Block> = cp
        .of("resource", "aws_cloudwatch_metric_alarm")
        .filter(|a| {
            attr(&a.body, "metric_name")
                == Some(&Expression::String(
                    "ApproximateNumberOfMessagesVisible".into(),
                ))
        })
        .collect();
    assert_eq!(alarms.len(), 1, "one depth alarm on the queue");
    let alarm = &alarms[0].body;
    assert_eq!(attr_str(alarm, "namespace"), "\"AWS/SQS\"");
    assert_eq!(
        compact(&attr_str(alarm, "dimensions")),
        "{QueueName=aws_sqs_queue.dlq.name}"
    );
    assert_eq!(attr_str(alarm, "threshold"), "1");
    assert_eq!(
        attr_str(alarm, "comparison_operator"),
        "\"GreaterThanOrEqualToThreshold\""
    );
    assert!(attr_str(alarm, "alarm_actions").contains("aws_sns_topic.alerts.arn"));
}

/// The `account` and `region` keys at the top of a `jsonencode({...})` event pattern.
fn pattern_envelope(pattern: &Expression) -> (String, String) {
    let object = match pattern {
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => f.args.first(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("an event pattern must be jsonencode({{...}}): {pattern}"));
    (
        compact(&attr_in_object(object, "account")),
        compact(&attr_in_object(object, "region")),
    )
}

/// Events from other accounts or regions than the configured ones cannot reach a function:
/// every rule's pattern names the accounts and regions its events must come from (from the
/// config, never open), and every permission letting a service invoke a function names the
/// source ARN and account.
#[test]
fn infra_events_from_other_accounts_or_regions_cannot_reach_a_function() {
    let cp = Tf::load("infra/modules/control-plane");
    let triggers = match cp.local("event_triggers") {
        Expression::Object(obj) => obj,
        other => panic!("local.event_triggers: {other}"),
    };
    let expected = [
        (
            "ecr_image_push",
            "[var.replication.ecr.registry_id]",
            "[var.replication.ecr.source_region]",
        ),
        ("failover_events", "[local.account_id]", "var.regions"),
        (
            "region_health_alarms",
            "[local.account_id]",
            "distinct([forarninkeys(var.region_alarms):split(\":\",arn)[3]])",
        ),
    ];
    assert_eq!(
        triggers.len(),
        expected.len(),
        "a trigger without a decision"
    );
    for (key, account, region) in expected {
        let entry = triggers
            .iter()
            .find(|(k, _)| k.to_string() == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("trigger {key}"));
        let pattern = match entry {
            Expression::Object(obj) => obj
                .iter()
                .find(|(k, _)| k.to_string() == "event_pattern")
                .map(|(_, v)| v)
                .expect("event_pattern"),
            _ => unreachable!(),
        };
        assert_eq!(
            pattern_envelope(pattern),
            (account.to_string(), region.to_string()),
            "trigger {key}: the pattern's account and region"
        );
    }

    // Every rule anywhere: account and region in its pattern.
    let all = Tf::load("infra");
    let mut rules = 0;
    for rule in all.of("resource", "aws_cloudwatch_event_rule") {
        let pattern = attr(&rule.body, "event_pattern").expect("event_pattern");
        if attr_str(&rule.body, "event_pattern") == "each.value.event_pattern" {
            continue; // local.event_triggers, checked above
        }
        rules += 1;
        let (account, region) = pattern_envelope(pattern);
        assert!(
            !account.is_empty() && !region.is_empty(),
            "rule {:?}: the pattern must name account and region: {pattern}",
            rule.labels
        );
    }
    assert!(rules >= 2, "the forwarding rules were not checked");

    // Every permission for a service principal names the source ARN and account.
    let mut permissions = 0;
    for permission in all.of("resource", "aws_lambda_permission") {
        let principal = attr_str(&permission.body, "principal");
        if !principal.trim_matches('"').ends_with(".amazonaws.com") {
            continue; // an IAM principal (an operator role): its own identity is the check
        }
        permissions += 1;
        for key in ["source_arn", "source_account"] {
            assert!(
                attr(&permission.body, key).is_some(),
                "aws_lambda_permission {:?} lacks {key}",
                permission.labels
            );
        }
    }
    assert!(permissions >= 1);
}

// (8) The data-plane path -------------------------------------------------------

/// The string literal of an attribute, without its quotes.
fn literal(body: &Body, key: &str) -> String {
    match attr(body, key) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{key} must be a string literal, got {other:?}"),
    }
}

/// The default of `variable "<name>"`, as written.
fn var_default(tf: &Tf, name: &str) -> String {
    let variable = tf
        .of("variable", name)
        .next()
        .unwrap_or_else(|| panic!("variable {name}"));
    attr_str(&variable.body, "default")
}

/// Every region's gate has a third child: a CLOUDWATCH_METRIC health check following the
/// data-plane-gate alarm in the region's observer (not in the gated region, not in us-east-1
/// by construction), keeping its last status when CloudWatch has no data, and the gate's
/// threshold is all of its children (evacuating stays children + 1, owned by failover).
#[test]
fn infra_every_gate_has_a_data_plane_child_following_the_observer_alarm() {
    let routing = Tf::load("infra/modules/global-routing");
    let check = routing.named("resource", "aws_route53_health_check", "data_plane_gate");
    let c = &check.body;
    assert_eq!(attr_str(c, "for_each"), "var.data_plane_gate_alarms");
    assert_eq!(literal(c, "type"), "CLOUDWATCH_METRIC");
    assert_eq!(
        attr_str(c, "cloudwatch_alarm_name"),
        "each.value.alarm_name"
    );
    assert_eq!(
        attr_str(c, "cloudwatch_alarm_region"),
        "each.value.alarm_region"
    );
    assert_eq!(
        literal(c, "insufficient_data_health_status"),
        "LastKnownStatus",
        "a dark observer must neither open nor close the region"
    );
    assert!(
        compact(&attr_str(c, "tags"))
            .contains("Name=\"${var.service_name}-data-plane-gate-${each.key}\""),
        "{}",
        attr_str(c, "tags")
    );
    // The alarm lives in the observer, never in the gated region.
    let variable = routing
        .of("variable", "data_plane_gate_alarms")
        .next()
        .expect("variable data_plane_gate_alarms");
    assert!(
        attr(&variable.body, "default").is_none(),
        "every gate needs its data-plane child"
    );
    let validation = compact(&variable.body.to_string_lossy());
    assert!(
        validation.contains("a.alarm_region!=r"),
        "data_plane_gate_alarms must refuse an alarm in the gated region: {validation}"
    );

    let gate = routing.named("resource", "aws_route53_health_check", "gate");
    let children = match attr(&gate.body, "child_healthchecks") {
        Some(Expression::Array(items)) => items
            .iter()
            .map(|i| compact(&i.to_string()))
            .collect::<Vec<_>>(),
        other => panic!("child_healthchecks must be a list: {other:?}"),
    };
    assert_eq!(
        children,
        [
            "aws_route53_health_check.endpoint[\"${each.key}-alb\"].id",
            "aws_route53_health_check.endpoint[\"${each.key}-api\"].id",
            "aws_route53_health_check.data_plane_gate[each.key].id",
        ],
        "the gate's children: alb, api, data-plane"
    );
    assert_eq!(
        attr_str(&gate.body, "child_health_threshold"),
        children.len().to_string(),
        "the gate is healthy only while all of its children are"
    );
    assert!(ignores(gate, "child_health_threshold"), "failover owns it");
    let output = routing
        .of("output", "data_plane_gate_health_check_ids")
        .next()
        .expect("output data_plane_gate_health_check_ids");
    assert!(attr_str(&output.body, "value").contains("aws_route53_health_check.data_plane_gate"));

    // The stack hands global-routing the alarms of both data-plane copies, and each copy
    // names its own region as the alarm's region: the observer's.
    let dp = Tf::load("infra/modules/data-plane");
    let out = dp
        .of("output", "data_plane_gate_alarms")
        .next()
        .expect("output data_plane_gate_alarms");
    let value = compact(&attr_str(&out.body, "value"));
    assert!(
        value.contains("alarm_name=a.alarm_name") && value.contains("alarm_region=var.region"),
        "{value}"
    );
    let root = Tf::load("infra/stack");
    let global = root
        .of("module", "global_routing")
        .next()
        .expect("module global_routing");
    let alarms = compact(&attr_str(&global.body, "data_plane_gate_alarms"));
    for region in ["eu_central_1", "us_east_1"] {
        assert!(
            alarms.contains(&format!(
                "module.data_plane_{region}.data_plane_gate_alarms"
            )),
            "global_routing.data_plane_gate_alarms lacks data_plane_{region}'s: {alarms}"
        );
    }
    // Each region is observed by the other.
    let observers = compact(&root.local("observers").to_string());
    for pair in [
        "(local.primary.region)=local.secondary.region",
        "(local.secondary.region)=local.primary.region",
    ] {
        assert!(
            observers.contains(pair),
            "local.observers lacks {pair}: {observers}"
        );
    }
}

/// The data-plane module once per region, with that region's workload provider, observing
/// the regions whose observer it is.
fn data_plane_instances(root: &Tf) -> Vec<(&'static str, &Block)> {
    [
        (
            "eu_central_1",
            "aws.workload_eu_central_1",
            "local.primary.region",
        ),
        (
            "us_east_1",
            "aws.workload_us_east_1",
            "local.secondary.region",
        ),
    ]
    .into_iter()
    .map(|(suffix, provider, region)| {
        let module = root
            .of("module", &format!("data_plane_{suffix}"))
            .next()
            .unwrap_or_else(|| panic!("module data_plane_{suffix}"));
        let b = &module.body;
        assert_eq!(
            attr(b, "source"),
            Some(&Expression::String("../modules/data-plane".into()))
        );
        assert_eq!(
            attr_in_object(attr(b, "providers").expect("providers"), "aws"),
            provider,
            "data_plane_{suffix}: its region's workload provider"
        );
        assert_eq!(attr_str(b, "region"), region);
        assert_eq!(
            compact(&attr_str(b, "observed_regions")),
            format!("[forr,oinlocal.observers:rifo=={region}]"),
            "data_plane_{suffix} observes the regions whose observer it is"
        );
        (suffix, module)
    })
    .collect()
}

/// For each region R it observes, the observer has the probe alarm and the data-plane-gate
/// alarm of spec.md: EndpointProbeHealthy{Region=R} Minimum 60 s, 3 of 3 < 1, missing data
/// "missing"; DataPlaneGateClosed{Region=R} Maximum 60 s, 1 of 1 >= 1, missing data "ignore";
/// in the functions' namespace, with no alarm actions (failover hears them on its bus).
#[test]
fn infra_every_observer_has_the_probe_and_data_plane_gate_alarms() {
    let root = Tf::load("infra/stack");
    assert_eq!(data_plane_instances(&root).len(), 2);

    let dp = Tf::load("infra/modules/data-plane");
    let names = |local: &str| compact(&dp.local(local).to_string());
    assert_eq!(
        names("probe_alarm_names"),
        "{forrinvar.observed_regions:r=>\"${var.service_name}-probe-${r}\"}"
    );
    assert_eq!(
        names("gate_alarm_names"),
        "{forrinvar.observed_regions:r=>\"${var.service_name}-data-plane-gate-${r}\"}"
    );
    assert_eq!(var_default(&dp, "metrics_namespace"), "\"ControlPlane\"");
    let cp = Tf::load("infra/modules/control-plane");
    assert_eq!(
        attr_in_object(cp.local("config"), "metrics_namespace"),
        "local.metrics_namespace"
    );
    assert_eq!(
        compact(&cp.local("metrics_namespace").to_string()),
        "\"ControlPlane\"",
        "the alarms watch the namespace the functions publish in"
    );

    let evaluation = var_default(&dp, "probe_evaluation_periods");
    for (name, local, metric, stat, periods, operator, missing) in [
        (
            "probe",
            "local.probe_alarm_names",
            "EndpointProbeHealthy",
            "Minimum",
            evaluation.as_str(),
            "LessThanThreshold",
            "missing",
        ),
        (
            "data_plane_gate",
            "local.gate_alarm_names",
            "DataPlaneGateClosed",
            "Maximum",
            "1",
            "GreaterThanOrEqualToThreshold",
            "ignore",
        ),
    ] {
        let alarm = dp.named("resource", "aws_cloudwatch_metric_alarm", name);
        let a = &alarm.body;
        assert_eq!(attr_str(a, "for_each"), local, "{name}");
        assert_eq!(attr_str(a, "alarm_name"), "each.value", "{name}");
        assert_eq!(attr_str(a, "namespace"), "var.metrics_namespace", "{name}");
        assert_eq!(literal(a, "metric_name"), metric, "{name}");
        assert_eq!(
            compact(&attr_str(a, "dimensions")),
            "{Region=each.key}",
            "{name}: about the observed region"
        );
        assert_eq!(literal(a, "statistic"), stat, "{name}");
        assert_eq!(attr_str(a, "period"), "60", "{name}");
        let evaluation_periods = attr_str(a, "evaluation_periods");
        let datapoints = attr_str(a, "datapoints_to_alarm");
        let resolve = |v: &str| {
            if v == "var.probe_evaluation_periods" {
                evaluation.clone()
            } else {
                v.to_string()
            }
        };
        assert_eq!(
            resolve(&evaluation_periods),
            periods,
            "{name}: evaluation_periods"
        );
        assert_eq!(
            resolve(&datapoints),
            periods,
            "{name}: datapoints_to_alarm (N of N)"
        );
        assert_eq!(attr_str(a, "threshold"), "1", "{name}");
        assert_eq!(literal(a, "comparison_operator"), operator, "{name}");
        assert_eq!(literal(a, "treat_missing_data"), missing, "{name}");
        for actions in ["alarm_actions", "ok_actions", "insufficient_data_actions"] {
            assert!(
                attr(a, actions).is_none(),
                "{name}: {actions}: failover hears the state change through EventBridge"
            );
        }
    }
    assert_eq!(evaluation, "3", "the probe alarm is 3 of 3 (spec)");
}

/// The probe alarms are region alarms: their ARNs (=> the region each watches) are merged into
/// failover.region_alarms for both copies, the alarm rule on each bus matches every alarm's
/// region (so each copy hears the probe alarms of its own region, where CloudWatch puts their
/// events) and only the Route 53 region-health alarms are forwarded to the peer.
#[test]
fn infra_probe_alarms_are_region_alarms_heard_where_they_live() {
    let dp = Tf::load("infra/modules/data-plane");
    let output = dp
        .of("output", "probe_alarms")
        .next()
        .expect("output probe_alarms");
    assert_eq!(
        compact(&attr_str(&output.body, "value")),
        "{forr,ainaws_cloudwatch_metric_alarm.probe:a.arn=>r}"
    );

    let root = Tf::load("infra/stack");
    let control_plane = root.local("control_plane");
    let alarms = compact(&attr_in_object(control_plane, "region_alarms"));
    for needle in [
        "module.global_routing.region_alarms",
        "module.data_plane_eu_central_1.probe_alarms",
        "module.data_plane_us_east_1.probe_alarms",
    ] {
        assert!(
            alarms.starts_with("merge(") && alarms.contains(needle),
            "local.control_plane.region_alarms lacks {needle}: {alarms}"
        );
    }
    assert_eq!(
        compact(&attr_in_object(control_plane, "forwarded_alarm_arns")),
        "keys(module.global_routing.region_alarms)"
    );
    for region in ["eu_central_1", "us_east_1"] {
        let module = root
            .of("module", &format!("control_plane_{region}"))
            .next()
            .expect("control plane module");
        for (input, value) in [
            ("region_alarms", "local.control_plane.region_alarms"),
            (
                "forwarded_alarm_arns",
                "local.control_plane.forwarded_alarm_arns",
            ),
            ("data_plane", "local.control_plane.data_plane"),
        ] {
            assert_eq!(
                attr_str(&module.body, input),
                value,
                "control_plane_{region}.{input}"
            );
        }
    }

    // Every alarm's region is on the rule of every bus, and failover may describe them all.
    let cp = Tf::load("infra/modules/control-plane");
    let triggers = cp.local("event_triggers");
    let pattern = compact(&attr_in_object(
        object_at(triggers, &["region_health_alarms"]),
        "event_pattern",
    ));
    assert!(
        pattern.contains("region=distinct([forarninkeys(var.region_alarms):split(\":\",arn)[3]])")
            && pattern.contains("resources=keys(var.region_alarms)"),
        "{pattern}"
    );
    let forward = cp.named("resource", "aws_cloudwatch_event_rule", "forward_to_peers");
    let forwarded = compact(&attr_str(&forward.body, "event_pattern"));
    assert!(
        forwarded.contains("resources=var.forwarded_alarm_arns")
            && !forwarded.contains("keys(var.region_alarms)"),
        "only the Route 53 region-health alarms are forwarded: {forwarded}"
    );
    assert!(
        compact(&forward.body.to_string_lossy())
            .contains("setsubtract(var.forwarded_alarm_arns,keys(var.region_alarms))"),
        "forwarded alarms must be region alarms"
    );
    // The forwarder may put events on the peers' buses only.
    let forwarder = cp.named("data", "aws_iam_policy_document", "forwarder");
    let statement = statements(forwarder).into_iter().next().expect("statement");
    assert_eq!(
        attr(statement, "actions").map(strings).unwrap_or_default(),
        ["events:PutEvents"]
    );
    assert_eq!(
        compact(&attr_str(statement, "resources")),
        "[forrinlocal.peers:local.default_bus_arns[r]]"
    );
}

/// Each region has its local-store table (same name everywhere, on-demand, key `id` S, PITR,
/// encryption, deletion protection), the config names it, and the roles may use this
/// region's table only: failover GetItem + PutItem, concurrency-scheduler GetItem.
#[test]
fn infra_each_region_has_its_local_store_and_the_grants_to_it() {
    let dp = Tf::load("infra/modules/data-plane");
    assert_eq!(
        compact(&dp.local("table_name").to_string()),
        "\"${var.service_name}-controlplane-local\""
    );
    let table = dp.named("resource", "aws_dynamodb_table", "local");
    let t = &table.body;
    assert_eq!(attr_str(t, "name"), "local.table_name");
    assert_eq!(literal(t, "billing_mode"), "PAY_PER_REQUEST");
    assert_eq!(literal(t, "hash_key"), "id");
    assert!(attr(t, "range_key").is_none());
    let attribute = sub_blocks(t, "attribute").next().expect("attribute");
    assert_eq!(literal(&attribute.body, "name"), "id");
    assert_eq!(literal(&attribute.body, "type"), "S");
    for block in ["point_in_time_recovery", "server_side_encryption"] {
        let b = sub_blocks(t, block)
            .next()
            .unwrap_or_else(|| panic!("{block} block"));
        assert_eq!(
            attr(&b.body, "enabled"),
            Some(&Expression::Bool(true)),
            "{block}"
        );
    }
    assert_eq!(
        attr(t, "deletion_protection_enabled"),
        Some(&Expression::Bool(true))
    );
    assert!(attr_str(t, "tags").contains("var.tags"));

    // One table per region, and the config names it.
    let root = Tf::load("infra/stack");
    assert_eq!(data_plane_instances(&root).len(), 2);
    let data_plane = object_at(root.local("control_plane"), &["data_plane"]);
    assert_eq!(
        attr_in_object(data_plane, "table"),
        "module.data_plane_eu_central_1.table_name",
        "the same name in every region"
    );
    assert_eq!(attr_in_object(data_plane, "observers"), "local.observers");
    assert_eq!(
        attr_in_object(data_plane, "probes"),
        "local.data_plane_probes"
    );
    let probes = compact(&root.local("data_plane_probes").to_string());
    assert!(
        probes.contains("var.data_plane_probes[r]")
            && probes.contains("\"https://${e.alb_health_fqdn}${e.alb_health_path}\""),
        "probes: the stack's variable, else the ALB's health name: {probes}"
    );
    let cp = Tf::load("infra/modules/control-plane");
    let config = object_at(cp.local("config"), &["failover", "data_plane"]);
    for key in ["table", "observers", "probes", "probe_timeout"] {
        assert_eq!(
            attr_in_object(config, key),
            format!("var.data_plane.{key}"),
            "failover.data_plane.{key}"
        );
    }

    // The grants: this region's table, the actions the code calls (tests/iam.rs derives them).
    assert_eq!(
        compact(&cp.local("local_store_table_arn").to_string()),
        "\"arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.data_plane.table}\""
    );
    for (function, expected) in [
        ("failover", vec!["dynamodb:GetItem", "dynamodb:PutItem"]),
        ("concurrency-scheduler", vec!["dynamodb:GetItem"]),
        ("replication-monitor", vec![]),
    ] {
        let doc = cp.named("data", "aws_iam_policy_document", function);
        let mut granted = Vec::new();
        for statement in statements(doc) {
            let actions = attr(statement, "actions").map(strings).unwrap_or_default();
            if actions.iter().any(|a| a.starts_with("dynamodb:")) {
                assert!(
                    actions.iter().all(|a| a.starts_with("dynamodb:")),
                    "{function}: {actions:?}"
                );
                assert_eq!(
                    compact(&attr_str(statement, "resources")),
                    "[local.local_store_table_arn]",
                    "{function}: this region's table only"
                );
                granted.extend(actions);
            }
        }
        granted.sort();
        assert_eq!(granted, expected, "{function}: DynamoDB grants");
    }
}
