//! The shared error enum. Every variant says whether a retry can help, which the
//! Lambda boundary turns into the `error_type` of the runtime's diagnostic
//! (`shared::aws`, so that this core needs no Lambda runtime).

use std::fmt;

/// What went wrong with an AWS call, coarse enough to decide on a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsErrorKind {
    Throttling,
    Conflict,
    NotFound,
    AccessDenied,
    InvalidRequest,
    Timeout,
    Transient,
    Other,
}

impl AwsErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Throttling | Self::Conflict | Self::Timeout | Self::Transient
        )
    }
}

impl fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Throttling => "throttling",
            Self::Conflict => "conflict",
            Self::NotFound => "not found",
            Self::AccessDenied => "access denied",
            Self::InvalidRequest => "invalid request",
            Self::Timeout => "timeout",
            Self::Transient => "transient service error",
            Self::Other => "error",
        };
        f.write_str(text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable; every problem is listed.
    #[error("invalid configuration ({} problem(s)): {}", .0.len(), .0.join("; "))]
    Config(Vec<String>),

    /// The event is not one this function handles, or is malformed.
    #[error("rejected event: {0}")]
    InvalidEvent(String),

    /// An AWS call failed.
    #[error("{service}.{operation} in {region} failed ({kind}): {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        region: String,
        kind: AwsErrorKind,
        message: String,
    },

    /// Data read from AWS does not have the shape this control plane wrote.
    #[error("unexpected state: {0}")]
    State(String),

    /// An event-driven action failed part-way; its decision record (logged) says
    /// where. Retrying the event, or the next scheduled run, completes it.
    #[error("action failed, retry: {0}")]
    Unfinished(String),
}

impl Error {
    pub fn invalid_event(message: impl Into<String>) -> Self {
        Self::InvalidEvent(message.into())
    }

    /// Whether Lambda's async retry (or the caller) should try again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { kind, .. } => kind.is_retryable(),
            Self::Unfinished(_) => true,
            Self::Config(_) | Self::InvalidEvent(_) | Self::State(_) => false,
        }
    }

    pub fn aws_kind(&self) -> Option<AwsErrorKind> {
        match self {
            Self::Aws { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The `error_type` reported to the Lambda runtime.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_mapping_follows_the_kind() {
        let aws = |kind| Error::Aws {
            service: "route53",
            operation: "GetHealthCheck",
            region: "us-east-1".into(),
            kind,
            message: "x".into(),
        };
        assert_eq!(aws(AwsErrorKind::Throttling).error_type(), "Retryable");
        assert_eq!(aws(AwsErrorKind::Timeout).error_type(), "Retryable");
        assert_eq!(aws(AwsErrorKind::AccessDenied).error_type(), "NonRetryable");
        assert_eq!(Error::invalid_event("x").error_type(), "NonRetryable");
        assert_eq!(Error::Unfinished("x".into()).error_type(), "Retryable");
        assert_eq!(Error::Config(vec!["a".into()]).error_type(), "NonRetryable");
    }
}
