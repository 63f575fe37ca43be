//! AWS access: SDK configuration per region (pinned behaviour version, explicit
//! timeouts and retries) and the mapping of SDK errors into [`crate::Error`].
//! Endpoints come only from the SDK's own variables (`AWS_ENDPOINT_URL`, ...).

pub mod cloudwatch;
pub mod ecr;
pub mod eventbridge;
pub mod lambda;
pub mod local_store;
pub mod metric_data;
pub mod probe;
pub mod route53;
pub mod scheduler;
pub mod secrets;
pub mod sns;
pub mod ssm;
pub mod tagging;
pub mod tls;

use crate::error::{AwsErrorKind, Error};
use crate::region::Region;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Timeouts: failover acts exactly when a region is impaired, so no call may hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_ATTEMPTS: u32 = 3;
/// Overrides [`ATTEMPT_TIMEOUT`] (milliseconds, 50 to 60000) where calls are known to
/// be faster or slower than usual; anything else keeps the default.
pub const ATTEMPT_TIMEOUT_ENV: &str = "CONTROL_PLANE_ATTEMPT_TIMEOUT_MS";

/// The per-attempt timeout: [`ATTEMPT_TIMEOUT`] unless [`ATTEMPT_TIMEOUT_ENV`] sets a valid one.
pub fn attempt_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| (50..=60_000).contains(ms))
        .map_or(ATTEMPT_TIMEOUT, Duration::from_millis)
}

pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// The process's one loaded SDK configuration: every client shares its HTTP
/// client (one TLS setup) and its credentials cache.
static BASE_CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();

/// The SDK configuration for one region. The first call loads it (credentials
/// chain, HTTP client, timeouts, retries); later calls only change the region, so a
/// function with clients in several regions pays for the load once at cold start.
pub async fn sdk_config(region: &Region) -> SdkConfig {
    BASE_CONFIG
        .get_or_init(|| load_sdk_config(region))
        .await
        .to_builder()
        .region(aws_config::Region::new(region.as_str().to_string()))
        .build()
}

async fn load_sdk_config(region: &Region) -> SdkConfig {
    // `start` has refused a bad value already; the default stands for anything else.
    let trust = tls::Trust::parse(std::env::var(tls::TRUST_ENV).ok().as_deref())
        .unwrap_or(tls::Trust::AwsRoots);
    aws_config::defaults(behavior_version())
        .http_client(tls::https_client(trust))
        .region(aws_config::Region::new(region.as_str().to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt_timeout(
                    std::env::var(ATTEMPT_TIMEOUT_ENV).ok().as_deref(),
                ))
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .load()
        .await
}

/// The region this copy of the function runs in (`AWS_REGION`, set by Lambda).
pub fn home_region() -> Result<Region, Error> {
    let name = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| Error::Config(vec!["AWS_REGION is not set".into()]))?;
    Region::parse(&name).map_err(|e| Error::Config(vec![format!("AWS_REGION: {e}")]))
}

/// The Lambda boundary: the runtime reports `error_type` (whether a retry can help)
/// and the message. Here rather than in `error`, so the core needs no Lambda runtime.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// Maps an SDK error to the crate's error, keeping throttling, conflicts,
/// not-found and access-denied distinguishable.
pub fn map_err<E, R>(
    service: &'static str,
    operation: &'static str,
    region: &str,
    err: SdkError<E, R>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, "timed out".to_string()),
        SdkError::DispatchFailure(f) => {
            let kind = if f.is_timeout() {
                AwsErrorKind::Timeout
            } else {
                AwsErrorKind::Transient
            };
            (
                kind,
                format!(
                    "dispatch failure: {:?}",
                    f.as_connector_error().map(|c| c.to_string())
                ),
            )
        }
        SdkError::ResponseError(_) => (AwsErrorKind::Transient, "unparseable response".to_string()),
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = format!("{code}: {}", e.message().unwrap_or(""));
            (classify_code(code), message)
        }
        SdkError::ConstructionFailure(_) => (
            AwsErrorKind::InvalidRequest,
            "request construction failed".to_string(),
        ),
        _ => (AwsErrorKind::Other, err.to_string()),
    };
    Error::Aws {
        service,
        operation,
        region: region.to_string(),
        kind,
        message,
    }
}

/// Classifies an AWS error code. Codes differ by service and protocol.
pub fn classify_code(code: &str) -> AwsErrorKind {
    match code {
        "Throttling"
        | "Throttled"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "ProvisionedThroughputExceededException"
        | "SlowDown"
        | "PriorRequestNotComplete"
        | "LimitExceededException" => AwsErrorKind::Throttling,
        "ResourceConflictException"
        | "ConflictException"
        | "ConcurrentModification"
        | "ConcurrentModificationException"
        | "InvalidChangeBatch"
        | "HealthCheckVersionMismatch"
        | "ResourceInUseException" => AwsErrorKind::Conflict,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "AuthFailure" => AwsErrorKind::AccessDenied,
        "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "ServiceException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalServiceError"
        | "InternalServiceErrorException"
        | "ServerException" => AwsErrorKind::Transient,
        c if c.contains("NotFound") || c.starts_with("NoSuch") => AwsErrorKind::NotFound,
        c if c.starts_with("Invalid") || c.contains("Validation") || c.contains("Malformed") => {
            AwsErrorKind::InvalidRequest
        }
        _ => AwsErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_type_and_message() {
        let d: lambda_runtime::Diagnostic = Error::invalid_event("no action").into();
        assert_eq!(d.error_type, "NonRetryable");
        assert_eq!(d.error_message, "rejected event: no action");
    }

    #[tokio::test]
    async fn every_region_derives_from_one_loaded_config() {
        let eu = sdk_config(&Region::parse("eu-central-1").unwrap()).await;
        let us = sdk_config(&Region::parse("us-east-1").unwrap()).await;
        assert_eq!(eu.region().map(|r| r.as_ref()), Some("eu-central-1"));
        assert_eq!(us.region().map(|r| r.as_ref()), Some("us-east-1"));
        for config in [&eu, &us] {
            assert_eq!(
                config.retry_config().map(|r| r.max_attempts()),
                Some(MAX_ATTEMPTS)
            );
            assert_eq!(
                config.timeout_config().and_then(|t| t.operation_timeout()),
                Some(OPERATION_TIMEOUT)
            );
        }
        assert_eq!(
            BASE_CONFIG
                .get()
                .and_then(|b| b.region())
                .map(|r| r.as_ref()),
            Some("eu-central-1"),
            "loaded once, by the first caller"
        );
    }

    #[test]
    fn attempt_timeout_is_overridden_only_by_a_sane_value() {
        assert_eq!(attempt_timeout(None), ATTEMPT_TIMEOUT);
        assert_eq!(attempt_timeout(Some("400")), Duration::from_millis(400));
        for bad in ["", "abc", "0", "10", "600000", "-5"] {
            assert_eq!(attempt_timeout(Some(bad)), ATTEMPT_TIMEOUT, "{bad:?}");
        }
    }

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(classify_code("Throttling"), AwsErrorKind::Throttling);
        // SNS's API reference models `Throttled` (HTTP 429) besides `Throttling`.
        assert_eq!(classify_code("Throttled"), AwsErrorKind::Throttling);
        assert_eq!(
            classify_code("TooManyRequestsException"),
            AwsErrorKind::Throttling
        );
        assert_eq!(
            classify_code("ResourceConflictException"),
            AwsErrorKind::Conflict
        );
        assert_eq!(classify_code("InvalidChangeBatch"), AwsErrorKind::Conflict);
        assert_eq!(classify_code("NoSuchHealthCheck"), AwsErrorKind::NotFound);
        assert_eq!(
            classify_code("ResourceNotFoundException"),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            classify_code("AccessDeniedException"),
            AwsErrorKind::AccessDenied
        );
        assert_eq!(
            classify_code("InvalidParameterValueException"),
            AwsErrorKind::InvalidRequest
        );
        assert_eq!(classify_code("ServiceUnavailable"), AwsErrorKind::Transient);
        assert_eq!(classify_code("Weird"), AwsErrorKind::Other);
    }
}
