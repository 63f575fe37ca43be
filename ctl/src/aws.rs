//! Lambda Invoke (and STS GetCallerIdentity) with errors an operator can act on.
//! Endpoints, credentials and the region come from the SDK's standard chain
//! (`AWS_ENDPOINT_URL`, `AWS_PROFILE`, `AWS_REGION`, …): nothing here knows where it runs.
//!
//! Lambda answers an Invoke with 429 `TooManyRequestsException` when the function's reserved
//! concurrency is taken by other runs (failover's tick, its event runs, a drill waiting for
//! the peer's surge). Lambda refuses before the function runs, so ctl retries it itself,
//! with bounded exponential backoff and jitter ([`Backoff`]), one stderr line per retry, and
//! then says the function is busy ([`CallError::Busy`]). Every other error keeps the SDK's
//! standard retries.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::config::interceptors::InterceptorContext;
use aws_sdk_lambda::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a drill that waits for the peer's surge (Lambda's limit is 15 minutes).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The SDK's standard retries (attempts per call) for everything but Lambda's 429.
const SDK_MAX_ATTEMPTS: u32 = 3;

/// How ctl retries an Invoke that Lambda throttled (429 `TooManyRequestsException`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's longest pause; it doubles for each next retry, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// 4 retries after pauses of at most 0.5, 1, 2 and 4 s, each at least half of that:
    /// 5 attempts over 3.75 to 7.5 s.
    pub const DEFAULT: Backoff = Backoff {
        retries: 4,
        base: Duration::from_millis(500),
        cap: Duration::from_secs(4),
    };

    /// The pause before retry `n` (1, 2, …) for `unit` in [0, 1]: between half the
    /// exponential ceiling and all of it ("equal jitter"), so retries spread out and still wait.
    pub fn delay(&self, n: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// The longest the retries of one call can wait in all.
    pub fn longest(&self) -> Duration {
        (1..=self.retries).map(|n| self.delay(n, 1.0)).sum()
    }
}

/// A number in [0, 1) for jitter, from std's randomly keyed hasher (no extra crate).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Where the retry lines go (stderr; tests collect them).
pub type Notice = Arc<dyn Fn(&str) + Send + Sync>;

/// Keeps the SDK from retrying Lambda's 429 out of sight (its standard mode counts
/// `TooManyRequestsException` among throttling errors): ctl retries it itself, saying so.
#[derive(Debug)]
struct ThrottlesAreRetriedByCtl;

impl ClassifyRetry for ThrottlesAreRetriedByCtl {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let throttled = match ctx.output_or_error() {
            Some(Err(err)) => err
                .as_operation_error()
                .and_then(|e| e.downcast_ref::<InvokeError>())
                .is_some_and(InvokeError::is_too_many_requests_exception),
            _ => false,
        };
        if throttled {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ctl retries Lambda's TooManyRequestsException itself"
    }
}

/// ctl's additions to a Lambda client's configuration.
pub(crate) fn lambda_config(
    builder: aws_sdk_lambda::config::Builder,
) -> aws_sdk_lambda::config::Builder {
    builder.retry_classifier(ThrottlesAreRetriedByCtl)
}

/// Lambda's throttle, as the SDK parsed it: `TooManyRequestsException` and its `Reason`.
fn throttle(err: &SdkError<InvokeError, HttpResponse>) -> Option<String> {
    match err.as_service_error()? {
        InvokeError::TooManyRequestsException(e) => Some(match e.reason() {
            Some(reason) => format!("TooManyRequestsException, Reason: {}", reason.as_str()),
            None => "TooManyRequestsException".to_string(),
        }),
        _ => None,
    }
}

/// Why a call did not produce an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No region anywhere in the chain: a usage problem.
    NoRegion,
    NoCredentials(String),
    FunctionNotFound {
        function: String,
        region: String,
        hint: String,
    },
    AccessDenied {
        function: String,
        region: String,
        message: String,
    },
    /// The function ran and failed (`X-Amz-Function-Error`).
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    Aws {
        function: String,
        region: String,
        message: String,
    },
    /// Lambda throttled every attempt (429): the function's reserved concurrency was taken.
    Busy {
        function: String,
        region: String,
        /// `TooManyRequestsException, Reason: …` as Lambda answered the last attempt.
        throttle: String,
        attempts: u32,
        waited: Duration,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegion => write!(
                f,
                "no region: pass --region REGION or set CTL_REGION or AWS_REGION \
                 (the region whose copy of the control-plane functions to invoke, e.g. eu-central-1)"
            ),
            Self::NoCredentials(e) => write!(
                f,
                "no usable AWS credentials ({e}): set AWS_PROFILE (and run `aws sso login` for SSO \
                 profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ),
            Self::FunctionNotFound {
                function,
                region,
                hint,
            } => write!(
                f,
                "function {function} not found in {region}: is the control plane deployed there, \
                 in this account? If it was deployed under another name, {hint}; if ctl asked the \
                 wrong region, pass --region"
            ),
            Self::AccessDenied {
                function,
                region,
                message,
            } => write!(
                f,
                "not allowed to invoke {function} in {region}: {message} \
                 (ctl needs lambda:InvokeFunction on the control-plane functions)"
            ),
            Self::Function {
                function,
                error_type,
                message,
            } => write!(f, "{function} failed: {error_type}: {message}"),
            Self::Aws {
                function,
                region,
                message,
            } => write!(f, "invoking {function} in {region} failed: {message}"),
            Self::Busy {
                function,
                region,
                throttle,
                attempts,
                waited,
            } => write!(
                f,
                "{function} in {region} is busy: Lambda throttled all {attempts} attempts over \
                 {:.1} s ({throttle}), so nothing ran; other runs of it (scheduled ticks, \
                 event runs, a drill waiting for the peer's surge) hold its reserved \
                 concurrency: run the command again in a minute",
                waited.as_secs_f64()
            ),
        }
    }
}

pub struct Aws {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_lambda::Client>>,
    backoff: Backoff,
    notice: Notice,
}

impl Aws {
    /// Loads the SDK configuration; `region` overrides the chain. Credentials are
    /// resolved once here so that a missing profile is reported before any call.
    pub async fn connect(region: Option<&str>) -> Result<Self, CallError> {
        let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(
                aws_config::retry::RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS),
            );
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CallError::NoRegion);
        }
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| CallError::NoCredentials("no credentials provider".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| CallError::NoCredentials(DisplayErrorContext(&e).to_string()))?;
        Ok(Self {
            sdk,
            clients: Mutex::new(HashMap::new()),
            backoff: Backoff::DEFAULT,
            notice: Arc::new(|line: &str| eprintln!("{line}")),
        })
    }

    /// An `Aws` whose `home` region is served by `client` (tests: a mocked client).
    #[cfg(test)]
    pub(crate) fn with_client(
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

    /// The region the SDK chain chose (or `--region`).
    pub fn home(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        let mut clients = self.clients.lock().expect("client cache");
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_lambda::config::Builder::from(&self.sdk)
                    .region(aws_config::Region::new(region.to_string()));
                aws_sdk_lambda::Client::from_conf(lambda_config(config).build())
            })
            .clone()
    }

    /// Invokes `function` in `region` synchronously and returns its answer.
    /// `hint` says how to name the function differently (flag and variable).
    /// A throttled Invoke (429) is retried per [`Backoff`], one notice line per retry.
    pub async fn invoke(
        &self,
        region: &str,
        function: &str,
        payload: &Value,
        hint: &str,
    ) -> Result<Value, CallError> {
        let started = Instant::now();
        let mut attempt = 1;
        let out = loop {
            let sent = self
                .lambda(region)
                .invoke()
                .function_name(function)
                .payload(aws_smithy_types::Blob::new(payload.to_string()))
                .send()
                .await;
            let err = match sent {
                Ok(out) => break out,
                Err(err) => err,
            };
            let Some(throttle) = throttle(&err) else {
                return Err(call_error(err, function, region, hint));
            };
            if attempt > self.backoff.retries {
                return Err(CallError::Busy {
                    function: function.to_string(),
                    region: region.to_string(),
                    throttle,
                    attempts: attempt,
                    waited: started.elapsed(),
                });
            }
            let delay = self.backoff.delay(attempt, jitter());
            (self.notice)(&format!(
                "ctl: {function} in {region} is busy ({throttle}); retry {attempt} of {} in {:.1} s",
                self.backoff.retries,
                delay.as_secs_f64()
            ));
            tokio::time::sleep(delay).await;
            attempt += 1;
        };
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let value: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if out.function_error().is_some() {
            return Err(CallError::Function {
                function: function.to_string(),
                error_type: value["errorType"]
                    .as_str()
                    .unwrap_or("Unhandled")
                    .to_string(),
                message: value["errorMessage"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            });
        }
        Ok(value)
    }

    /// The caller's ARN, recorded as `requested_by` (Lambda does not pass it on).
    pub async fn caller_arn(&self) -> Result<String, CallError> {
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        match sts.get_caller_identity().send().await {
            Ok(out) => Ok(out.arn().unwrap_or("unknown").to_string()),
            Err(err) => Err(CallError::NoCredentials(format!(
                "STS GetCallerIdentity: {}",
                err.message()
                    .map(str::to_string)
                    .unwrap_or_else(|| DisplayErrorContext(&err).to_string())
            ))),
        }
    }
}

/// An Invoke error other than Lambda's throttle, as an operator can act on it.
fn call_error(
    err: SdkError<InvokeError, HttpResponse>,
    function: &str,
    region: &str,
    hint: &str,
) -> CallError {
    let code = err.code().unwrap_or_default().to_string();
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    match code.as_str() {
        "ResourceNotFoundException" => CallError::FunctionNotFound {
            function: function.to_string(),
            region: region.to_string(),
            hint: hint.to_string(),
        },
        "AccessDeniedException" | "AccessDenied" => CallError::AccessDenied {
            function: function.to_string(),
            region: region.to_string(),
            message,
        },
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            CallError::NoCredentials(message)
        }
        _ => CallError::Aws {
            function: function.to_string(),
            region: region.to_string(),
            message: if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_lambda::operation::invoke::InvokeOutput;
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_types::body::SdkBody;

    /// Lambda's answer when the function's reserved concurrency is taken (REST-JSON, 429).
    pub(crate) fn throttled() -> HttpResponse {
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

    pub(crate) fn answered(record: &str) -> InvokeOutput {
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
    pub(crate) const FAST: Backoff = Backoff {
        retries: 4,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(16),
    };

    /// An `Aws` in eu-central-1 whose Lambda client is configured as ctl configures it (the
    /// SDK's standard retries, `SDK_MAX_ATTEMPTS`, plus `lambda_config`) and answered by
    /// `rule`; the notices it prints are collected.
    pub(crate) fn mocked(rule: &Rule) -> (Aws, Arc<Mutex<Vec<String>>>) {
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
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let notice: Notice = Arc::new(move |line: &str| {
            sink.lock().expect("notices").push(line.to_string());
        });
        (
            Aws::with_client("eu-central-1", client, FAST, notice),
            lines,
        )
    }

    const FUNCTION: &str = "orders-failover-eu-central-1";

    #[tokio::test]
    async fn a_throttled_invoke_is_retried_by_ctl_saying_so_and_answers() {
        let rule = throttled_twice(r#"{"outcome":"noop"}"#);
        let (aws, lines) = mocked(&rule);
        let answer = aws
            .invoke("eu-central-1", FUNCTION, &serde_json::json!({}), "hint")
            .await
            .expect("answered after 2 retries");
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
        let err = aws
            .invoke("eu-central-1", FUNCTION, &serde_json::json!({}), "hint")
            .await
            .expect_err("busy");
        // bounded: the first attempt and 4 retries, none by the SDK
        assert_eq!(rule.num_calls(), 5);
        assert_eq!(lines.lock().unwrap().len(), 4);
        assert!(
            matches!(&err, CallError::Busy { attempts: 5, throttle, .. }
                if throttle.contains("ReservedFunctionConcurrentInvocationLimitExceeded")),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        for part in [
            format!("{FUNCTION} in eu-central-1 is busy"),
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
        let err = aws
            .invoke("eu-central-1", FUNCTION, &serde_json::json!({}), "hint")
            .await
            .expect_err("not found");
        assert!(matches!(err, CallError::FunctionNotFound { .. }), "{err:?}");
        assert_eq!(rule.num_calls(), 1);
        assert!(lines.lock().unwrap().is_empty());
    }

    #[test]
    fn the_default_backoff_is_a_few_attempts_over_a_few_seconds() {
        let b = Backoff::DEFAULT;
        assert_eq!(b.retries, 4);
        let shortest: Duration = (1..=b.retries).map(|n| b.delay(n, 0.0)).sum();
        assert_eq!(shortest, Duration::from_millis(3750));
        assert_eq!(b.longest(), Duration::from_millis(7500));
        // what `ctl --help` promises
        assert!(crate::args::USAGE.contains("up to 4 times over 4 to 8 s"));
        // exponential, capped, jittered within [half, all] of the ceiling
        for (n, ceiling) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (9, 4000)] {
            let ceiling = Duration::from_millis(ceiling);
            assert_eq!(b.delay(n, 1.0), ceiling, "retry {n}");
            assert_eq!(b.delay(n, 0.0), ceiling / 2, "retry {n}");
            let d = b.delay(n, jitter());
            assert!(ceiling / 2 <= d && d <= ceiling, "retry {n}: {d:?}");
        }
        let draws: std::collections::BTreeSet<u64> =
            (0..20).map(|_| (jitter() * 1e9) as u64).collect();
        assert!(draws.len() > 1, "jitter varies: {draws:?}");
    }
}
