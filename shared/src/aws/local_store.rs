//! The local store: one DynamoDB item in this region's table, changed only by
//! conditional write (DynamoDB's optimistic locking: a `PutItem` whose condition on the
//! item's version fails with `ConditionalCheckFailedException` and writes nothing;
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate>).
//! DynamoDB is regional and its item API is data plane, so the store answers while
//! Route 53's control plane (us-east-1) does not. The item is small (a few KB: the
//! routing state twice, bounded by its 4,000-character record), under DynamoDB's 400 KB.

use crate::aws::map_err;
use crate::error::{Error, Result};
use crate::local::{LocalRecord, LocalVersion};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

/// The item's key: one item per table, the routing as this region knows it.
pub const ITEM_ID: &str = "routing";

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalWrite {
    Written(LocalVersion),
    /// Someone wrote first (the tick and an event run of the same region): re-read.
    Lost,
}

#[derive(Clone, Debug)]
pub struct LocalStore {
    client: Client,
    table: String,
    region: String,
}

impl LocalStore {
    pub fn new(config: &aws_config::SdkConfig, table: &str) -> Self {
        Self {
            client: Client::new(config),
            table: table.to_string(),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// The item and its version; the empty record at version 0 when there is none.
    /// Strongly consistent: a write this region just made is always seen.
    pub async fn read(&self) -> Result<(LocalRecord, LocalVersion)> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(ITEM_ID.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_err("dynamodb", "GetItem", &self.region, e))?;
        let Some(item) = out.item else {
            return Ok((LocalRecord::default(), LocalVersion(0)));
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        let record = match item.get("record") {
            Some(AttributeValue::S(s)) => serde_json::from_str::<LocalRecord>(s).ok(),
            _ => None,
        };
        match (record, version) {
            (Some(record), Some(version)) => Ok((record, LocalVersion(version))),
            _ => Err(Error::State(format!(
                "local store {}/{ITEM_ID} in {} is not a record this function wrote \
                 (attributes: {:?})",
                self.table,
                self.region,
                item.keys().collect::<Vec<_>>()
            ))),
        }
    }

    /// Writes `record` if the item is still at `expected` (0: if there is no item).
    pub async fn write(&self, expected: LocalVersion, record: &LocalRecord) -> Result<LocalWrite> {
        let next = LocalVersion(expected.0 + 1);
        let text = serde_json::to_string(record)
            .map_err(|e| Error::State(format!("local record does not encode: {e}")))?;
        // The condition: no item yet, or the item still at the version read.
        let (condition, names, values) = if expected.0 == 0 {
            ("attribute_not_exists(id)", None, None)
        } else {
            (
                "#v = :v",
                Some(std::collections::HashMap::from([(
                    "#v".to_string(),
                    "version".to_string(),
                )])),
                Some(std::collections::HashMap::from([(
                    ":v".to_string(),
                    AttributeValue::N(expected.0.to_string()),
                )])),
            )
        };
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(ITEM_ID.into()))
            .item("version", AttributeValue::N(next.0.to_string()))
            .item("record", AttributeValue::S(text))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(LocalWrite::Written(next)),
            Err(e) => {
                let lost = e
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception());
                if lost {
                    return Ok(LocalWrite::Lost);
                }
                Err(map_err("dynamodb", "PutItem", &self.region, e))
            }
        }
    }
}
