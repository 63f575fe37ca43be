//! What went wrong, each as one line an operator can act on: what failed, then
//! what to do. Never the SDK's Debug output (see [`one_line`]).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// ctl could not start calling: no region, or no credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    /// No region anywhere in the chain: a usage problem.
    #[error(
        "no region: pass --region REGION or set CTL_REGION or AWS_REGION \
         (the region whose copy of the control-plane functions to invoke, e.g. eu-central-1)"
    )]
    NoRegion,
    #[error(
        "no usable AWS credentials ({0}): set AWS_PROFILE (and run `aws sso login` for SSO \
         profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials(String),
}

impl SetupError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NoRegion => 2,
            Self::NoCredentials(_) => 1,
        }
    }
}

/// The control-plane function a call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Failover,
    Monitor,
    Scheduler,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Monitor => "replication-monitor",
            Self::Scheduler => "concurrency-scheduler",
        }
    }

    /// How to name the function differently (flag and variable).
    pub fn hint(self) -> &'static str {
        match self {
            Self::Failover => {
                "pass --service NAME (CTL_SERVICE) or --failover-function NAME (CTL_FAILOVER_FUNCTION)"
            }
            Self::Monitor => {
                "pass --service NAME (CTL_SERVICE) or --monitor-function NAME (CTL_MONITOR_FUNCTION)"
            }
            Self::Scheduler => {
                "pass --service NAME (CTL_SERVICE) or --scheduler-function NAME (CTL_SCHEDULER_FUNCTION)"
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A call to one function that produced no answer ctl can show.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{role} in {region}: {failure}")]
pub struct CallError {
    pub role: Role,
    pub region: String,
    pub failure: Failure,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    #[error(
        "function {function} not found in {region}: is the control plane deployed there, in this \
         account? If it was deployed under another name, {hint}; if ctl asked the wrong region, \
         pass --region"
    )]
    NotFound {
        function: String,
        region: String,
        hint: &'static str,
    },
    #[error(
        "not allowed to invoke {function}: {message} (ctl needs lambda:InvokeFunction on the \
         control-plane functions)"
    )]
    AccessDenied { function: String, message: String },
    /// Lambda refused the credentials: nothing else will work either.
    #[error(
        "no usable AWS credentials ({0}): set AWS_PROFILE (and run `aws sso login` for SSO \
         profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    Credentials(String),
    #[error("could not reach Lambda ({why} at {endpoint}): check AWS_ENDPOINT_URL / network")]
    Unreachable { why: String, endpoint: String },
    #[error(
        "Lambda did not answer in time ({why} at {endpoint}): check AWS_ENDPOINT_URL / network, \
         then run the command again"
    )]
    TimedOut { why: String, endpoint: String },
    /// Lambda throttled every attempt (429): the function's reserved concurrency was taken.
    #[error(
        "{function} is busy: Lambda throttled all {attempts} attempts over {:.1} s ({throttle}), \
         so nothing ran; other runs of it (scheduled ticks, event runs, a drill waiting for the \
         peer's surge) hold its reserved concurrency: run the command again in a minute",
        .waited.as_secs_f64()
    )]
    Busy {
        function: String,
        /// `TooManyRequestsException, Reason: …` as Lambda answered the last attempt.
        throttle: String,
        attempts: u32,
        waited: Duration,
    },
    /// The function ran and failed (`X-Amz-Function-Error`).
    #[error(
        "{function} has no function URL in {region}, which is how routing actions reach it: \
         is the control plane deployed there with its operator entry point?"
    )]
    NoUrl { function: String, region: String },
    #[error(
        "{function}'s function URL refused the call: {message} (ctl signs with your \
         credentials; they need lambda:InvokeFunctionUrl and lambda:InvokeFunction on it)"
    )]
    UrlDenied { function: String, message: String },
    #[error("{function} failed: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    #[error("Lambda refused the call ({0})")]
    Refused(String),
    #[error("Lambda's answer could not be read ({0}): run the command again")]
    Unreadable(String),
    #[error("the request could not be made ({0}): check AWS_ENDPOINT_URL and the region")]
    Request(String),
    #[error(
        "{function} answered something ctl cannot read ({why}): is ctl as new as the deployed \
         functions?"
    )]
    NotARecord { function: String, why: String },
}

/// An error and its sources as one line: each cause's own text once, joined by ": ",
/// whitespace (and the line breaks of multi-line messages) collapsed.
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Many errors repeat their source's text in their own.
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn one_line_names_each_cause_once_on_one_line() {
        let io = std::io::Error::other("first\n  second");
        assert_eq!(one_line(&Outer(io)), "outer failed: first second");
    }

    #[test]
    fn call_errors_say_which_function_and_region_first() {
        let e = CallError {
            role: Role::Failover,
            region: "eu-central-1".into(),
            failure: Failure::Unreachable {
                why: "connection refused".into(),
                endpoint: "http://127.0.0.1:9".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "failover in eu-central-1: could not reach Lambda (connection refused at \
             http://127.0.0.1:9): check AWS_ENDPOINT_URL / network"
        );
        assert_eq!(SetupError::NoRegion.exit_code(), 2);
        assert_eq!(SetupError::NoCredentials("x".into()).exit_code(), 1);
    }
}
