//! Cron windows in a time zone: "at 07:00 Mon-Fri Europe/Berlin, for 11h, level 6".
//! Pure functions over a given instant, so plans are reproducible in tests.

use crate::config::Window;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::str::FromStr;

pub fn validate_window(window: &Window) -> Result<(), String> {
    parse_cron(&window.cron)?;
    parse_tz(&window.timezone)?;
    if window.duration.secs() == 0 {
        return Err("duration must be above 0s".into());
    }
    if window.duration.secs() > 7 * 86_400 {
        return Err("duration must be at most 7d".into());
    }
    Ok(())
}

fn parse_cron(expr: &str) -> Result<Cron, String> {
    Cron::from_str(expr).map_err(|e| format!("bad cron {expr:?}: {e}"))
}

fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?} (use an IANA name like Europe/Berlin)"))
}

/// Whether `window` is in force at `now`: its most recent start (in its time zone)
/// is at most `duration` ago.
pub fn window_active(window: &Window, now: DateTime<Utc>) -> bool {
    let (Ok(cron), Ok(tz)) = (parse_cron(&window.cron), parse_tz(&window.timezone)) else {
        return false;
    };
    let local_now = now.with_timezone(&tz);
    let earliest = local_now - window.duration.as_chrono();
    // The first start after `earliest` (inclusive); active if it is not in the future.
    match cron.find_next_occurrence(&earliest, true) {
        Ok(start) => start <= local_now,
        Err(_) => false,
    }
}

/// The first window in force at `now`, in configuration order.
pub fn active_window(windows: &[Window], now: DateTime<Utc>) -> Option<&Window> {
    windows.iter().find(|w| window_active(w, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;
    use chrono::TimeZone;

    fn business_hours() -> Window {
        Window {
            name: "business".into(),
            cron: "0 7 * * MON-FRI".into(),
            duration: Duration::from_mins(11 * 60),
            timezone: "Europe/Berlin".into(),
            level: 6,
        }
    }

    #[test]
    fn active_inside_the_window_in_its_time_zone() {
        let w = business_hours();
        // Wed 2026-11-25 07:30 Berlin = 06:30 UTC (CET, UTC+1).
        assert!(window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 25, 6, 30, 0).unwrap()
        ));
        // 05:59 UTC = 06:59 Berlin: not yet.
        assert!(!window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 25, 5, 59, 0).unwrap()
        ));
        // 17:59 Berlin: still in; 18:01 Berlin: out.
        assert!(window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 25, 16, 59, 0).unwrap()
        ));
        assert!(!window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 25, 17, 1, 0).unwrap()
        ));
        // Saturday: out.
        assert!(!window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
        ));
    }

    #[test]
    fn summer_time_moves_the_window_in_utc() {
        let w = business_hours();
        // Wed 2026-07-15 07:30 Berlin = 05:30 UTC (CEST, UTC+2).
        assert!(window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 7, 15, 5, 30, 0).unwrap()
        ));
        assert!(!window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 7, 15, 4, 59, 0).unwrap()
        ));
    }

    #[test]
    fn windows_crossing_midnight() {
        let w = Window {
            cron: "0 22 * * *".into(),
            duration: Duration::from_mins(240),
            ..business_hours()
        };
        assert!(window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0).unwrap()
        )); // 01:30 Berlin
        assert!(!window_active(
            &w,
            Utc.with_ymd_and_hms(2026, 11, 26, 2, 30, 0).unwrap()
        )); // 03:30 Berlin
    }

    #[test]
    fn validation_names_the_problem() {
        let mut w = business_hours();
        w.cron = "61 * * * *".into();
        assert!(validate_window(&w).unwrap_err().contains("bad cron"));
        let mut w = business_hours();
        w.timezone = "Mars/Olympus".into();
        assert!(validate_window(&w).unwrap_err().contains("time zone"));
    }
}
