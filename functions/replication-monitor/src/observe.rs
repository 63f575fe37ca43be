//! Reading the three kinds through the [`World`], turned into plain observations.
//! The conversions are pure functions; the async parts only fetch. One file per kind:
//! `observe/ecr.rs`, `observe/s3.rs`, `observe/secrets.rs`.

mod ecr;
mod s3;
mod secrets;

pub use ecr::{ecr_observations, image_name, observe_ecr, EcrSweep, PushedImage};
pub use s3::{
    observe_s3, s3_observation, s3_queries, PublishedIn, S3_LOOKBACK_SECS, S3_PERIOD_SECS,
};
pub use secrets::{observe_secrets, secret_key, secret_observations};

use crate::decide::{secret_destinations, Observation, ReadError};
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::Config;
use std::collections::BTreeMap;

/// Concurrent per-image / per-secret calls (the SDK retries throttling within its bound).
pub const MAX_IN_FLIGHT: usize = 8;

fn age(now: DateTime<Utc>, since: DateTime<Utc>) -> u64 {
    (now - since).num_seconds().max(0) as u64
}

/// What one sweep read of every configured kind.
#[derive(Debug, Default)]
pub struct Observed {
    pub observations: Vec<Observation>,
    pub errors: Vec<ReadError>,
    /// Images deleted after their push (see [`EcrSweep::gone`]).
    pub gone: Vec<String>,
    /// First sight of each secret replica now InProgress, for the alert state.
    pub seen: BTreeMap<String, DateTime<Utc>>,
}

/// Reads ECR, then S3, then Secrets Manager, as configured. `first_seen`: from the
/// alert state; kept as is when no secrets are configured.
pub async fn observe(
    world: &impl World,
    config: &Config,
    now: DateTime<Utc>,
    pushed: Option<&PushedImage>,
    first_seen: &BTreeMap<String, DateTime<Utc>>,
) -> Observed {
    let r = &config.replication;
    let mut out = Observed {
        seen: first_seen.clone(),
        ..Observed::default()
    };
    if let Some(cfg) = &r.ecr {
        let found = observe_ecr(world, cfg, r.window.secs(), now, pushed).await;
        out.observations.extend(found.observations);
        out.errors.extend(found.errors);
        out.gone = found.gone;
    }
    if let Some(cfg) = &r.s3 {
        let (o, e) = observe_s3(world, &cfg.rules, now).await;
        out.observations.extend(o);
        out.errors.extend(e);
    }
    if let Some(cfg) = &r.secrets {
        let expected = secret_destinations(config, &cfg.source_region);
        let (o, e, s) = observe_secrets(world, cfg, &expected, first_seen, now).await;
        out.observations.extend(o);
        out.errors.extend(e);
        out.seen = s;
    }
    out
}
