//! A Region outage, as AWS fails when a Region is impaired, seen through the product's own
//! adapters (`shared::aws::route53`, `cloudwatch`, `lambda`) and its real `failover`
//! binary: with us-east-1 dark, Route 53's control plane (every API call) is gone — the
//! product sees `Timeout` (the Region holds the connection) or `Transient` (503) — while
//! Route 53's data plane keeps checking health and answering DNS, leaving out the dark
//! Region's endpoints; eu-central-1 keeps working. With eu-central-1 dark, Route 53 works
//! and eu-central-1's calls fail. When the Region comes back, the same calls work.
//!
//! Every test starts a PRIVATE local AWS world (`LocalAws::start`): darkening a Region of
//! the shared world would break every other test running in this process.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use serde_json::{json, Value};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::lambda::{Lambda, ProvisionedConcurrency};
use shared::aws::route53::{GateControl, Route53, StateStore, CONTROL_PLANE_REGION};
use shared::error::AwsErrorKind;
use shared::metrics::{Metric, MetricSink, Unit};
use std::time::{Duration, Instant};
use testkit::runtime::Reply;
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// The SDK configuration the product loads (`shared::aws::load_sdk_config`): connect 2 s,
/// attempt 5 s, operation 15 s, 3 attempts, back-off 200 ms up to 2 s; pointed at `world`.
fn product_sdk(world: &LocalAws, account: &str, region: &str) -> aws_config::SdkConfig {
    world
        .sdk_config(account, region)
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(shared::aws::CONNECT_TIMEOUT)
                .operation_attempt_timeout(shared::aws::ATTEMPT_TIMEOUT)
                .operation_timeout(shared::aws::OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(shared::aws::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .build()
}

/// A private world with the seed's topology in `account` ("8" and 11 digits).
async fn private_world(suffix: &str, account: &str) -> (LocalAws, Topology) {
    let world = LocalAws::start().await.expect("a private local AWS world");
    let mut spec = Spec::new(suffix);
    spec.account = account.to_string();
    let topology = Topology::create(&world, spec).await.expect("topology");
    (world, topology)
}

async fn set_outage(world: &LocalAws, body: Value) -> Value {
    world.post("/regions/outage", body).await
}

/// How many calls of `operation` the world refused because their Region was dark.
async fn outage_calls(world: &LocalAws, account: &str, operation: &str) -> usize {
    world
        .get(&format!(
            "/calls?account={account}&operation={operation}&outcome=outage"
        ))
        .await["count"]
        .as_u64()
        .unwrap_or(0) as usize
}

fn endpoints_of(topology: &Topology, region: &str) -> Vec<String> {
    topology.endpoints[region]
        .iter()
        .map(|(_, fqdn)| fqdn.clone())
        .collect()
}

/// The data plane's verdict per health check id (`GET /route53/health-checks`).
async fn verdicts(world: &LocalAws) -> Vec<(String, bool, String)> {
    world.get("/route53/health-checks").await["healthChecks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["healthy"].as_bool().unwrap_or(false),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn metric() -> [Metric; 1] {
    [Metric::new("RegionActive", 1.0, Unit::None).dim("Region", PRIMARY)]
}

#[tokio::test(flavor = "multi_thread")]
async fn us_east_1_dark_times_out_route53_control_plane_while_its_data_plane_fails_over() {
    let account = "812000000001";
    let (world, topo) = private_world("outage-timeout", account).await;
    let us_endpoints = endpoints_of(&topo, SECONDARY);
    set_outage(
        &world,
        json!({"region": SECONDARY, "dark": true, "mode": "timeout", "endpoints": us_endpoints}),
    )
    .await;

    let r53 = Route53::new(
        &product_sdk(&world, account, CONTROL_PLANE_REGION),
        &topo.zone_id,
        &topo.state_record,
    );
    let cw_eu = CloudWatch::new(&product_sdk(&world, account, PRIMARY));
    let started = Instant::now();
    // The product reads its routing state while, meanwhile, the rest of the world goes on.
    let ((read, read_took), (published, answering, checks)) =
        tokio::join!(async { (r53.read().await, started.elapsed()) }, async {
            let published = cw_eu.publish("ControlPlane-outage", &metric()).await;
            (
                published,
                topo.answering_regions(&world).await,
                verdicts(&world).await,
            )
        });
    let err = read.expect_err("Route 53's control plane is in the dark us-east-1");
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::Timeout), "{err}");
    assert!(
        read_took >= shared::aws::OPERATION_TIMEOUT - Duration::from_millis(500)
            && read_took < shared::aws::OPERATION_TIMEOUT + Duration::from_secs(3),
        "the product gives up after its operation timeout, took {read_took:?}"
    );
    assert_eq!(
        outage_calls(&world, account, "ListResourceRecordSets").await,
        shared::aws::MAX_ATTEMPTS as usize,
        "every attempt reached the dark Region and timed out"
    );
    println!("us-east-1 dark (timeout): Route53::read failed after {read_took:?} with: {err}");
    published.expect("CloudWatch in eu-central-1 is not affected");
    assert_eq!(
        answering,
        vec![PRIMARY.to_string()],
        "the data plane answers, leaving out the dark Region's endpoints"
    );
    for (id, fqdn) in &topo.endpoints[SECONDARY] {
        let (_, healthy, status) = checks.iter().find(|c| &c.0 == id).expect("checked");
        assert!(
            !healthy && status.starts_with("Failure: Connection timed out"),
            "{fqdn}: {status}"
        );
    }
    for (id, _) in &topo.endpoints[PRIMARY] {
        assert!(checks.iter().any(|c| &c.0 == id && c.1), "{checks:?}");
    }
    let gate_us = checks.iter().find(|c| c.0 == topo.gates[SECONDARY]);
    assert!(matches!(gate_us, Some((_, false, _))), "{gate_us:?}");

    // The Region comes back: the same calls work, the endpoints are healthy again.
    set_outage(&world, json!({"region": SECONDARY, "dark": false})).await;
    let (state, _) = r53
        .read()
        .await
        .expect("the control plane answers again")
        .expect("the state record exists");
    assert!(state.evacuated.is_empty(), "{state:?}");
    let gate = r53
        .status(&topo.gates[SECONDARY])
        .await
        .expect("gate readable");
    assert!(gate.is_open() && gate.is_healthy(), "{gate:?}");
    assert_eq!(
        topo.answering_regions(&world).await,
        vec![PRIMARY.to_string(), SECONDARY.to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn error_mode_reaches_the_product_as_transient_and_an_eu_outage_spares_route53() {
    let account = "812000000002";
    let (world, topo) = private_world("outage-error", account).await;
    let r53 = Route53::new(
        &product_sdk(&world, account, CONTROL_PLANE_REGION),
        &topo.zone_id,
        &topo.state_record,
    );
    let cw = |region: &str| CloudWatch::new(&product_sdk(&world, account, region));
    let lambda = |region: &str| Lambda::new(&product_sdk(&world, account, region));

    // us-east-1 answers 503: the product sees a transient error, after its retries.
    set_outage(
        &world,
        json!({"region": SECONDARY, "dark": true, "mode": "error"}),
    )
    .await;
    let started = Instant::now();
    let err = r53
        .status(&topo.gates[PRIMARY])
        .await
        .expect_err("GetHealthCheck is a control-plane call");
    let took = started.elapsed();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::Transient), "{err}");
    assert!(err.to_string().contains("ServiceUnavailable"), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "no timeout involved: {took:?}"
    );
    assert_eq!(
        outage_calls(&world, account, "GetHealthCheck").await,
        shared::aws::MAX_ATTEMPTS as usize
    );
    println!("us-east-1 dark (error): GateControl::status failed after {took:?} with: {err}");
    cw(PRIMARY)
        .publish("ControlPlane-outage", &metric())
        .await
        .expect("CloudWatch in eu-central-1 works");
    lambda(PRIMARY)
        .unreserved_concurrency()
        .await
        .expect("Lambda in eu-central-1 works");
    let err = lambda(SECONDARY)
        .unreserved_concurrency()
        .await
        .expect_err("Lambda in us-east-1 is dark");
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::Transient), "{err}");
    set_outage(&world, json!({"region": SECONDARY, "dark": false})).await;

    // eu-central-1 dark: Route 53 (us-east-1) reads and writes; eu-central-1's calls fail.
    set_outage(
        &world,
        json!({"region": PRIMARY, "dark": true, "mode": "error"}),
    )
    .await;
    r53.read().await.expect("the state record is readable");
    let gate = r53
        .status(&topo.gates[PRIMARY])
        .await
        .expect("gate readable");
    assert!(
        r53.set_threshold(&gate, gate.closed_threshold())
            .await
            .expect("the gate can be closed"),
        "{gate:?}"
    );
    assert_eq!(
        topo.gate_threshold(&world, PRIMARY).await,
        gate.closed_threshold()
    );
    for result in [
        cw(PRIMARY)
            .publish("ControlPlane-outage", &metric())
            .await
            .err(),
        lambda(PRIMARY).unreserved_concurrency().await.err(),
    ] {
        let err = result.expect("eu-central-1 is dark");
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::Transient), "{err}");
    }
    cw(SECONDARY)
        .publish("ControlPlane-outage", &metric())
        .await
        .expect("CloudWatch in us-east-1 works");
    lambda(SECONDARY)
        .unreserved_concurrency()
        .await
        .expect("Lambda in us-east-1 works");

    set_outage(&world, json!({"region": PRIMARY, "dark": false})).await;
    cw(PRIMARY)
        .publish("ControlPlane-outage", &metric())
        .await
        .expect("eu-central-1 is back");
    assert!(world.get("/regions/outage").await["dark"]
        .as_array()
        .is_some_and(|d| d.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_copy_in_eu_central_1_cannot_evacuate_a_dark_us_east_1() {
    let account = "812000000003";
    let (world, topo) = private_world("outage-fo", account).await;
    let mut failover = testkit::deploy::start(&world, "failover", &topo, PRIMARY)
        .await
        .expect("the failover binary starts (cargo build -p failover)");
    set_outage(
        &world,
        json!({"region": SECONDARY, "dark": true, "mode": "timeout",
               "endpoints": endpoints_of(&topo, SECONDARY)}),
    )
    .await;
    let alarm = format!("orders-health-{SECONDARY}-{}", topo.spec.suffix);

    // The alarm event for us-east-1 (as EventBridge would hand it to the eu copy).
    let started = Instant::now();
    let reply = failover
        .invoke(testkit::alarm_event(&topo.alarm_arn(&alarm), "ALARM"))
        .await
        .expect("the function answers");
    let took = started.elapsed();
    let Reply::Error { error_message, .. } = &reply else {
        panic!(
            "an alarm-driven change that failed is a function error (Lambda retries it): {reply:?}"
        )
    };
    assert!(
        error_message.contains("ListResourceRecordSets") && error_message.contains("timeout"),
        "{error_message}"
    );
    assert!(
        took >= shared::aws::OPERATION_TIMEOUT - Duration::from_millis(500)
            && took < shared::aws::OPERATION_TIMEOUT + Duration::from_secs(5),
        "{took:?}"
    );
    println!("failover (eu-central-1) with us-east-1 dark: {took:?}, {error_message}");
    // No alarm event would have reached it anyway: the region-health alarms live in
    // us-east-1, whose CloudWatch evaluates nothing while the Region is dark.
    let evaluated = world
        .post("/cloudwatch/evaluate-alarms", json!({"account": account}))
        .await;
    assert_eq!(evaluated["changes"], json!([]), "{evaluated}");
    // DNS left the dark Region all the same: the data plane's health checks did it.
    assert_eq!(
        topo.answering_regions(&world).await,
        vec![PRIMARY.to_string()]
    );

    // The Region comes back: nothing had been written (state and gates as before) ...
    set_outage(&world, json!({"region": SECONDARY, "dark": false})).await;
    let r53 = Route53::new(
        &product_sdk(&world, account, CONTROL_PLANE_REGION),
        &topo.zone_id,
        &topo.state_record,
    );
    let (state, _) = r53.read().await.expect("readable").expect("record");
    assert!(state.evacuated.is_empty(), "{state:?}");
    assert_eq!(topo.gate_threshold(&world, SECONDARY).await, 2);
    // ... and Lambda's retry of the same event evacuates us-east-1. (A full evacuate run
    // reads 8 endpoint statuses, more than Route 53's GetHealthCheckStatus quota — 4 at
    // once, 1/s — lets one account make: strict::quotas is about that, this test is not.)
    world
        .post(
            "/throttling",
            json!({"service": "route53", "enabled": false, "account": account}),
        )
        .await;
    let record = failover
        .invoke(testkit::alarm_event(&topo.alarm_arn(&alarm), "ALARM"))
        .await
        .expect("the function answers")
        .ok()
        .expect("applied");
    assert_eq!(record["outcome"], "applied", "{record}");
    assert!(topo.gate_threshold(&world, SECONDARY).await > 2);
    failover.stop().await;
}
