//! CloudWatch alarms and the metrics AWS services publish, where AWS publishes them:
//! Route 53 writes `HealthCheckStatus` of every health check to CloudWatch in us-east-1
//! only, so infra's `region_health` alarm (metric math `MIN([alb, api])` over two of
//! them) goes ALARM from the endpoints' state alone, in us-east-1 and nowhere else; S3
//! publishes a replication rule's latency and pending operations in the destination
//! bucket's Region and its failed operations in the source bucket's. Metrics are read
//! through the product's GetMetricData reader (`shared::aws::metric_data`), the S3 queries
//! are the replication monitor's own (`replication_monitor::observe::s3_queries`).

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader, MetricSeries};
use shared::config::S3Rule;
use shared::region::Region;
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// This test's own account: "7" and 11 digits from its name.
fn account(test: &str) -> String {
    testkit::account_for('7', test)
}

async fn https_check(world: &LocalAws, account: &str, fqdn: &str) -> String {
    let r53 = aws_sdk_route53::Client::new(&world.sdk_config(account, SECONDARY));
    let config = aws_sdk_route53::types::HealthCheckConfig::builder()
        .r#type(aws_sdk_route53::types::HealthCheckType::Https)
        .fully_qualified_domain_name(fqdn)
        .port(443)
        .resource_path("/health")
        .build()
        .expect("health check config");
    r53.create_health_check()
        .caller_reference(fqdn)
        .health_check_config(config)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateHealthCheck {fqdn}: {e:?}"))
        .health_check()
        .map(|h| h.id().to_string())
        .expect("health check id")
}

/// infra/modules/global-routing: aws_cloudwatch_metric_alarm.region_health, with
/// region_health_evaluation_periods = 1 (the variable allows 1 to 30), as the
/// topology creates it.
async fn region_health_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, alb: &str, api: &str) {
    testkit::topology::region_health_alarm(cw, name, alb, api)
        .await
        .unwrap_or_else(|e| panic!("PutMetricAlarm {name}: {e:?}"));
}

async fn evaluate(world: &LocalAws, account: &str, alarm: &str) -> Vec<(String, String)> {
    let out = world
        .post(
            "/cloudwatch/evaluate-alarms",
            json!({"account": account, "alarmNames": [alarm]}),
        )
        .await;
    assert_eq!(out["errors"], json!([]), "evaluation refused: {out}");
    let mut changes: Vec<(String, String)> = out["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("region"), s("state"))
        })
        .collect();
    changes.sort();
    changes
}

async fn state(cw: &aws_sdk_cloudwatch::Client, alarm: &str) -> Option<StateValue> {
    cw.describe_alarms()
        .alarm_names(alarm)
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().cloned())
}

fn pair(region: &str, state: &str) -> (String, String) {
    (region.to_string(), state.to_string())
}

#[tokio::test]
async fn region_health_alarm_follows_the_endpoints_in_us_east_1_only() {
    let world = LocalAws::shared().await;
    let account = account("region_health_alarm_follows_the_endpoints_in_us_east_1_only");
    let alb_fqdn = format!("alb-{account}.alarms.example.com");
    let api_fqdn = format!("api-{account}.alarms.example.com");
    let alb = https_check(world, &account, &alb_fqdn).await;
    let api = https_check(world, &account, &api_fqdn).await;
    let name = "orders-health-us-east-1";
    let us = aws_sdk_cloudwatch::Client::new(&world.sdk_config(&account, SECONDARY));
    let eu = aws_sdk_cloudwatch::Client::new(&world.sdk_config(&account, PRIMARY));
    region_health_alarm(&us, name, &alb, &api).await;
    // the same alarm in eu-central-1 watches metrics that Route 53 never writes there
    region_health_alarm(&eu, name, &alb, &api).await;
    assert_eq!(state(&us, name).await, Some(StateValue::InsufficientData));

    assert_eq!(
        evaluate(world, &account, name).await,
        vec![pair(PRIMARY, "OK"), pair(SECONDARY, "OK")],
        "both endpoints healthy"
    );

    world
        .post(
            "/route53/endpoints",
            json!({"endpoint": api_fqdn, "healthy": false}),
        )
        .await;
    assert_eq!(
        evaluate(world, &account, name).await,
        vec![pair(SECONDARY, "ALARM")],
        "the API endpoint fails: HealthCheckStatus 0, MIN([alb, api]) < 1 in us-east-1 only"
    );
    assert_eq!(state(&us, name).await, Some(StateValue::Alarm));
    assert_eq!(state(&eu, name).await, Some(StateValue::Ok));
    let events = world
        .get(&format!("/cloudwatch/alarm-events?alarmName={name}"))
        .await;
    let alarm_event = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["account"] == account.as_str() && e["detail"]["state"]["value"] == "ALARM")
        .unwrap_or_else(|| panic!("no ALARM event for {name}: {events}"));
    assert_eq!(alarm_event["region"], SECONDARY);
    assert_eq!(
        alarm_event["detail"]["configuration"]["metrics"][0]["expression"],
        "MIN([alb, api])"
    );

    world
        .post(
            "/route53/endpoints",
            json!({"endpoint": api_fqdn, "healthy": true}),
        )
        .await;
    assert_eq!(
        evaluate(world, &account, name).await,
        vec![pair(SECONDARY, "OK")],
        "the endpoint recovers within the minute: the minute's datapoint follows it"
    );
    assert_eq!(state(&us, name).await, Some(StateValue::Ok));
}

fn status_query(check: &str) -> MetricQuery {
    MetricQuery {
        id: "status".into(),
        namespace: "AWS/Route53".into(),
        metric_name: "HealthCheckStatus".into(),
        dimensions: vec![("HealthCheckId".into(), check.into())],
        stat: "Minimum".into(),
        period_secs: 60,
    }
}

async fn latest(
    world: &LocalAws,
    account: &str,
    region: &str,
    q: &[MetricQuery],
) -> Vec<MetricSeries> {
    let now = Utc::now();
    MetricData::new(&world.sdk_config(account, region))
        .read(q, now - Duration::minutes(10), now + Duration::minutes(1))
        .await
        .unwrap_or_else(|e| panic!("GetMetricData in {region}: {e}"))
}

#[tokio::test]
async fn health_check_status_is_readable_in_us_east_1_and_absent_elsewhere() {
    let world = LocalAws::shared().await;
    let account = account("health_check_status_is_readable_in_us_east_1_and_absent_elsewhere");
    let fqdn = format!("web-{account}.alarms.example.com");
    let check = https_check(world, &account, &fqdn).await;
    world
        .post(
            "/route53/endpoints",
            json!({"endpoint": fqdn, "healthy": false}),
        )
        .await;
    let out = world
        .post("/route53/publish-metrics", json!({"account": account}))
        .await;
    assert_eq!(out["region"], "us-east-1", "{out}");

    let q = [status_query(&check)];
    let us = latest(world, &account, SECONDARY, &q).await;
    assert_eq!(
        us[0].latest(),
        Some(0.0),
        "Route 53 published the failure: {us:?}"
    );
    let eu = latest(world, &account, PRIMARY, &q).await;
    assert!(
        eu[0].points.is_empty(),
        "no Route 53 metrics in {PRIMARY}: {eu:?}"
    );

    world
        .post(
            "/route53/endpoints",
            json!({"endpoint": fqdn, "healthy": true}),
        )
        .await;
    world
        .post("/route53/publish-metrics", json!({"account": account}))
        .await;
    let us = latest(world, &account, SECONDARY, &q).await;
    assert_eq!(us[0].latest(), Some(1.0), "healthy again: {us:?}");
}

fn series<'a>(all: &'a [MetricSeries], suffix: &str) -> &'a MetricSeries {
    all.iter()
        .find(|s| s.id.ends_with(suffix))
        .unwrap_or_else(|| panic!("no series {suffix} in {all:?}"))
}

#[tokio::test]
async fn s3_replication_metrics_are_read_where_s3_publishes_them() {
    let world = LocalAws::shared().await;
    let account = account("s3_replication_metrics_are_read_where_s3_publishes_them");
    let rule = S3Rule {
        source_bucket: format!("bundles-{account}-eu"),
        destination_bucket: format!("bundles-{account}-us"),
        rule_id: "all".into(),
        source_region: Region::parse(PRIMARY).expect("region"),
        destination_region: Region::parse(SECONDARY).expect("region"),
    };
    let body = json!({
        "account": account, "sourceBucket": rule.source_bucket,
        "destinationBucket": rule.destination_bucket, "ruleId": rule.rule_id,
        "ReplicationLatency": 1200.0, "OperationsPendingReplication": 40.0,
        "OperationsFailedReplication": 2.0,
    });
    // the caller's word for the source Region alone no longer places the metrics
    let (status, answer) = post_status(
        world,
        "/s3/replication-metrics",
        &merge(&body, json!({"region": PRIMARY})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("destination bucket's Region"), "{answer}");
    let out = world
        .post(
            "/s3/replication-metrics",
            merge(
                &body,
                json!({"sourceRegion": PRIMARY, "destinationRegion": SECONDARY}),
            ),
        )
        .await;
    assert_eq!(
        out["metrics"][0]["publishedIn"]["ReplicationLatency"], SECONDARY,
        "{out}"
    );

    // the replication monitor's own queries for this rule (latency, pending, failed)
    let placed = replication_monitor::observe::s3_queries(&[(0, &rule)]);
    let read_in: Vec<(&str, &str)> = placed
        .iter()
        .map(|(r, q)| (q.metric_name.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        read_in,
        [
            ("ReplicationLatency", SECONDARY),
            ("OperationsPendingReplication", SECONDARY),
            ("OperationsFailedReplication", PRIMARY)
        ],
        "the monitor reads each metric where S3 publishes it"
    );
    let queries: Vec<_> = placed.into_iter().map(|(_, q)| q).collect();
    let dest = latest(world, &account, SECONDARY, &queries).await;
    assert_eq!(series(&dest, "_lat").latest(), Some(1200.0), "{dest:?}");
    assert_eq!(series(&dest, "_pend").latest(), Some(40.0), "{dest:?}");
    assert!(series(&dest, "_fail").points.is_empty(), "{dest:?}");
    let src = latest(world, &account, PRIMARY, &queries).await;
    assert!(series(&src, "_lat").points.is_empty(), "{src:?}");
    assert!(series(&src, "_pend").points.is_empty(), "{src:?}");
    assert_eq!(series(&src, "_fail").latest(), Some(2.0), "{src:?}");
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

/// An admin POST whose answer may be an error (LocalAws::post insists on success).
async fn post_status(world: &LocalAws, path: &str, body: &Value) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = world.url.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let request = format!(
        "POST /_localaws{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}
