//! Secrets Manager: each secret's replicas, InProgress ones aged from first sight.

use super::{age, MAX_IN_FLIGHT};
use crate::decide::{Kind, Observation, ReadError, Status};
use crate::join::join_bounded;
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::aws::secrets::{ReplicaState, SecretReplicas};
use shared::config::SecretsReplication;
use std::collections::BTreeMap;

pub fn secret_key(secret_id: &str, region: &str) -> String {
    format!("{secret_id}|{region}")
}

/// Secrets Manager reports no replication start time. The lag of an InProgress
/// replica is measured from the first run that saw it InProgress (kept in the alert
/// state document, so it survives cold starts): exact to one schedule interval, and
/// never confused by an old LastChangedDate or free-text StatusMessage.
/// `expected`: the regions every secret must have a replica in (a missing one fails).
pub fn secret_observations(
    secret: &SecretReplicas,
    expected: &[String],
    first_seen: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Vec<Observation>, BTreeMap<String, DateTime<Utc>>) {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    let mut regions: Vec<String> = expected.to_vec();
    for r in &secret.replicas {
        if !regions.contains(&r.region) {
            regions.push(r.region.clone());
        }
    }
    for region in regions {
        let replica = secret.replicas.iter().find(|r| r.region == region);
        let key = secret_key(&secret.secret_id, &region);
        let (status, lag, pending, failed) = match replica.map(|r| r.state) {
            Some(ReplicaState::InSync) => (Status::Replicated, 0, 0, 0),
            Some(ReplicaState::InProgress) => {
                let since = first_seen
                    .get(&key)
                    .copied()
                    .filter(|t| *t <= now)
                    .unwrap_or(now);
                seen.insert(key, since);
                (Status::InProgress, age(now, since), 1, 0)
            }
            Some(ReplicaState::Failed) => (Status::Failed, 0, 0, 1),
            None => (Status::Missing, 0, 0, 1),
        };
        let detail = match replica {
            Some(r) => r.message.clone(),
            None => Some(format!("no replica in {region}")),
        };
        out.push(Observation {
            kind: Kind::Secrets,
            resource: secret.secret_id.clone(),
            destination: region,
            status,
            lag_seconds: lag,
            pending,
            failed,
            detail,
        });
    }
    (out, seen)
}

pub async fn observe_secrets(
    world: &impl World,
    cfg: &SecretsReplication,
    expected: &[String],
    first_seen: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (
    Vec<Observation>,
    Vec<ReadError>,
    BTreeMap<String, DateTime<Utc>>,
) {
    let results = join_bounded(
        cfg.secret_ids
            .iter()
            .map(|id| world.secret_replicas(id))
            .collect(),
        MAX_IN_FLIGHT,
    )
    .await;
    let (mut observations, mut errors, mut seen) = (Vec::new(), Vec::new(), BTreeMap::new());
    for (id, result) in cfg.secret_ids.iter().zip(results) {
        match result {
            Ok(secret) => {
                let (o, s) = secret_observations(&secret, expected, first_seen, now);
                observations.extend(o);
                seen.extend(s);
            }
            Err(e) => {
                // Keep its first-seen times: the next readable run continues the count.
                seen.extend(
                    first_seen
                        .iter()
                        .filter(|(k, _)| k.starts_with(&format!("{id}|")))
                        .map(|(k, v)| (k.clone(), *v)),
                );
                errors.push(ReadError {
                    kind: Kind::Secrets,
                    resource: id.clone(),
                    destination: None,
                    message: e.to_string(),
                });
            }
        }
    }
    (observations, errors, seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::aws::secrets::ReplicaStatus;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn secret_lag_counts_from_first_sight() {
        let secret = SecretReplicas {
            secret_id: "db".into(),
            name: None,
            last_changed: None,
            replicas: vec![ReplicaStatus {
                region: "us-east-1".into(),
                state: ReplicaState::InProgress,
                message: None,
            }],
        };
        let expected = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let (o, seen) = secret_observations(&secret, &expected, &BTreeMap::new(), t(0));
        assert_eq!(o[0].lag_seconds, 0);
        assert_eq!(o[1].status, Status::Missing);
        let (o, seen2) = secret_observations(&secret, &expected, &seen, t(700));
        assert_eq!(o[0].lag_seconds, 700);
        assert_eq!(seen2, seen, "first sight is kept");
        let synced = SecretReplicas {
            replicas: vec![ReplicaStatus {
                region: "us-east-1".into(),
                state: ReplicaState::InSync,
                message: None,
            }],
            ..secret
        };
        let (o, seen3) = secret_observations(&synced, &expected[..1], &seen2, t(800));
        assert_eq!((o[0].status, o[0].lag_seconds), (Status::Replicated, 0));
        assert!(seen3.is_empty(), "in sync: forgotten");
    }
}
