//! The operator's dashboard (infra/stack/dashboard.tf): every metric it plots is one the
//! functions publish (`shared::metrics::PUBLISHED`, which every test that publishes checks)
//! or one AWS publishes, with exactly its dimensions; and it shows what `ctl status` shows.

use hcl::expr::{Expression, ForExpr, ObjectKey};
use hcl::Body;
use std::collections::{BTreeMap, BTreeSet};
use testkit::repo_root;

/// The AWS metrics the dashboard may plot, each with its dimensions and AWS's page:
/// Route 53 (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html),
/// Lambda (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html),
/// SQS (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
const AWS_METRICS: &[(&str, &str, &[&str])] = &[
    ("AWS/Route53", "HealthCheckStatus", &["HealthCheckId"]),
    ("AWS/Lambda", "Errors", &["FunctionName"]),
    ("AWS/Lambda", "Throttles", &["FunctionName"]),
    (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &["QueueName"],
    ),
];

/// One metric line of a widget: namespace, the names it can take (a `for` over a literal
/// list gives several), and its dimension names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Plotted {
    namespace: String,
    names: Vec<String>,
    dimensions: Vec<String>,
}

/// The literal strings a `for` variable ranges over, by variable name.
type Bindings = BTreeMap<String, Vec<String>>;

fn literal_strings(expr: &Expression) -> Option<Vec<String>> {
    match expr {
        Expression::Array(items) => items
            .iter()
            .map(|e| match e {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn bind(for_expr: &ForExpr, bindings: &Bindings) -> Bindings {
    let mut inner = bindings.clone();
    if let Some(values) = literal_strings(&for_expr.collection_expr) {
        inner.insert(for_expr.value_var.to_string(), values);
    }
    inner
}

/// The names an expression in a metric's name position can take.
fn names(expr: &Expression, bindings: &Bindings) -> Vec<String> {
    match expr {
        Expression::String(s) => vec![s.clone()],
        Expression::Variable(v) => bindings.get(v.as_str()).cloned().unwrap_or_else(|| {
            panic!(
                "metric name `{}` is not a literal or a `for` over literals",
                v.as_str()
            )
        }),
        other => panic!("metric name is not a literal: {other:?}"),
    }
}

/// Walks an expression and collects every metric array (`["<namespace>", name, "Dim", value, ...,
/// {options}]`): a tuple whose first element is a namespace.
fn collect(expr: &Expression, bindings: &Bindings, out: &mut Vec<Plotted>) {
    match expr {
        Expression::Array(items) => {
            if let Some(Expression::String(namespace)) = items.first() {
                if namespace == "ControlPlane" || namespace.starts_with("AWS/") {
                    let rest: Vec<&Expression> = items[2..]
                        .iter()
                        .filter(|e| !matches!(e, Expression::Object(_)))
                        .collect();
                    assert!(
                        rest.len().is_multiple_of(2),
                        "{namespace}: dimension without a value"
                    );
                    let dimensions = rest
                        .chunks(2)
                        .map(|pair| match pair[0] {
                            Expression::String(d) => d.clone(),
                            other => panic!("{namespace}: dimension name not a literal: {other:?}"),
                        })
                        .collect();
                    out.push(Plotted {
                        namespace: namespace.clone(),
                        names: names(&items[1], bindings),
                        dimensions,
                    });
                    return;
                }
            }
            for item in items {
                collect(item, bindings, out);
            }
        }
        Expression::Object(object) => {
            for (key, value) in object {
                if let ObjectKey::Expression(k) = key {
                    collect(k, bindings, out);
                }
                collect(value, bindings, out);
            }
        }
        Expression::ForExpr(for_expr) => {
            let inner = bind(for_expr, bindings);
            collect(&for_expr.value_expr, &inner, out);
            if let Some(key) = &for_expr.key_expr {
                collect(key, &inner, out);
            }
        }
        Expression::FuncCall(call) => {
            for arg in &call.args {
                collect(arg, bindings, out);
            }
        }
        Expression::Parenthesis(inner) => collect(inner, bindings, out),
        Expression::Conditional(c) => {
            collect(&c.true_expr, bindings, out);
            collect(&c.false_expr, bindings, out);
        }
        _ => {}
    }
}

/// The `dashboard_widgets` local and the widget types it has.
fn dashboard() -> (Vec<Plotted>, Vec<String>, String) {
    let path = repo_root().join("infra/stack/dashboard.tf");
    let text = std::fs::read_to_string(&path).expect("infra/stack/dashboard.tf");
    let body: Body = hcl::from_str(&text).expect("dashboard.tf parses");
    let widgets = body
        .blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == "dashboard_widgets")
        .expect("local.dashboard_widgets")
        .expr()
        .clone();
    let mut plotted = Vec::new();
    collect(&widgets, &Bindings::new(), &mut plotted);
    let types = match &widgets {
        Expression::Array(items) => items
            .iter()
            .filter_map(|w| match w {
                Expression::Object(o) => o.iter().find_map(|(k, v)| match (k, v) {
                    (ObjectKey::Identifier(id), Expression::String(t)) if id.as_str() == "type" => {
                        Some(t.clone())
                    }
                    _ => None,
                }),
                _ => None,
            })
            .collect(),
        _ => panic!("dashboard_widgets is a list"),
    };
    let resource = body
        .blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().first().map(|l| l.as_str()) == Some("aws_cloudwatch_dashboard")
        })
        .map(|b| hcl::to_string(b.body()).unwrap())
        .expect("an aws_cloudwatch_dashboard resource");
    (plotted, types, resource)
}

#[test]
fn every_metric_the_dashboard_plots_is_published_by_the_functions_or_by_aws() {
    let (plotted, _, _) = dashboard();
    assert!(!plotted.is_empty());
    for line in &plotted {
        for name in &line.names {
            let known = if line.namespace == shared::metrics::NAMESPACE {
                shared::metrics::PUBLISHED
                    .iter()
                    .any(|(n, dims)| n == name && dims.iter().eq(line.dimensions.iter()))
            } else {
                AWS_METRICS.iter().any(|(ns, n, dims)| {
                    *ns == line.namespace && n == name && dims.iter().eq(line.dimensions.iter())
                })
            };
            assert!(
                known,
                "{} {name} {:?} is neither published by the functions (shared::metrics::PUBLISHED) \
                 nor an AWS metric with those dimensions",
                line.namespace, line.dimensions
            );
        }
    }
}

#[test]
fn the_dashboard_shows_what_ctl_status_shows() {
    let (plotted, types, resource) = dashboard();
    let shown: BTreeSet<(String, String)> = plotted
        .iter()
        .flat_map(|p| p.names.iter().map(|n| (p.namespace.clone(), n.clone())))
        .collect();
    let routing_and_health = [
        ("ControlPlane", "RegionActive"),
        ("AWS/Route53", "HealthCheckStatus"),
        ("ControlPlane", "ReplicationLagSeconds"),
        ("ControlPlane", "ReplicationReady"),
        ("ControlPlane", "ProvisionedConcurrencyTarget"),
        ("ControlPlane", "ProvisionedConcurrencyAllocated"),
        ("ControlPlane", "ActionFailed"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ];
    for (namespace, name) in routing_and_health {
        assert!(
            shown.contains(&(namespace.to_string(), name.to_string())),
            "the dashboard does not plot {namespace} {name}"
        );
    }
    // Gates and endpoints are two widgets of HealthCheckStatus (both Route 53 check kinds).
    let health_widgets = plotted
        .iter()
        .filter(|p| p.names.iter().any(|n| n == "HealthCheckStatus"))
        .count();
    assert!(health_widgets >= 2, "gates and endpoints each need a line");
    assert!(types.iter().any(|t| t == "alarm"), "an alarm status widget");
    assert!(
        resource.contains("environment"),
        "one dashboard per environment: {resource}"
    );
}

/// The catalogue is not a wish list: every name in it is published somewhere in the
/// functions' code.
#[test]
fn every_catalogued_metric_is_published_by_a_function() {
    let mut code = String::new();
    for dir in [
        "functions/failover/src",
        "functions/replication-monitor/src",
        "functions/concurrency-scheduler/src",
    ] {
        let mut stack = vec![repo_root().join(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let p = entry.unwrap().path();
                let is_test = p.components().any(|c| c.as_os_str() == "tests")
                    || p.file_name()
                        .is_some_and(|n| n == "tests.rs" || n == "fake.rs");
                if p.is_dir() {
                    stack.push(p);
                } else if !is_test && p.extension().is_some_and(|e| e == "rs") {
                    code.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
    }
    for (name, _) in shared::metrics::PUBLISHED {
        assert!(
            code.contains(&format!("\"{name}\"")),
            "{name} is catalogued but no function publishes it"
        );
    }
}
