//! A health alarm changed state. The event only starts the work: the decision is made
//! on the region's alarms as CloudWatch has them now, so a replayed or very late ALARM
//! cannot evacuate a region whose alarm is OK again. Only a read older than the event
//! (or none at all) leaves the decision to the event.

use crate::cas::change_from;
use crate::data_plane;
use crate::decide::{AlarmLevel, Request};
use crate::ports::World;
use crate::request::alarm_actor;
use crate::{action_name, FUNCTION};
use shared::aws::cloudwatch::AlarmReading;
use shared::events::{AlarmChange, AlarmState};
use shared::routing::AlarmNews;
use shared::{Config, DecisionRecord, Outcome, Region};
use std::collections::BTreeMap;

pub async fn on_alarm(
    region: Region,
    alarm: AlarmChange,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    let trigger = format!("alarm {} {:?}", alarm.alarm_name, alarm.state);
    // The alarm (in its own region) and the state are read at once: a region that does
    // not answer costs one timeout, not two.
    let ((levels, errors), state) = tokio::join!(
        alarm_levels(config, world, Some(&region), None),
        world.read_state()
    );
    let event_level = AlarmLevel {
        alarm: alarm.alarm_name.clone(),
        news: AlarmNews {
            at: alarm.timestamp.unwrap_or_else(|| world.now()),
            state: alarm.state.as_str().into(),
            reminded_at: None,
        },
    };
    // The newer of the two decides: a read that predates the event (CloudWatch's answer
    // not yet showing the change) must not undo it.
    let read = levels.get(&region).filter(|level| {
        level.news.state == event_level.news.state || level.news.at >= event_level.news.at
    });
    let (level, how) = match read {
        Some(level) => {
            let agrees = level.news.state == alarm.state.as_str();
            let how = if agrees {
                format!("{region}'s health alarms read now: {}", level.news.state)
            } else {
                format!(
                    "the event said {} at {}; {region}'s health alarms read now say {} (since {}): deciding on that",
                    alarm.state.as_str(),
                    alarm.timestamp.map_or("an unknown time".into(), |t| t.to_string()),
                    level.news.state,
                    level.news.at
                )
            };
            (level.clone(), how)
        }
        None => {
            let how = match levels.get(&region) {
                Some(level) => format!(
                    "{region}'s health alarms read now say {} since {}, older than the event: deciding on the event",
                    level.news.state, level.news.at
                ),
                None => format!(
                    "could not read the alarm's current state ({}); deciding on the event",
                    errors.join("; ")
                ),
            };
            (event_level, how)
        }
    };
    let reason = if level.alarm == alarm.alarm_name && level.news.state == alarm.state.as_str() {
        format!(
            "alarm {} went {}: {}",
            alarm.alarm_name, level.news.state, alarm.reason
        )
    } else {
        format!(
            "alarm {} is {} since {}",
            level.alarm, level.news.state, level.news.at
        )
    };
    let request = match level.news.state.as_str() {
        "ALARM" => Request::Evacuate {
            region: region.clone(),
            actor: alarm_actor(&level.alarm, &reason),
            observed_at: Some(level.news.at),
        },
        "OK" => Request::Recovered {
            region: region.clone(),
            observed_at: Some(level.news.at),
        },
        _ => {
            let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "alarm", trigger);
            record.step(how);
            return record.outcome(
                Outcome::Refused,
                format!(
                    "{region}'s health alarms are not all reporting (INSUFFICIENT_DATA is not a verdict on its health); nothing done"
                ),
            );
        }
    };
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), action_name(&request), trigger);
    record.step(how);
    match state {
        // Route 53's control plane does not answer: an evacuation is decided on the data
        // plane (the tick would do the same within a minute); anything else waits for it.
        Err(e)
            if matches!(request, Request::Evacuate { .. })
                && data_plane::control_plane_unreachable(&e) =>
        {
            record.step(format!(
                "Route 53's control plane does not answer ({e}): deciding on the data plane"
            ));
            if !data_plane::decide_now(request.clone(), config, home, world, &mut record).await {
                change_from(Some(Err(e)), request, false, config, world, &mut record).await;
            }
        }
        state => {
            change_from(Some(state), request, false, config, world, &mut record).await;
        }
    }
    record
}

/// Reads the mapped health alarms (each in its own region, one DescribeAlarms per
/// alarm region, all regions at once, so a dark one costs one timeout, not one per
/// region) and folds them into one level per watched region; `only` reads just that
/// region's, `living_in` just the alarms that live in that region (the data-plane
/// path reads nothing outside its own). Returns what could not be read alongside.
pub async fn alarm_levels(
    config: &Config,
    world: &impl World,
    only: Option<&Region>,
    living_in: Option<&Region>,
) -> (BTreeMap<Region, AlarmLevel>, Vec<String>) {
    let mut by_alarm_region: BTreeMap<&Region, Vec<(String, &Region)>> = BTreeMap::new();
    for (arn, watched) in &config.failover.region_alarms {
        if only.is_none_or(|r| r == watched) && living_in.is_none_or(|r| r == arn.region()) {
            by_alarm_region
                .entry(arn.region())
                .or_default()
                .push((arn.name().to_string(), watched));
        }
    }
    let reads = by_alarm_region
        .iter()
        .map(|(alarm_region, alarms)| async move {
            let names: Vec<String> = alarms.iter().map(|(n, _)| n.clone()).collect();
            (
                *alarm_region,
                alarms,
                world.alarm_states(alarm_region, &names).await,
            )
        });
    let mut readings: BTreeMap<&Region, Vec<Option<AlarmReading>>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (alarm_region, alarms, read) in futures::future::join_all(reads).await {
        match read {
            Ok(found) => {
                for (name, watched) in alarms {
                    let reading = found.iter().find(|r| &r.name == name).cloned();
                    if reading.is_none() {
                        errors.push(format!("alarm {name} not found in {alarm_region}"));
                    }
                    readings.entry(watched).or_default().push(reading);
                }
            }
            Err(e) => errors.push(format!("alarms in {alarm_region}: {e}")),
        }
    }
    let levels = readings
        .into_iter()
        .filter_map(|(region, r)| level_of(&r).map(|level| (region.clone(), level)))
        .collect();
    (levels, errors)
}

/// One region's level from its alarms: ALARM when any is (the latest to go there), OK
/// when all are (as of the latest change), else INSUFFICIENT_DATA (an alarm not found
/// counts as not reporting). None when there is nothing to go on.
pub fn level_of(readings: &[Option<AlarmReading>]) -> Option<AlarmLevel> {
    let found: Vec<&AlarmReading> = readings.iter().flatten().collect();
    let latest = |state: AlarmState| {
        found
            .iter()
            .filter(|r| r.state == state)
            .max_by_key(|r| r.since)
            .copied()
    };
    let (reading, state) = if let Some(r) = latest(AlarmState::Alarm) {
        (r, AlarmState::Alarm)
    } else if !found.is_empty()
        && found.len() == readings.len()
        && found.iter().all(|r| r.state == AlarmState::Ok)
    {
        (latest(AlarmState::Ok)?, AlarmState::Ok)
    } else {
        (
            *found.iter().max_by_key(|r| r.since)?,
            AlarmState::InsufficientData,
        )
    };
    Some(AlarmLevel {
        alarm: reading.name.clone(),
        news: AlarmNews {
            at: reading.since,
            state: state.as_str().into(),
            reminded_at: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn reading(name: &str, state: AlarmState, minute: i64) -> Option<AlarmReading> {
        Some(AlarmReading {
            name: name.into(),
            state,
            since: DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap(),
        })
    }

    #[test]
    fn a_regions_level_from_its_alarms() {
        use AlarmState::*;
        // (the region's alarms as read, the expected (deciding alarm, level))
        type Case<'a> = (&'a [Option<AlarmReading>], Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            (&[], None),
            (&[None], None),
            (&[reading("a", Ok, 1)], Some(("a", "OK"))),
            (&[reading("a", Alarm, 1)], Some(("a", "ALARM"))),
            // Any alarm in ALARM decides, the latest to go there.
            (
                &[reading("a", Ok, 5), reading("b", Alarm, 1)],
                Some(("b", "ALARM")),
            ),
            (
                &[reading("a", Alarm, 2), reading("b", Alarm, 3)],
                Some(("b", "ALARM")),
            ),
            // OK only when every alarm reports OK.
            (
                &[reading("a", Ok, 1), reading("b", Ok, 4)],
                Some(("b", "OK")),
            ),
            (
                &[reading("a", Ok, 1), None],
                Some(("a", "INSUFFICIENT_DATA")),
            ),
            (
                &[reading("a", Ok, 1), reading("b", InsufficientData, 2)],
                Some(("b", "INSUFFICIENT_DATA")),
            ),
        ];
        for (readings, want) in cases {
            let got = level_of(readings).map(|l| (l.alarm, l.news.state));
            let want = want.map(|(a, s)| (a.to_string(), s.to_string()));
            assert_eq!(got, want, "{readings:?}");
        }
    }
}
