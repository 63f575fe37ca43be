//! In-memory stand-ins for everything the handlers touch in AWS, so the in-process
//! benchmark times the handlers' own work (parse, plan, decide, build and serialise
//! the record) and nothing of the network. replication-monitor and the
//! concurrency-scheduler bring their own (`replication_monitor::fake`,
//! `concurrency_scheduler::fake`).

use chrono::{DateTime, Utc};
use shared::aws::metric_data::{MetricQuery, MetricReader, MetricSeries};
use shared::aws::sns::Notifier;
use shared::metrics::{Metric, MetricSink};
use shared::Result;

/// Accepts every notification and metric.
#[derive(Default, Clone)]
pub struct Sink;

impl Notifier for Sink {
    async fn notify(&self, _subject: &str, _message: &str) -> Result<()> {
        Ok(())
    }
}

impl MetricSink for Sink {
    async fn publish(&self, _namespace: &str, _metrics: &[Metric]) -> Result<()> {
        Ok(())
    }
}

/// Flat S3 metrics.
#[derive(Default, Clone)]
pub struct Metrics;

impl MetricReader for Metrics {
    async fn read(
        &self,
        queries: &[MetricQuery],
        _start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>> {
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: vec![(end, 0.0)],
            })
            .collect())
    }
}
