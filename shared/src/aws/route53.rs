//! Route 53 adapter: the routing-state TXT record (compare-and-swap) and the
//! per-region CALCULATED gate health checks.

use crate::aws::map_err;
use crate::error::{AwsErrorKind, Error, Result};
use crate::routing::RoutingState;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;
use std::future::Future;

/// Route 53's control plane is global and served from us-east-1.
pub const CONTROL_PLANE_REGION: &str = "us-east-1";
pub const STATE_TTL: i64 = 60;

/// The state record as read, kept verbatim so the CAS delete matches exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion {
    pub raw: String,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasResult {
    Swapped,
    /// Someone else changed the record first: re-read and re-decide.
    Lost,
}

/// Where the desired routing state lives.
pub trait StateStore: Send + Sync {
    /// The current state and its version; `None` if the record does not exist yet.
    fn read(&self) -> impl Future<Output = Result<Option<(RoutingState, StateVersion)>>> + Send;
    /// Replaces `expected` (or creates the record when `None`) atomically.
    fn swap(
        &self,
        expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> impl Future<Output = Result<CasResult>> + Send;
}

/// A region's gate: a CALCULATED health check over that region's endpoint checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateStatus {
    pub health_check_id: String,
    pub health_threshold: i32,
    pub children: Vec<String>,
    pub children_healthy: usize,
    pub version: i64,
}

impl GateStatus {
    /// Open: the threshold can be met by the children (normally "all of them").
    pub fn is_open(&self) -> bool {
        self.health_threshold as usize <= self.children.len()
    }
    /// Healthy as Route 53 evaluates a calculated check.
    pub fn is_healthy(&self) -> bool {
        self.children_healthy >= self.health_threshold.max(0) as usize
    }
    pub fn open_threshold(&self) -> i32 {
        self.children.len() as i32
    }
    pub fn closed_threshold(&self) -> i32 {
        self.children.len() as i32 + 1
    }
}

/// Opens and closes a region in DNS. Route 53 gates today; an ARC routing-control
/// backend can implement the same trait.
pub trait GateControl: Send + Sync {
    fn status(&self, health_check_id: &str) -> impl Future<Output = Result<GateStatus>> + Send;
    /// Sets the threshold; returns false when it already had that value.
    fn set_threshold(
        &self,
        gate: &GateStatus,
        threshold: i32,
    ) -> impl Future<Output = Result<bool>> + Send;
}

#[derive(Clone, Debug)]
pub struct Route53 {
    client: Client,
    hosted_zone_id: String,
    record_name: String,
}

impl Route53 {
    pub fn new(config: &aws_config::SdkConfig, hosted_zone_id: &str, record_name: &str) -> Self {
        Self::from_client(Client::new(config), hosted_zone_id, record_name)
    }

    pub fn from_client(client: Client, hosted_zone_id: &str, record_name: &str) -> Self {
        let record_name = if record_name.ends_with('.') {
            record_name.to_string()
        } else {
            format!("{record_name}.")
        };
        Self {
            client,
            hosted_zone_id: hosted_zone_id.to_string(),
            record_name,
        }
    }

    fn record(&self, value: &str, ttl: i64) -> Result<ResourceRecordSet> {
        ResourceRecordSet::builder()
            .name(&self.record_name)
            .r#type(RrType::Txt)
            .ttl(ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .map_err(build_err)?,
            )
            .build()
            .map_err(build_err)
    }

    /// Whether one health check is healthy: most Route 53 checkers report success.
    async fn check_healthy(&self, id: &str) -> Result<bool> {
        let out = self
            .client
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| map_err("route53", "GetHealthCheckStatus", CONTROL_PLANE_REGION, e))?;
        let observations = out.health_check_observations();
        let ok = observations
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count();
        Ok(!observations.is_empty() && ok * 2 > observations.len())
    }
}

fn build_err(e: aws_sdk_route53::error::BuildError) -> Error {
    Error::State(format!("could not build a Route 53 request: {e}"))
}

fn names_match(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

impl StateStore for Route53 {
    async fn read(&self) -> Result<Option<(RoutingState, StateVersion)>> {
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.hosted_zone_id)
            .start_record_name(&self.record_name)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| map_err("route53", "ListResourceRecordSets", CONTROL_PLANE_REGION, e))?;
        let Some(set) = out
            .resource_record_sets()
            .iter()
            .find(|s| names_match(s.name(), &self.record_name) && s.r#type() == &RrType::Txt)
        else {
            return Ok(None);
        };
        let raw = set
            .resource_records()
            .iter()
            .map(|r| r.value())
            .collect::<Vec<_>>()
            .join(" ");
        let version = StateVersion {
            raw: raw.clone(),
            ttl: set.ttl().unwrap_or(STATE_TTL),
        };
        match RoutingState::from_txt(&raw) {
            Ok(state) => Ok(Some((state, version))),
            // A record Terraform created as a placeholder: treat as the initial state,
            // but keep its version so the first swap replaces it atomically.
            Err(_) if !raw.contains('{') => Ok(Some((RoutingState::default(), version))),
            Err(e) => Err(Error::State(format!("{}: {e}", self.record_name))),
        }
    }

    async fn swap(&self, expected: Option<&StateVersion>, new: &RoutingState) -> Result<CasResult> {
        let mut changes = Vec::new();
        if let Some(old) = expected {
            // One resource record per stored value: split back the way we read it
            // only when it was written as one; we always write a single record.
            let set = ResourceRecordSet::builder()
                .name(&self.record_name)
                .r#type(RrType::Txt)
                .ttl(old.ttl)
                .resource_records(
                    ResourceRecord::builder()
                        .value(&old.raw)
                        .build()
                        .map_err(build_err)?,
                )
                .build()
                .map_err(build_err)?;
            changes.push(
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(set)
                    .build()
                    .map_err(build_err)?,
            );
        }
        changes.push(
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(self.record(&new.to_txt(), STATE_TTL)?)
                .build()
                .map_err(build_err)?,
        );
        let batch = ChangeBatch::builder()
            .comment(format!("controlplane routing state epoch {}", new.epoch))
            .set_changes(Some(changes))
            .build()
            .map_err(build_err)?;
        match self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.hosted_zone_id)
            .change_batch(batch)
            .send()
            .await
        {
            Ok(_) => Ok(CasResult::Swapped),
            Err(e) => {
                // InvalidChangeBatch: the DELETE did not match (or the CREATE found a record).
                let lost = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_change_batch());
                let err = map_err(
                    "route53",
                    "ChangeResourceRecordSets",
                    CONTROL_PLANE_REGION,
                    e,
                );
                if lost || err.aws_kind() == Some(AwsErrorKind::Conflict) {
                    Ok(CasResult::Lost)
                } else {
                    Err(err)
                }
            }
        }
    }
}

impl GateControl for Route53 {
    async fn status(&self, health_check_id: &str) -> Result<GateStatus> {
        let out = self
            .client
            .get_health_check()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| map_err("route53", "GetHealthCheck", CONTROL_PLANE_REGION, e))?;
        let check = out
            .health_check()
            .ok_or_else(|| Error::State(format!("health check {health_check_id} has no body")))?;
        let config = check
            .health_check_config()
            .ok_or_else(|| Error::State(format!("health check {health_check_id} has no config")))?;
        if config.r#type().as_str() != "CALCULATED" {
            return Err(Error::State(format!(
                "health check {health_check_id} is {}, but a gate must be CALCULATED",
                config.r#type().as_str()
            )));
        }
        let children: Vec<String> = config.child_health_checks().to_vec();
        let mut children_healthy = 0;
        for child in &children {
            if self.check_healthy(child).await? {
                children_healthy += 1;
            }
        }
        Ok(GateStatus {
            health_check_id: health_check_id.to_string(),
            health_threshold: config.health_threshold().unwrap_or(children.len() as i32),
            children,
            children_healthy,
            version: check.health_check_version(),
        })
    }

    async fn set_threshold(&self, gate: &GateStatus, threshold: i32) -> Result<bool> {
        if gate.health_threshold == threshold {
            return Ok(false);
        }
        self.client
            .update_health_check()
            .health_check_id(&gate.health_check_id)
            .health_threshold(threshold)
            .health_check_version(gate.version)
            .send()
            .await
            .map_err(|e| map_err("route53", "UpdateHealthCheck", CONTROL_PLANE_REGION, e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_route53::operation::change_resource_record_sets::{
        ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput,
    };
    use aws_sdk_route53::types::{ChangeInfo, ChangeStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn change_output() -> ChangeResourceRecordSetsOutput {
        ChangeResourceRecordSetsOutput::builder()
            .change_info(
                ChangeInfo::builder()
                    .id("C1")
                    .status(ChangeStatus::Pending)
                    .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn cas_loss_is_not_an_error() {
        let lost = mock!(Client::change_resource_record_sets).then_error(|| {
            ChangeResourceRecordSetsError::InvalidChangeBatch(
                aws_sdk_route53::types::error::InvalidChangeBatch::builder()
                    .message("values do not match")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&lost]);
        let r53 = Route53::from_client(client, "Z1", "_cp.example.com");
        let old = StateVersion {
            raw: "\"x\"".into(),
            ttl: 60,
        };
        assert_eq!(
            r53.swap(Some(&old), &RoutingState::default())
                .await
                .unwrap(),
            CasResult::Lost
        );
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_then_reported() {
        let throttled = mock!(Client::change_resource_record_sets)
            .sequence()
            .http_status(400, Some(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".into(),
            ))
            .times(2)
            .output(change_output)
            .build();
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&throttled], |c| c
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        let r53 = Route53::from_client(client, "Z1", "_cp.example.com");
        assert_eq!(
            r53.swap(None, &RoutingState::default()).await.unwrap(),
            CasResult::Swapped
        );
        assert_eq!(throttled.num_calls(), 3);
    }

    #[test]
    fn gate_arithmetic() {
        let gate = GateStatus {
            health_check_id: "g".into(),
            health_threshold: 2,
            children: vec!["a".into(), "b".into()],
            children_healthy: 2,
            version: 1,
        };
        assert!(gate.is_open() && gate.is_healthy());
        let closed = GateStatus {
            health_threshold: gate.closed_threshold(),
            ..gate.clone()
        };
        assert!(!closed.is_open() && !closed.is_healthy());
        let one_down = GateStatus {
            children_healthy: 1,
            ..gate
        };
        assert!(one_down.is_open() && !one_down.is_healthy());
    }
}
