//! The plan of a run: one [`Row`] per target with its level and why, the account's
//! headroom shared between them, and whether an override may be set. Pure.

use super::{floor_of, level, Inputs, OverrideLevel, Policy, Utilization, Why};
use crate::request::OverrideRequest;
use crate::state::{self, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::aws::lambda::{PcConfig, PcStatus, MIN_UNRESERVED};
use shared::config::Target;
use shared::error::AwsErrorKind;
use shared::Region;

/// What a run read, in the order of its targets.
#[derive(Debug)]
pub struct Observed {
    /// Whether this region must carry a peer's load; None when the routing state
    /// could not be read.
    pub surge: Option<bool>,
    /// The account's unreserved concurrency; None when it could not be read.
    pub unreserved: Option<u32>,
    /// Each target's provisioned-concurrency config (None: no config yet).
    pub configs: Vec<shared::Result<Option<PcConfig>>>,
    pub utilization: Vec<Utilization>,
}

/// One target in a plan or a run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub function: String,
    pub alias: String,
    pub region: String,
    /// The level requested on the alias now (`null`: no config).
    pub current: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PcStatus>,
    /// The level the policy wants (0: no headroom left; what is there is kept).
    pub level: u32,
    pub why: Why,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip)]
    pub(crate) config: Option<PcConfig>,
    /// The level to fall back to if the new one FAILS.
    #[serde(skip)]
    pub(crate) fallback: Option<u32>,
}

impl Row {
    pub fn key(&self) -> String {
        state::key(&self.function, &self.alias)
    }

    pub fn resource(&self) -> String {
        format!("lambda:{}:{}:{}", self.region, self.function, self.alias)
    }

    pub fn is(&self, target: &Target) -> bool {
        self.function == target.function && self.alias == target.alias
    }

    /// Whether applying the policy means a Put.
    pub fn needs_change(&self) -> bool {
        if self.level == 0 {
            return false;
        }
        match &self.config {
            None => true,
            Some(c) => c.requested != self.level || c.status == PcStatus::Failed,
        }
    }

    /// A decrease frees headroom, so it goes first.
    pub fn is_decrease(&self) -> bool {
        self.config
            .as_ref()
            .is_some_and(|c| c.status != PcStatus::Failed && self.level < c.requested)
    }

    /// What the alias holds of the account's concurrency (a FAILED config holds none).
    fn held(&self) -> u32 {
        match &self.config {
            Some(c) if c.status != PcStatus::Failed => c.requested,
            _ => 0,
        }
    }
}

/// Every target's level from what was read. A target whose config could not be read
/// is skipped (level 0, with the error as its result).
pub fn plan(
    targets: &[Target],
    observed: Observed,
    st: &State,
    policy: &Policy<'_>,
    home: &Region,
    now: DateTime<Utc>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::with_capacity(targets.len());
    for ((t, config), util) in targets
        .iter()
        .zip(observed.configs)
        .zip(observed.utilization)
    {
        let key = state::key(&t.function, &t.alias);
        let (config, error) = match config {
            Ok(c) => (c, None),
            Err(e) => (None, Some(e)),
        };
        let fallback = match &config {
            Some(c) if c.status == PcStatus::Ready => Some(c.requested),
            _ => st.last_good.get(&key).copied(),
        };
        // A FAILED config provisions nothing: its last good level is what counts.
        let current = match &config {
            Some(c) if c.status == PcStatus::Failed => fallback,
            Some(c) => Some(c.requested),
            None => None,
        };
        let inputs = Inputs {
            current,
            override_level: st
                .override_for(&t.function, &t.alias, now)
                .map(|o| OverrideLevel {
                    level: o.level,
                    until: o.until,
                }),
            surge: observed.surge,
            utilization: util,
            failed_level: st.failed_level(&t.function, &t.alias, now),
            headroom: None,
        };
        let (level, why) = level(t, policy, &inputs, now);
        let mut row = Row {
            function: t.function.clone(),
            alias: t.alias.clone(),
            region: home.to_string(),
            current: config.as_ref().map(|c| c.requested),
            status: config.as_ref().map(|c| c.status),
            level,
            why,
            result: None,
            config,
            fallback,
        };
        if let Some(e) = error {
            let missing = e.aws_kind() == Some(AwsErrorKind::NotFound);
            row.result = Some(if missing {
                format!("skipped: function or alias not found ({e})")
            } else {
                format!("skipped: {e}")
            });
            row.level = 0;
        }
        rows.push(row);
    }
    if let Some(unreserved) = observed.unreserved {
        share_headroom(&mut rows, unreserved);
    }
    rows
}

/// Clamps increases to what the account can still give (`unreserved` less the 100 it
/// must keep), shared by every target in the run: decreases free room first,
/// increases take it in order.
pub fn share_headroom(rows: &mut [Row], unreserved: u32) {
    let headroom = unreserved.saturating_sub(MIN_UNRESERVED);
    let kept: u64 = rows
        .iter()
        .filter(|r| r.result.is_none())
        .map(|r| u64::from(r.level.min(r.held())))
        .sum();
    let mut remaining = u64::from(headroom).saturating_sub(kept);
    for row in rows.iter_mut() {
        if row.result.is_some() || row.level <= row.held() {
            continue;
        }
        let have = row.held();
        let cap = u32::try_from(u64::from(have) + remaining).unwrap_or(u32::MAX);
        if row.level > cap {
            row.why.notes.push(format!(
                "clamped {} to {cap}: the account's headroom (unreserved {unreserved} - {MIN_UNRESERVED}) is shared by every target",
                row.level
            ));
            row.level = cap;
        }
        remaining = remaining.saturating_sub(u64::from(row.level.saturating_sub(have)));
    }
}

/// The target an override is for, or why it is refused: it must be a target in this
/// region and its level within the target's [min, max].
pub fn check_override(
    o: &OverrideRequest,
    targets: &[Target],
    home: &Region,
) -> Result<Target, String> {
    let Some(target) = targets
        .iter()
        .find(|t| t.function == o.function && t.alias == o.alias)
    else {
        return Err(format!(
            "{}:{} is not a target in {home} (configured or discovered by tag)",
            o.function, o.alias
        ));
    };
    let floor = floor_of(target);
    if o.level > target.max.max(floor) || o.level < floor {
        return Err(format!(
            "override level {} is outside [{floor}, {}] for {}:{}",
            o.level, target.max, o.function, o.alias
        ));
    }
    Ok(target.clone())
}

#[cfg(test)]
mod tests;
