//! CloudWatch adapter: batched PutMetricData, and the current state of alarms.

use crate::aws::map_err;
use crate::error::Result;
use crate::events::AlarmState;
use crate::metrics::{Metric, MetricSink, Unit};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
pub struct CloudWatch {
    client: Client,
    region: String,
}

impl CloudWatch {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

/// An alarm's state as CloudWatch holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    /// When it last changed state (`StateTransitionedTimestamp`; `StateUpdatedTimestamp`
    /// when absent).
    pub since: DateTime<Utc>,
}

/// DescribeAlarms takes at most 100 names a call.
const DESCRIBE_ALARMS_MAX: usize = 100;

impl CloudWatch {
    /// The current state of the named metric alarms in this client's region; a name
    /// CloudWatch does not know is left out. Composite alarms are not read: DescribeAlarms
    /// returns them only to a grant on every alarm (`*`), wider than this one needs.
    pub async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmReading>> {
        let mut out = Vec::new();
        for chunk in names.chunks(DESCRIBE_ALARMS_MAX) {
            let answer = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .max_records(DESCRIBE_ALARMS_MAX as i32)
                .send()
                .await
                .map_err(|e| map_err("cloudwatch", "DescribeAlarms", &self.region, e))?;
            for alarm in answer.metric_alarms() {
                let state = match alarm.state_value().map(|s| s.as_str()) {
                    Some("ALARM") => AlarmState::Alarm,
                    Some("OK") => AlarmState::Ok,
                    _ => AlarmState::InsufficientData,
                };
                let since = alarm
                    .state_transitioned_timestamp()
                    .or(alarm.state_updated_timestamp())
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or_default();
                out.push(AlarmReading {
                    name: alarm.alarm_name().unwrap_or_default().to_string(),
                    state,
                    since,
                });
            }
        }
        Ok(out)
    }
}

fn datum(metric: &Metric) -> MetricDatum {
    let unit = match metric.unit {
        Unit::Count => StandardUnit::Count,
        Unit::Seconds => StandardUnit::Seconds,
        Unit::None => StandardUnit::None,
    };
    let dimensions = metric
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(*name).value(value).build())
        .collect();
    MetricDatum::builder()
        .metric_name(metric.name)
        .set_dimensions(Some(dimensions))
        .value(metric.value)
        .unit(unit)
        .timestamp(aws_smithy_types::DateTime::from_secs(
            chrono::Utc::now().timestamp(),
        ))
        .build()
}

impl MetricSink for CloudWatch {
    async fn publish(&self, namespace: &str, metrics: &[Metric]) -> Result<()> {
        self.client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(metrics.iter().map(datum).collect()))
            .send()
            .await
            .map_err(|e| map_err("cloudwatch", "PutMetricData", &self.region, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricBatch;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn flush_is_one_call_and_errors_are_mapped() {
        let ok = mock!(Client::put_metric_data).then_output(|| {
            aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput::builder().build()
        });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&ok]);
        let cw = CloudWatch {
            client,
            region: "eu-central-1".into(),
        };
        let mut batch = MetricBatch::default();
        for i in 0..10 {
            batch.push(Metric::new("RegionActive", 1.0, Unit::None).dim("Region", format!("r{i}")));
        }
        assert_eq!(batch.flush(&cw, "ControlPlane").await.unwrap(), 10);
        assert_eq!(ok.num_calls(), 1);

        let throttled = mock!(Client::put_metric_data).then_error(|| {
            aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&throttled]);
        let cw = CloudWatch {
            client,
            region: "eu-central-1".into(),
        };
        let err = cw
            .publish("ControlPlane", &[Metric::new("X", 1.0, Unit::Count)])
            .await
            .unwrap_err();
        assert_eq!(err.aws_kind(), Some(crate::error::AwsErrorKind::Throttling));
        assert!(err.is_retryable());
    }
}
