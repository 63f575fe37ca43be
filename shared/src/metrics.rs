//! Metrics: collected during an invocation, published in one PutMetricData call.

use crate::error::Result;
use serde::Serialize;
use std::future::Future;

pub const NAMESPACE: &str = "ControlPlane";
/// PutMetricData takes at most 1,000 metrics per request.
pub const MAX_PER_CALL: usize = 1_000;

/// Every metric the functions publish in [`NAMESPACE`], with its dimension names in the
/// order they are added: the one list the alarms and the dashboard (infra/stack/dashboard.tf,
/// checked by the infra tests) may plot. [`MetricBatch::push`] refuses anything else in debug
/// builds, so every test that publishes checks it.
pub const PUBLISHED: &[(&str, &[&str])] = &[
    ("RegionActive", &["Region"]),
    // failover, in the observer's region, about the region it observes (README, "Two paths").
    ("EndpointProbeHealthy", &["Region"]),
    ("DataPlaneGateClosed", &["Region"]),
    ("ActionFailed", &["Function"]),
    ("ReplicationLagSeconds", &["Kind", "DestinationRegion"]),
    ("ReplicationPending", &["Kind", "DestinationRegion"]),
    ("ReplicationFailed", &["Kind", "DestinationRegion"]),
    ("ReplicationReady", &["DestinationRegion"]),
    ("ProvisionedConcurrencyTarget", &["FunctionName", "Region"]),
    (
        "ProvisionedConcurrencyAllocated",
        &["FunctionName", "Region"],
    ),
];

/// Whether `metric` is in [`PUBLISHED`] with exactly its dimensions.
pub fn is_published(metric: &Metric) -> bool {
    PUBLISHED.iter().any(|(name, dims)| {
        *name == metric.name
            && dims.len() == metric.dimensions.len()
            && dims
                .iter()
                .zip(&metric.dimensions)
                .all(|(d, (k, _))| d == k)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Seconds,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Self {
        Self {
            name,
            dimensions: Vec::new(),
            value,
            unit,
        }
    }
    pub fn dim(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }
}

/// What the functions publish to; the CloudWatch adapter implements it.
pub trait MetricSink: Send + Sync {
    fn publish(
        &self,
        namespace: &str,
        metrics: &[Metric],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Collects metrics through an invocation.
#[derive(Debug, Default, Clone)]
pub struct MetricBatch {
    metrics: Vec<Metric>,
}

impl MetricBatch {
    pub fn push(&mut self, metric: Metric) {
        debug_assert!(
            is_published(&metric),
            "{} {:?} is not in shared::metrics::PUBLISHED",
            metric.name,
            metric.dimensions
        );
        self.metrics.push(metric);
    }
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// Publishes everything; one call unless there are more than 1,000 metrics.
    pub async fn flush(self, sink: &impl MetricSink, namespace: &str) -> Result<usize> {
        for chunk in self.metrics.chunks(MAX_PER_CALL) {
            sink.publish(namespace, chunk).await?;
        }
        Ok(self.metrics.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalogued_metrics_with_their_dimensions_are_published() {
        let table = [
            (
                Metric::new("RegionActive", 1.0, Unit::None).dim("Region", "eu-central-1"),
                true,
            ),
            (Metric::new("RegionActive", 1.0, Unit::None), false),
            (
                Metric::new("RegionActive", 1.0, Unit::None).dim("DestinationRegion", "x"),
                false,
            ),
            (
                Metric::new("ReplicationLagSeconds", 1.0, Unit::Seconds)
                    .dim("Kind", "ecr")
                    .dim("DestinationRegion", "us-east-1"),
                true,
            ),
            (
                Metric::new("ReplicationLagSeconds", 1.0, Unit::Seconds)
                    .dim("DestinationRegion", "us-east-1")
                    .dim("Kind", "ecr"),
                false,
            ),
            (Metric::new("Unlisted", 1.0, Unit::Count), false),
        ];
        for (metric, expected) in table {
            assert_eq!(is_published(&metric), expected, "{metric:?}");
        }
    }
}
