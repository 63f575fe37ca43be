//! Resource Groups Tagging API adapter: finds the Lambda functions that carry a
//! tag (`tag:GetResources`), so hundreds of functions need no list in the config.

use crate::aws::map_err;
use crate::error::Result;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use aws_sdk_resourcegroupstagging::Client;
use std::future::Future;

/// Functions found by tag in one region.
pub trait FunctionDiscovery: Send + Sync {
    /// Names of the Lambda functions tagged `key` (with `value`, when given), sorted.
    fn functions_tagged(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
}

#[derive(Clone, Debug)]
pub struct Tagging {
    client: Client,
    region: String,
}

impl Tagging {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    pub fn from_client(client: Client, region: &str) -> Self {
        Self {
            client,
            region: region.to_string(),
        }
    }
}

/// `arn:aws:lambda:eu-central-1:123456789012:function:orders-api[:qualifier]` → `orders-api`.
pub fn function_name_of(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    let (service, kind) = (parts.nth(2)?, parts.nth(2)?);
    (service == "lambda" && kind == "function")
        .then(|| parts.next())
        .flatten()
        .filter(|n| !n.is_empty())
}

impl FunctionDiscovery for Tagging {
    async fn functions_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>> {
        let filter = TagFilter::builder()
            .key(key)
            .set_values(value.map(|v| vec![v.to_string()]))
            .build();
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_resources()
                .resource_type_filters("lambda:function")
                .tag_filters(filter.clone())
                .resources_per_page(100)
                .set_pagination_token(token.take())
                .send()
                .await
                .map_err(|e| map_err("tag", "GetResources", &self.region, e))?;
            names.extend(
                out.resource_tag_mapping_list()
                    .iter()
                    .filter_map(|m| m.resource_arn())
                    .filter_map(function_name_of)
                    .map(str::to_string),
            );
            match out.pagination_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    use aws_sdk_resourcegroupstagging::types::ResourceTagMapping;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn mapping(arn: &str) -> ResourceTagMapping {
        ResourceTagMapping::builder().resource_arn(arn).build()
    }

    #[test]
    fn function_names_from_arns() {
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-central-1:123456789012:function:orders-api"),
            Some("orders-api")
        );
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-central-1:123456789012:function:orders-api:live"),
            Some("orders-api")
        );
        assert_eq!(function_name_of("arn:aws:s3:::bucket"), None);
        assert_eq!(function_name_of("nonsense"), None);
    }

    #[tokio::test]
    async fn pages_are_followed_and_names_deduplicated() {
        let page1 = mock!(Client::get_resources)
            .match_requests(|r| {
                r.pagination_token().is_none()
                    && r.resource_type_filters() == ["lambda:function".to_string()]
                    && r.tag_filters()[0].key() == Some("controlplane:pc")
                    && r.tag_filters()[0].values() == ["managed".to_string()]
            })
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:lambda:eu-central-1:123456789012:function:b",
                    ))
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:lambda:eu-central-1:123456789012:function:a",
                    ))
                    .pagination_token("next")
                    .build()
            });
        let page2 = mock!(Client::get_resources)
            .match_requests(|r| r.pagination_token() == Some("next"))
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:lambda:eu-central-1:123456789012:function:a",
                    ))
                    .pagination_token("")
                    .build()
            });
        let client = mock_client!(
            aws_sdk_resourcegroupstagging,
            RuleMode::Sequential,
            [&page1, &page2]
        );
        let t = Tagging::from_client(client, "eu-central-1");
        assert_eq!(
            t.functions_tagged("controlplane:pc", Some("managed"))
                .await
                .unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(page2.num_calls(), 1);
    }
}
