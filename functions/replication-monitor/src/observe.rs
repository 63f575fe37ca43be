//! Reading the three kinds through the adapters' traits, turned into plain
//! observations. The conversions are pure functions; the async parts only fetch.

use crate::join::join_bounded;
use crate::report::{Kind, Observation, ReadError, Status};
use chrono::{DateTime, Utc};
use shared::aws::ecr::{
    DestinationStatus, EcrImages, ImageReplication, ImageReplicationState, ImageSummary,
};
use shared::aws::metric_data::{MetricQuery, MetricReader, MetricSeries};
use shared::aws::secrets::{ReplicaState, SecretReplicas, SecretReplication};
use shared::config::{EcrReplication, S3Rule, SecretsReplication};
use shared::Region;
use std::collections::BTreeMap;

/// Concurrent per-image / per-secret calls (the SDK retries throttling within its bound).
pub const MAX_IN_FLIGHT: usize = 8;
/// S3 replication metrics are per minute; the latest minute in this lookback counts.
pub const S3_LOOKBACK_SECS: i64 = 15 * 60;
pub const S3_PERIOD_SECS: i32 = 60;

fn age(now: DateTime<Utc>, since: DateTime<Utc>) -> u64 {
    (now - since).num_seconds().max(0) as u64
}

// ---------------------------------------------------------------- ECR

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
    ecr: &impl EcrImages,
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
            .map(|repo| ecr.recent_images(repo, since))
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
            .map(|i| ecr.replication_status(&i.repository, &i.digest))
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

// ---------------------------------------------------------------- S3

fn rule_name(rule: &S3Rule) -> String {
    format!(
        "{}->{} ({})",
        rule.source_bucket, rule.destination_bucket, rule.rule_id
    )
}

/// Which bucket's region S3 publishes a replication metric in (S3 user guide, "Using
/// S3 Replication metrics", "Which Region is this metric published in?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedIn {
    SourceRegion,
    DestinationRegion,
}

impl PublishedIn {
    pub fn region(self, rule: &S3Rule) -> &Region {
        match self {
            PublishedIn::SourceRegion => &rule.source_region,
            PublishedIn::DestinationRegion => &rule.destination_region,
        }
    }
}

/// Latency and pending operations are published in the destination bucket's region,
/// failed operations in the source bucket's.
const S3_METRICS: [(&str, &str, &str, PublishedIn); 3] = [
    (
        "lat",
        "ReplicationLatency",
        "Maximum",
        PublishedIn::DestinationRegion,
    ),
    (
        "pend",
        "OperationsPendingReplication",
        "Maximum",
        PublishedIn::DestinationRegion,
    ),
    (
        "fail",
        "OperationsFailedReplication",
        "Sum",
        PublishedIn::SourceRegion,
    ),
];

/// Three queries per rule, each with the region S3 publishes it in; ids carry the
/// rule's index in the configuration.
pub fn s3_queries(rules: &[(usize, &S3Rule)]) -> Vec<(Region, MetricQuery)> {
    rules
        .iter()
        .flat_map(|(i, rule)| {
            S3_METRICS
                .iter()
                .map(move |(suffix, name, stat, published_in)| {
                    (
                        published_in.region(rule).clone(),
                        MetricQuery {
                            id: format!("r{i}_{suffix}"),
                            namespace: "AWS/S3".into(),
                            metric_name: (*name).into(),
                            dimensions: vec![
                                ("SourceBucket".into(), rule.source_bucket.clone()),
                                ("DestinationBucket".into(), rule.destination_bucket.clone()),
                                ("RuleId".into(), rule.rule_id.clone()),
                            ],
                            stat: (*stat).into(),
                            period_secs: S3_PERIOD_SECS,
                        },
                    )
                })
        })
        .collect()
}

/// Latest latency and pending, failures summed over the lookback; no datapoints at all
/// means no replication traffic (S3 reports nothing then), which is not a breach.
pub fn s3_observation(index: usize, rule: &S3Rule, series: &[MetricSeries]) -> Observation {
    let get = |suffix: &str| series.iter().find(|s| s.id == format!("r{index}_{suffix}"));
    let latency = get("lat").and_then(MetricSeries::latest);
    let pending = get("pend").and_then(MetricSeries::latest);
    let failed = get("fail").and_then(MetricSeries::sum);
    let (lag, pending, failed) = (
        latency.unwrap_or(0.0).max(0.0) as u64,
        pending.unwrap_or(0.0).max(0.0) as u64,
        failed.unwrap_or(0.0).max(0.0) as u64,
    );
    let status = if latency.is_none()
        && get("pend").and_then(MetricSeries::latest).is_none()
        && get("fail").and_then(MetricSeries::sum).is_none()
    {
        Status::NoData
    } else if failed > 0 {
        Status::Failed
    } else if pending > 0 {
        Status::InProgress
    } else {
        Status::Replicated
    };
    Observation {
        kind: Kind::S3,
        resource: rule_name(rule),
        destination: rule.destination_region.to_string(),
        status,
        lag_seconds: lag,
        pending,
        failed,
        detail: (status == Status::NoData)
            .then(|| "no datapoints in the last 15 minutes".to_string()),
    }
}

/// One GetMetricData call per region the metrics are published in (the rules'
/// source and destination regions), up to 500 queries each. A rule whose read failed in
/// either region is reported as an error, not observed from half its metrics.
pub async fn observe_s3<'a, R: MetricReader + 'a>(
    reader_for: impl Fn(&Region) -> Option<&'a R>,
    rules: &[S3Rule],
    now: DateTime<Utc>,
) -> (Vec<Observation>, Vec<ReadError>) {
    let indexed: Vec<(usize, &S3Rule)> = rules.iter().enumerate().collect();
    let mut by_region: BTreeMap<Region, Vec<MetricQuery>> = BTreeMap::new();
    for (region, query) in s3_queries(&indexed) {
        by_region.entry(region).or_default().push(query);
    }
    let start = now - chrono::Duration::seconds(S3_LOOKBACK_SECS);
    let mut series = Vec::new();
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    for (region, queries) in &by_region {
        let result = match reader_for(region) {
            Some(reader) => reader
                .read(queries, start, now)
                .await
                .map_err(|e| e.to_string()),
            None => Err(format!("no CloudWatch client for {region}")),
        };
        match result {
            Ok(read) => series.extend(read),
            Err(message) => {
                for (i, rule) in &indexed {
                    let reads_here = S3_METRICS.iter().any(|m| m.3.region(rule) == region);
                    if reads_here {
                        failed.entry(*i).or_insert_with(|| message.clone());
                    }
                }
            }
        }
    }
    let (mut observations, mut errors) = (Vec::new(), Vec::new());
    for (i, rule) in indexed {
        match failed.remove(&i) {
            Some(message) => errors.push(ReadError {
                kind: Kind::S3,
                resource: rule_name(rule),
                destination: Some(rule.destination_region.to_string()),
                message,
            }),
            None => observations.push(s3_observation(i, rule, &series)),
        }
    }
    (observations, errors)
}

// ---------------------------------------------------------------- Secrets Manager

pub fn secret_key(secret_id: &str, region: &str) -> String {
    format!("{secret_id}|{region}")
}

/// Secrets Manager reports no replication start time. The lag of an InProgress
/// replica is measured from the first run that saw it InProgress (kept in the alert
/// state document, so it survives cold starts): exact to one schedule interval, and
/// never confused by an old LastChangedDate or free-text StatusMessage.
/// `expected`: the regions every secret must have a replica in (a missing one fails).
pub fn secret_observations(
    secret: &SecretReplicas,
    expected: &[String],
    first_seen: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Vec<Observation>, BTreeMap<String, DateTime<Utc>>) {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    let mut regions: Vec<String> = expected.to_vec();
    for r in &secret.replicas {
        if !regions.contains(&r.region) {
            regions.push(r.region.clone());
        }
    }
    for region in regions {
        let replica = secret.replicas.iter().find(|r| r.region == region);
        let key = secret_key(&secret.secret_id, &region);
        let (status, lag, pending, failed) = match replica.map(|r| r.state) {
            Some(ReplicaState::InSync) => (Status::Replicated, 0, 0, 0),
            Some(ReplicaState::InProgress) => {
                let since = first_seen
                    .get(&key)
                    .copied()
                    .filter(|t| *t <= now)
                    .unwrap_or(now);
                seen.insert(key, since);
                (Status::InProgress, age(now, since), 1, 0)
            }
            Some(ReplicaState::Failed) => (Status::Failed, 0, 0, 1),
            None => (Status::Missing, 0, 0, 1),
        };
        let detail = match replica {
            Some(r) => r.message.clone(),
            None => Some(format!("no replica in {region}")),
        };
        out.push(Observation {
            kind: Kind::Secrets,
            resource: secret.secret_id.clone(),
            destination: region,
            status,
            lag_seconds: lag,
            pending,
            failed,
            detail,
        });
    }
    (out, seen)
}

pub async fn observe_secrets(
    secrets: &impl SecretReplication,
    cfg: &SecretsReplication,
    expected: &[String],
    first_seen: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (
    Vec<Observation>,
    Vec<ReadError>,
    BTreeMap<String, DateTime<Utc>>,
) {
    let results = join_bounded(
        cfg.secret_ids
            .iter()
            .map(|id| secrets.replicas(id))
            .collect(),
        MAX_IN_FLIGHT,
    )
    .await;
    let (mut observations, mut errors, mut seen) = (Vec::new(), Vec::new(), BTreeMap::new());
    for (id, result) in cfg.secret_ids.iter().zip(results) {
        match result {
            Ok(secret) => {
                let (o, s) = secret_observations(&secret, expected, first_seen, now);
                observations.extend(o);
                seen.extend(s);
            }
            Err(e) => {
                // Keep its first-seen times: the next readable run continues the count.
                seen.extend(
                    first_seen
                        .iter()
                        .filter(|(k, _)| k.starts_with(&format!("{id}|")))
                        .map(|(k, v)| (k.clone(), *v)),
                );
                errors.push(ReadError {
                    kind: Kind::Secrets,
                    resource: id.clone(),
                    destination: None,
                    message: e.to_string(),
                });
            }
        }
    }
    (observations, errors, seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::aws::secrets::ReplicaStatus;

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

    fn rule(i: usize) -> S3Rule {
        S3Rule {
            source_bucket: format!("src{i}"),
            destination_bucket: format!("dst{i}"),
            rule_id: format!("rule{i}"),
            source_region: region("eu-central-1"),
            destination_region: region("us-east-1"),
        }
    }

    #[test]
    fn s3_queries_and_values() {
        let rules = [rule(0), rule(1)];
        let indexed: Vec<(usize, &S3Rule)> = rules.iter().enumerate().collect();
        let with_regions = s3_queries(&indexed);
        let q: Vec<MetricQuery> = with_regions.iter().map(|(_, q)| q.clone()).collect();
        assert_eq!(q.len(), 6);
        // latency and pending where S3 publishes them: the destination's region;
        // failures: the source's
        let regions: Vec<&str> = with_regions[..3].iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            regions,
            [
                rules[0].destination_region.as_str(),
                rules[0].destination_region.as_str(),
                rules[0].source_region.as_str()
            ]
        );
        assert!(q
            .iter()
            .all(|q| shared::aws::metric_data::valid_query_id(&q.id)));
        assert_eq!(
            q[0].dimensions[2],
            ("RuleId".to_string(), "rule0".to_string())
        );
        assert_eq!(
            (q[2].metric_name.as_str(), q[2].stat.as_str()),
            ("OperationsFailedReplication", "Sum")
        );
        let series = vec![
            MetricSeries {
                id: "r0_lat".into(),
                points: vec![(t(60), 120.0), (t(0), 900.0)],
            },
            MetricSeries {
                id: "r0_pend".into(),
                points: vec![(t(60), 4.0)],
            },
            MetricSeries {
                id: "r0_fail".into(),
                points: vec![(t(60), 1.0), (t(0), 2.0)],
            },
        ];
        let o = s3_observation(0, &rules[0], &series);
        assert_eq!(
            (o.lag_seconds, o.pending, o.failed, o.status),
            (120, 4, 3, Status::Failed)
        );
        assert_eq!(s3_observation(1, &rules[1], &series).status, Status::NoData);
    }

    #[test]
    fn secret_lag_counts_from_first_sight() {
        let secret = SecretReplicas {
            secret_id: "db".into(),
            name: None,
            last_changed: None,
            replicas: vec![ReplicaStatus {
                region: "us-east-1".into(),
                state: ReplicaState::InProgress,
                message: None,
            }],
        };
        let expected = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let (o, seen) = secret_observations(&secret, &expected, &BTreeMap::new(), t(0));
        assert_eq!(o[0].lag_seconds, 0);
        assert_eq!(o[1].status, Status::Missing);
        let (o, seen2) = secret_observations(&secret, &expected, &seen, t(700));
        assert_eq!(o[0].lag_seconds, 700);
        assert_eq!(seen2, seen, "first sight is kept");
        let synced = SecretReplicas {
            replicas: vec![ReplicaStatus {
                region: "us-east-1".into(),
                state: ReplicaState::InSync,
                message: None,
            }],
            ..secret
        };
        let (o, seen3) = secret_observations(&synced, &expected[..1], &seen2, t(800));
        assert_eq!((o[0].status, o[0].lag_seconds), (Status::Replicated, 0));
        assert!(seen3.is_empty(), "in sync: forgotten");
    }
}
