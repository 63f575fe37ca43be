//! The scheduler's own state, one small JSON document in SSM at
//! `concurrency.state_parameter` (per region, since SSM is regional):
//! operator overrides, the last good level of aliases that are not READY, and
//! levels that FAILED recently (not retried until a cool-down ends).

use crate::World;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::error::{Error, Result};
use std::collections::BTreeMap;

/// How long a level that FAILED is not retried.
pub const FAILED_COOL_DOWN: Duration = Duration::hours(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub function: String,
    pub alias: String,
    pub region: String,
    pub level: u32,
    pub until: DateTime<Utc>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub set_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedLevel {
    pub level: u32,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// `function:alias` → the last level that was READY, for aliases not READY now.
    #[serde(default)]
    pub last_good: BTreeMap<String, u32>,
    /// `function:alias` → a level that FAILED, and when.
    #[serde(default)]
    pub failed: BTreeMap<String, FailedLevel>,
}

pub fn key(function: &str, alias: &str) -> String {
    format!("{function}:{alias}")
}

impl State {
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::State(format!("concurrency state parameter: {e}")))
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Drops expired overrides and failures past their cool-down.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.overrides.retain(|o| o.until > now);
        self.failed.retain(|_, f| now - f.at < FAILED_COOL_DOWN);
    }

    pub fn override_for(
        &self,
        function: &str,
        alias: &str,
        now: DateTime<Utc>,
    ) -> Option<&Override> {
        self.overrides
            .iter()
            .find(|o| o.function == function && o.alias == alias && o.until > now)
    }

    /// Sets (or replaces) the override for one alias.
    pub fn set_override(&mut self, o: Override) {
        self.overrides
            .retain(|x| !(x.function == o.function && x.alias == o.alias));
        self.overrides.push(o);
    }

    pub fn failed_level(&self, function: &str, alias: &str, now: DateTime<Utc>) -> Option<u32> {
        self.failed
            .get(&key(function, alias))
            .filter(|f| now - f.at < FAILED_COOL_DOWN)
            .map(|f| f.level)
    }
}

pub async fn load(world: &impl World) -> Result<State> {
    match world.load_state().await? {
        None => Ok(State::default()),
        Some(text) if text.trim().is_empty() || text.trim() == "{}" => Ok(State::default()),
        Some(text) => State::parse(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prune_and_lookup() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let mut s = State::default();
        let o = |f: &str, until| Override {
            function: f.into(),
            alias: "live".into(),
            region: "eu-central-1".into(),
            level: 8,
            until,
            reason: "launch".into(),
            by: None,
            set_at: now,
        };
        s.set_override(o("a", now + Duration::minutes(5)));
        s.set_override(o("b", now - Duration::minutes(5)));
        s.set_override(o("a", now + Duration::minutes(10)));
        assert_eq!(s.overrides.len(), 2);
        assert_eq!(
            s.override_for("a", "live", now).unwrap().until,
            now + Duration::minutes(10)
        );
        assert!(s.override_for("b", "live", now).is_none());
        s.failed.insert(
            key("a", "live"),
            FailedLevel {
                level: 9,
                at: now - Duration::minutes(61),
            },
        );
        s.failed.insert(
            key("c", "live"),
            FailedLevel {
                level: 9,
                at: now - Duration::minutes(5),
            },
        );
        assert_eq!(s.failed_level("c", "live", now), Some(9));
        s.prune(now);
        assert_eq!(s.overrides.len(), 1);
        assert_eq!(s.failed.len(), 1);
        let text = s.to_text();
        assert_eq!(State::parse(&text).unwrap(), s);
        assert_eq!(State::parse("{}").unwrap(), State::default());
    }
}
