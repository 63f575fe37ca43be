//! One run, for every command: read the state document and what is there now,
//! plan every level, then (unless only showing) apply the differences, save what
//! they taught, and report.

use crate::apply::{apply, remember};
use crate::decide::{self, check_override, Policy};
use crate::pace::Pacer;
use crate::report::{self, Tally};
use crate::request::{Command, OverrideRequest};
use crate::state::{self, Override};
use crate::{observe, World};
use chrono::{DateTime, Utc};
use serde_json::json;
use shared::aws::lambda::PcStatus;
use shared::{Change, Config, DecisionRecord, Outcome, Region};

pub async fn run(
    command: &Command,
    config: &Config,
    home: &Region,
    world: &impl World,
    now: DateTime<Utc>,
    mut record: DecisionRecord,
) -> DecisionRecord {
    let pacer = Pacer::new(config.concurrency.requests_per_second);
    let apply_changes = !command.dry_run();

    // The state document: overrides, last good levels, recent failures.
    let param = &config.concurrency.state_parameter;
    let mut st = match state::load(world).await {
        Ok(s) => s,
        Err(e) => {
            record.errors.push(format!("state parameter {param}: {e}"));
            record.state = json!({"request": command.describe()});
            return record.outcome(
                Outcome::Failed,
                "could not read the scheduler state (overrides); nothing changed",
            );
        }
    };
    let loaded = st.clone();
    st.prune(now);

    let targets = observe::targets(config, home, world, &mut record).await;
    // An override reads every target (the account's headroom is shared), changes one.
    let mut only = None;
    if let Command::Override(o) = command {
        match check_override(o, &targets, home) {
            Ok(target) => only = Some(target),
            Err(why) => {
                record.state = json!({"request": command.describe()});
                return record.outcome(Outcome::Refused, why);
            }
        }
        st.set_override(override_entry(o, home, now));
    }

    let observed = observe::observe(&targets, config, home, world, &pacer, now, &mut record).await;
    let policy = Policy::from_config(&config.concurrency);
    let mut rows = decide::plan(&targets, observed, &st, &policy, home, now);
    let changes: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].needs_change())
        .filter(|i| only.as_ref().is_none_or(|t| rows[*i].is(t)))
        .collect();
    for &i in &changes {
        let r = &rows[i];
        record.changes.push(Change::new(
            r.resource(),
            "provisioned_concurrency",
            r.config.as_ref().map(|c| c.requested),
            r.level,
        ));
    }

    let mut failures = 0;
    let mut changed = 0;
    if apply_changes && !changes.is_empty() {
        record.step(format!("applying {} change(s)", changes.len()));
        let results = apply(&rows, &changes, &config.concurrency, world, &pacer).await;
        for (i, applied) in results {
            let row = &mut rows[i];
            if applied.is_failure() {
                failures += 1;
            }
            if applied.changed() {
                changed += 1;
            }
            remember(&mut st, row, &applied, now);
            row.result = Some(applied.text(row.level));
        }
        record.step("changes settled");
    }
    for row in rows.iter().filter(|r| r.result.is_none()) {
        // Steady and READY: the live config is itself the last good level.
        if row
            .config
            .as_ref()
            .is_some_and(|c| c.status == PcStatus::Ready)
        {
            st.last_good.remove(&row.key());
        }
    }

    if apply_changes && st != loaded {
        if let Err(e) = world.save_state(&st.to_text()).await {
            record.errors.push(format!("state parameter {param}: {e}"));
            failures += 1;
        }
    }
    if apply_changes {
        report::metrics(&rows, failures, world, &mut record).await;
        report::alert(&rows, home, world, &mut record).await;
    }
    let tally = Tally {
        planned: changes.len(),
        changed,
        failures,
        lambda_calls: pacer.calls(),
        throttled: pacer.throttled(),
    };
    report::summary(command, &rows, only.as_ref(), &st.overrides, &tally, record)
}

fn override_entry(o: &OverrideRequest, home: &Region, now: DateTime<Utc>) -> Override {
    Override {
        function: o.function.clone(),
        alias: o.alias.clone(),
        region: home.to_string(),
        level: o.level,
        until: o.until,
        reason: o.reason.clone(),
        by: o.by.clone(),
        set_at: now,
    }
}
