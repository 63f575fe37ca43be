//! The alert state document, loaded and saved, and the alerts sent.
//!
//! Where the state lives: one small JSON document in the SSM parameter
//! `replication.alert_state_parameter`, in the home region. It must survive cold
//! starts (memory does not), it is read once and written at most once per run, and
//! SSM is already a dependency (the config may live there). It is tiny: one entry
//! per kind plus the first-seen time of each secret replica currently InProgress.
//! DynamoDB would add a table for three booleans; CloudWatch alarms on our own
//! metrics could alert too, but not with the resource list in the message.
//! SSM has no compare-and-swap: two overlapping runs could both alert once; the
//! function's reserved concurrency (Terraform `replication_monitor_reserved_concurrency`;
//! 1 makes runs strictly sequential) bounds that; a duplicate alert is the worst case.

use crate::decide::alerts::{crossings, remember, starting_state, AlertState, Starting};
use crate::decide::Report;
use crate::ports::World;
use chrono::{DateTime, Utc};
use shared::{Change, Config, Region};
use std::collections::BTreeMap;

/// The alert state this run starts from ([`starting_state`] says what a failed load means).
pub async fn load(config: &Config, world: &impl World) -> Starting {
    starting_state(
        world.load_alert_state().await,
        &config.replication.alert_state_parameter,
    )
}

/// What the alerts of one run changed.
pub struct Announced {
    /// The state after the run (saved unless dry run or unknown), for the record.
    pub state: AlertState,
    /// One per alert sent (or, in a dry run, that would be).
    pub changes: Vec<Change>,
    pub errors: Vec<String>,
}

/// Sends one alert per crossing (none in a dry run), then saves the state if it
/// changed. `seen`: the secret replicas' first sight, from this run's observations.
#[allow(clippy::too_many_arguments)]
pub async fn announce(
    start: &Starting,
    seen: BTreeMap<String, DateTime<Utc>>,
    report: &Report,
    dry_run: bool,
    now: DateTime<Utc>,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Announced {
    let (mut changes, mut errors) = (Vec::new(), Vec::new());
    // An unknown state could repeat an alert already sent: none this run.
    let alerts = if start.usable {
        crossings(&start.state, report, &config.service_name, home.as_str())
    } else {
        Vec::new()
    };
    let mut state = start.state.clone();
    state.secrets_in_progress = seen;
    for alert in &alerts {
        if dry_run {
            changes.push(alert.change());
            continue;
        }
        match world.notify(&alert.subject, &alert.message).await {
            Ok(()) => {
                remember(&mut state, alert, now);
                changes.push(alert.change());
            }
            // Not remembered: the next run tries again.
            Err(e) => errors.push(format!("alert for {}: {e}", alert.kind.as_str())),
        }
    }
    // Kinds no longer configured are forgotten.
    state.kinds.retain(|k, _| report.kinds.contains_key(k));
    if !dry_run && start.usable && state != start.state {
        if let Err(e) = world.save_alert_state(&state.to_text()).await {
            errors.push(format!(
                "saving {}: {e}",
                config.replication.alert_state_parameter
            ));
        }
    }
    Announced {
        state,
        changes,
        errors,
    }
}
