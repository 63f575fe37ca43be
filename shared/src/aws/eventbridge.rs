//! EventBridge adapter: the control plane's own events.

use crate::aws::map_err;
use crate::error::{AwsErrorKind, Error, Result};
use crate::events::{ControlPlaneDetail, ControlPlaneKind, CONTROL_PLANE_SOURCE};

/// The control plane's own events (`Region Evacuated`, `Drill Started`, ...) on the
/// home region's bus, where the schedulers of both regions pick them up.
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    region: String,
}

impl EventBus {
    pub fn new(config: &aws_config::SdkConfig, bus_name: &str, region: &str) -> Self {
        Self::from_client(aws_sdk_eventbridge::Client::new(config), bus_name, region)
    }

    pub fn from_client(client: aws_sdk_eventbridge::Client, bus_name: &str, region: &str) -> Self {
        Self {
            client,
            bus_name: bus_name.to_string(),
            region: region.to_string(),
        }
    }

    pub async fn put(&self, kind: ControlPlaneKind, detail: &ControlPlaneDetail) -> Result<()> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(CONTROL_PLANE_SOURCE)
            .detail_type(kind.detail_type())
            .detail(serde_json::to_string(detail).map_err(|e| Error::State(e.to_string()))?)
            .event_bus_name(&self.bus_name)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| map_err("eventbridge", "PutEvents", &self.region, e))?;
        // PutEvents answers 200 even when an entry was refused: look inside.
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Aws {
                service: "eventbridge",
                operation: "PutEvents",
                region: self.region.clone(),
                kind: AwsErrorKind::Transient,
                message: format!("entry failed: {why}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn detail() -> ControlPlaneDetail {
        ControlPlaneDetail {
            region: "us-east-1".into(),
            epoch: 3,
            reason: "alarm".into(),
            drill_id: None,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn an_event_goes_to_the_configured_bus_with_the_control_plane_source() {
        let put = mock!(aws_sdk_eventbridge::Client::put_events)
            .match_requests(|r| {
                let e = &r.entries()[0];
                e.source() == Some(CONTROL_PLANE_SOURCE)
                    && e.detail_type() == Some("Region Evacuated")
                    && e.event_bus_name() == Some("orders-bus")
                    && e.detail().is_some_and(|d| d.contains("\"epoch\":3"))
            })
            .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&put]);
        let bus = EventBus::from_client(client, "orders-bus", "eu-central-1");
        bus.put(ControlPlaneKind::RegionEvacuated, &detail())
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_entry_is_an_error_even_though_put_events_answered_200() {
        let put = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code("InternalFailure")
                        .error_message("try again")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&put]);
        let bus = EventBus::from_client(client, "default", "eu-central-1");
        let err = bus
            .put(ControlPlaneKind::DrillEnded, &detail())
            .await
            .unwrap_err();
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::Transient));
        assert!(err.to_string().contains("try again"), "{err}");
    }
}
