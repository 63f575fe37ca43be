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
            .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
                aws_sdk_lambda::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
            ))
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
}

// ------------------------------------------------------------------ function URL

/// A function URL stand-in on a loopback port: answers each request with the next of
/// `answers` (the last repeats) and keeps the requests it got (head and body).
pub(crate) async fn url_server(answers: Vec<(u16, &'static str)>) -> (String, Lines) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let requests: Lines = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // the head, then as much body as Content-Length says
            loop {
                let read = stream.read(&mut buf).await.unwrap_or(0);
                if read == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..read]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).to_string());
            let (status, body) = answers[n.min(answers.len() - 1)];
            n += 1;
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (url, requests)
}

/// `GetFunctionUrlConfig` answering `url`.
pub(crate) fn url_config(url: String) -> Rule {
    mock!(aws_sdk_lambda::Client::get_function_url_config).then_output(move || {
        aws_sdk_lambda::operation::get_function_url_config::GetFunctionUrlConfigOutput::builder()
            .function_url(url.clone())
            .function_arn(format!(
                "arn:aws:lambda:eu-central-1:333333333333:function:{FUNCTION}"
            ))
            .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::AwsIam)
            .creation_time("2026-01-01T00:00:00.000+0000")
            .last_modified_time("2026-01-01T00:00:00.000+0000")
            .build()
            .unwrap()
    })
}

fn evacuate() -> ManualAction {
    ManualAction::from(Action::Evacuate {
        region: shared::Region::parse("us-east-1").unwrap(),
        force: true,
    })
    .reason("API errors")
}

#[tokio::test]
async fn a_routing_action_is_a_sigv4_signed_post_to_the_function_url() {
    let (url, requests) = url_server(vec![(200, r#"{"outcome":"applied"}"#)]).await;
    let rule = url_config(url);
    let (aws, _) = mocked(&rule);
    let answer = aws
        .invoke_url(Role::Failover, "eu-central-1", FUNCTION, &evacuate())
        .await
        .expect("answered");
    assert_eq!(answer, serde_json::json!({"outcome": "applied"}));
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    // signed for Lambda in the function's region, with the caller's key
    assert!(
        lower.contains("authorization: aws4-hmac-sha256 credential=akidtest/")
            && lower.contains("/eu-central-1/lambda/aws4_request"),
        "{request}"
    );
    assert!(lower.contains("x-amz-date: "), "{request}");
    // the body is the manual action; who asked is not in it
    let body = request.split_once("\r\n\r\n").unwrap().1;
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body, evacuate().to_payload());
    assert!(body.get("requested_by").is_none(), "{body}");
}

#[tokio::test]
async fn url_answers_become_one_line_errors() {
    let cases: [(u16, &'static str, &str); 4] = [
        (
            403,
            r#"{"Message":"The request signature we calculated does not match"}"#,
            "refused the call: The request signature we calculated does not match (ctl signs with your credentials; they need lambda:InvokeFunctionUrl and lambda:InvokeFunction on it)",
        ),
        (
            400,
            r#"{"errorType":"NonRetryable","errorMessage":"rejected event: no"}"#,
            "failed: NonRetryable: rejected event: no",
        ),
        (
            502,
            r#"{"Message":"Internal Server Error"}"#,
            "failed: Unhandled: Internal Server Error (502 from",
        ),
        (404, r#"{"Message":"Not Found"}"#, "404 from"),
    ];
    for (status, body, needle) in cases {
        let (url, _) = url_server(vec![(status, body)]).await;
        let rule = url_config(url);
        let (aws, lines) = mocked(&rule);
        let err = aws
            .invoke_url(Role::Failover, "eu-central-1", FUNCTION, &evacuate())
            .await
            .expect_err("an error");
        let text = err.to_string();
        assert!(text.contains(needle), "{status}: {text}");
        assert!(!text.contains('\n'), "one line: {text}");
        assert!(lines.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_function_without_its_url_says_so() {
    let rule = mock!(aws_sdk_lambda::Client::get_function_url_config)
        .sequence()
        .http_response(|| {
            let mut response = HttpResponse::new(
                404.try_into().expect("status"),
                SdkBody::from(
                    r#"{"Type":"User","Message":"The resource you requested does not exist."}"#,
                ),
            );
            response
                .headers_mut()
                .insert("x-amzn-errortype", "ResourceNotFoundException");
            response
        })
        .repeatedly()
        .build();
    let (aws, _) = mocked(&rule);
    let err = aws
        .invoke_url(Role::Failover, "eu-central-1", FUNCTION, &evacuate())
        .await
        .expect_err("no URL");
    assert!(matches!(err.failure, Failure::NoUrl { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("{FUNCTION} has no function URL in eu-central-1")),
        "{err}"
    );
}
