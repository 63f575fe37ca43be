//! Limits on what a request carries, answered as AWS answers them
//! (`tests/localaws/localaws/limits.py`), met through the product's own adapters:
//! the routing-state TXT record (`shared::aws::route53`), SSM state documents
//! (`shared::aws::ssm`), notifications (`shared::aws::sns`), metrics
//! (`shared::aws::cloudwatch`), the control-plane bus and drill schedules
//! (`failover::aws`). Where the product has no call that can reach a limit, the SDK
//! client built from the same configuration makes the call, and the error goes
//! through the product's own `map_err` to show the kind the product would get.
//!
//! Every test has its own account ("4" + 11 digits from its name), so the quotas
//! and state of other tests never meet these.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use chrono::{Duration, Utc};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::eventbridge::EventBus;
use shared::aws::map_err;
use shared::aws::route53::{CasResult, Route53, StateStore};
use shared::aws::scheduler::DrillSchedules;
use shared::aws::sns::{Notifier, Sns, MAX_MESSAGE_BYTES};
use shared::aws::ssm::Ssm;
use shared::error::AwsErrorKind;
use shared::events::{ControlPlaneDetail, ControlPlaneKind};
use shared::metrics::{Metric, MetricBatch, MetricSink, Unit};
use shared::region::Region;
use shared::routing::{Evacuation, RoutingState};
use testkit::{LocalAws, PRIMARY, SECONDARY};

/// A 12-digit account of the test's own: "4" and 11 digits of an FNV-1a hash of its name.
fn account(test: &str) -> String {
    testkit::account_for('4', test)
}

async fn world() -> &'static LocalAws {
    LocalAws::shared().await
}

fn txt_create(name: &str, value: &str) -> Change {
    txt_change(ChangeAction::Create, name, value)
}

fn txt_change(action: ChangeAction, name: &str, value: &str) -> Change {
    Change::builder()
        .action(action)
        .resource_record_set(
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::Txt)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn hosted_zone(client: &aws_sdk_route53::Client, name: &str) -> String {
    client
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!(
            "{name}-{}",
            Utc::now().timestamp_nanos_opt().unwrap()
        ))
        .send()
        .await
        .expect("hosted zone")
        .hosted_zone()
        .expect("zone in the answer")
        .id()
        .to_string()
}

async fn record_names(client: &aws_sdk_route53::Client, zone: &str) -> Vec<String> {
    client
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list records")
        .resource_record_sets()
        .iter()
        .map(|r| r.name().to_string())
        .collect()
}

fn evacuated(state: &RoutingState, reason: String) -> RoutingState {
    let mut next = state.clone();
    next.epoch += 1;
    next.evacuated.insert(
        Region::parse(PRIMARY).unwrap(),
        Evacuation {
            since: Utc::now(),
            by: "strict-limits".into(),
            reason,
            automatic: false,
            drill_id: None,
        },
    );
    next
}

/// The routing state grows with its reasons: past Route 53's 4,000 characters per
/// value a change is refused as `InvalidInput` (the request's XML is not valid), which
/// the product's `map_err` makes an invalid request. The product's swap never sends
/// such a value: it refuses it by name first (not as a lost compare-and-swap, and not
/// retried); the record keeps its value.
#[tokio::test]
async fn route53_state_record_over_4000_characters_is_an_invalid_request() {
    let acct = account("route53_state_record_over_4000_characters_is_an_invalid_request");
    let config = world().await.sdk_config(&acct, SECONDARY);
    let client = aws_sdk_route53::Client::new(&config);
    let domain = format!("limits-{acct}.example.com");
    let zone = hosted_zone(&client, &domain).await;
    let store_name = format!("state.{domain}.");
    let store = Route53::new(&config, &zone, &store_name);

    let first = RoutingState::default();
    assert_eq!(store.swap(None, &first).await.unwrap(), CasResult::Swapped);
    let (state, version) = store.read().await.unwrap().expect("state record");

    // Long, but every quoted string under 255 and the value under 4,000: accepted.
    let long = evacuated(&state, "r".repeat(3000));
    assert!(long.to_txt().len() < 4000);
    assert_eq!(
        store.swap(Some(&version), &long).await.unwrap(),
        CasResult::Swapped
    );
    let (state, version) = store.read().await.unwrap().expect("state record");
    assert_eq!(state, long);

    let too_long = evacuated(&state, "r".repeat(4000));
    assert!(too_long.to_txt().len() > 4000);
    let err = store.swap(Some(&version), &too_long).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .starts_with("unexpected state: routing state too large: epoch 2 encodes to 4"),
        "{err}"
    );

    // Sent anyway, in the swap's shape (DELETE the old value, CREATE the new one):
    // Route 53 refuses it whole.
    let batch = ChangeBatch::builder()
        .changes(txt_change(ChangeAction::Delete, &store_name, &version.raw))
        .changes(txt_change(
            ChangeAction::Create,
            &store_name,
            &too_long.to_txt(),
        ))
        .build()
        .unwrap();
    let err = client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(batch)
        .send()
        .await
        .unwrap_err();
    let err = map_err("route53", "ChangeResourceRecordSets", SECONDARY, err);
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    let text = err.to_string();
    assert!(text.contains("InvalidInput"), "{text}");
    assert!(
        text.contains("is not facet-valid with respect to maxLength '4000' for type 'RData'"),
        "{text}"
    );
    let (unchanged, kept) = store.read().await.unwrap().expect("state record");
    assert_eq!((unchanged, kept), (state, version));
}

/// A TXT character-string over 255 characters, in the same change-batch shape the
/// product's swap sends: `InvalidChangeBatch` naming `CharacterStringTooLong`, and
/// nothing of the batch applied. The product's `map_err` makes it a conflict, but its
/// swap reads an `InvalidChangeBatch` as a lost compare-and-swap only when Route 53
/// says the old value was not found or did not match, or the new one already exists:
/// this one is an error (and the product's `to_txt` keeps every string at 250, so its
/// own swaps never get here).
#[tokio::test]
async fn route53_txt_string_over_255_is_refused_and_nothing_applied() {
    let acct = account("route53_txt_string_over_255_is_refused_and_nothing_applied");
    let client = aws_sdk_route53::Client::new(&world().await.sdk_config(&acct, SECONDARY));
    let domain = format!("limits-{acct}.example.com");
    let zone = hosted_zone(&client, &domain).await;
    let fine = format!("fine.{domain}.");
    let long = format!("long.{domain}.");
    let batch = ChangeBatch::builder()
        .changes(txt_create(&fine, "\"fine\""))
        .changes(txt_create(&long, &format!("\"{}\"", "a".repeat(256))))
        .build()
        .unwrap();
    let err = client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(batch)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_change_batch()),
        "{err:?}"
    );
    let mapped = map_err("route53", "ChangeResourceRecordSets", SECONDARY, err);
    assert_eq!(mapped.aws_kind(), Some(AwsErrorKind::Conflict));
    assert!(
        mapped
            .to_string()
            .contains("FATAL problem: CharacterStringTooLong (Value is too long)"),
        "{mapped}"
    );
    let names = record_names(&client, &zone).await;
    assert!(
        !names.contains(&fine) && !names.contains(&long),
        "{names:?}"
    );

    let at_limit = ChangeBatch::builder()
        .changes(txt_create(&long, &format!("\"{}\"", "a".repeat(255))))
        .build()
        .unwrap();
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(at_limit)
        .send()
        .await
        .expect("255 characters fit");
}

/// SSM's Standard tier holds 4 KB: the product's `Ssm::put` (String, Standard) of one
/// byte more is refused with AWS's own message, and the stored value stays.
#[tokio::test]
async fn ssm_standard_value_over_4kb_is_an_invalid_request() {
    let acct = account("ssm_standard_value_over_4kb_is_an_invalid_request");
    let ssm = Ssm::new(&world().await.sdk_config(&acct, PRIMARY));
    let name = format!("/controlplane/limits-{acct}/state");
    ssm.put(&name, &"x".repeat(4096)).await.expect("4 KB fits");
    let err = ssm.put(&name, &"y".repeat(4097)).await.unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    assert!(
        err.to_string().contains(
            "ValidationException: Standard tier parameters support a maximum parameter value of 4096 characters."
        ),
        "{err}"
    );
    assert_eq!(ssm.get(&name).await.unwrap(), Some("x".repeat(4096)));
}

/// SNS subjects must be under 100 characters with no line breaks or control
/// characters, and messages at most 256 KiB: the product's adapter publishes a
/// 99-character subject and a message cut to exactly 256 KiB; one character or
/// byte more (sent with the SDK client the adapter wraps) is `InvalidParameter`,
/// an invalid request to the product.
#[tokio::test]
async fn sns_subject_and_message_limits() {
    let acct = account("sns_subject_and_message_limits");
    let config = world().await.sdk_config(&acct, PRIMARY);
    let client = aws_sdk_sns::Client::new(&config);
    let topic = client
        .create_topic()
        .name(format!("limits-{acct}"))
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("arn")
        .to_string();
    let sns = Sns::from_client(client.clone(), PRIMARY, &topic);
    sns.notify(&"s".repeat(99), "fits")
        .await
        .expect("99 characters fit");
    sns.notify("[svc] line\nbreak", "the adapter makes it one line")
        .await
        .expect("cleaned subject");
    sns.notify("big", &"m".repeat(MAX_MESSAGE_BYTES + 5000))
        .await
        .expect("the adapter cuts to 256 KiB, which fits");

    for (subject, message) in [
        ("s".repeat(100), "m".to_string()),
        ("line\nbreak".to_string(), "m".to_string()),
        ("ok".to_string(), "m".repeat(MAX_MESSAGE_BYTES + 1)),
    ] {
        let err = client
            .publish()
            .topic_arn(&topic)
            .subject(&subject)
            .message(&message)
            .send()
            .await
            .unwrap_err();
        let mapped = map_err("sns", "Publish", PRIMARY, err);
        assert_eq!(
            mapped.aws_kind(),
            Some(AwsErrorKind::InvalidRequest),
            "{mapped}"
        );
        let text = mapped.to_string();
        let expected = if message.len() > MAX_MESSAGE_BYTES {
            "InvalidParameter: Invalid parameter: Message too long"
        } else {
            "InvalidParameter: Invalid parameter: Subject"
        };
        assert!(text.contains(expected), "{text}");
    }
}

/// PutMetricData takes at most 1,000 metrics and 30 dimensions per metric, and 150
/// values: the product's CloudWatch adapter over those limits gets an invalid
/// request; `MetricBatch::flush` splits 1,001 metrics into calls that fit (a body
/// that large is gzip'd by the SDK, as against AWS).
#[tokio::test]
async fn cloudwatch_put_metric_data_limits() {
    let acct = account("cloudwatch_put_metric_data_limits");
    let cw = CloudWatch::new(&world().await.sdk_config(&acct, PRIMARY));
    let namespace = format!("Limits-{acct}");
    let many: Vec<Metric> = (0..1001)
        .map(|i| {
            // A metric the functions publish (`MetricBatch` takes no other), 1,001 series of it.
            Metric::new("ReplicationLagSeconds", f64::from(i), Unit::Seconds)
                .dim("Kind", "ecr")
                .dim("DestinationRegion", format!("item-{i}"))
        })
        .collect();

    let err = cw.publish(&namespace, &many).await.unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    assert!(
        err.to_string()
            .contains("The collection MetricData must not have a size greater than 1000."),
        "{err}"
    );

    let mut batch = MetricBatch::default();
    for m in many {
        batch.push(m);
    }
    assert_eq!(batch.flush(&cw, &namespace).await.unwrap(), 1001);
    // The last metric of the second call is there: the world read both requests.
    let listed = cw
        .client()
        .list_metrics()
        .namespace(&namespace)
        .metric_name("ReplicationLagSeconds")
        .dimensions(
            aws_sdk_cloudwatch::types::DimensionFilter::builder()
                .name("DestinationRegion")
                .value("item-1000")
                .build(),
        )
        .send()
        .await
        .expect("list metrics");
    assert_eq!(listed.metrics().len(), 1);

    let wide = (0..31).fold(Metric::new("Wide", 1.0, Unit::Count), |m, i| {
        m.dim(Box::leak(format!("D{i}").into_boxed_str()), "v")
    });
    let err = cw.publish(&namespace, &[wide]).await.unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    assert!(
        err.to_string().contains(
            "The collection MetricData.member.1.Dimensions must not have a size greater than 30."
        ),
        "{err}"
    );

    let values = aws_sdk_cloudwatch::types::MetricDatum::builder()
        .metric_name("Spread")
        .set_values(Some(vec![1.0; 151]))
        .build();
    let err = cw
        .client()
        .put_metric_data()
        .namespace(&namespace)
        .metric_data(values)
        .send()
        .await
        .unwrap_err();
    let mapped = map_err("cloudwatch", "PutMetricData", PRIMARY, err);
    assert_eq!(
        mapped.aws_kind(),
        Some(AwsErrorKind::InvalidRequest),
        "{mapped}"
    );
    assert!(
        mapped.to_string().contains(
            "The collection MetricData.member.1.Values must not have a size greater than 150."
        ),
        "{mapped}"
    );
}

/// A control-plane event carries the operator's reason: past 256 KB of entry (AWS's
/// size calculation) the product's `EventBus::put` gets `ValidationException`, an
/// invalid request, and nothing is put on the bus.
#[tokio::test]
async fn eventbridge_entry_over_256kb_is_an_invalid_request() {
    let acct = account("eventbridge_entry_over_256kb_is_an_invalid_request");
    let world = world().await;
    let client = aws_sdk_eventbridge::Client::new(&world.sdk_config(&acct, PRIMARY));
    let bus = EventBus::from_client(client, "default", PRIMARY);
    let detail = |reason: String| ControlPlaneDetail {
        region: PRIMARY.into(),
        epoch: 7,
        reason,
        drill_id: None,
        expires_at: None,
    };
    bus.put(ControlPlaneKind::RegionEvacuated, &detail("fits".into()))
        .await
        .expect("a small event");
    let err = bus
        .put(
            ControlPlaneKind::RegionEvacuated,
            &detail("r".repeat(262_144)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    assert!(
        err.to_string().contains(
            "ValidationException: Total size of the entries in the request is over the limit."
        ),
        "{err}"
    );
    let put = world
        .get(&format!(
            "/events/put-events?account={acct}&region={PRIMARY}"
        ))
        .await;
    assert_eq!(put["events"].as_array().map(Vec::len), Some(1), "{put}");
}

/// Scheduler names are 1 to 64 characters of [0-9a-zA-Z-_.]: `DrillSchedules` makes
/// its schedule names fit, but its group comes from configuration, and a group name
/// over the limit is a `ValidationException` (an invalid request) on create.
#[tokio::test]
async fn scheduler_names_outside_the_limits_are_invalid_requests() {
    let acct = account("scheduler_names_outside_the_limits_are_invalid_requests");
    let client = aws_sdk_scheduler::Client::new(&world().await.sdk_config(&acct, PRIMARY));
    let role = format!("arn:aws:iam::{acct}:role/scheduler");
    let target = format!("arn:aws:lambda:{PRIMARY}:{acct}:function:failover");
    let at = Utc::now() + Duration::days(365);

    let good = DrillSchedules::from_client(client.clone(), "default", Some(role.clone()), PRIMARY);
    let drill =
        format!("drill {acct}: a long id with spaces, colons and more than sixty-four characters");
    good.create(&drill, at, &target)
        .await
        .expect("sanitised name");
    assert!(DrillSchedules::name(&drill).len() <= 64);

    let bad_group = "g".repeat(65);
    let bad = DrillSchedules::from_client(client.clone(), &bad_group, Some(role.clone()), PRIMARY);
    let err = bad.create("d1", at, &target).await.unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "ValidationException: 1 validation error detected: Value '{bad_group}' at 'groupName' \
             failed to satisfy constraint: Member must have length less than or equal to 64"
        )),
        "{err}"
    );

    let err = client
        .create_schedule()
        .name("end drill")
        .schedule_expression("at(2099-01-01T00:00:00)")
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn(&target)
                .role_arn(&role)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let mapped = map_err("scheduler", "CreateSchedule", PRIMARY, err);
    assert_eq!(
        mapped.aws_kind(),
        Some(AwsErrorKind::InvalidRequest),
        "{mapped}"
    );
    assert!(
        mapped
            .to_string()
            .contains("Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+"),
        "{mapped}"
    );

    good.delete(&drill)
        .await
        .expect("delete the drill's schedule");
}
