//! Lambda Invoke (and STS GetCallerIdentity) with errors an operator can act on.
//! Endpoints, credentials and the region come from the SDK's standard chain
//! (`AWS_ENDPOINT_URL`, `AWS_PROFILE`, `AWS_REGION`, …): nothing here knows where it runs.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// Long enough for a drill that waits for the peer's surge (Lambda's limit is 15 minutes).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
        }
    }
}

pub struct Aws {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_lambda::Client>>,
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
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
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
        })
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
                    .region(aws_config::Region::new(region.to_string()))
                    .build();
                aws_sdk_lambda::Client::from_conf(config)
            })
            .clone()
    }

    /// Invokes `function` in `region` synchronously and returns its answer.
    /// `hint` says how to name the function differently (flag and variable).
    pub async fn invoke(
        &self,
        region: &str,
        function: &str,
        payload: &Value,
        hint: &str,
    ) -> Result<Value, CallError> {
        let out = self
            .lambda(region)
            .invoke()
            .function_name(function)
            .payload(aws_smithy_types::Blob::new(payload.to_string()))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) => {
                let code = err.code().unwrap_or_default().to_string();
                let message = err
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
                return Err(match code.as_str() {
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
                    "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException" => CallError::NoCredentials(message),
                    _ => CallError::Aws {
                        function: function.to_string(),
                        region: region.to_string(),
                        message: if code.is_empty() {
                            message
                        } else {
                            format!("{code}: {message}")
                        },
                    },
                });
            }
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
