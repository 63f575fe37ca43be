//! Metrics: collected during an invocation, published in one PutMetricData call.

use crate::error::Result;
use serde::Serialize;
use std::future::Future;

pub const NAMESPACE: &str = "ControlPlane";
/// PutMetricData takes at most 1,000 metrics per request.
pub const MAX_PER_CALL: usize = 1_000;

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
