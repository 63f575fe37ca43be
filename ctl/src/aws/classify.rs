//! SDK errors, read for what an operator can do about them: Lambda's throttle (ctl
//! retries it itself), the service's refusals by code, and transport failures by
//! their innermost cause (connection refused, DNS, timeouts), in one line each.

use crate::error::{one_line, Failure, Role};
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::config::interceptors::InterceptorContext;
use aws_sdk_lambda::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_lambda::error::{ConnectorError, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use std::error::Error as StdError;
use std::io::ErrorKind;

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
pub(super) fn throttle(err: &SdkError<InvokeError, HttpResponse>) -> Option<String> {
    match err.as_service_error()? {
        InvokeError::TooManyRequestsException(e) => Some(match e.reason() {
            Some(reason) => format!("TooManyRequestsException, Reason: {}", reason.as_str()),
            None => "TooManyRequestsException".to_string(),
        }),
        _ => None,
    }
}

/// Why a call got no answer, whichever service it was for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cause {
    Unreachable(String),
    TimedOut(String),
    Unreadable(String),
    Request(String),
    /// The service answered with an error.
    Service {
        code: String,
        message: String,
    },
}

pub(super) fn cause<E>(err: &SdkError<E, HttpResponse>) -> Cause
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let source = || err.source().map_or_else(|| one_line(err), one_line);
    match err {
        SdkError::ServiceError(service) => Cause::Service {
            code: err.code().unwrap_or_default().to_string(),
            message: err
                .message()
                .map_or_else(|| one_line(service.err()), str::to_string),
        },
        SdkError::DispatchFailure(f) => {
            let why = f
                .as_connector_error()
                .map_or_else(|| "no connection".to_string(), connector_why);
            if f.is_timeout() {
                Cause::TimedOut(why)
            } else if f.is_user() {
                Cause::Request(why)
            } else {
                Cause::Unreachable(why)
            }
        }
        SdkError::TimeoutError(_) => Cause::TimedOut(source()),
        SdkError::ResponseError(_) => Cause::Unreadable(source()),
        SdkError::ConstructionFailure(_) => Cause::Request(source()),
        _ => Cause::Request(one_line(err)),
    }
}

/// The innermost reason a connection failed, in a few words ("connection refused").
fn connector_why(err: &ConnectorError) -> String {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let known = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused"),
                ErrorKind::ConnectionReset => Some("connection reset"),
                ErrorKind::ConnectionAborted => Some("connection aborted"),
                ErrorKind::TimedOut => Some("timed out"),
                _ => None,
            };
            if let Some(text) = known {
                return text.to_string();
            }
        }
        innermost = e.to_string();
        next = e.source();
    }
    // "Connection refused (os error 111)" -> "connection refused"
    let text = innermost
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = text.chars();
    chars.next().map_or(text.clone(), |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// An Invoke of `function` (`role`'s, in `region`) that got no answer.
pub(super) fn invoke_failure(
    cause: Cause,
    role: Role,
    function: &str,
    region: &str,
    endpoint: String,
) -> Failure {
    match cause {
        Cause::Unreachable(why) => Failure::Unreachable { why, endpoint },
        Cause::TimedOut(why) => Failure::TimedOut { why, endpoint },
        Cause::Unreadable(why) => Failure::Unreadable(why),
        Cause::Request(why) => Failure::Request(why),
        Cause::Service { code, message } => match code.as_str() {
            "ResourceNotFoundException" => Failure::NotFound {
                function: function.to_string(),
                region: region.to_string(),
                hint: role.hint(),
            },
            "AccessDeniedException" | "AccessDenied" => Failure::AccessDenied {
                function: function.to_string(),
                message,
            },
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException" => Failure::Credentials(message),
            "" => Failure::Refused(message),
            _ => Failure::Refused(format!("{code}: {message}")),
        },
    }
}
