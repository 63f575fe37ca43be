//! Lambda adapter: provisioned concurrency on an alias (Get/Put), the account's
//! unreserved concurrency (GetAccountSettings) and alias lookups (GetAlias).
//!
//! The client is built with the SDK's own retries off: the concurrency scheduler
//! paces every Lambda control-plane call through one rate limiter and retries
//! throttling itself, so an SDK retry must not slip past that limiter.

use crate::aws::map_err;
use crate::error::{AwsErrorKind, Error, Result};
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum;
use aws_sdk_lambda::Client;
use serde::Serialize;
use std::future::Future;

/// Provisioned concurrency must leave this much of the account's unreserved
/// concurrency free (AWS rejects a PutProvisionedConcurrencyConfig that would not).
pub const MIN_UNRESERVED: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PcStatus {
    InProgress,
    Ready,
    Failed,
}

/// A provisioned-concurrency config as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PcConfig {
    pub requested: u32,
    pub allocated: u32,
    pub status: PcStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the scheduler needs to know about an alias before it provisions it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasInfo {
    pub function_version: String,
    /// An alias with additional version weights cannot carry provisioned concurrency.
    pub weighted: bool,
}

/// Provisioned concurrency in one region.
pub trait ProvisionedConcurrency: Send + Sync {
    /// The alias's config; `None` when it has none.
    fn get(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<PcConfig>>> + Send;
    /// Requests a level (>= 1). Conflict kind: another update is in flight (409).
    fn put(
        &self,
        function: &str,
        alias: &str,
        level: u32,
    ) -> impl Future<Output = Result<PcConfig>> + Send;
    /// The account's UnreservedConcurrentExecutions in this region.
    fn unreserved_concurrency(&self) -> impl Future<Output = Result<u32>> + Send;
    /// The alias; `None` when the function or alias does not exist.
    fn alias(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasInfo>>> + Send;
}

/// Whether a Put was refused because it would eat into the account's last 100
/// unreserved executions (AWS answers InvalidParameterValueException).
pub fn is_quota_refusal(err: &Error) -> bool {
    matches!(err, Error::Aws { message, .. } if message.contains("UnreservedConcurrentExecution"))
}

#[derive(Clone, Debug)]
pub struct Lambda {
    client: Client,
    region: String,
}

impl Lambda {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        Self::from_builder(aws_sdk_lambda::config::Builder::from(config), &region)
    }

    /// A client from a config builder, with the SDK's retries turned off.
    pub fn from_builder(builder: aws_sdk_lambda::config::Builder, region: &str) -> Self {
        let conf = builder.retry_config(RetryConfig::disabled()).build();
        Self {
            client: Client::from_conf(conf),
            region: region.to_string(),
        }
    }

    pub fn from_client(client: Client, region: &str) -> Self {
        Self {
            client,
            region: region.to_string(),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

fn status(s: Option<&ProvisionedConcurrencyStatusEnum>) -> PcStatus {
    match s {
        Some(ProvisionedConcurrencyStatusEnum::Ready) => PcStatus::Ready,
        Some(ProvisionedConcurrencyStatusEnum::Failed) => PcStatus::Failed,
        _ => PcStatus::InProgress,
    }
}

fn count(n: Option<i32>) -> u32 {
    n.unwrap_or(0).max(0) as u32
}

impl ProvisionedConcurrency for Lambda {
    async fn get(&self, function: &str, alias: &str) -> Result<Option<PcConfig>> {
        match self
            .client
            .get_provisioned_concurrency_config()
            .function_name(function)
            .qualifier(alias)
            .send()
            .await
        {
            Ok(out) => Ok(Some(PcConfig {
                requested: count(out.requested_provisioned_concurrent_executions()),
                allocated: count(out.allocated_provisioned_concurrent_executions()),
                status: status(out.status()),
                reason: out.status_reason().map(str::to_string),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_provisioned_concurrency_config_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(map_err(
                "lambda",
                "GetProvisionedConcurrencyConfig",
                &self.region,
                e,
            )),
        }
    }

    async fn put(&self, function: &str, alias: &str, level: u32) -> Result<PcConfig> {
        let level = i32::try_from(level)
            .map_err(|_| Error::State(format!("level {level} is out of range")))?;
        let out = self
            .client
            .put_provisioned_concurrency_config()
            .function_name(function)
            .qualifier(alias)
            .provisioned_concurrent_executions(level)
            .send()
            .await
            .map_err(|e| map_err("lambda", "PutProvisionedConcurrencyConfig", &self.region, e))?;
        Ok(PcConfig {
            requested: count(out.requested_provisioned_concurrent_executions()),
            allocated: count(out.allocated_provisioned_concurrent_executions()),
            status: status(out.status()),
            reason: out.status_reason().map(str::to_string),
        })
    }

    async fn unreserved_concurrency(&self) -> Result<u32> {
        let out = self
            .client
            .get_account_settings()
            .send()
            .await
            .map_err(|e| map_err("lambda", "GetAccountSettings", &self.region, e))?;
        out.account_limit()
            .and_then(|l| l.unreserved_concurrent_executions())
            .map(|n| n.max(0) as u32)
            .ok_or_else(|| {
                Error::State("GetAccountSettings returned no UnreservedConcurrentExecutions".into())
            })
    }

    async fn alias(&self, function: &str, alias: &str) -> Result<Option<AliasInfo>> {
        match self
            .client
            .get_alias()
            .function_name(function)
            .name(alias)
            .send()
            .await
        {
            Ok(out) => Ok(Some(AliasInfo {
                function_version: out.function_version().unwrap_or_default().to_string(),
                weighted: out
                    .routing_config()
                    .and_then(|r| r.additional_version_weights())
                    .is_some_and(|w| !w.is_empty()),
            })),
            Err(e) => {
                let err = map_err("lambda", "GetAlias", &self.region, e);
                if err.aws_kind() == Some(AwsErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
    use aws_sdk_lambda::operation::get_alias::{GetAliasError, GetAliasOutput};
    use aws_sdk_lambda::operation::get_provisioned_concurrency_config::{
        GetProvisionedConcurrencyConfigError, GetProvisionedConcurrencyConfigOutput,
    };
    use aws_sdk_lambda::operation::put_provisioned_concurrency_config::{
        PutProvisionedConcurrencyConfigError, PutProvisionedConcurrencyConfigOutput,
    };
    use aws_sdk_lambda::types::error::{
        InvalidParameterValueException, ProvisionedConcurrencyConfigNotFoundException,
        ResourceConflictException, ResourceNotFoundException, TooManyRequestsException,
    };
    use aws_sdk_lambda::types::{AccountLimit, AliasRoutingConfiguration};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn meta(code: &str, message: &str) -> aws_smithy_types::error::ErrorMetadata {
        aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build()
    }

    fn lambda(client: Client) -> Lambda {
        Lambda::from_client(client, "eu-central-1")
    }

    #[tokio::test]
    async fn get_reads_status_and_missing_config_is_none() {
        let failed = mock!(Client::get_provisioned_concurrency_config).then_output(|| {
            GetProvisionedConcurrencyConfigOutput::builder()
                .requested_provisioned_concurrent_executions(5)
                .allocated_provisioned_concurrent_executions(0)
                .status(ProvisionedConcurrencyStatusEnum::Failed)
                .status_reason("FUNCTION_ERROR_INIT_FAILURE")
                .build()
        });
        let missing = mock!(Client::get_provisioned_concurrency_config).then_error(|| {
            GetProvisionedConcurrencyConfigError::ProvisionedConcurrencyConfigNotFoundException(
                ProvisionedConcurrencyConfigNotFoundException::builder()
                    .message("none")
                    .meta(meta(
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "none",
                    ))
                    .build(),
            )
        });
        let no_alias = mock!(Client::get_provisioned_concurrency_config).then_error(|| {
            GetProvisionedConcurrencyConfigError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Cannot find alias")
                    .meta(meta("ResourceNotFoundException", "Cannot find alias"))
                    .build(),
            )
        });
        let client = mock_client!(
            aws_sdk_lambda,
            RuleMode::Sequential,
            [&failed, &missing, &no_alias]
        );
        let l = lambda(client);
        let cfg = l.get("orders", "live").await.unwrap().unwrap();
        assert_eq!(cfg.status, PcStatus::Failed);
        assert_eq!(cfg.requested, 5);
        assert_eq!(cfg.reason.as_deref(), Some("FUNCTION_ERROR_INIT_FAILURE"));
        assert_eq!(l.get("orders", "live").await.unwrap(), None);
        let err = l.get("orders", "nope").await.unwrap_err();
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::NotFound));
    }

    #[tokio::test]
    async fn put_maps_conflict_throttling_and_quota() {
        let conflict = mock!(Client::put_provisioned_concurrency_config).then_error(|| {
            PutProvisionedConcurrencyConfigError::ResourceConflictException(
                ResourceConflictException::builder()
                    .message("An update is in progress")
                    .meta(meta(
                        "ResourceConflictException",
                        "An update is in progress",
                    ))
                    .build(),
            )
        });
        let throttled = mock!(Client::put_provisioned_concurrency_config).then_error(|| {
            PutProvisionedConcurrencyConfigError::TooManyRequestsException(
                TooManyRequestsException::builder()
                    .message("Rate exceeded")
                    .meta(meta("TooManyRequestsException", "Rate exceeded"))
                    .build(),
            )
        });
        let quota = mock!(Client::put_provisioned_concurrency_config).then_error(|| {
            PutProvisionedConcurrencyConfigError::InvalidParameterValueException(
                InvalidParameterValueException::builder().message("Specified ProvisionedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].").meta(meta("InvalidParameterValueException", "Specified ProvisionedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].")).build(),
            )
        });
        let ok = mock!(Client::put_provisioned_concurrency_config)
            .match_requests(|r| {
                r.provisioned_concurrent_executions() == Some(4) && r.qualifier() == Some("live")
            })
            .then_output(|| {
                PutProvisionedConcurrencyConfigOutput::builder()
                    .requested_provisioned_concurrent_executions(4)
                    .allocated_provisioned_concurrent_executions(0)
                    .status(ProvisionedConcurrencyStatusEnum::InProgress)
                    .build()
            });
        let client = mock_client!(
            aws_sdk_lambda,
            RuleMode::Sequential,
            [&conflict, &throttled, &quota, &ok]
        );
        let l = lambda(client);
        let e = l.put("orders", "live", 4).await.unwrap_err();
        assert_eq!(e.aws_kind(), Some(AwsErrorKind::Conflict));
        let e = l.put("orders", "live", 4).await.unwrap_err();
        assert_eq!(e.aws_kind(), Some(AwsErrorKind::Throttling));
        assert!(e.is_retryable());
        let e = l.put("orders", "live", 4).await.unwrap_err();
        assert!(is_quota_refusal(&e), "{e}");
        assert!(!e.is_retryable());
        let cfg = l.put("orders", "live", 4).await.unwrap();
        assert_eq!(
            cfg,
            PcConfig {
                requested: 4,
                allocated: 0,
                status: PcStatus::InProgress,
                reason: None
            }
        );
        assert_eq!(ok.num_calls(), 1);
    }

    #[tokio::test]
    async fn sdk_retries_are_off_so_the_scheduler_paces_them() {
        let throttled = mock!(Client::put_provisioned_concurrency_config)
            .sequence()
            .http_status(429, None)
            .times(3)
            .build();
        let builder = aws_sdk_lambda::config::Builder::new()
            .behavior_version(crate::aws::behavior_version())
            .region(aws_sdk_lambda::config::Region::new("eu-central-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(aws_smithy_mocks::MockResponseInterceptor::new().with_rule(&throttled));
        let l = Lambda::from_builder(builder, "eu-central-1");
        assert!(l.put("orders", "live", 2).await.is_err());
        assert_eq!(throttled.num_calls(), 1);
    }

    #[tokio::test]
    async fn account_settings_and_alias() {
        let settings = mock!(Client::get_account_settings).then_output(|| {
            GetAccountSettingsOutput::builder()
                .account_limit(
                    AccountLimit::builder()
                        .concurrent_executions(1000)
                        .unreserved_concurrent_executions(900)
                        .build(),
                )
                .build()
        });
        let weighted = mock!(Client::get_alias).then_output(|| {
            GetAliasOutput::builder()
                .function_version("7")
                .routing_config(
                    AliasRoutingConfiguration::builder()
                        .additional_version_weights("8", 0.1)
                        .build(),
                )
                .build()
        });
        let missing = mock!(Client::get_alias).then_error(|| {
            GetAliasError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("no")
                    .meta(meta("ResourceNotFoundException", "no"))
                    .build(),
            )
        });
        let client = mock_client!(
            aws_sdk_lambda,
            RuleMode::Sequential,
            [&settings, &weighted, &missing]
        );
        let l = lambda(client);
        assert_eq!(l.unreserved_concurrency().await.unwrap(), 900);
        assert_eq!(
            l.alias("orders", "live").await.unwrap(),
            Some(AliasInfo {
                function_version: "7".into(),
                weighted: true
            })
        );
        assert_eq!(l.alias("orders", "live").await.unwrap(), None);
    }
}
