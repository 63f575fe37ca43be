//! S3: the replication metrics of each configured rule, read where S3 publishes them.

use crate::decide::{Kind, Observation, ReadError, Status};
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::aws::metric_data::{MetricQuery, MetricSeries};
use shared::config::S3Rule;
use shared::Region;
use std::collections::BTreeMap;

/// S3 replication metrics are per minute; the latest minute in this lookback counts.
pub const S3_LOOKBACK_SECS: i64 = 15 * 60;
pub const S3_PERIOD_SECS: i32 = 60;

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
pub async fn observe_s3(
    world: &impl World,
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
        let result = world
            .metric_data(region, queries, start, now)
            .await
            .map_err(|e| e.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
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
}
