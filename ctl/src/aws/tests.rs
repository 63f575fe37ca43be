//! ctl's Lambda client as ctl configures it, answered by mocks (429s, not found) or by
//! a closed local port (an unreachable endpoint).

use super::*;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::body::SdkBody;
use shared::Action;

impl Aws {
    /// An `Aws` whose `home` region is served by `client`.
    fn with_client(
        home: &str,
        client: aws_sdk_lambda::Client,
        backoff: Backoff,
        notice: Notice,
    ) -> Self {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new(home.to_string()))
            .behavior_version(BehaviorVersion::v2026_01_12())
            .build();
        Self {
            sdk,
            clients: Mutex::new(HashMap::from([(home.to_string(), client)])),
            backoff,
            notice,
        }
    }
}

/// Lambda's answer when the function's reserved concurrency is taken (REST-JSON, 429).
fn throttled() -> HttpResponse {
    let mut response = HttpResponse::new(
        429.try_into().expect("status"),
        SdkBody::from(
            r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#,
        ),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", "TooManyRequestsException");
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

fn answered(record: &str) -> InvokeOutput {
    InvokeOutput::builder()
        .status_code(200)
        .payload(aws_smithy_types::Blob::new(record))
        .build()
}

/// 2 throttles, then the answer.
pub(crate) fn throttled_twice(record: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(move || answered(record))
        .build()
}

pub(crate) fn always_throttled() -> Rule {
    mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .http_response(throttled)
        .repeatedly()
        .build()
}

/// Fast pauses, same shape as [`Backoff::DEFAULT`].
const FAST: Backoff = Backoff {
    retries: 4,
    base: Duration::from_millis(2),
    cap: Duration::from_millis(16),
};

type Lines = Arc<Mutex<Vec<String>>>;

fn collecting() -> (Notice, Lines) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let notice: Notice = Arc::new(move |line: &str| {
        sink.lock().expect("notices").push(line.to_string());
    });
    (notice, lines)
}

/// An `Aws` in eu-central-1 whose Lambda client is configured as ctl configures it (the
/// SDK's standard retries, `SDK_MAX_ATTEMPTS`, plus `lambda_config`) and answered by
/// `rule`; the notices it prints are collected.
pub(crate) fn mocked(rule: &Rule) -> (Aws, Lines) {
    let builder = aws_sdk_lambda::config::Builder::new()
        .behavior_version(BehaviorVersion::v2026_01_12())
        .region(aws_config::Region::new("eu-central-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS),
        )
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(aws_smithy_mocks::MockResponseInterceptor::new().with_rule(rule));
    let client = aws_sdk_lambda::Client::from_conf(lambda_config(builder).build());
    let (notice, lines) = collecting();
    (
        Aws::with_client("eu-central-1", client, FAST, notice),
        lines,
    )
}

const FUNCTION: &str = "orders-failover-eu-central-1";

async fn invoke(aws: &Aws) -> Result<Value, CallError> {
    let status = ManualAction::from(Action::Status);
    aws.invoke(Role::Failover, "eu-central-1", FUNCTION, &status)
        .await
}

#[tokio::test]
async fn a_throttled_invoke_is_retried_by_ctl_saying_so_and_answers() {
    let rule = throttled_twice(r#"{"outcome":"noop"}"#);
    let (aws, lines) = mocked(&rule);
    let answer = invoke(&aws).await.expect("answered after 2 retries");
    assert_eq!(answer, serde_json::json!({"outcome": "noop"}));
    // 3 requests in all: the SDK did not retry the 429s on its own, ctl did
    assert_eq!(rule.num_calls(), 3);
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "one line per retry: {lines:?}");
    for (n, line) in lines.iter().enumerate() {
        for part in [
            format!("ctl: {FUNCTION} in eu-central-1 is busy"),
            "TooManyRequestsException, Reason: ReservedFunctionConcurrentInvocationLimitExceeded"
                .to_string(),
            format!("retry {} of 4 in ", n + 1),
        ] {
            assert!(line.contains(&part), "{part:?} not in {line:?}");
        }
        assert!(!line.contains('\n'), "{line:?}");
    }
}

#[tokio::test]
async fn an_invoke_throttled_every_time_ends_busy_in_one_line() {
    let rule = always_throttled();
    let (aws, lines) = mocked(&rule);
    let err = invoke(&aws).await.expect_err("busy");
    // bounded: the first attempt and 4 retries, none by the SDK
    assert_eq!(rule.num_calls(), 5);
    assert_eq!(lines.lock().unwrap().len(), 4);
    assert!(
        matches!(&err.failure, Failure::Busy { attempts: 5, throttle, .. }
            if throttle.contains("ReservedFunctionConcurrentInvocationLimitExceeded")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    for part in [
        format!("failover in eu-central-1: {FUNCTION} is busy"),
        "all 5 attempts".to_string(),
        "nothing ran".to_string(),
        "reserved concurrency".to_string(),
        "run the command again".to_string(),
    ] {
        assert!(text.contains(&part), "{part:?} not in {text:?}");
    }
}

#[tokio::test]
async fn other_errors_are_not_retried_by_ctl() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .http_response(|| {
            let mut response = HttpResponse::new(
                404.try_into().expect("status"),
                SdkBody::from(r#"{"Type":"User","message":"Function not found"}"#),
            );
            response
                .headers_mut()
                .insert("x-amzn-errortype", "ResourceNotFoundException");
            response
        })
        .repeatedly()
        .build();
    let (aws, lines) = mocked(&rule);
    let err = invoke(&aws).await.expect_err("not found");
    assert!(matches!(err.failure, Failure::NotFound { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        format!("function {FUNCTION} not found in eu-central-1"),
        "--failover-function NAME (CTL_FAILOVER_FUNCTION)".to_string(),
        "pass --region".to_string(),
    ] {
        assert!(text.contains(&part), "{part:?} not in {text:?}");
    }
    assert_eq!(rule.num_calls(), 1);
    assert!(lines.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_line_naming_it() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::v2026_01_12())
        .region(aws_config::Region::new("eu-central-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
            aws_sdk_lambda::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let (notice, lines) = collecting();
    let aws = Aws {
        sdk,
        clients: Mutex::new(HashMap::new()),
        backoff: FAST,
        notice,
    };
    let err = invoke(&aws).await.expect_err("unreachable");
    assert_eq!(
        err.to_string(),
        format!(
            "failover in eu-central-1: could not reach Lambda (connection refused at {endpoint}): \
             check AWS_ENDPOINT_URL / network"
        )
    );
    assert!(lines.lock().unwrap().is_empty(), "not a throttle");
    let who = aws.caller_arn().await.expect_err("unreachable");
    let text = who.to_string();
    assert!(
        text.contains(&format!(
            "could not reach STS (connection refused at {endpoint})"
        )) && text.contains("--requested-by")
            && !text.contains('\n'),
        "{text}"
    );
}
