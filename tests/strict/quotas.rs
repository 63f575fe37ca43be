//! AWS request-rate quotas are on by default in the local world (no admin call
//! switches them on; the Lambda test only shields its account from another module's
//! switch-off), met through the product's own adapters: Route 53's
//! GetHealthCheckStatus bucket (4, 1/s) and account bucket (50, 10/s), Lambda's
//! 15/s for the control plane in all, CloudWatch's per-action rates and Parameter
//! Store's 40/s; and SNS publishing, Scheduler's CreateSchedule, EventBridge's PutEvents
//! and Secrets Manager's DescribeSecret, each with a small bucket of the test's own (their
//! AWS rates are thousands a second; pytest checks those are the defaults). The adapters
//! are built on clients with the SDK's retries off, so every refusal reaches the
//! product's error mapping, which must call it throttling.
//!
//! Each test uses an account of its own (buckets are per account), so tests running
//! beside it never drain its buckets nor it theirs.

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsError;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
use shared::aws::lambda::{Lambda, ProvisionedConcurrency};
use shared::aws::route53::{GateControl, Route53, StateStore, CONTROL_PLANE_REGION};
use shared::error::AwsErrorKind;
use shared::metrics::{Metric, MetricSink, Unit};
use shared::Error;
use std::time::{Duration, Instant};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// An account of this test's own: "4" and 11 digits from the test's name and this
/// process's start, so a rerun against a long-lived world never meets drained buckets.
fn account(test: &str) -> String {
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    });
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for byte in format!("{test}/{}/{start}", std::process::id()).bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("4{:011}", hash % 100_000_000_000)
}

/// The world's SDK configuration with the SDK's retries off: every refusal is seen.
fn no_retries(world: &LocalAws, account: &str, region: &str) -> SdkConfig {
    world
        .sdk_config(account, region)
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// Calls `call` until it fails; returns how many succeeded, the error and the time taken.
async fn until_refused<T, F, Fut>(limit: usize, mut call: F) -> (usize, Error, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = shared::Result<T>>,
{
    let start = Instant::now();
    for n in 0..limit {
        if let Err(e) = call(n).await {
            return (n, e, start.elapsed());
        }
    }
    panic!("no refusal within {limit} calls: the quota is not enforced");
}

/// The refusal is throttling, of `operation`, as the product's error mapping says.
fn assert_throttled(err: &Error, operation: &str, code: &str) {
    match err {
        Error::Aws {
            operation: op,
            kind,
            message,
            ..
        } => {
            assert_eq!(*kind, AwsErrorKind::Throttling, "{err}");
            assert_eq!(*op, operation, "{err}");
            assert_eq!(message, &format!("{code}: Rate exceeded"), "{err}");
            assert!(err.is_retryable(), "{err}");
        }
        other => panic!("expected a throttled {operation}, got {other}"),
    }
}

/// Within a bucket of `burst` refilled at `rate` a second, `spent` tokens were taken in `elapsed`.
fn assert_within_bucket(spent: usize, burst: f64, rate: f64, elapsed: Duration) {
    let most = burst + rate * elapsed.as_secs_f64() + 1.0;
    assert!(
        spent as f64 >= burst - 1.0 && spent as f64 <= most,
        "{spent} calls went through in {elapsed:?}; the bucket allows {burst} at once and {rate}/s"
    );
}

/// A CALCULATED gate over two HTTP checks, as the topology builds a region's gate.
async fn gate(r53: &aws_sdk_route53::Client, name: &str) -> String {
    let mut children = Vec::new();
    for kind in ["alb", "api"] {
        let out = r53
            .create_health_check()
            .caller_reference(format!("{kind}-{name}"))
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Http)
                    .fully_qualified_domain_name(format!("{kind}.{name}.example.com"))
                    .port(80)
                    .resource_path("/health")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("CreateHealthCheck");
        children.push(out.health_check().unwrap().id().to_string());
    }
    let out = r53
        .create_health_check()
        .caller_reference(format!("gate-{name}"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .set_child_health_checks(Some(children))
                .health_threshold(2)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateHealthCheck (gate)");
    out.health_check().unwrap().id().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_health_check_status_has_its_own_small_bucket_which_gate_reads_stay_out_of() {
    let world = LocalAws::shared().await;
    let acct = account("gate_reads");
    let config = no_retries(world, &acct, CONTROL_PLANE_REGION);
    let r53 = aws_sdk_route53::Client::new(&config);
    let gate_id = gate(&r53, "q-gates").await;
    let child = r53
        .get_health_check()
        .health_check_id(&gate_id)
        .send()
        .await
        .expect("GetHealthCheck")
        .health_check()
        .and_then(|h| h.health_check_config())
        .map(|c| c.child_health_checks()[0].clone())
        .expect("a child");

    // GetHealthCheckStatus has 4 tokens and 1 more a second: the fifth call at once is
    // refused (mapped as the product maps every error).
    let (calls, err, elapsed) = until_refused(10, |_| async {
        r53.get_health_check_status()
            .health_check_id(&child)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                shared::aws::map_err("route53", "GetHealthCheckStatus", CONTROL_PLANE_REGION, e)
            })
    })
    .await;
    assert_throttled(&err, "GetHealthCheckStatus", "Throttling");
    assert!(
        calls >= 4 && calls as f64 <= 4.0 + elapsed.as_secs_f64(),
        "{calls} calls in {elapsed:?}"
    );

    // The product's gate read is one GetHealthCheck (its own bucket of 50) and one
    // GetMetricData of the children's HealthCheckStatus: ten reads at once, while the
    // GetHealthCheckStatus bucket is empty, all answer.
    let gates = Route53::new(&config, "ZNOTUSED", "state.q-gates.example.com");
    for i in 0..10 {
        let status = gates
            .status(&gate_id)
            .await
            .unwrap_or_else(|e| panic!("gate read {i}: {e}"));
        assert_eq!((status.children.len(), status.children_healthy), (2, 2));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_reads_drain_the_accounts_route53_bucket_for_every_action() {
    let world = LocalAws::shared().await;
    let acct = account("state_reads");
    let config = no_retries(world, &acct, CONTROL_PLANE_REGION);
    let r53 = aws_sdk_route53::Client::new(&config);
    let gate_id = gate(&r53, "q-state").await; // 3 tokens of the account's 50
    let zone = r53
        .create_hosted_zone()
        .name("q-state.example.com")
        .caller_reference(format!("q-state-{acct}"))
        .send()
        .await
        .expect("CreateHostedZone"); // and 1 more
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/");
    let store = Route53::new(&config, zone_id, "state.q-state.example.com");

    let (reads, err, elapsed) = until_refused(200, |_| store.read()).await;
    assert_throttled(&err, "ListResourceRecordSets", "Throttling");
    // 50 at once, less the 4 spent on setup (some of them refilled meanwhile), 10 more a second
    assert!(
        reads >= 45 && reads as f64 <= 51.0 + 10.0 * elapsed.as_secs_f64(),
        "{reads} state reads in {elapsed:?}"
    );

    // The account's bucket is empty: a gate read (other actions, their own buckets
    // full) is refused too. The bucket refills 10 a second, so under a loaded machine a
    // token may come back between the two calls: drain again and retry, a few times.
    let mut refused = None;
    for _ in 0..5 {
        if let Err(e) = gates_read(&config, &gate_id).await {
            refused = Some(e);
            break;
        }
        let _ = until_refused(200, |_| store.read()).await;
    }
    let err = refused.expect("a gate read is refused while the account bucket is empty");
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::Throttling), "{err}");
}

async fn gates_read(config: &SdkConfig, gate_id: &str) -> shared::Result<()> {
    Route53::new(config, "ZNOTUSED", "state.example.com")
        .status(gate_id)
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_control_plane_calls_share_15_a_second_per_region() {
    let world = LocalAws::shared().await;
    let acct = account("lambda_control_plane");
    // AWS's documented Lambda quotas for this account whatever the rest of the shared
    // world says: tests/concurrency.rs switches Lambda's quotas off for every account
    // when it ends. An account's own setting wins over the world's.
    world
        .post(
            "/throttling",
            serde_json::json!({"service": "lambda", "enabled": true, "account": acct}),
        )
        .await;
    // The product's adapter turns the SDK's retries off itself.
    let lambda = Lambda::new(&world.sdk_config(&acct, PRIMARY));

    let (ok, err, elapsed) = until_refused(100, |n| {
        let lambda = lambda.clone();
        async move {
            if n % 2 == 0 {
                lambda.unreserved_concurrency().await.map(|_| ())
            } else {
                lambda.alias("q-absent", "live").await.map(|_| ())
            }
        }
    })
    .await;
    let op = if ok % 2 == 0 {
        "GetAccountSettings"
    } else {
        "GetAlias"
    };
    assert_throttled(&err, op, "TooManyRequestsException");
    assert_within_bucket(ok, 15.0, 15.0, elapsed);

    // Lambda says which limit and when to come back.
    let client = aws_sdk_lambda::Client::new(&no_retries(world, &acct, PRIMARY));
    let mut refusal = None;
    for _ in 0..40 {
        if let Err(e) = client.get_account_settings().send().await {
            refusal = Some(e.into_service_error());
            break;
        }
    }
    let Some(GetAccountSettingsError::TooManyRequestsException(refusal)) = refusal else {
        panic!("expected TooManyRequestsException, got {refusal:?}");
    };
    assert_eq!(
        refusal.reason(),
        Some(&aws_sdk_lambda::types::ThrottleReason::CallerRateLimitExceeded)
    );
    assert_eq!(refusal.retry_after_seconds(), Some("1"));

    // The quota is per Region: the same account in the other region is untouched.
    Lambda::new(&world.sdk_config(&acct, SECONDARY))
        .unreserved_concurrency()
        .await
        .expect("us-east-1 has its own bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_alarm_writes_are_3_a_second_and_hold_no_metric_data_back() {
    let world = LocalAws::shared().await;
    let acct = account("cloudwatch_alarms");
    let config = no_retries(world, &acct, PRIMARY);
    let cw = aws_sdk_cloudwatch::Client::new(&config);

    let (ok, err, elapsed) = until_refused(50, |n| {
        let cw = cw.clone();
        async move {
            cw.put_metric_alarm()
                .alarm_name(format!("q-alarm-{n}"))
                .namespace("Q")
                .metric_name("Errors")
                .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(1.0)
                .comparison_operator(
                    aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| shared::aws::map_err("cloudwatch", "PutMetricAlarm", PRIMARY, e))
        }
    })
    .await;
    assert_throttled(&err, "PutMetricAlarm", "Throttling");
    assert_within_bucket(ok, 3.0, 3.0, elapsed);

    // PutMetricData has its own 500/s: the product's metric sink is not held back.
    shared::aws::cloudwatch::CloudWatch::new(&config)
        .publish("Q", &[Metric::new("Errors", 1.0, Unit::Count)])
        .await
        .expect("PutMetricData goes through");
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_store_reads_share_40_a_second() {
    let world = LocalAws::shared().await;
    let acct = account("parameter_store");
    let ssm = shared::aws::ssm::Ssm::new(&no_retries(world, &acct, PRIMARY));

    let (ok, err, elapsed) = until_refused(300, |_| ssm.get("/q/absent")).await;
    assert_throttled(&err, "GetParameter", "ThrottlingException");
    assert_within_bucket(ok, 40.0, 40.0, elapsed);
}

/// Gives `account` one bucket of `burst` tokens refilled at `rate` a second for every
/// action of `service`, in place of AWS's rates. The documented rates of the services
/// below are thousands a second in the product's Regions (SNS publishing 1,500 in
/// eu-central-1, Scheduler's CreateSchedule 5,000, PutEvents 2,400, DescribeSecret
/// 40,000): more than a test sends, so these tests check the mechanism and each service's
/// throttling error as the product's adapter meets it, while
/// tests/localaws/tests/test_strict_quotas.py checks that the documented rates are the
/// defaults.
async fn small_bucket(world: &LocalAws, service: &str, account: &str, rate: f64, burst: f64) {
    let out = world
        .post(
            "/throttling",
            serde_json::json!({"service": service, "rate": rate, "burst": burst, "account": account}),
        )
        .await;
    assert!(out["services"].is_object(), "POST /throttling: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_meet_snss_publish_rate_per_region() {
    use shared::aws::sns::{Notifier, Sns};
    let world = LocalAws::shared().await;
    let acct = account("sns_publish");
    let topic = |config: SdkConfig| async move {
        aws_sdk_sns::Client::new(&config)
            .create_topic()
            .name("q-alerts")
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .expect("topic ARN")
            .to_string()
    };
    let config = no_retries(world, &acct, PRIMARY);
    let sns = Sns::new(&config, topic(config.clone()).await);
    small_bucket(world, "sns", &acct, 1.0, 3.0).await;

    let (ok, err, elapsed) = until_refused(20, |n| {
        let sns = sns.clone();
        async move { sns.notify(&format!("quota {n}"), "publish rate").await }
    })
    .await;
    assert_throttled(&err, "Publish", "Throttling");
    assert_within_bucket(ok, 3.0, 1.0, elapsed);

    // The bucket is the Region's: the account still publishes in us-east-1.
    let us = no_retries(world, &acct, SECONDARY);
    Sns::new(&us, topic(us.clone()).await)
        .notify("quota", "another Region")
        .await
        .expect("us-east-1 has its own bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_end_schedules_meet_schedulers_create_schedule_rate() {
    use shared::aws::scheduler::DrillSchedules;
    let world = LocalAws::shared().await;
    let acct = account("scheduler_create");
    small_bucket(world, "scheduler", &acct, 1.0, 3.0).await;
    let schedules = |region: &str| {
        DrillSchedules::from_client(
            aws_sdk_scheduler::Client::new(&no_retries(world, &acct, region)),
            "default",
            Some(format!("arn:aws:iam::{acct}:role/scheduler-drills")),
            region,
        )
    };
    let target = format!("arn:aws:lambda:{PRIMARY}:{acct}:function:q-failover");
    let at = chrono::Utc::now() + chrono::Duration::days(1); // never fires during the test
    let eu = schedules(PRIMARY);

    let (ok, err, elapsed) = until_refused(20, |n| {
        let (eu, target) = (&eu, &target);
        async move { eu.create(&format!("q-drill-{n}"), at, target).await }
    })
    .await;
    assert_throttled(&err, "CreateSchedule", "ThrottlingException");
    assert_within_bucket(ok, 3.0, 1.0, elapsed);

    schedules(SECONDARY)
        .create("q-drill-us", at, &target)
        .await
        .expect("us-east-1 has its own bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_plane_events_meet_eventbridges_put_events_rate() {
    use shared::aws::eventbridge::EventBus;
    use shared::events::{ControlPlaneDetail, ControlPlaneKind};
    let world = LocalAws::shared().await;
    let acct = account("put_events");
    small_bucket(world, "events", &acct, 1.0, 3.0).await;
    let bus = EventBus::from_client(
        aws_sdk_eventbridge::Client::new(&no_retries(world, &acct, PRIMARY)),
        "default",
        PRIMARY,
    );
    let detail = ControlPlaneDetail {
        region: SECONDARY.into(),
        epoch: 1,
        reason: "quota test".into(),
        drill_id: None,
        expires_at: None,
    };

    let (ok, err, elapsed) =
        until_refused(20, |_| bus.put(ControlPlaneKind::RegionEvacuated, &detail)).await;
    assert_throttled(&err, "PutEvents", "ThrottlingException");
    assert_within_bucket(ok, 3.0, 1.0, elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_reads_meet_secrets_managers_describe_secret_rate() {
    use shared::aws::secrets::{SecretReplication, SecretsManager};
    let world = LocalAws::shared().await;
    let acct = account("describe_secret");
    let config = no_retries(world, &acct, PRIMARY);
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name("q/db")
        .secret_string("local-only-not-a-secret")
        .send()
        .await
        .expect("CreateSecret");
    small_bucket(world, "secretsmanager", &acct, 1.0, 3.0).await;
    let secrets = SecretsManager::new(&config);

    let (ok, err, elapsed) = until_refused(20, |_| secrets.replicas("q/db")).await;
    assert_throttled(&err, "DescribeSecret", "ThrottlingException");
    assert_within_bucket(ok, 3.0, 1.0, elapsed);
}
