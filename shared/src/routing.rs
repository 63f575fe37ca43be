//! The desired routing state: which regions are evacuated, why, since when, by
//! whom, the drill in progress and an epoch. It lives in a Route 53 TXT record,
//! changed only by compare-and-swap (see `aws::route53`).

use crate::region::Region;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT_VERSION: u32 = 1;
/// Route 53 TXT strings are at most 255 characters; longer values are split.
const TXT_CHUNK: usize = 250;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evacuation {
    pub since: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    /// Evacuated by an alarm rather than a person.
    #[serde(default)]
    pub automatic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_id: Option<String>,
}

/// A health alarm's state change, as its event told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmNews {
    /// When the alarm changed state (the event's `state.timestamp`).
    pub at: DateTime<Utc>,
    /// `ALARM` or `OK`.
    pub state: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillPhase {
    /// The peer is being surged; the region is still serving.
    Preparing,
    /// The region is evacuated until `expires_at`.
    Active,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    pub id: String,
    pub region: Region,
    pub phase: DrillPhase,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingState {
    pub v: u32,
    /// Incremented by every change; events and records carry it.
    pub epoch: u64,
    #[serde(default)]
    pub evacuated: BTreeMap<Region, Evacuation>,
    /// When routing last changed, for the dwell time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// Times of automatic evacuations in the last hour, for the hourly cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub automatic_evacuations: Vec<DateTime<Utc>>,
    /// When each region's health alarm last went OK, for automatic failback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recovered_at: BTreeMap<Region, DateTime<Utc>>,
    /// The newest health-alarm state change seen per region. Alarm events come at
    /// least once and not always in order: one that is not newer is stale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alarms: BTreeMap<Region, AlarmNews>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
}

impl Default for RoutingState {
    fn default() -> Self {
        Self {
            v: FORMAT_VERSION,
            epoch: 0,
            evacuated: BTreeMap::new(),
            changed_at: None,
            automatic_evacuations: Vec::new(),
            recovered_at: BTreeMap::new(),
            alarms: BTreeMap::new(),
            drill: None,
        }
    }
}

impl RoutingState {
    pub fn is_evacuated(&self, region: &Region) -> bool {
        self.evacuated.contains_key(region)
    }

    /// Whether an alarm state change at `at` for `region` is older than (or the
    /// same as) one already acted on.
    pub fn is_stale_alarm(&self, region: &Region, at: DateTime<Utc>) -> bool {
        self.alarms.get(region).is_some_and(|seen| at <= seen.at)
    }

    pub fn active_regions<'a>(
        &'a self,
        regions: &'a [Region],
    ) -> impl Iterator<Item = &'a Region> + 'a {
        regions.iter().filter(|r| !self.is_evacuated(r))
    }

    /// Whether a region should carry its peers' load: a peer is evacuated, or a
    /// drill on a peer is preparing (surge first, then evacuate).
    pub fn should_surge(&self, region: &Region, regions: &[Region]) -> bool {
        if self.is_evacuated(region) {
            return false;
        }
        let peer_out = regions.iter().any(|r| r != region && self.is_evacuated(r));
        let drill_on_peer = self.drill.as_ref().is_some_and(|d| &d.region != region);
        peer_out || drill_on_peer
    }

    /// Keeps only the automatic evacuations of the last hour.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.automatic_evacuations
            .retain(|t| now - *t < Duration::hours(1));
    }

    /// Encodes as TXT record data: ASCII-only JSON in quoted strings that each
    /// stay under Route 53's 255-character limit, escapes included.
    pub fn to_txt(&self) -> String {
        let json = ascii_json(&serde_json::to_string(self).expect("routing state serialises"));
        let mut chunks = vec![String::new()];
        for c in json.chars() {
            let escaped = match c {
                '"' => "\\\"".to_string(),
                '\\' => "\\\\".to_string(),
                c => c.to_string(),
            };
            if chunks
                .last()
                .is_some_and(|last| last.len() + escaped.len() > TXT_CHUNK)
            {
                chunks.push(String::new());
            }
            chunks
                .last_mut()
                .expect("one chunk at least")
                .push_str(&escaped);
        }
        chunks
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Decodes TXT record data written by [`Self::to_txt`].
    pub fn from_txt(data: &str) -> Result<Self, String> {
        let json = unquote_txt(data)?;
        let state: Self =
            serde_json::from_str(&json).map_err(|e| format!("routing state is not valid: {e}"))?;
        if state.v != FORMAT_VERSION {
            return Err(format!(
                "routing state format v{} is not understood (expected v{FORMAT_VERSION})",
                state.v
            ));
        }
        Ok(state)
    }
}

/// Route 53 TXT data is printable ASCII: write other characters as JSON `\\u` escapes.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Joins the quoted strings of a TXT value, undoing backslash escapes.
pub fn unquote_txt(data: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = data.trim().chars();
    loop {
        match chars.next() {
            None => break,
            Some(c) if c.is_whitespace() => continue,
            Some('"') => loop {
                match chars.next() {
                    None => return Err("unterminated quoted string in TXT value".into()),
                    Some('"') => break,
                    Some('\\') => out.push(chars.next().ok_or("dangling escape in TXT value")?),
                    Some(c) => out.push(c),
                }
            },
            Some(c) => return Err(format!("unexpected {c:?} outside quotes in TXT value")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    #[test]
    fn txt_round_trip_with_long_reasons_and_quotes() {
        let mut s = RoutingState {
            epoch: 7,
            ..Default::default()
        };
        s.evacuated.insert(
            region("us-east-1"),
            Evacuation {
                since: Utc::now(),
                by: "arn:aws:sts::333333333333:assumed-role/sre/alice".into(),
                reason: "endpoint \"api\" failing \\ – ünïcode 🚨 ".repeat(40),
                automatic: false,
                drill_id: None,
            },
        );
        let txt = s.to_txt();
        assert!(txt.is_ascii());
        assert!(txt.split("\" \"").all(|part| part.len() <= 255 + 2));
        assert_eq!(RoutingState::from_txt(&txt).unwrap(), s);
    }

    #[test]
    fn surge_follows_peers() {
        let regions = [region("eu-central-1"), region("us-east-1")];
        let mut s = RoutingState::default();
        assert!(!s.should_surge(&regions[0], &regions));
        s.evacuated.insert(
            regions[1].clone(),
            Evacuation {
                since: Utc::now(),
                by: "x".into(),
                reason: "y".into(),
                automatic: true,
                drill_id: None,
            },
        );
        assert!(s.should_surge(&regions[0], &regions));
        assert!(!s.should_surge(&regions[1], &regions));
    }

    #[test]
    fn rejects_garbage() {
        assert!(RoutingState::from_txt("\"v1 epoch=0\"").is_err());
        assert!(RoutingState::from_txt("\"unterminated").is_err());
        assert!(RoutingState::from_txt("{\"v\":2,\"epoch\":0}").is_err());
        // A newer format, well quoted: refused for its version, not its quoting.
        let newer = RoutingState {
            v: FORMAT_VERSION + 1,
            ..Default::default()
        };
        let err = RoutingState::from_txt(&newer.to_txt()).unwrap_err();
        assert!(
            err.to_string().contains("format v2 is not understood"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn unquote_never_panics(s in ".{0,300}") {
            let _ = unquote_txt(&s);
        }

        #[test]
        fn any_reason_round_trips(reason in ".{0,600}", epoch in 0u64..1_000_000) {
            let mut s = RoutingState { epoch, ..Default::default() };
            s.evacuated.insert(region("eu-central-1"), Evacuation {
                since: DateTime::from_timestamp(1_700_000_000, 0).unwrap(), by: "op".into(), reason, automatic: false, drill_id: None });
            prop_assert_eq!(RoutingState::from_txt(&s.to_txt()).unwrap(), s);
        }
    }
}
