//! Metric reads: GetMetricData, batched (up to 500 queries per call) and paged. The replication monitor reads S3 replication
//! metrics with it; failover can read `ReplicationReady` the same way.

use crate::aws::map_err;
use crate::error::{Error, Result};
use aws_sdk_cloudwatch::types::{Dimension, MetricDataQuery, MetricStat, ScanBy};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;

/// GetMetricData accepts at most 500 queries per request.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// One metric statistic to read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricQuery {
    /// Unique in the request; starts with a lowercase letter, then [A-Za-z0-9_].
    pub id: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Maximum`, `Sum`, `Average`, ...
    pub stat: String,
    pub period_secs: i32,
}

/// The datapoints of one query, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MetricSeries {
    pub id: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

impl MetricSeries {
    pub fn latest(&self) -> Option<f64> {
        self.points.first().map(|(_, v)| *v)
    }
    pub fn sum(&self) -> Option<f64> {
        (!self.points.is_empty()).then(|| self.points.iter().map(|(_, v)| v).sum())
    }
}

pub trait MetricReader: Send + Sync {
    /// Reads every query over [start, end); one call per 500 queries (plus pages).
    fn read(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<MetricSeries>>> + Send;
}

/// Whether an id is acceptable to GetMetricData.
pub fn valid_query_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A CloudWatch client for metric reads in one region.
#[derive(Clone, Debug)]
pub struct MetricData {
    client: aws_sdk_cloudwatch::Client,
    region: String,
}

impl MetricData {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::from_client(
            aws_sdk_cloudwatch::Client::new(config),
            config.region().map(|r| r.to_string()).unwrap_or_default(),
        )
    }

    pub fn from_client(client: aws_sdk_cloudwatch::Client, region: impl Into<String>) -> Self {
        Self {
            client,
            region: region.into(),
        }
    }
}

fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

fn query(q: &MetricQuery) -> MetricDataQuery {
    let dimensions = q
        .dimensions
        .iter()
        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
        .collect();
    let metric = aws_sdk_cloudwatch::types::Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric_name)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(q.period_secs)
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

impl MetricReader for MetricData {
    async fn read(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        if let Some(bad) = queries.iter().find(|q| !valid_query_id(&q.id)) {
            return Err(Error::State(format!(
                "metric query id {:?} is not valid for GetMetricData",
                bad.id
            )));
        }
        let mut series: BTreeMap<String, MetricSeries> = queries
            .iter()
            .map(|q| {
                (
                    q.id.clone(),
                    MetricSeries {
                        id: q.id.clone(),
                        points: Vec::new(),
                    },
                )
            })
            .collect();
        for chunk in queries.chunks(MAX_QUERIES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(chunk.iter().map(query).collect()))
                    .start_time(smithy_time(start))
                    .end_time(smithy_time(end))
                    .scan_by(ScanBy::TimestampDescending)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| map_err("cloudwatch", "GetMetricData", &self.region, e))?;
                for result in out.metric_data_results() {
                    let Some(entry) = result.id().and_then(|id| series.get_mut(id)) else {
                        continue;
                    };
                    for (t, v) in result.timestamps().iter().zip(result.values()) {
                        if let Some(t) = DateTime::from_timestamp(t.secs(), t.subsec_nanos()) {
                            entry.points.push((t, *v));
                        }
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        let mut out: Vec<MetricSeries> = queries
            .iter()
            .filter_map(|q| series.remove(&q.id))
            .collect();
        for s in &mut out {
            s.points.sort_by_key(|p| std::cmp::Reverse(p.0));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_sdk_cloudwatch::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn q(i: usize) -> MetricQuery {
        MetricQuery {
            id: format!("q{i}"),
            namespace: "AWS/S3".into(),
            metric_name: "ReplicationLatency".into(),
            dimensions: vec![("SourceBucket".into(), "b".into())],
            stat: "Maximum".into(),
            period_secs: 60,
        }
    }

    #[test]
    fn query_ids_follow_the_api_rule() {
        assert!(valid_query_id("r0_lat"));
        assert!(!valid_query_id("0r"));
        assert!(!valid_query_id("R0"));
        assert!(!valid_query_id("r-0"));
        assert!(!valid_query_id(""));
    }

    #[tokio::test]
    async fn batches_of_500_and_pages_are_merged() {
        let first = mock!(Client::get_metric_data)
            .match_requests(|r| r.metric_data_queries().len() == 500 && r.next_token().is_none())
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        MetricDataResult::builder()
                            .id("q0")
                            .timestamps(aws_smithy_types::DateTime::from_secs(100))
                            .values(1.0)
                            .build(),
                    )
                    .next_token("p2")
                    .build()
            });
        let second_page = mock!(Client::get_metric_data)
            .match_requests(|r| r.next_token() == Some("p2"))
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        MetricDataResult::builder()
                            .id("q0")
                            .timestamps(aws_smithy_types::DateTime::from_secs(160))
                            .values(2.0)
                            .build(),
                    )
                    .build()
            });
        let rest = mock!(Client::get_metric_data)
            .match_requests(|r| r.metric_data_queries().len() == 100)
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        MetricDataResult::builder()
                            .id("q599")
                            .timestamps(aws_smithy_types::DateTime::from_secs(100))
                            .values(7.0)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&first, &second_page, &rest]
        );
        let cw = MetricData::from_client(client, "eu-central-1");
        let queries: Vec<MetricQuery> = (0..600).map(q).collect();
        let now = Utc::now();
        let out = cw
            .read(&queries, now - chrono::Duration::minutes(15), now)
            .await
            .unwrap();
        assert_eq!(out.len(), 600);
        assert_eq!(out[0].latest(), Some(2.0), "newest first");
        assert_eq!(out[0].sum(), Some(3.0));
        assert_eq!(out[599].latest(), Some(7.0));
        assert_eq!(out[1].latest(), None);
        assert_eq!(
            (first.num_calls(), second_page.num_calls(), rest.num_calls()),
            (1, 1, 1)
        );
    }
}
