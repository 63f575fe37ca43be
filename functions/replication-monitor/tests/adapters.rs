//! Adapter tests (aws-smithy-mocks) for the Secrets Manager and SNS adapters in
//! `shared`. They live here because this crate's dev-dependencies enable the SDKs'
//! `test-util` feature for those two clients.

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{ReplicationStatusType, StatusType};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use shared::aws::secrets::{ReplicaState, SecretReplication, SecretsManager};
use shared::aws::sns::{Notifier, Sns};
use shared::error::AwsErrorKind;

fn fast_retries(max_attempts: u32) -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(std::time::Duration::from_millis(1))
}

#[tokio::test]
async fn describe_secret_maps_replica_states() {
    let rule = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .match_requests(|r| r.secret_id() == Some("orders/db"))
        .then_output(|| {
            DescribeSecretOutput::builder()
                .name("orders/db")
                .last_changed_date(aws_smithy_types::DateTime::from_secs(1_790_000_000))
                .replication_status(
                    ReplicationStatusType::builder()
                        .region("us-east-1")
                        .status(StatusType::InSync)
                        .build(),
                )
                .replication_status(
                    ReplicationStatusType::builder()
                        .region("eu-west-1")
                        .status(StatusType::Failed)
                        .status_message("KMS key denied")
                        .build(),
                )
                .replication_status(
                    ReplicationStatusType::builder()
                        .region("us-west-2")
                        .status(StatusType::InProgress)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&rule]);
    let sm = SecretsManager::from_client(client, "eu-central-1");
    let s = sm.replicas("orders/db").await.unwrap();
    let states: Vec<_> = s
        .replicas
        .iter()
        .map(|r| (r.region.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("us-east-1", ReplicaState::InSync),
            ("eu-west-1", ReplicaState::Failed),
            ("us-west-2", ReplicaState::InProgress)
        ]
    );
    assert_eq!(s.replicas[1].message.as_deref(), Some("KMS key denied"));
    assert_eq!(s.last_changed.unwrap().timestamp(), 1_790_000_000);
}

#[tokio::test]
async fn describe_secret_errors_are_mapped_and_throttling_is_bounded() {
    let missing = mock!(aws_sdk_secretsmanager::Client::describe_secret).sequence().http_status(
        400,
        Some(r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#.into()),
    );
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        [&missing.build()]
    );
    let err = SecretsManager::from_client(client, "eu-central-1")
        .replicas("gone")
        .await
        .unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::NotFound));
    assert!(err.to_string().contains("DescribeSecret"), "{err}");

    let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let throttled = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .sequence()
        .http_status(400, Some(body.into()))
        .times(2)
        .output(|| DescribeSecretOutput::builder().name("orders/db").build())
        .build();
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        [&throttled],
        |c| c.retry_config(fast_retries(3))
    );
    assert!(SecretsManager::from_client(client, "eu-central-1")
        .replicas("orders/db")
        .await
        .is_ok());
    assert_eq!(throttled.num_calls(), 3, "retried within the bound");

    let always = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .sequence()
        .http_status(400, Some(body.into()))
        .times(10)
        .build();
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        [&always],
        |c| c.retry_config(fast_retries(3))
    );
    let err = SecretsManager::from_client(client, "eu-central-1")
        .replicas("orders/db")
        .await
        .unwrap_err();
    assert_eq!(err.aws_kind(), Some(AwsErrorKind::Throttling));
    assert!(err.is_retryable());
    assert_eq!(always.num_calls(), 3);
}

#[tokio::test]
async fn sns_publishes_a_clean_subject_to_the_topic() {
    let topic = "arn:aws:sns:eu-central-1:333333333333:alerts";
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            r.topic_arn() == Some(topic)
                && r.subject()
                    .is_some_and(|s| s.len() < 100 && !s.contains('\n'))
                && r.message() == Some("body")
        })
        .then_output(|| PublishOutput::builder().message_id("m1").build());
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule]);
    let sns = Sns::from_client(client, "eu-central-1", topic);
    sns.notify(&format!("line one\nline two {}", "x".repeat(200)), "body")
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn sns_errors_are_mapped() {
    let denied = mock!(aws_sdk_sns::Client::publish).sequence().http_status(
        403,
        Some(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not allowed</Message></Error></ErrorResponse>"
                .into(),
        ),
    );
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&denied.build()]);
    let err = Sns::from_client(
        client,
        "eu-central-1",
        "arn:aws:sns:eu-central-1:333333333333:alerts",
    )
    .notify("s", "m")
    .await
    .unwrap_err();
    assert!(err.to_string().contains("sns.Publish"), "{err}");
    assert!(!err.is_retryable());

    let throttled = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(
            400,
            Some("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".into()),
        )
        .times(2)
        .output(|| PublishOutput::builder().message_id("m2").build())
        .build();
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&throttled], |c| c
        .retry_config(fast_retries(3)));
    Sns::from_client(
        client,
        "eu-central-1",
        "arn:aws:sns:eu-central-1:333333333333:alerts",
    )
    .notify("s", "m")
    .await
    .unwrap();
    assert_eq!(throttled.num_calls(), 3);
}
