//! Lambda Invoke, and failover's function URL for routing actions (`url`), with errors an
//! operator can act on.
//! Endpoints, credentials and the region come from the SDK's standard chain
//! (`AWS_ENDPOINT_URL`, `AWS_PROFILE`, `AWS_REGION`, …): nothing here knows where it runs.
//!
//! Lambda answers an Invoke with 429 `TooManyRequestsException` when the function's reserved
//! concurrency is taken by other runs (failover's tick, its event runs, a drill waiting for
//! the peer's surge). Lambda refuses before the function runs, so ctl retries it itself,
//! with bounded exponential backoff and jitter ([`Backoff`]), one stderr line per retry, and
//! then says the function is busy ([`Failure::Busy`]). Every other error keeps the SDK's
//! standard retries.

mod classify;
#[cfg(test)]
pub(crate) mod tests;
mod url;

use crate::backoff::{jitter, Backoff};
use crate::error::{one_line, CallError, Failure, Role, SetupError};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_lambda::config::ProvideCredentials;
use serde_json::Value;
use shared::ManualAction;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) use classify::lambda_config;

/// Long enough for a drill that waits for the peer's surge (Lambda's limit is 15 minutes).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The SDK's standard retries (attempts per call) for everything but Lambda's 429.
const SDK_MAX_ATTEMPTS: u32 = 3;

/// Where the retry lines go (stderr; tests collect them).
pub type Notice = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Aws {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_lambda::Client>>,
    backoff: Backoff,
    notice: Notice,
}

impl Aws {
    /// Loads the SDK configuration; `region` overrides the chain. Credentials are
    /// resolved once here so that a missing profile is reported before any call.
    pub async fn connect(region: Option<&str>) -> Result<Self, SetupError> {
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
            return Err(SetupError::NoRegion);
        }
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| SetupError::NoCredentials("no credentials provider".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| SetupError::NoCredentials(one_line(&e)))?;
        Ok(Self {
            sdk,
            clients: Mutex::new(HashMap::new()),
            backoff: Backoff::DEFAULT,
            notice: Arc::new(|line: &str| eprintln!("{line}")),
        })
    }

    /// The region the SDK chain chose (or `--region`).
    pub fn home(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// Where `service` in `region` is reached: `AWS_ENDPOINT_URL` if set, else AWS's endpoint.
    fn endpoint(&self, region: &str, service: &str) -> String {
        self.sdk
            .endpoint_url()
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
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

    /// Invokes `function` (`role`'s copy in `region`) synchronously and returns its answer.
    /// A throttled Invoke (429) is retried per [`Backoff`], one notice line per retry.
    pub async fn invoke(
        &self,
        role: Role,
        region: &str,
        function: &str,
        payload: &ManualAction,
    ) -> Result<Value, CallError> {
        let fail = |failure| CallError {
            role,
            region: region.to_string(),
            failure,
        };
        let started = Instant::now();
        let mut attempt = 1;
        let out = loop {
            let sent = self
                .lambda(region)
                .invoke()
                .function_name(function)
                .payload(aws_smithy_types::Blob::new(
                    payload.to_payload().to_string(),
                ))
                .send()
                .await;
            let err = match sent {
                Ok(out) => break out,
                Err(err) => err,
            };
            let Some(throttle) = classify::throttle(&err) else {
                let cause = classify::cause(&err);
                let endpoint = self.endpoint(region, "lambda");
                return Err(fail(classify::invoke_failure(
                    cause, role, function, region, endpoint,
                )));
            };
            if attempt > self.backoff.retries {
                return Err(fail(Failure::Busy {
                    function: function.to_string(),
                    throttle,
                    attempts: attempt,
                    waited: started.elapsed(),
                }));
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
            return Err(fail(Failure::Function {
                function: function.to_string(),
                error_type: value["errorType"]
                    .as_str()
                    .unwrap_or("Unhandled")
                    .to_string(),
                message: value["errorMessage"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            }));
        }
        Ok(value)
    }
}
