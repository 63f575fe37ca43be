//! Human durations in config and payloads: "90s", "10m", "2h", "1d", or combined "1h30m".

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }
    pub const fn from_mins(mins: u64) -> Self {
        Self(mins * 60)
    }
    pub const fn secs(self) -> u64 {
        self.0
    }
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0 as i64)
    }
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    /// Parses "90s", "10m", "2h", "1d", "1h30m". Zero is allowed ("0s").
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                _ => {
                    return Err(format!(
                        "bad duration {text:?}: unknown unit {ch:?} (use s, m, h, d)"
                    ))
                }
            };
            if digits.is_empty() {
                return Err(format!(
                    "bad duration {text:?}: unit {ch:?} without a number"
                ));
            }
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("bad duration {text:?}: number too large"))?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("bad duration {text:?}: too large"))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(format!(
                "bad duration {text:?}: missing unit after {digits} (use s, m, h, d)"
            ));
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s == 0 {
            return f.write_str("0s");
        }
        let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
        for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (sec, "s")] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(Duration::parse("90s").unwrap().secs(), 90);
        assert_eq!(Duration::parse("10m").unwrap().secs(), 600);
        assert_eq!(Duration::parse("2h").unwrap().secs(), 7_200);
        assert_eq!(Duration::parse("1d").unwrap().secs(), 86_400);
        assert_eq!(Duration::parse("1h30m").unwrap().secs(), 5_400);
        assert_eq!(Duration::parse("0s").unwrap().secs(), 0);
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        for bad in ["", "10", "m", "10x", "-5m", "1.5h", "99999999999999999999s"] {
            let err = Duration::parse(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 0u64..10_000_000) {
            let d = Duration(secs);
            prop_assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn never_panics(text in ".{0,20}") {
            let _ = Duration::parse(&text);
        }
    }
}
