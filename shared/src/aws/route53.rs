//! Route 53 adapter: the routing-state TXT record (compare-and-swap) and the
//! per-region CALCULATED gate health checks, whose children's health is Route 53's own
//! verdict as it publishes it to CloudWatch.

use crate::aws::map_err;
use crate::aws::metric_data::{MetricData, MetricQuery, MetricReader};
use crate::error::{AwsErrorKind, Error, Result};
use crate::routing::RoutingState;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
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

impl StateVersion {
    /// The version a successful [`StateStore::swap`] of `state` leaves: what the next
    /// swap by the same run expects, without reading the record again.
    pub fn written(state: &RoutingState) -> Self {
        Self {
            raw: state.to_txt(),
            ttl: STATE_TTL,
        }
    }
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
    /// CloudWatch in us-east-1, where Route 53 publishes its health-check metrics.
    health: MetricData,
    hosted_zone_id: String,
    record_name: String,
}

impl Route53 {
    pub fn new(config: &aws_config::SdkConfig, hosted_zone_id: &str, record_name: &str) -> Self {
        let us_east_1 = config
            .to_builder()
            .region(aws_config::Region::new(CONTROL_PLANE_REGION))
            .build();
        Self::from_clients(
            Client::new(&us_east_1),
            MetricData::new(&us_east_1),
            hosted_zone_id,
            record_name,
        )
    }

    pub fn from_clients(
        client: Client,
        health: MetricData,
        hosted_zone_id: &str,
        record_name: &str,
    ) -> Self {
        let record_name = if record_name.ends_with('.') {
            record_name.to_string()
        } else {
            format!("{record_name}.")
        };
        Self {
            client,
            health,
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

    /// How many of `children` Route 53 itself judges healthy now: its own verdict
    /// (`AWS/Route53` `HealthCheckStatus`, published every minute in us-east-1 for
    /// every health check: healthy when more than 18% of its checkers say so), read for
    /// all of them in one GetMetricData. GetHealthCheckStatus is not used: AWS allows it
    /// a burst of a few requests and then about one a second per account, shares that
    /// with both regions' copies, and refuses it for calculated checks.
    async fn children_healthy(&self, children: &[String]) -> Result<usize> {
        if children.is_empty() {
            return Ok(0);
        }
        let queries: Vec<MetricQuery> = children
            .iter()
            .enumerate()
            .map(|(i, id)| health_check_status_query(i, id))
            .collect();
        let end = chrono::Utc::now() + chrono::Duration::minutes(1);
        let start = end - chrono::Duration::minutes(HEALTH_METRIC_LOOKBACK_MINUTES + 1);
        let series = self.health.read(&queries, start, end).await?;
        // No datapoint within the look-back: Route 53 has said nothing, so do not
        // count the child as healthy.
        Ok(series
            .iter()
            .filter(|s| s.latest().is_some_and(|v| v >= 1.0))
            .count())
    }
}

/// How far back the newest `HealthCheckStatus` datapoint may be (Route 53 publishes one
/// a minute; a little slack for CloudWatch's ingestion).
pub const HEALTH_METRIC_LOOKBACK_MINUTES: i64 = 3;

/// The `AWS/Route53` `HealthCheckStatus` (Minimum per minute) of one health check.
pub fn health_check_status_query(index: usize, health_check_id: &str) -> MetricQuery {
    MetricQuery {
        id: format!("hc{index}"),
        namespace: "AWS/Route53".into(),
        metric_name: "HealthCheckStatus".into(),
        dimensions: vec![("HealthCheckId".into(), health_check_id.to_string())],
        stat: "Minimum".into(),
        period_secs: 60,
    }
}

fn build_err(e: aws_sdk_route53::error::BuildError) -> Error {
    Error::State(format!("could not build a Route 53 request: {e}"))
}

/// The problems Route 53 reports when a compare-and-swap is lost: the DELETE found no
/// record or another value, or the CREATE found one ("Tried to delete resource record
/// set [name='…', type='TXT'] but it was not found", "… but the values provided do not
/// match the current values", "Tried to create … but it already exists").
const LOST_SWAP_ENDINGS: &[&str] = &[
    "not found",
    "already exists",
    "do not match the current values",
    "values do not match",
];

/// Whether every problem an `InvalidChangeBatch` lists is one of a lost swap. Route 53
/// lists them in `Message` as `[problem, problem]` (older answers: in `Messages`);
/// a problem that quotes a value (`CharacterStringTooLong … encountered with '…'`)
/// ends with that quote, so text in the value cannot pass for a lost swap.
fn is_lost_swap(batch: &aws_sdk_route53::types::error::InvalidChangeBatch) -> bool {
    let lost = |problem: &str| {
        let problem = problem.trim().trim_end_matches('.');
        LOST_SWAP_ENDINGS.iter().any(|e| problem.ends_with(e))
    };
    let listed = batch.messages();
    if !listed.is_empty() {
        return listed.iter().all(|m| lost(m));
    }
    let message = batch.message().unwrap_or_default().trim();
    let message = message
        .strip_prefix('[')
        .and_then(|m| m.strip_suffix(']'))
        .unwrap_or(message);
    !message.is_empty() && message.split(", Tried to ").all(lost)
}

/// An `InvalidChangeBatch` that is not a lost swap: the state record was refused as
/// sent, and sending it again cannot help.
fn refused_batch(err: Error, batch: &aws_sdk_route53::types::error::InvalidChangeBatch) -> Error {
    let problems = match (batch.message(), batch.messages()) {
        (_, listed) if !listed.is_empty() => listed.join(", "),
        (Some(message), _) => message.to_string(),
        (None, _) => "no problem named".to_string(),
    };
    match err {
        Error::Aws {
            service,
            operation,
            region,
            ..
        } => Error::Aws {
            service,
            operation,
            region,
            kind: AwsErrorKind::InvalidRequest,
            message: format!(
                "Route 53 refused the routing state record (not a lost compare-and-swap): \
                 InvalidChangeBatch: {problems}"
            ),
        },
        other => other,
    }
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
        // A state Route 53 would refuse is not sent: nothing is written, and no retry helps.
        let value = new.to_txt_checked().map_err(Error::State)?;
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
                .resource_record_set(self.record(&value, STATE_TTL)?)
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
                // InvalidChangeBatch is a lost swap only when it says the DELETE did not
                // match (or the CREATE found a record); any other problem with the batch
                // (a string too long, ...) is refused whatever is re-read.
                let batch = e.as_service_error().and_then(|s| match s {
                    ChangeResourceRecordSetsError::InvalidChangeBatch(b) => Some(b.clone()),
                    _ => None,
                });
                let err = map_err(
                    "route53",
                    "ChangeResourceRecordSets",
                    CONTROL_PLANE_REGION,
                    e,
                );
                match batch {
                    Some(b) if is_lost_swap(&b) => Ok(CasResult::Lost),
                    Some(b) => Err(refused_batch(err, &b)),
                    None if err.aws_kind() == Some(AwsErrorKind::Conflict) => Ok(CasResult::Lost),
                    None => Err(err),
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
        let children_healthy = self.children_healthy(&children).await?;
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
        let r53 = route53(client, idle_cloudwatch());
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

    fn invalid_change_batch(message: &str) -> aws_sdk_route53::types::error::InvalidChangeBatch {
        aws_sdk_route53::types::error::InvalidChangeBatch::builder()
            .message(message)
            .build()
    }

    #[test]
    fn only_a_mismatch_or_a_missing_or_existing_record_is_a_lost_swap() {
        let label = "[name='_cp.example.com.', type='TXT']";
        let cases: Vec<(String, bool)> = vec![
            (format!("[Tried to delete resource record set {label} but it was not found]"), true),
            (format!("[Tried to delete resource record set {label} but the values provided do not match the current values]"), true),
            (format!("[Tried to create resource record set {label} but it already exists]"), true),
            (format!("[Tried to delete resource record set {label} but it was not found, Tried to create resource record set {label} but it already exists]"), true),
            ("values do not match".into(), true),
            ("[Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is too long) encountered with '\"a\"']".into(), false),
            // A value quoting the very words of a lost swap is still not one.
            ("[Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is too long) encountered with '\"it was not found\"']".into(), false),
            (format!("[Tried to delete resource record set {label} but it was not found, Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is too long) encountered with 'x, Tried to create y but it already exists']"), false),
            ("[RRSet with DNS name x. is not permitted in zone example.com.]".into(), false),
            ("[RDATA character limit of 32000 exceeded.]".into(), false),
            (String::new(), false),
        ];
        for (message, lost) in cases {
            assert_eq!(
                is_lost_swap(&invalid_change_batch(&message)),
                lost,
                "{message}"
            );
        }
        // The older form: one problem per entry of `Messages`.
        let listed = |messages: &[&str]| {
            aws_sdk_route53::types::error::InvalidChangeBatch::builder()
                .set_messages(Some(messages.iter().map(|m| m.to_string()).collect()))
                .build()
        };
        assert!(is_lost_swap(&listed(&[
            "Tried to delete resource record set [name='a.', type='TXT'] but it was not found"
        ])));
        assert!(!is_lost_swap(&listed(&[
            "Tried to delete resource record set [name='a.', type='TXT'] but it was not found",
            "Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is too long) encountered with 'x'",
        ])));
    }

    /// Route 53 refusing the record itself (a TXT string over 255 characters) is not a
    /// lost compare-and-swap: re-reading and retrying would send the same refused value.
    #[tokio::test]
    async fn character_string_too_long_is_an_error_not_a_lost_swap() {
        let refused = mock!(Client::change_resource_record_sets).then_error(|| {
            ChangeResourceRecordSetsError::InvalidChangeBatch(invalid_change_batch(
                "[Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is too long) encountered with '\"x\"']",
            ))
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&refused]);
        let r53 = route53(client, idle_cloudwatch());
        let old = StateVersion {
            raw: "\"x\"".into(),
            ttl: 60,
        };
        let err = r53
            .swap(Some(&old), &RoutingState::default())
            .await
            .expect_err("an error, not CasResult::Lost");
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::InvalidRequest), "{err}");
        assert!(!err.is_retryable(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(
                "Route 53 refused the routing state record (not a lost compare-and-swap)"
            ) && text.contains("CharacterStringTooLong"),
            "{text}"
        );
        assert_eq!(refused.num_calls(), 1);
    }

    /// A state over Route 53's 4,000 characters is refused before any call: nothing is
    /// written, and the error says so (it is not retried as a lost swap).
    #[tokio::test]
    async fn a_state_too_large_for_one_record_is_never_sent() {
        let write = mock!(Client::change_resource_record_sets).then_output(change_output);
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&write]);
        let r53 = route53(client, idle_cloudwatch());
        let mut big = RoutingState {
            epoch: 9,
            ..Default::default()
        };
        big.evacuated.insert(
            crate::Region::parse("us-east-1").unwrap(),
            crate::routing::Evacuation {
                since: chrono::Utc::now(),
                by: "op".into(),
                reason: "r".repeat(5000),
                automatic: false,
                drill_id: None,
            },
        );
        let err = r53.swap(None, &big).await.expect_err("refused");
        assert!(matches!(err, Error::State(_)), "{err:?}");
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .contains("routing state too large: epoch 9 encodes to"),
            "{err}"
        );
        assert_eq!(write.num_calls(), 0, "no ChangeResourceRecordSets");
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
        let r53 = route53(client, idle_cloudwatch());
        assert_eq!(
            r53.swap(None, &RoutingState::default()).await.unwrap(),
            CasResult::Swapped
        );
        assert_eq!(throttled.num_calls(), 3);
    }

    fn route53(client: Client, cloudwatch: aws_sdk_cloudwatch::Client) -> Route53 {
        Route53::from_clients(
            client,
            MetricData::from_client(cloudwatch, CONTROL_PLANE_REGION),
            "Z1",
            "_cp.example.com",
        )
    }

    /// A CloudWatch client for tests that make no metric read.
    fn idle_cloudwatch() -> aws_sdk_cloudwatch::Client {
        let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .then_error(|| panic!("no metric read expected"));
        mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&rule])
    }

    #[tokio::test]
    async fn gate_children_are_judged_by_route53s_own_status_metric() {
        use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
        use aws_sdk_cloudwatch::types::MetricDataResult;
        use aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput;
        use aws_sdk_route53::types::{HealthCheck, HealthCheckConfig, HealthCheckType};

        let check = mock!(Client::get_health_check).then_output(|| {
            GetHealthCheckOutput::builder()
                .health_check(
                    HealthCheck::builder()
                        .id("gate")
                        .caller_reference("r")
                        .health_check_version(7)
                        .health_check_config(
                            HealthCheckConfig::builder()
                                .r#type(HealthCheckType::Calculated)
                                .child_health_checks("up")
                                .child_health_checks("down")
                                .child_health_checks("silent")
                                .health_threshold(3)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let point = |id: &str, v: f64| {
            MetricDataResult::builder()
                .id(id)
                .timestamps(aws_smithy_types::DateTime::from_secs(
                    chrono::Utc::now().timestamp(),
                ))
                .values(v)
                .build()
        };
        // One GetMetricData for every child, HealthCheckStatus per HealthCheckId.
        let metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .match_requests(|r| {
                let ids: Vec<_> = r
                    .metric_data_queries()
                    .iter()
                    .filter_map(|q| q.metric_stat()?.metric()?.dimensions().first())
                    .map(|d| d.value().unwrap_or_default().to_string())
                    .collect();
                ids == ["up", "down", "silent"]
                    && r.metric_data_queries().iter().all(|q| {
                        q.metric_stat().and_then(|s| s.metric()).is_some_and(|m| {
                            m.namespace() == Some("AWS/Route53")
                                && m.metric_name() == Some("HealthCheckStatus")
                        })
                    })
            })
            .then_output(move || {
                GetMetricDataOutput::builder()
                    .metric_data_results(point("hc0", 1.0))
                    .metric_data_results(point("hc1", 0.0))
                    .metric_data_results(MetricDataResult::builder().id("hc2").build())
                    .build()
            });
        let r53 = route53(
            mock_client!(aws_sdk_route53, RuleMode::Sequential, [&check]),
            mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&metrics]),
        );
        let gate = r53.status("gate").await.unwrap();
        // A child with no datapoint (Route 53 said nothing) is not counted healthy.
        assert_eq!(gate.children_healthy, 1);
        assert_eq!((gate.health_threshold, gate.version), (3, 7));
        assert!(gate.is_open() && !gate.is_healthy());
        assert_eq!(metrics.num_calls(), 1);
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
