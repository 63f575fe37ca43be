//! One run: gather targets and what is there now, compute every level, then
//! (unless planning) apply only the differences, decreases first, with bounded
//! concurrency under the rate limiter, following each change to READY.

use crate::level::{self, floor_of, Inputs, OverrideLevel, Policy, Utilization, Why};
use crate::pace::{bounded, Pacer};
use crate::state::{self, FailedLevel, Override, State, StateParam};
use crate::{describe, outcome_for, Deps, OverrideRequest, Request};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use shared::aws::lambda::{
    is_quota_refusal, PcConfig, PcStatus, ProvisionedConcurrency, MIN_UNRESERVED,
};
use shared::aws::metric_data::{MetricQuery, MetricReader};
use shared::aws::route53::StateStore;
use shared::aws::sns::Notifier;
use shared::aws::tagging::FunctionDiscovery;
use shared::config::Target;
use shared::error::AwsErrorKind;
use shared::metrics::{Metric, MetricBatch, MetricSink, Unit};
use shared::{Change, DecisionRecord, Outcome};
use tokio::time::Instant;

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
    config: Option<PcConfig>,
    #[serde(skip)]
    fallback: Option<u32>,
}

impl Row {
    fn key(&self) -> String {
        state::key(&self.function, &self.alias)
    }

    fn resource(&self) -> String {
        format!("lambda:{}:{}:{}", self.region, self.function, self.alias)
    }

    /// Whether applying the policy means a Put.
    fn needs_change(&self) -> bool {
        if self.level == 0 {
            return false;
        }
        match &self.config {
            None => true,
            Some(c) => c.requested != self.level || c.status == PcStatus::Failed,
        }
    }
}

/// How one change ended.
#[derive(Debug, Clone, PartialEq)]
enum Applied {
    Ready,
    /// Still IN_PROGRESS at ready_timeout; the next run follows it.
    InProgress,
    Failed {
        reason: String,
        fallback: Option<(u32, bool)>,
    },
    /// 409 ResourceConflictException: another update is in flight.
    Conflict,
    Refused(String),
    Error(String),
}

impl Applied {
    fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Failed { .. } | Self::Refused(_) | Self::Error(_) | Self::Conflict
        )
    }

    fn text(&self, level: u32) -> String {
        match self {
            Self::Ready => format!("READY at {level}"),
            Self::InProgress => {
                format!("IN_PROGRESS toward {level} at ready_timeout; the next run follows it")
            }
            Self::Failed {
                reason,
                fallback: Some((good, true)),
            } => {
                format!(
                    "FAILED at {level} ({reason}); fell back to the last good level {good} (READY)"
                )
            }
            Self::Failed {
                reason,
                fallback: Some((good, false)),
            } => {
                format!("FAILED at {level} ({reason}); fallback to {good} did not become READY")
            }
            Self::Failed {
                reason,
                fallback: None,
            } => format!("FAILED at {level} ({reason}); no last good level known"),
            Self::Conflict => {
                "409 ResourceConflictException after every retry in this run; the next run retries"
                    .into()
            }
            Self::Refused(why) => format!("refused: {why}"),
            Self::Error(e) => format!("error: {e}"),
        }
    }
}

/// The result of following a change.
enum Followed {
    Ready,
    Failed(String),
    Timeout,
    Error(String),
}

pub(crate) async fn execute<L, G, U, R, S, M, N>(
    deps: &Deps<L, G, U, R, S, M, N>,
    request: Request,
    mut record: DecisionRecord,
    now: DateTime<Utc>,
) -> DecisionRecord
where
    L: ProvisionedConcurrency,
    G: FunctionDiscovery,
    U: MetricReader,
    R: StateStore,
    S: StateParam,
    M: MetricSink,
    N: Notifier,
{
    let runner = Runner {
        deps,
        pacer: Pacer::new(deps.config.concurrency.requests_per_second),
    };
    let (dry_run, apply) = match &request {
        Request::Plan => (true, false),
        Request::Reconcile { dry_run } => (*dry_run, !dry_run),
        Request::Override(o) => (o.dry_run, !o.dry_run),
    };

    // The state document: overrides, last good levels, recent failures.
    let param = &deps.config.concurrency.state_parameter;
    let mut st = match state::load(&deps.state, param).await {
        Ok(s) => s,
        Err(e) => {
            record.errors.push(format!("state parameter {param}: {e}"));
            record.state = json!({"request": describe(&request)});
            return record.outcome(
                Outcome::Failed,
                "could not read the scheduler state (overrides); nothing changed",
            );
        }
    };
    let loaded = st.clone();
    st.prune(now);

    let targets = runner.targets(&mut record).await;
    let mut only: Option<Target> = None;
    if let Request::Override(o) = &request {
        let Some(target) = targets
            .iter()
            .find(|t| t.function == o.function && t.alias == o.alias)
            .cloned()
        else {
            record.state = json!({"request": describe(&request)});
            return record.outcome(
                Outcome::Refused,
                format!(
                    "{}:{} is not a target in {} (configured or discovered by tag)",
                    o.function, o.alias, deps.region
                ),
            );
        };
        if o.level > target.max.max(floor_of(&target)) || o.level < floor_of(&target) {
            record.state = json!({"request": describe(&request)});
            return record.outcome(
                Outcome::Refused,
                format!(
                    "override level {} is outside [{}, {}] for {}:{}",
                    o.level,
                    floor_of(&target),
                    target.max,
                    o.function,
                    o.alias
                ),
            );
        }
        st.set_override(override_entry(o, &deps.region, now));
        // Every target is read (the account's headroom is shared), only this one changes.
        only = Some(target);
    }

    let rows = runner.plan(&targets, &st, now, &mut record).await;
    let changes: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].needs_change())
        .filter(|i| {
            only.as_ref()
                .is_none_or(|t| rows[*i].function == t.function && rows[*i].alias == t.alias)
        })
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

    let mut rows = rows;
    let mut failures = 0;
    let mut changed = 0;
    if apply && !changes.is_empty() {
        record.step(format!("applying {} change(s)", changes.len()));
        let results = runner.apply(&rows, &changes).await;
        for (i, applied) in results {
            let row = &mut rows[i];
            if applied.is_failure() {
                failures += 1;
            }
            if !matches!(
                applied,
                Applied::Refused(_) | Applied::Error(_) | Applied::Conflict
            ) {
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
    let skipped = rows.iter().filter(|r| r.level == 0).count();
    let no_headroom = rows
        .iter()
        .filter(|r| r.level == 0 && r.result.is_none())
        .count();

    if apply && st != loaded {
        if let Err(e) = deps.state.put(param, &st.to_text()).await {
            record.errors.push(format!("state parameter {param}: {e}"));
            failures += 1;
        }
    }

    if !matches!(request, Request::Plan) && !dry_run {
        let mut batch = MetricBatch::default();
        for row in &rows {
            let level = if row.level == 0 {
                row.config.as_ref().map_or(0, |c| c.requested)
            } else {
                row.level
            };
            batch.push(
                Metric::new(
                    "ProvisionedConcurrencyTarget",
                    f64::from(level),
                    Unit::Count,
                )
                .dim("FunctionName", row.function.clone())
                .dim("Region", row.region.clone()),
            );
        }
        batch.push(
            Metric::new("ActionFailed", failures as f64, Unit::Count)
                .dim("Function", crate::FUNCTION),
        );
        if let Err(e) = batch
            .flush(&deps.metrics, &deps.config.metrics_namespace)
            .await
        {
            record.errors.push(format!("metrics: {e}"));
        }
        let failed_rows: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                r.result
                    .as_deref()
                    .is_some_and(|t| !t.starts_with("READY") && !t.starts_with("IN_PROGRESS"))
            })
            .collect();
        if !failed_rows.is_empty() {
            let subject = format!(
                "concurrency-scheduler: {} alias(es) not at their level in {}",
                failed_rows.len(),
                deps.region
            );
            let message = failed_rows
                .iter()
                .map(|r| {
                    format!(
                        "{}:{} in {}: {} (why: {})",
                        r.function,
                        r.alias,
                        r.region,
                        r.result.as_deref().unwrap_or(""),
                        r.why.text()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            if let Err(e) = deps.alerts.notify(&subject, &message).await {
                record.errors.push(format!("alert: {e}"));
            }
        }
    }

    let shown: Vec<&Row> = if matches!(request, Request::Plan) || dry_run {
        rows.iter().collect()
    } else {
        let asked = |r: &Row| {
            only.as_ref()
                .is_some_and(|t| r.function == t.function && r.alias == t.alias)
        };
        rows.iter()
            .filter(|r| r.result.is_some() || r.level == 0 || asked(r))
            .collect()
    };
    record.state = json!({
        "request": describe(&request),
        "targets": rows.len(),
        "unchanged": rows.len() - changes.len() - skipped,
        "no_headroom": no_headroom,
        "api_calls": { "lambda": runner.pacer.calls(), "throttled": runner.pacer.throttled() },
        "overrides": st.overrides,
        "rows": shown,
    });
    let n = changes.len();
    let reason = match (&request, dry_run) {
        (Request::Plan, _) => format!("plan: {n} of {} alias(es) would change", rows.len()),
        (_, true) => format!("dry run: {n} of {} alias(es) would change", rows.len()),
        (_, false) if failures > 0 => {
            format!("{failures} of {n} change(s) did not reach their level")
        }
        (_, false) if n > 0 => format!("{n} of {} alias(es) changed and READY", rows.len()),
        _ => format!("all {} alias(es) already at their level", rows.len()),
    };
    let reason = match &request {
        Request::Override(o) => format!(
            "override {}:{} to {} until {}: {reason}",
            o.function,
            o.alias,
            o.level,
            o.until.to_rfc3339()
        ),
        _ => reason,
    };
    let outcome = outcome_for(dry_run, changed, failures);
    record.outcome(outcome, reason)
}

fn override_entry(o: &OverrideRequest, region: &shared::Region, now: DateTime<Utc>) -> Override {
    Override {
        function: o.function.clone(),
        alias: o.alias.clone(),
        region: region.to_string(),
        level: o.level,
        until: o.until,
        reason: o.reason.clone(),
        by: o.by.clone(),
        set_at: now,
    }
}

/// Records what a change taught us in the state document.
fn remember(st: &mut State, row: &Row, applied: &Applied, now: DateTime<Utc>) {
    let key = row.key();
    match applied {
        Applied::Ready => {
            st.last_good.remove(&key);
            st.failed.remove(&key);
        }
        Applied::Failed { fallback, .. } => {
            st.failed.insert(
                key.clone(),
                FailedLevel {
                    level: row.level,
                    at: now,
                },
            );
            match fallback {
                Some((_, true)) => {
                    st.last_good.remove(&key);
                }
                Some((good, false)) => {
                    st.last_good.insert(key, *good);
                }
                None => {}
            }
        }
        Applied::InProgress | Applied::Conflict | Applied::Refused(_) | Applied::Error(_) => {
            if let Some(good) = row.fallback {
                st.last_good.insert(key, good);
            }
        }
    }
}

struct Runner<'a, L, G, U, R, S, M, N> {
    deps: &'a Deps<L, G, U, R, S, M, N>,
    pacer: Pacer,
}

impl<L, G, U, R, S, M, N> Runner<'_, L, G, U, R, S, M, N>
where
    L: ProvisionedConcurrency,
    G: FunctionDiscovery,
    U: MetricReader,
    R: StateStore,
    S: StateParam,
    M: MetricSink,
    N: Notifier,
{
    /// Configured targets in this region, then those discovered by tag.
    async fn targets(&self, record: &mut DecisionRecord) -> Vec<Target> {
        let c = &self.deps.config.concurrency;
        let mut out: Vec<Target> = self
            .deps
            .config
            .targets_in(&self.deps.region)
            .cloned()
            .collect();
        if let Some(d) = &c.discovery {
            match self
                .deps
                .discovery
                .functions_tagged(&d.tag_key, d.tag_value.as_deref())
                .await
            {
                Ok(names) => {
                    for function in names {
                        if !out
                            .iter()
                            .any(|t| t.function == function && t.alias == c.alias)
                        {
                            out.push(Target {
                                function,
                                alias: c.alias.clone(),
                                regions: vec![self.deps.region.clone()],
                                baseline: c.baseline,
                                min: c.min,
                                max: c.max,
                                surge: None,
                            });
                        }
                    }
                }
                Err(e) => record
                    .errors
                    .push(format!("discovery by tag {}: {e}", d.tag_key)),
            }
        }
        out
    }

    /// Reads what is there and computes every level (no writes).
    async fn plan(
        &self,
        targets: &[Target],
        st: &State,
        now: DateTime<Utc>,
        record: &mut DecisionRecord,
    ) -> Vec<Row> {
        let deps = self.deps;
        let c = &deps.config.concurrency;
        let policy = Policy::from_config(c);

        let surge = match deps.routing.read().await {
            Ok(Some((routing, _))) => {
                Some(routing.should_surge(&deps.region, &deps.config.regions))
            }
            Ok(None) => Some(false),
            Err(e) => {
                record.errors.push(format!(
                    "routing state: {e} (levels are not lowered this run)"
                ));
                None
            }
        };
        let unreserved = match self
            .pacer
            .call(|| deps.lambda.unreserved_concurrency())
            .await
        {
            Ok(n) => Some(n),
            Err(e) => {
                record.errors.push(format!(
                    "account settings: {e} (no headroom clamp this run)"
                ));
                None
            }
        };
        let headroom = unreserved.map(|n| n.saturating_sub(MIN_UNRESERVED));

        let configs = bounded(targets.to_vec(), c.max_in_flight, |t: Target| async move {
            self.pacer
                .call(|| deps.lambda.get(&t.function, &t.alias))
                .await
        })
        .await;
        let utilization = self.utilization(targets, now, record).await;

        let mut rows: Vec<Row> = Vec::with_capacity(targets.len());
        for ((t, config), util) in targets.iter().zip(configs).zip(utilization) {
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
                override_level: st.override_for(&t.function, &t.alias, now).map(|o| {
                    OverrideLevel {
                        level: o.level,
                        until: o.until,
                    }
                }),
                surge,
                utilization: util,
                failed_level: st.failed_level(&t.function, &t.alias, now),
                headroom: None,
            };
            let (level, why) = level::level(t, &policy, &inputs, now);
            let mut row = Row {
                function: t.function.clone(),
                alias: t.alias.clone(),
                region: deps.region.to_string(),
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
                record
                    .errors
                    .push(format!("{}:{}: {e}", t.function, t.alias));
            }
            rows.push(row);
        }

        // Headroom: what the account can still give, shared by every target in this
        // run; decreases free room first, increases take it in order.
        if let Some(headroom) = headroom {
            let held = |r: &Row| match &r.config {
                Some(c) if c.status != PcStatus::Failed => c.requested,
                _ => 0,
            };
            let kept: u64 = rows
                .iter()
                .filter(|r| r.result.is_none())
                .map(|r| u64::from(r.level.min(held(r))))
                .sum();
            let mut remaining = u64::from(headroom).saturating_sub(kept);
            for row in rows.iter_mut() {
                if row.result.is_some() || row.level <= held(row) {
                    continue;
                }
                let have = held(row);
                let cap = u32::try_from(u64::from(have) + remaining).unwrap_or(u32::MAX);
                if row.level > cap {
                    row.why.notes.push(format!(
                        "clamped {} to {cap}: the account's headroom (unreserved {} - {MIN_UNRESERVED}) is shared by every target",
                        row.level,
                        unreserved.unwrap_or(0)
                    ));
                    row.level = cap;
                }
                remaining = remaining.saturating_sub(u64::from(row.level.saturating_sub(have)));
            }
        }
        rows
    }

    /// ProvisionedConcurrencyUtilization Maximum per target, in one GetMetricData
    /// call per 500 targets; no datapoints means no traffic.
    async fn utilization(
        &self,
        targets: &[Target],
        now: DateTime<Utc>,
        record: &mut DecisionRecord,
    ) -> Vec<Utilization> {
        let u = &self.deps.config.concurrency.utilization;
        if !u.enabled || targets.is_empty() {
            return vec![Utilization::Ignored; targets.len()];
        }
        let window = u.window.secs().max(60);
        let period = i32::try_from(window.div_ceil(60) * 60).unwrap_or(i32::MAX);
        let queries: Vec<MetricQuery> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| MetricQuery {
                id: format!("u{i}"),
                namespace: "AWS/Lambda".into(),
                metric_name: "ProvisionedConcurrencyUtilization".into(),
                dimensions: vec![
                    ("FunctionName".into(), t.function.clone()),
                    ("Resource".into(), format!("{}:{}", t.function, t.alias)),
                ],
                stat: "Maximum".into(),
                period_secs: period,
            })
            .collect();
        let start = now - chrono::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX));
        match self.deps.utilization.read(&queries, start, now).await {
            Ok(series) => queries
                .iter()
                .map(|q| {
                    let points = series
                        .iter()
                        .find(|s| s.id == q.id)
                        .map(|s| s.points.as_slice())
                        .unwrap_or(&[]);
                    points.iter().map(|(_, v)| *v).reduce(f64::max).map_or(
                        Utilization::NoTraffic,
                        |m| {
                            // CloudWatch reports the utilisation as a fraction (0..1).
                            Utilization::Max(if m > 1.0 && m <= 100.0 { m / 100.0 } else { m })
                        },
                    )
                })
                .collect(),
            Err(e) => {
                record
                    .errors
                    .push(format!("utilisation: {e} (not used this run)"));
                vec![Utilization::Ignored; targets.len()]
            }
        }
    }

    /// Applies the changes: decreases first (they free headroom), then the rest;
    /// 409s are retried in later rounds.
    async fn apply(&self, rows: &[Row], changes: &[usize]) -> Vec<(usize, Applied)> {
        let limit = self.deps.config.concurrency.max_in_flight;
        let is_decrease = |i: &usize| {
            rows[*i]
                .config
                .as_ref()
                .is_some_and(|c| c.status != PcStatus::Failed && rows[*i].level < c.requested)
        };
        let (decreases, increases): (Vec<usize>, Vec<usize>) =
            changes.iter().copied().partition(is_decrease);
        let mut done = Vec::new();
        for phase in [decreases, increases] {
            let mut pending = phase;
            let mut round = 0;
            loop {
                let results = bounded(pending.clone(), limit, |i: usize| async move {
                    (i, self.apply_one(&rows[i]).await)
                })
                .await;
                pending.clear();
                for (i, applied) in results {
                    if applied == Applied::Conflict && round < self.deps.timing.conflict_rounds {
                        pending.push(i);
                    } else {
                        done.push((i, applied));
                    }
                }
                if pending.is_empty() {
                    break;
                }
                round += 1;
                tracing::info!(
                    conflicts = pending.len(),
                    round,
                    "409 ResourceConflictException: retrying later in the run"
                );
                tokio::time::sleep(self.deps.timing.conflict_retry_after).await;
            }
        }
        done.sort_by_key(|(i, _)| *i);
        done
    }

    async fn apply_one(&self, row: &Row) -> Applied {
        let lambda = &self.deps.lambda;
        let (f, a) = (row.function.as_str(), row.alias.as_str());
        match self.pacer.call(|| lambda.alias(f, a)).await {
            Ok(None) => return Applied::Refused(format!("alias {a} of {f} does not exist")),
            Ok(Some(info)) if info.weighted => {
                return Applied::Refused(format!("alias {a} of {f} routes by version weights; Lambda refuses provisioned concurrency on it"))
            }
            Ok(Some(_)) => {}
            Err(e) => return Applied::Error(e.to_string()),
        }
        match self.set_and_follow(f, a, row.level).await {
            Ok(Followed::Ready) => Applied::Ready,
            Ok(Followed::Timeout) => Applied::InProgress,
            Ok(Followed::Error(e)) => Applied::Error(e),
            Ok(Followed::Failed(reason)) => {
                let fallback = match row.fallback.filter(|g| *g != row.level) {
                    None => None,
                    Some(good) => {
                        let ready =
                            matches!(self.set_and_follow(f, a, good).await, Ok(Followed::Ready));
                        Some((good, ready))
                    }
                };
                Applied::Failed { reason, fallback }
            }
            Err(e) if e.aws_kind() == Some(AwsErrorKind::Conflict) => Applied::Conflict,
            Err(e) if is_quota_refusal(&e) => {
                Applied::Refused(format!("the account's headroom is exhausted: {e}"))
            }
            Err(e) => Applied::Error(e.to_string()),
        }
    }

    /// Puts `level` and follows it to READY or FAILED, bounded by ready_timeout.
    async fn set_and_follow(&self, f: &str, a: &str, level: u32) -> shared::Result<Followed> {
        let lambda = &self.deps.lambda;
        let put = self.pacer.call(|| lambda.put(f, a, level)).await?;
        match put.status {
            PcStatus::Ready if put.requested == level => return Ok(Followed::Ready),
            PcStatus::Failed => {
                return Ok(Followed::Failed(
                    put.reason.unwrap_or_else(|| "no reason given".into()),
                ))
            }
            _ => {}
        }
        let deadline = Instant::now() + self.deps.config.concurrency.ready_timeout.as_std();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(Followed::Timeout);
            }
            tokio::time::sleep(self.deps.timing.poll_interval.min(deadline - now)).await;
            match self.pacer.call(|| lambda.get(f, a)).await {
                Ok(Some(c)) if c.status == PcStatus::Ready && c.requested == level => {
                    return Ok(Followed::Ready)
                }
                Ok(Some(c)) if c.status == PcStatus::Failed => {
                    return Ok(Followed::Failed(
                        c.reason.unwrap_or_else(|| "no reason given".into()),
                    ))
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Ok(Followed::Error(format!(
                        "the config of {f}:{a} disappeared while IN_PROGRESS"
                    )))
                }
                Err(e) => return Ok(Followed::Error(e.to_string())),
            }
        }
    }
}

/// The plan rows as JSON (for tests and tools).
pub fn rows_of(record: &Value) -> &[Value] {
    record["state"]["rows"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}
