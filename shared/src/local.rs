//! What a region's failover copy remembers in its own region (the local store, a
//! DynamoDB item changed by conditional write): the last shared routing state it read
//! from Route 53, what it decided on the data plane while Route 53's control plane did
//! not answer, and since when that is so. README, "Two paths".
//!
//! The shared state stays the one truth: a data-plane decision is reconciled into it by
//! compare-and-swap as soon as Route 53 answers again, by [`reconcile`].

use crate::region::Region;
use crate::routing::{Evacuation, RoutingState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The local store's item, as failover keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalRecord {
    /// The shared routing state as last read from Route 53 (a data-plane decision
    /// starts from it: the dwell, the hourly cap and min_active_regions hold across paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<RoutingState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_read_at: Option<DateTime<Utc>>,
    /// The state as decided on the data plane, not yet in the shared record; None when
    /// nothing is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<RoutingState>,
    /// Since when Route 53's control plane has not answered this copy; None when it did
    /// on the last try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_down_since: Option<DateTime<Utc>>,
}

/// The local item's version, for the conditional write (0: no item yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocalVersion(pub u64);

impl LocalRecord {
    /// The routing as this region knows it: the pending data-plane state, else the
    /// last shared state read, else the initial one.
    pub fn view(&self) -> RoutingState {
        self.pending
            .clone()
            .or_else(|| self.shared.clone())
            .unwrap_or_default()
    }

    /// The regions closed on the data plane and not yet in the shared state: their
    /// data-plane gate child stays closed until the shared state holds them.
    pub fn closed_on_data_plane(&self) -> BTreeSet<Region> {
        let Some(pending) = &self.pending else {
            return BTreeSet::new();
        };
        let base = self.shared.clone().unwrap_or_default();
        pending
            .evacuated
            .keys()
            .filter(|r| !base.is_evacuated(r))
            .cloned()
            .collect()
    }
}

/// The shared state with this region's data-plane decisions merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub state: RoutingState,
    /// Data-plane evacuations now in the shared state.
    pub kept: Vec<Region>,
    /// Data-plane evacuations not taken, with why.
    pub dropped: Vec<(Region, String)>,
}

/// Merges the data-plane decisions of `local` into `shared` (the shared state as read
/// now). The rule (README, "Two paths"): an evacuation already in the shared state stays
/// as it is; the others are added oldest first, each only if it leaves at least
/// `min_active` of `regions` active. So when both sides of a partition closed each
/// other, the earlier decision stands and the later is dropped (its region serves
/// again), and the shared state never has fewer than `min_active` active. The shared
/// state's own decisions (made through Route 53 meanwhile) are never undone.
pub fn reconcile(
    shared: &RoutingState,
    local: &LocalRecord,
    regions: &[Region],
    min_active: usize,
) -> Reconciled {
    let mut state = shared.clone();
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    let Some(pending) = &local.pending else {
        return Reconciled {
            state,
            kept,
            dropped,
        };
    };
    let mut decided: Vec<(&Region, &Evacuation)> = local
        .closed_on_data_plane()
        .into_iter()
        .filter_map(|r| pending.evacuated.get_key_value(&r))
        .collect();
    decided.sort_by(|a, b| (a.1.since, a.0).cmp(&(b.1.since, b.0)));
    for (region, evacuation) in decided {
        if state.is_evacuated(region) {
            dropped.push((
                region.clone(),
                "already evacuated in the shared state".to_string(),
            ));
            continue;
        }
        let active = regions.iter().filter(|r| !state.is_evacuated(r)).count();
        if active <= min_active {
            dropped.push((
                region.clone(),
                format!(
                    "would leave fewer than min_active_regions ({min_active}) active: an earlier \
                     decision stands"
                ),
            ));
            continue;
        }
        state.evacuated.insert(region.clone(), evacuation.clone());
        kept.push(region.clone());
    }
    if !kept.is_empty() {
        state.epoch = shared.epoch.max(pending.epoch) + 1;
        state.changed_at = state.changed_at.max(pending.changed_at);
        let mut times: Vec<_> = shared
            .automatic_evacuations
            .iter()
            .chain(&pending.automatic_evacuations)
            .copied()
            .collect();
        times.sort();
        times.dedup();
        state.automatic_evacuations = times;
        for (region, news) in &pending.alarms {
            let newer = state.alarms.get(region).is_none_or(|n| n.at < news.at);
            if newer {
                state.alarms.insert(region.clone(), news.clone());
            }
        }
    }
    Reconciled {
        state,
        kept,
        dropped,
    }
}

#[cfg(test)]
mod tests;
