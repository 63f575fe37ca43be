//! The desired routing state: which regions are evacuated, why, since when, by
//! whom, the drill in progress and an epoch. It lives in a Route 53 TXT record,
//! changed only by compare-and-swap (see `aws::route53`).

use crate::events::ControlPlaneKind;
use crate::region::Region;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT_VERSION: u32 = 1;
/// Route 53 TXT strings are at most 255 characters; longer values are split.
const TXT_CHUNK: usize = 250;
/// Route 53's limit on one record value (`ResourceRecord.Value`): a longer one is
/// refused (`InvalidInput`), so the state record must never grow past it.
pub const STATE_VALUE_MAX: usize = 4000;
/// The most a `reason` may take in the state record, counted by [`stored_len`].
pub const REASON_MAX: usize = 500;
/// The most a `requested_by` (or any other "by") may take in the state record,
/// counted by [`stored_len`]: every IAM ARN fits (an assumed-role ARN is at most 175).
pub const REQUESTED_BY_MAX: usize = 200;
/// The most automatic evacuations an hour a state record can keep the times of.
const AUTOMATIC_EVACUATIONS_CAP: usize = 200;

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
    /// When a person was last told that this alarm's automatic evacuation is refused:
    /// the every-minute tick reminds at most once an hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
}

/// An event (and its notice) owed for a state change: kept in the state until it has
/// been sent, so a run that dies or fails after the write does not lose it. Stored as
/// one short string, `"Region Evacuated eu-central-1 42"`: the record has 4,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Announcement {
    pub kind: ControlPlaneKind,
    pub region: Region,
    /// The epoch of the change that owes it.
    pub epoch: u64,
}

impl From<Announcement> for String {
    fn from(a: Announcement) -> Self {
        format!("{} {} {}", a.kind.detail_type(), a.region, a.epoch)
    }
}

impl TryFrom<String> for Announcement {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad =
            || format!("owed announcement {text:?} is not \"<detail type> <region> <epoch>\"");
        let mut words = text.rsplitn(3, ' ');
        let epoch = words.next().and_then(|e| e.parse().ok()).ok_or_else(bad)?;
        let region = words
            .next()
            .and_then(|r| Region::parse(r).ok())
            .ok_or_else(bad)?;
        let kind = words
            .next()
            .and_then(|k| {
                ControlPlaneKind::ALL
                    .into_iter()
                    .find(|c| c.detail_type() == k)
            })
            .ok_or_else(bad)?;
        Ok(Self {
            kind,
            region,
            epoch,
        })
    }
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
    /// The peers' total requested provisioned concurrency when the drill was
    /// prepared: the surge is confirmed when it is higher and every target READY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_level_before: Option<u64>,
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
    /// Events (and notices) written but not yet sent; the tick re-sends them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unannounced: Vec<Announcement>,
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
            unannounced: Vec::new(),
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

    /// Adds what a change at this state's epoch owes. A newer event about the same thing
    /// (a region's routing, or its drill) supersedes an older one still owed: consumers
    /// act on the latest, and the list stays at most two entries a region.
    pub fn owe(&mut self, events: &[(ControlPlaneKind, Region)]) {
        let about = |kind: ControlPlaneKind| {
            matches!(
                kind,
                ControlPlaneKind::RegionEvacuated | ControlPlaneKind::RegionRestored
            )
        };
        for (kind, region) in events {
            self.unannounced
                .retain(|a| !(about(a.kind) == about(*kind) && &a.region == region));
            self.unannounced.push(Announcement {
                kind: *kind,
                region: region.clone(),
                epoch: self.epoch,
            });
        }
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
            let escaped = txt_escaped(c);
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

    /// [`Self::to_txt`], refused when it would not fit in one Route 53 record value
    /// ([`STATE_VALUE_MAX`]): such a state must not be written at all.
    pub fn to_txt_checked(&self) -> Result<String, String> {
        let txt = self.to_txt();
        if txt.len() > STATE_VALUE_MAX {
            return Err(format!(
                "routing state too large: epoch {} encodes to {} characters, over Route 53's \
                 {STATE_VALUE_MAX}-character record value limit; not written",
                self.epoch,
                txt.len()
            ));
        }
        Ok(txt)
    }

    /// The largest state the control plane can write with these `regions` and hourly
    /// cap: every region but one evacuated, a drill, every per-region entry, the cap's
    /// automatic evacuations, and `by`/`reason` in every place a person's text goes.
    pub fn worst_case(regions: &[Region], automatic_per_hour: u32, by: &str, reason: &str) -> Self {
        // The longest timestamp chrono writes (nanoseconds) and the largest epoch.
        let at = DateTime::from_timestamp(4_102_444_799, 123_456_789).expect("a valid time");
        let mut by_length: Vec<&Region> = regions.iter().collect();
        by_length.sort_by_key(|r| std::cmp::Reverse(r.as_str().len()));
        let drill_id = |r: &Region| format!("drill-{r}-{}", at.format("%Y%m%dT%H%M%S"));
        let mut state = Self {
            epoch: u64::MAX,
            changed_at: Some(at),
            automatic_evacuations: vec![
                at;
                (automatic_per_hour as usize).min(AUTOMATIC_EVACUATIONS_CAP)
            ],
            ..Default::default()
        };
        // At least one region stays active (min_active_regions >= 1): the shortest name.
        for region in by_length.iter().take(regions.len().saturating_sub(1)) {
            state.evacuated.insert(
                (*region).clone(),
                Evacuation {
                    since: at,
                    by: by.to_string(),
                    reason: reason.to_string(),
                    automatic: false,
                    drill_id: Some(drill_id(region)),
                },
            );
        }
        for region in regions {
            state.recovered_at.insert(region.clone(), at);
            state.alarms.insert(
                region.clone(),
                AlarmNews {
                    at,
                    state: "INSUFFICIENT_DATA".into(),
                    reminded_at: Some(at),
                },
            );
            // The longest of each pair a region can owe at once.
            state.owe(&[
                (ControlPlaneKind::RegionEvacuated, region.clone()),
                (ControlPlaneKind::DrillStarted, region.clone()),
            ]);
        }
        for a in &mut state.unannounced {
            a.epoch = u64::MAX;
        }
        if let Some(region) = by_length.first() {
            state.drill = Some(Drill {
                id: drill_id(region),
                region: (*region).clone(),
                phase: DrillPhase::Preparing,
                started_at: at,
                expires_at: at,
                by: by.to_string(),
                reason: reason.to_string(),
                peer_level_before: Some(u64::MAX),
            });
        }
        state
    }

    /// The most characters [`Self::to_txt`] can take for any state whose texts take no
    /// more in the record ([`stored_len`]) than this one's: the escaped JSON's length
    /// plus the quotes and spaces of the most strings it can be split into (a string
    /// holds at least `TXT_CHUNK - 1` characters: no escape is longer than 2).
    pub fn txt_len_bound(&self) -> usize {
        let json = ascii_json(&serde_json::to_string(self).expect("routing state serialises"));
        let escaped: usize = json.chars().map(|c| txt_escaped(c).len()).sum();
        escaped + 3 * escaped.div_ceil(TXT_CHUNK - 1) - 1
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

/// How many characters `text` takes inside the state record: JSON-escaped (a quote,
/// a backslash or a control character takes 2 or 6), non-ASCII as JSON `\\u` escapes
/// (6 per UTF-16 unit: 6, or 12 beyond U+FFFF), then TXT-escaped (every `"` and `\\`
/// doubled). Plain printable ASCII takes 1; `"` and `\\` 4; other characters 7 or 14.
pub fn stored_len(text: &str) -> usize {
    let json = ascii_json(&serde_json::to_string(text).expect("a string serialises"));
    let inner = &json[1..json.len() - 1];
    inner.chars().map(|c| txt_escaped(c).len()).sum()
}

/// Cuts `text` (at a character) so that it takes at most `max` in the state record,
/// marking a cut with "...": for texts that are not a person's to shorten (an alarm's reason).
pub fn truncate_stored(text: &str, max: usize) -> String {
    if stored_len(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 3; // the "..."
    for c in text.chars() {
        let len = stored_len(c.encode_utf8(&mut [0; 4]));
        if used + len > max {
            break;
        }
        used += len;
        out.push(c);
    }
    out.push_str("...");
    out
}

/// One character of the JSON as it stands inside a quoted TXT string.
fn txt_escaped(c: char) -> String {
    match c {
        '"' => "\\\"".to_string(),
        '\\' => "\\\\".to_string(),
        c => c.to_string(),
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

    /// What the TXT-escaped JSON of `state` (the record before it is split) holds.
    fn escaped_len(state: &RoutingState) -> usize {
        ascii_json(&serde_json::to_string(state).unwrap())
            .chars()
            .map(|c| txt_escaped(c).len())
            .sum()
    }

    #[test]
    fn stored_len_is_what_a_text_adds_to_the_record() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("API errors 40%", 14),
            ("\"", 4),    // JSON \" then TXT \\\"
            ("\\", 4),    // JSON \\ then TXT \\\\
            ("\n", 3),    // JSON \n then TXT \\n
            ("\u{1}", 7), // JSON \u0001 then TXT \\u0001
            ("é", 7),     // \u00e9, TXT-escaped
            ("ü ü", 15),
            ("🚨", 14), // two UTF-16 units
            ("\u{7f}", 1),
        ];
        let evacuated = |reason: &str| {
            let mut s = RoutingState::default();
            s.evacuated.insert(
                Region::parse("us-east-1").unwrap(),
                Evacuation {
                    since: DateTime::from_timestamp(0, 0).unwrap(),
                    by: "op".into(),
                    reason: reason.into(),
                    automatic: false,
                    drill_id: None,
                },
            );
            s
        };
        let base = escaped_len(&evacuated(""));
        for (text, want) in cases {
            assert_eq!(stored_len(text), *want, "{text:?}");
            assert_eq!(escaped_len(&evacuated(text)) - base, *want, "{text:?}");
        }
    }

    #[test]
    fn truncation_keeps_within_the_limit_at_a_character() {
        let cases: &[(&str, usize, &str)] = &[
            ("short", 10, "short"),
            ("exactly ten", 11, "exactly ten"),
            ("a longer alarm reason", 10, "a longe..."),
            ("ééééé", 20, "éé..."),
            ("🚨🚨", 20, "🚨..."),
            ("\"\"\"", 10, "\"..."),
        ];
        for (text, max, want) in cases {
            let cut = truncate_stored(text, *max);
            assert_eq!(&cut, want, "{text:?} to {max}");
            assert!(stored_len(&cut) <= *max, "{cut:?}");
        }
    }

    #[test]
    fn the_worst_case_of_two_or_three_regions_fits_four_does_not() {
        let regions = |names: &[&str]| -> Vec<Region> { names.iter().map(|n| region(n)).collect() };
        let by = "b".repeat(REQUESTED_BY_MAX);
        let reason = "r".repeat(REASON_MAX);
        let two = regions(&["eu-central-1", "us-east-1"]);
        let three = regions(&["eu-central-1", "us-east-1", "ap-southeast-2"]);
        let four = regions(&[
            "eu-central-1",
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
        ]);
        for (regions, cap, fits) in [
            (&two, 2, true),
            (&two, 30, true),
            (&three, 2, true),
            (&three, 4, true),
            (&three, 5, false),
            (&two, 38, true),
            (&two, 39, false),
            (&four, 2, false),
            (&two, u32::MAX, false),
        ] {
            let worst = RoutingState::worst_case(regions, cap, &by, &reason);
            let bound = worst.txt_len_bound();
            assert!(worst.to_txt().len() <= bound);
            assert_eq!(
                bound <= STATE_VALUE_MAX,
                fits,
                "{} regions, cap {cap}: {bound}",
                regions.len()
            );
            assert_eq!(worst.to_txt_checked().is_ok(), fits);
            if fits {
                assert_eq!(RoutingState::from_txt(&worst.to_txt()).unwrap(), worst);
            }
        }
    }

    #[test]
    fn a_state_over_the_record_limit_is_refused_by_name() {
        let mut s = RoutingState {
            epoch: 3,
            ..Default::default()
        };
        s.evacuated.insert(
            region("us-east-1"),
            Evacuation {
                since: Utc::now(),
                by: "op".into(),
                reason: "é".repeat(600),
                automatic: false,
                drill_id: None,
            },
        );
        let err = s.to_txt_checked().unwrap_err();
        assert!(
            err.starts_with("routing state too large: epoch 3 encodes to")
                && err.contains("4000-character record value limit; not written"),
            "{err}"
        );
    }

    /// Any text from the whole of Unicode, weighted towards what grows in the record.
    fn any_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just('a'),
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('é'),
                Just('🚨'),
                any::<char>()
            ],
            0..400,
        )
        .prop_map(String::from_iter)
    }

    proptest! {
        #[test]
        fn texts_within_the_bounds_always_fit(by in any_text(), reason in any_text()) {
            let by = truncate_stored(&by, REQUESTED_BY_MAX);
            let reason = truncate_stored(&reason, REASON_MAX);
            prop_assert!(stored_len(&by) <= REQUESTED_BY_MAX && stored_len(&reason) <= REASON_MAX);
            let regions = [region("eu-central-1"), region("us-east-1"), region("ap-southeast-2")];
            let worst = RoutingState::worst_case(&regions, 2, &by, &reason);
            let txt = worst.to_txt_checked().map_err(TestCaseError::fail)?;
            prop_assert!(txt.len() <= worst.txt_len_bound());
            prop_assert_eq!(RoutingState::from_txt(&txt).unwrap(), worst);
        }
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
