//! ECR adapter: recent images of a repository and their cross-region replication
//! status. ECR publishes no replication-lag metric; the replication monitor derives
//! it from `imagePushedAt` and DescribeImageReplicationStatus.
//!
//! Cost model: DescribeImages has no server-side time filter, so listing a
//! repository costs ceil(images / 1000) calls (pages of up to 1,000, the floor);
//! the per-image status call is made only for images inside the window, so the
//! status calls grow with recent pushes, not with repository size.

use crate::aws::map_err;
use crate::config::CrossAccountRole;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;

/// DescribeImages' page-size maximum.
pub const PAGE_SIZE: i32 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageReplicationState {
    InProgress,
    Complete,
    Failed,
}

/// One destination's replication status for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationStatus {
    pub region: String,
    pub registry_id: Option<String>,
    pub state: ImageReplicationState,
    pub failure_code: Option<String>,
}

/// What ECR says of one image's replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ImageReplication {
    /// One status per destination ECR reports (none yet: replication has not started).
    Destinations(Vec<DestinationStatus>),
    /// ECR has no such image (`ImageNotFoundException`): it was deleted after its push
    /// (or never existed), so nothing is left to replicate.
    Gone,
}

/// What the replication monitor reads from ECR.
pub trait EcrImages: Send + Sync {
    /// Images of `repository` pushed at or after `since` (the listing pages through
    /// the repository; only the filtered images are returned).
    fn recent_images(
        &self,
        repository: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ImageSummary>>> + Send;
    /// One image's replication status per destination, or [`ImageReplication::Gone`]
    /// when the image no longer exists.
    fn replication_status(
        &self,
        repository: &str,
        digest: &str,
    ) -> impl Future<Output = Result<ImageReplication>> + Send;
}

#[derive(Clone, Debug)]
pub struct Ecr {
    client: aws_sdk_ecr::Client,
    region: String,
    registry_id: String,
}

impl Ecr {
    /// A client for the registry in `config`'s region, through `role` (assumed with
    /// its external id, credentials refreshed by the SDK) when set.
    pub async fn new(
        config: &aws_config::SdkConfig,
        registry_id: &str,
        role: Option<&CrossAccountRole>,
    ) -> Self {
        let client = match role {
            None => aws_sdk_ecr::Client::new(config),
            Some(role) => {
                let mut builder =
                    aws_config::sts::AssumeRoleProvider::builder(role.role_arn.to_string())
                        .external_id(&role.external_id)
                        .session_name("controlplane-replication-monitor")
                        .configure(config);
                if let Some(region) = config.region() {
                    builder = builder.region(region.clone());
                }
                let provider = builder.build().await;
                let conf = aws_sdk_ecr::config::Builder::from(config)
                    .credentials_provider(provider)
                    .build();
                aws_sdk_ecr::Client::from_conf(conf)
            }
        };
        Self::from_client(
            client,
            config.region().map(|r| r.to_string()).unwrap_or_default(),
            registry_id,
        )
    }

    pub fn from_client(
        client: aws_sdk_ecr::Client,
        region: impl Into<String>,
        registry_id: impl Into<String>,
    ) -> Self {
        Self {
            client,
            region: region.into(),
            registry_id: registry_id.into(),
        }
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

impl EcrImages for Ecr {
    async fn recent_images(
        &self,
        repository: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_images()
                .registry_id(&self.registry_id)
                .repository_name(repository)
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| map_err("ecr", "DescribeImages", &self.region, e))?;
            for image in page.image_details() {
                let (Some(digest), Some(pushed)) = (image.image_digest(), image.image_pushed_at())
                else {
                    continue;
                };
                let pushed_at = to_chrono(pushed);
                if pushed_at >= since {
                    out.push(ImageSummary {
                        repository: repository.to_string(),
                        digest: digest.to_string(),
                        tags: image.image_tags().to_vec(),
                        pushed_at,
                    });
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn replication_status(&self, repository: &str, digest: &str) -> Result<ImageReplication> {
        use aws_sdk_ecr::types::{ImageIdentifier, ReplicationStatus};
        let sent = self
            .client
            .describe_image_replication_status()
            .registry_id(&self.registry_id)
            .repository_name(repository)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            // The image alone is missing (a RepositoryNotFoundException stays an error).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_image_not_found_exception()) =>
            {
                return Ok(ImageReplication::Gone)
            }
            Err(e) => {
                return Err(map_err(
                    "ecr",
                    "DescribeImageReplicationStatus",
                    &self.region,
                    e,
                ))
            }
        };
        Ok(ImageReplication::Destinations(
            out.replication_statuses()
                .iter()
                .filter_map(|s| {
                    let state = match s.status()? {
                        ReplicationStatus::Complete => ImageReplicationState::Complete,
                        ReplicationStatus::Failed => ImageReplicationState::Failed,
                        // IN_PROGRESS and any state a newer API adds: not done yet.
                        _ => ImageReplicationState::InProgress,
                    };
                    Some(DestinationStatus {
                        region: s.region()?.to_string(),
                        registry_id: s.registry_id().map(str::to_string),
                        state,
                        failure_code: s.failure_code().map(str::to_string),
                    })
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecr::operation::describe_image_replication_status::DescribeImageReplicationStatusOutput;
    use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ecr::types::{ImageDetail, ImageReplicationStatus, ReplicationStatus};
    use aws_sdk_ecr::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const NOW: i64 = 1_790_000_000;

    fn page(
        first: usize,
        count: usize,
        recent: &[usize],
        next: Option<&str>,
    ) -> DescribeImagesOutput {
        let images = (first..first + count).map(|i| {
            let pushed = if recent.contains(&i) {
                NOW - 60
            } else {
                NOW - 86_400 * 30
            };
            ImageDetail::builder()
                .image_digest(format!("sha256:{i:064x}"))
                .image_tags(format!("v{i}"))
                .image_pushed_at(aws_smithy_types::DateTime::from_secs(pushed))
                .build()
        });
        DescribeImagesOutput::builder()
            .set_image_details(Some(images.collect()))
            .set_next_token(next.map(str::to_string))
            .build()
    }

    #[tokio::test]
    async fn listing_pages_through_thousands_and_keeps_only_the_window() {
        // 3,500 images, 2 of them recent: 4 pages, 2 images returned.
        let p1 = mock!(Client::describe_images)
            .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(1000))
            .then_output(|| page(0, 1000, &[], Some("t1")));
        let p2 = mock!(Client::describe_images)
            .match_requests(|r| r.next_token() == Some("t1"))
            .then_output(|| page(1000, 1000, &[1500], Some("t2")));
        let p3 = mock!(Client::describe_images)
            .match_requests(|r| r.next_token() == Some("t2"))
            .then_output(|| page(2000, 1000, &[], Some("t3")));
        let p4 = mock!(Client::describe_images)
            .match_requests(|r| r.next_token() == Some("t3"))
            .then_output(|| page(3000, 500, &[3499], None));
        let client = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&p1, &p2, &p3, &p4]);
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let since = DateTime::from_timestamp(NOW - 7_200, 0).unwrap();
        let images = ecr.recent_images("orders-api", since).await.unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].tags, vec!["v1500".to_string()]);
        let calls = p1.num_calls() + p2.num_calls() + p3.num_calls() + p4.num_calls();
        assert_eq!(calls, 4, "one call per page of 1,000");
    }

    #[tokio::test]
    async fn statuses_map_to_states() {
        let rule = mock!(Client::describe_image_replication_status).then_output(|| {
            DescribeImageReplicationStatusOutput::builder()
                .replication_statuses(
                    ImageReplicationStatus::builder()
                        .region("us-east-1")
                        .registry_id("111111111111")
                        .status(ReplicationStatus::InProgress)
                        .build(),
                )
                .replication_statuses(
                    ImageReplicationStatus::builder()
                        .region("eu-west-1")
                        .status(ReplicationStatus::Failed)
                        .failure_code("KMS_ACCESS_DENIED")
                        .build(),
                )
                .replication_statuses(
                    ImageReplicationStatus::builder()
                        .region("us-west-2")
                        .status(ReplicationStatus::Complete)
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&rule]);
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let ImageReplication::Destinations(s) = ecr
            .replication_status("orders-api", "sha256:ab")
            .await
            .unwrap()
        else {
            panic!("the image exists")
        };
        assert_eq!(s[0].state, ImageReplicationState::InProgress);
        assert_eq!(s[1].state, ImageReplicationState::Failed);
        assert_eq!(s[1].failure_code.as_deref(), Some("KMS_ACCESS_DENIED"));
        assert_eq!(s[2].state, ImageReplicationState::Complete);
    }

    #[tokio::test]
    async fn a_deleted_image_is_gone_and_a_missing_repository_an_error() {
        // What ECR answers for an image deleted after its push (localaws answers the same).
        let deleted = mock!(Client::describe_image_replication_status)
            .sequence()
            .http_status(
                400,
                Some(
                    r#"{"__type":"ImageNotFoundException","message":"The image with imageId {imageDigest:'sha256:ab'} does not exist within the repository with name 'orders-api' in the registry with id '111111111111'"}"#
                        .into(),
                ),
            )
            .build();
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&deleted]);
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        assert_eq!(
            ecr.replication_status("orders-api", "sha256:ab")
                .await
                .unwrap(),
            ImageReplication::Gone
        );
        assert_eq!(deleted.num_calls(), 1, "not retried");

        let no_repo = mock!(Client::describe_image_replication_status)
            .sequence()
            .http_status(
                400,
                Some(
                    r#"{"__type":"RepositoryNotFoundException","message":"The repository with name 'gone' does not exist"}"#
                        .into(),
                ),
            )
            .build();
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&no_repo]);
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let err = ecr
            .replication_status("gone", "sha256:ab")
            .await
            .unwrap_err();
        assert_eq!(err.aws_kind(), Some(crate::error::AwsErrorKind::NotFound));
        assert!(
            err.to_string().contains("RepositoryNotFoundException"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn throttling_is_retried_within_the_bound_then_reported() {
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let recovered = mock!(Client::describe_images)
            .sequence()
            .http_status(400, Some(body.into()))
            .times(2)
            .output(|| page(0, 1, &[0], None))
            .build();
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&recovered], |c| c
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let since = DateTime::from_timestamp(NOW - 7_200, 0).unwrap();
        assert_eq!(
            ecr.recent_images("orders-api", since).await.unwrap().len(),
            1
        );
        assert_eq!(recovered.num_calls(), 3);

        let always = mock!(Client::describe_images)
            .sequence()
            .http_status(400, Some(body.into()))
            .times(5)
            .build();
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&always], |c| c
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let err = ecr.recent_images("orders-api", since).await.unwrap_err();
        assert_eq!(err.aws_kind(), Some(crate::error::AwsErrorKind::Throttling));
        assert_eq!(always.num_calls(), 3, "bounded by max attempts");
    }

    #[tokio::test]
    async fn missing_repository_is_not_found() {
        let rule = mock!(Client::describe_images)
            .sequence()
            .http_status(
                400,
                Some(
                    r#"{"__type":"RepositoryNotFoundException","message":"no such repository"}"#
                        .into(),
                ),
            )
            .build();
        let client = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&rule]);
        let ecr = Ecr::from_client(client, "eu-central-1", "111111111111");
        let err = ecr.recent_images("gone", Utc::now()).await.unwrap_err();
        assert_eq!(err.aws_kind(), Some(crate::error::AwsErrorKind::NotFound));
        assert!(err.to_string().contains("DescribeImages"), "{err}");
    }
}
