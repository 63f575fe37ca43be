//! ECR: the images pushed inside the window, and each one's replication status.

use super::{age, MAX_IN_FLIGHT};
use crate::decide::{Kind, Observation, ReadError, Status};
use crate::join::join_bounded;
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::aws::ecr::{DestinationStatus, ImageReplication, ImageReplicationState, ImageSummary};
use shared::config::EcrReplication;
use shared::Region;

/// An image named by a PUSH event, checked even if DescribeImages does not list it yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedImage {
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
    pub pushed_at: DateTime<Utc>,
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// `repository:tags@sha256:<12 hex>`, as the report names an image.
pub fn image_name(image: &ImageSummary) -> String {
    let tags = if image.tags.is_empty() {
        "untagged".to_string()
    } else {
        image.tags.join(",")
    };
    format!("{}:{}@{}", image.repository, tags, short(&image.digest))
}

/// One image's observations, one per configured destination. A destination ECR
/// does not report yet counts as in progress (replication has not started).
pub fn ecr_observations(
    image: &ImageSummary,
    statuses: &[DestinationStatus],
    destinations: &[Region],
    now: DateTime<Utc>,
) -> Vec<Observation> {
    let lag = age(now, image.pushed_at);
    let resource = image_name(image);
    destinations
        .iter()
        .map(|dest| {
            let status = statuses.iter().find(|s| s.region == dest.as_str());
            let (st, lag, pending, failed, detail) = match status.map(|s| s.state) {
                Some(ImageReplicationState::Complete) => (Status::Replicated, 0, 0, 0, None),
                Some(ImageReplicationState::Failed) => (
                    Status::Failed,
                    lag,
                    0,
                    1,
                    Some(format!(
                        "FAILED: {}",
                        status
                            .and_then(|s| s.failure_code.clone())
                            .unwrap_or_else(|| "no failure code".into())
                    )),
                ),
                Some(ImageReplicationState::InProgress) => (Status::InProgress, lag, 1, 0, None),
                None => (
                    Status::InProgress,
                    lag,
                    1,
                    0,
                    Some("no replication status reported yet".into()),
                ),
            };
            Observation {
                kind: Kind::Ecr,
                resource: resource.clone(),
                destination: dest.to_string(),
                status: st,
                lag_seconds: lag,
                pending,
                failed,
                detail,
            }
        })
        .collect()
}

/// What one look at ECR found.
#[derive(Debug, Default)]
pub struct EcrSweep {
    pub observations: Vec<Observation>,
    pub errors: Vec<ReadError>,
    /// Images ECR no longer has (deleted after their push): nothing left to replicate,
    /// so no observation (no lag, nothing pending or failed, not counted), named here.
    pub gone: Vec<String>,
}

/// Lists each repository once (pages of 1,000), then asks for the replication status
/// of the images pushed inside the window only.
pub async fn observe_ecr(
    world: &impl World,
    cfg: &EcrReplication,
    window_secs: u64,
    now: DateTime<Utc>,
    pushed: Option<&PushedImage>,
) -> EcrSweep {
    let since = now - chrono::Duration::seconds(window_secs as i64);
    let mut errors = Vec::new();
    let mut images: Vec<ImageSummary> = Vec::new();
    let listings = join_bounded(
        cfg.repositories
            .iter()
            .map(|repo| world.recent_images(repo, since))
            .collect(),
        MAX_IN_FLIGHT,
    )
    .await;
    for (repo, listing) in cfg.repositories.iter().zip(listings) {
        match listing {
            Ok(found) => images.extend(found),
            Err(e) => errors.push(ReadError {
                kind: Kind::Ecr,
                resource: repo.clone(),
                destination: None,
                message: e.to_string(),
            }),
        }
    }
    if let Some(p) = pushed {
        if !images
            .iter()
            .any(|i| i.repository == p.repository && i.digest == p.digest)
        {
            images.push(ImageSummary {
                repository: p.repository.clone(),
                digest: p.digest.clone(),
                tags: p.tag.iter().cloned().collect(),
                pushed_at: p.pushed_at,
            });
        }
    }
    let statuses = join_bounded(
        images
            .iter()
            .map(|i| world.image_replication(&i.repository, &i.digest))
            .collect(),
        MAX_IN_FLIGHT,
    )
    .await;
    let (mut observations, mut gone) = (Vec::new(), Vec::new());
    for (image, status) in images.iter().zip(statuses) {
        match status {
            Ok(ImageReplication::Destinations(s)) => {
                observations.extend(ecr_observations(image, &s, &cfg.destination_regions, now))
            }
            Ok(ImageReplication::Gone) => gone.push(image_name(image)),
            Err(e) => errors.push(ReadError {
                kind: Kind::Ecr,
                resource: format!("{}@{}", image.repository, short(&image.digest)),
                destination: None,
                message: e.to_string(),
            }),
        }
    }
    EcrSweep {
        observations,
        errors,
        gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    #[test]
    fn ecr_states_become_observations() {
        let image = ImageSummary {
            repository: "api".into(),
            digest: "sha256:0123456789abcdef0123".into(),
            tags: vec!["v1".into()],
            pushed_at: t(0),
        };
        let dests = [
            region("us-east-1"),
            region("eu-west-1"),
            region("us-west-2"),
        ];
        let statuses = vec![
            DestinationStatus {
                region: "us-east-1".into(),
                registry_id: None,
                state: ImageReplicationState::InProgress,
                failure_code: None,
            },
            DestinationStatus {
                region: "eu-west-1".into(),
                registry_id: None,
                state: ImageReplicationState::Failed,
                failure_code: Some("KMS".into()),
            },
        ];
        let o = ecr_observations(&image, &statuses, &dests, t(600));
        assert_eq!(
            (o[0].status, o[0].lag_seconds, o[0].pending),
            (Status::InProgress, 600, 1)
        );
        assert_eq!((o[1].status, o[1].failed), (Status::Failed, 1));
        assert!(o[1].detail.as_deref().unwrap().contains("KMS"));
        assert_eq!(
            (o[2].status, o[2].lag_seconds),
            (Status::InProgress, 600),
            "not reported yet ages too"
        );
        assert_eq!(o[0].resource, "api:v1@sha256:0123456789ab");
        let done = vec![DestinationStatus {
            region: "us-east-1".into(),
            registry_id: None,
            state: ImageReplicationState::Complete,
            failure_code: None,
        }];
        let o = ecr_observations(&image, &done, &dests[..1], t(9_999));
        assert_eq!(
            (o[0].status, o[0].lag_seconds),
            (Status::Replicated, 0),
            "COMPLETE clears the lag"
        );
    }
}
