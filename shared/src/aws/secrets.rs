//! Secrets Manager adapter: the replication status of a secret's replicas
//! (DescribeSecret in the secret's primary region; values are never read).

use crate::aws::map_err;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReplicaState {
    InSync,
    InProgress,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    pub region: String,
    pub state: ReplicaState,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretReplicas {
    pub secret_id: String,
    pub name: Option<String>,
    /// When the secret (value, replicas or metadata) last changed.
    pub last_changed: Option<DateTime<Utc>>,
    pub replicas: Vec<ReplicaStatus>,
}

/// What the replication monitor reads from Secrets Manager.
pub trait SecretReplication: Send + Sync {
    fn replicas(&self, secret_id: &str) -> impl Future<Output = Result<SecretReplicas>> + Send;
}

#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    region: String,
}

impl SecretsManager {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::from_client(
            aws_sdk_secretsmanager::Client::new(config),
            config.region().map(|r| r.to_string()).unwrap_or_default(),
        )
    }

    pub fn from_client(client: aws_sdk_secretsmanager::Client, region: impl Into<String>) -> Self {
        Self {
            client,
            region: region.into(),
        }
    }
}

impl SecretReplication for SecretsManager {
    async fn replicas(&self, secret_id: &str) -> Result<SecretReplicas> {
        use aws_sdk_secretsmanager::types::StatusType;
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_err("secretsmanager", "DescribeSecret", &self.region, e))?;
        let replicas = out
            .replication_status()
            .iter()
            .filter_map(|r| {
                let state = match r.status()? {
                    StatusType::InSync => ReplicaState::InSync,
                    StatusType::Failed => ReplicaState::Failed,
                    _ => ReplicaState::InProgress,
                };
                Some(ReplicaStatus {
                    region: r.region()?.to_string(),
                    state,
                    message: r.status_message().map(str::to_string),
                })
            })
            .collect();
        Ok(SecretReplicas {
            secret_id: secret_id.to_string(),
            name: out.name().map(str::to_string),
            last_changed: out
                .last_changed_date()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
            replicas,
        })
    }
}
