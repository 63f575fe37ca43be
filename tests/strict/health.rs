//! Route 53 health checks as AWS judges them, read through the product's Route 53
//! adapter (`shared::aws::route53`): `GetHealthCheckStatus` refuses a calculated check,
//! an endpoint is healthy when more than 18% of its health checkers say so, and a
//! `CLOUDWATCH_METRIC` check follows its alarm (as the child of a calculated gate, up to
//! the data plane's answer).

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_route53::types::{
    AlarmIdentifier, Change, ChangeAction, ChangeBatch, CloudWatchRegion, HealthCheckConfig,
    HealthCheckType, InsufficientDataHealthStatus, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use serde_json::{json, Value};
use shared::aws::route53::{GateControl, Route53, CONTROL_PLANE_REGION};
use shared::error::AwsErrorKind;
use testkit::{LocalAws, PRIMARY};

/// This test's own account: "5" and 11 digits from its name, so no other test shares
/// its health checks, alarms or Route 53 quota.
fn account(test: &str) -> String {
    testkit::account_for('5', test)
}

struct Checks {
    world: &'static LocalAws,
    account: String,
    r53: aws_sdk_route53::Client,
}

impl Checks {
    async fn new(test: &str) -> Self {
        let world = LocalAws::shared().await;
        let account = account(test);
        let r53 = aws_sdk_route53::Client::new(&world.sdk_config(&account, CONTROL_PLANE_REGION));
        Self {
            world,
            account,
            r53,
        }
    }

    /// The product's adapter, as the failover function builds it (the zone and record
    /// are not used by gate reads).
    fn product(&self) -> Route53 {
        Route53::new(
            &self.world.sdk_config(&self.account, CONTROL_PLANE_REGION),
            "ZUNUSED",
            "_cp.health.example.com",
        )
    }

    fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.world.sdk_config(&self.account, region))
    }

    async fn create(&self, reference: &str, config: HealthCheckConfig) -> String {
        self.r53
            .create_health_check()
            .caller_reference(format!("{reference}-{}", self.account))
            .health_check_config(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateHealthCheck {reference}: {e:?}"))
            .health_check()
            .map(|h| h.id().to_string())
            .expect("health check id")
    }

    async fn https(&self, fqdn: &str) -> String {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Https)
            .fully_qualified_domain_name(fqdn)
            .port(443)
            .resource_path("/health")
            .build()
            .unwrap();
        self.create(fqdn, config).await
    }

    async fn calculated(&self, reference: &str, children: &[&str], threshold: i32) -> String {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .set_child_health_checks(Some(children.iter().map(|c| c.to_string()).collect()))
            .health_threshold(threshold)
            .build()
            .unwrap();
        self.create(reference, config).await
    }

    /// Creates `records` in `zone`, in one change batch.
    async fn create_records(&self, zone: &str, records: Vec<Change>) {
        self.r53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(records))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("records");
    }

    /// Route 53's own verdict (the data plane's view), from the admin listing.
    async fn judged(&self, id: &str) -> Value {
        let checks = self.world.get("/route53/health-checks").await;
        checks["healthChecks"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("health check {id} not listed"))
    }

    /// (observations, how many report Success) as GetHealthCheckStatus answers.
    async fn observations(&self, id: &str) -> (usize, usize, bool) {
        let out = self
            .r53
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .expect("GetHealthCheckStatus of an endpoint check");
        let obs = out.health_check_observations();
        let success = |o: &aws_sdk_route53::types::HealthCheckObservation| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        };
        let first_success = obs.first().is_some_and(success);
        (
            obs.len(),
            obs.iter().filter(|o| success(o)).count(),
            first_success,
        )
    }
}

/// A calculated check has no status to get (`InvalidInput`, not retried), so the
/// product does not ask for one: it reads Route 53's own verdict, the `HealthCheckStatus`
/// Route 53 publishes for every check (calculated ones too) in us-east-1, and so reads
/// a gate over a calculated child as it reads any other.
#[tokio::test]
async fn a_calculated_check_has_no_status_and_the_product_reads_its_published_verdict() {
    let c = Checks::new("strict::health::calculated_status").await;
    let endpoint = c.https("api.calc.strict-health.example.com").await;
    let inner = c.calculated("inner", &[&endpoint], 1).await;
    let nested_gate = c.calculated("nested-gate", &[&inner], 1).await;
    let plain_gate = c.calculated("plain-gate", &[&endpoint], 1).await;

    let err = c
        .r53
        .get_health_check_status()
        .health_check_id(&inner)
        .send()
        .await
        .expect_err("GetHealthCheckStatus of a calculated check");
    let service = err.as_service_error().expect("a service error");
    assert!(service.is_invalid_input(), "{service:?}");
    let mapped = shared::aws::map_err("route53", "GetHealthCheckStatus", CONTROL_PLANE_REGION, err);
    assert_eq!(mapped.aws_kind(), Some(AwsErrorKind::InvalidRequest));
    assert!(!mapped.is_retryable(), "{mapped}");

    let product = c.product();
    for gate in [&nested_gate, &plain_gate] {
        let status = product.status(gate).await.expect("gate readable");
        assert_eq!((status.children_healthy, status.is_healthy()), (1, true));
        assert_eq!(c.judged(gate).await["healthy"], true);
    }
    // and it follows the child's verdict when the endpoint fails
    c.world
        .post(
            "/route53/endpoints",
            json!({"endpoint": "api.calc.strict-health.example.com", "healthy": false}),
        )
        .await;
    let status = product.status(&nested_gate).await.expect("gate readable");
    assert_eq!((status.children_healthy, status.is_healthy()), (0, false));
}

/// Checkers disagree: 15% of them healthy is unhealthy, 25% healthy is healthy (more
/// than 18%), for the data plane and for anyone counting the observations that way.
/// The product agrees in the first case (its reader is checked for the second below).
#[tokio::test]
async fn an_endpoint_is_healthy_when_more_than_18_percent_of_checkers_say_so() {
    let c = Checks::new("strict::health::eighteen_percent").await;
    let (eu_fqdn, us_fqdn) = (
        "alb.eu-central-1.pct.strict-health.example.com",
        "alb.us-east-1.pct.strict-health.example.com",
    );
    let eu = c.https(eu_fqdn).await;
    let us = c.https(us_fqdn).await;
    c.world
        .post(
            "/route53/endpoints",
            json!({"endpoints": [
                {"endpoint": eu_fqdn, "failingCheckers": 0.85},
                {"endpoint": us_fqdn, "failingCheckers": 0.75}]}),
        )
        .await;

    // GetHealthCheckStatus: all eight default checker regions, some Success, some Failure;
    // the first observation is a Failure in both cases
    assert_eq!(c.observations(&eu).await, (8, 1, false));
    assert_eq!(c.observations(&us).await, (8, 2, false));
    let (eu_judged, us_judged) = (c.judged(&eu).await, c.judged(&us).await);
    assert_eq!(eu_judged["healthy"], false, "{eu_judged}");
    assert_eq!(us_judged["healthy"], true, "{us_judged}");

    // the data plane: eu's latency record is skipped, us answers even from eu-central-1
    let zone = c
        .r53
        .create_hosted_zone()
        .name("pct.strict-health.example.com")
        .caller_reference(format!("pct-{}", c.account))
        .send()
        .await
        .expect("zone")
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .expect("zone id");
    let records = [("eu-central-1", &eu, eu_fqdn), ("us-east-1", &us, us_fqdn)]
        .into_iter()
        .map(|(region, check, target)| {
            let set = ResourceRecordSet::builder()
                .name("api.pct.strict-health.example.com")
                .r#type(RrType::Cname)
                .set_identifier(region)
                .region(region.into())
                .ttl(60)
                .health_check_id(check.as_str())
                .resource_records(ResourceRecord::builder().value(target).build().unwrap())
                .build()
                .unwrap();
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(set)
                .build()
                .unwrap()
        })
        .collect();
    c.create_records(&zone, records).await;
    let resolve = format!(
        "/route53/resolve?zone={zone}&name=api.pct.strict-health.example.com&type=CNAME&region={PRIMARY}"
    );
    let answer = c.world.get(&resolve).await;
    assert_eq!(answer["answer"]["region"], "us-east-1", "{answer}");
    assert_eq!(answer["allUnhealthyFallback"], false, "{answer}");

    // the product, reading a gate over the 85%-failing endpoint: unhealthy, as Route 53
    let gate = c.calculated("gate-eu", &[&eu], 1).await;
    let status = c.product().status(&gate).await.expect("gate readable");
    assert_eq!(status.children_healthy, 0);
    assert!(!status.is_healthy());
    assert_eq!(c.judged(&gate).await["healthy"], false);
}

/// The product's health reader against a 75%-failing endpoint, which Route 53 considers
/// healthy (2 of 8 checkers = 25% > 18%): a reader that wants a majority of the
/// observations would take a region Route 53 still routes to for down. The product
/// reads Route 53's own verdict, so it agrees.
#[tokio::test]
async fn the_products_health_reader_follows_the_18_percent_rule() {
    let c = Checks::new("strict::health::product_reader").await;
    let fqdn = "alb.reader.strict-health.example.com";
    let endpoint = c.https(fqdn).await;
    c.world
        .post(
            "/route53/endpoints",
            json!({"endpoint": fqdn, "failingCheckers": 0.75}),
        )
        .await;
    let gate = c.calculated("gate-reader", &[&endpoint], 1).await;
    assert_eq!(c.judged(&gate).await["healthy"], true);
    let status = c.product().status(&gate).await.expect("gate readable");
    assert_eq!(
        (status.children_healthy, status.is_healthy()),
        (1, true),
        "Route 53 considers the child (and so the gate) healthy"
    );
}

/// A `CLOUDWATCH_METRIC` check follows its alarm (OK healthy, ALARM unhealthy,
/// INSUFFICIENT_DATA as configured), as the child of a calculated gate, through the
/// data plane's answer and the product's gate reader; Route 53 refuses an alarm that
/// does not exist or that it cannot monitor.
#[tokio::test]
async fn a_metric_check_follows_its_alarm_as_the_child_of_a_gate() {
    let c = Checks::new("strict::health::metric_check").await;
    let cw = c.cloudwatch(PRIMARY);
    let alarm = format!("checkout-errors-{}", c.account);
    let put_alarm = |name: String, period: i32| {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("Orders/Strict")
            .metric_name("Errors")
            .statistic(Statistic::Sum)
            .period(period)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
    };
    put_alarm(alarm.clone(), 60).await.expect("alarm");
    let metric_config = |name: &str| {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::CloudwatchMetric)
            .alarm_identifier(
                AlarmIdentifier::builder()
                    .region(CloudWatchRegion::EuCentral1)
                    .name(name)
                    .build()
                    .unwrap(),
            )
            .insufficient_data_health_status(InsufficientDataHealthStatus::Unhealthy)
            .build()
            .unwrap()
    };

    // an alarm Route 53 cannot monitor is refused at create time
    let missing = c
        .r53
        .create_health_check()
        .caller_reference(format!("missing-{}", c.account))
        .health_check_config(metric_config("no-such-alarm"))
        .send()
        .await
        .expect_err("an alarm that does not exist");
    assert!(
        missing
            .as_service_error()
            .is_some_and(|e| e.is_invalid_input()),
        "{missing:?}"
    );
    let high_res = format!("high-res-{}", c.account);
    put_alarm(high_res.clone(), 10)
        .await
        .expect("high-resolution alarm");
    let refused = c
        .r53
        .create_health_check()
        .caller_reference(format!("high-res-{}", c.account))
        .health_check_config(metric_config(&high_res))
        .send()
        .await
        .expect_err("a high-resolution alarm");
    assert!(
        refused
            .as_service_error()
            .is_some_and(|e| e.is_invalid_input()),
        "{refused:?}"
    );

    let metric = c.create("metric", metric_config(&alarm)).await;
    let stored = c
        .r53
        .get_health_check()
        .health_check_id(&metric)
        .send()
        .await
        .expect("GetHealthCheck");
    let stored = stored.health_check().expect("health check");
    let config = stored.health_check_config().expect("config");
    assert_eq!(
        config.alarm_identifier().map(|a| a.name()),
        Some(alarm.as_str())
    );
    assert_eq!(
        config.insufficient_data_health_status(),
        Some(&InsufficientDataHealthStatus::Unhealthy)
    );
    let watched = stored
        .cloud_watch_alarm_configuration()
        .expect("alarm configuration");
    assert_eq!((watched.metric_name(), watched.period()), ("Errors", 60));

    // the gate and a failover pair: PRIMARY carries the gate
    let gate = c.calculated("metric-gate", &[&metric], 1).await;
    let zone = c
        .r53
        .create_hosted_zone()
        .name("metric.strict-health.example.com")
        .caller_reference(format!("metric-{}", c.account))
        .send()
        .await
        .expect("zone")
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .expect("zone id");
    let records = [
        ResourceRecordSetFailover::Primary,
        ResourceRecordSetFailover::Secondary,
    ]
    .into_iter()
    .map(|role| {
        let mut set = ResourceRecordSet::builder()
            .name("api.metric.strict-health.example.com")
            .r#type(RrType::Cname)
            .set_identifier(role.as_str())
            .failover(role.clone())
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value(format!(
                        "{}.metric.strict-health.example.com",
                        role.as_str().to_lowercase()
                    ))
                    .build()
                    .unwrap(),
            );
        if role == ResourceRecordSetFailover::Primary {
            set = set.health_check_id(&gate);
        }
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(set.build().unwrap())
            .build()
            .unwrap()
    })
    .collect();
    c.create_records(&zone, records).await;
    let resolve = format!(
        "/route53/resolve?zone={zone}&name=api.metric.strict-health.example.com&type=CNAME&region={PRIMARY}"
    );
    let product = c.product();
    for (state, healthy) in [
        (StateValue::Ok, true),
        (StateValue::Alarm, false),
        (StateValue::InsufficientData, false), // InsufficientDataHealthStatus: Unhealthy
        (StateValue::Ok, true),
    ] {
        cw.set_alarm_state()
            .alarm_name(&alarm)
            .state_value(state.clone())
            .state_reason("strict health test")
            .send()
            .await
            .expect("SetAlarmState");
        let answer = c.world.get(&resolve).await;
        let want = if healthy { "PRIMARY" } else { "SECONDARY" };
        assert_eq!(
            answer["answer"]["setIdentifier"], want,
            "{state:?}: {answer}"
        );
        assert_eq!(c.judged(&metric).await["alarm"]["state"], state.as_str());
        if state != StateValue::InsufficientData {
            let gate = product
                .status(&gate)
                .await
                .expect("gate over a metric check");
            assert_eq!(gate.is_healthy(), healthy, "{state:?}: {gate:?}");
        }
    }
}
