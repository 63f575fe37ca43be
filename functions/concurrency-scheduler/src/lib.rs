//! concurrency-scheduler: owns provisioned concurrency on each target alias in
//! the region it runs in. Level = the first that applies of an active override,
//! surge (a peer evacuated or a drill on a peer preparing), the schedule window in
//! force, the baseline; optionally adjusted by utilisation; clamped to min/max and
//! to the account's headroom. Applies only differences, follows each change to
//! READY, falls back on FAILED, retries 409s later in the run, and paces every
//! Lambda control-plane call under the account's quota.

pub mod level;
pub mod pace;
pub mod run;
pub mod state;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::aws::cloudwatch::CloudWatch;
use shared::aws::lambda::{Lambda, ProvisionedConcurrency};
use shared::aws::metric_data::{MetricData, MetricReader};
use shared::aws::route53::{Route53, StateStore};
use shared::aws::sns::{Notifier, Sns};
use shared::aws::ssm::Ssm;
use shared::aws::tagging::{FunctionDiscovery, Tagging};
use shared::events::{ControlPlaneKind, ManualRequest, ScheduleTask};
use shared::metrics::MetricSink;
use shared::{Config, DecisionRecord, Error, Event, Outcome, Region, Result};
use state::StateParam;
use std::time::Duration;

pub const FUNCTION: &str = "concurrency-scheduler";

/// Exactly the IAM actions this function calls (cross-checked against Terraform).
pub const IAM_ACTIONS: &[&str] = &[
    "lambda:GetProvisionedConcurrencyConfig",
    "lambda:PutProvisionedConcurrencyConfig",
    "lambda:GetAccountSettings",
    "lambda:GetAlias",
    "tag:GetResources",
    "route53:ListResourceRecordSets",
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    "sns:Publish",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

/// Timing knobs; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between GetProvisionedConcurrencyConfig polls while a change is IN_PROGRESS.
    pub poll_interval: Duration,
    /// Before retrying the changes that met a 409 ResourceConflictException.
    pub conflict_retry_after: Duration,
    /// How many times a 409 is retried in one run.
    pub conflict_rounds: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            conflict_retry_after: Duration::from_secs(5),
            conflict_rounds: 3,
        }
    }
}

/// Everything the handler touches, one small trait each, so tests pass fakes.
pub struct Deps<L, G, U, R, S, M, N> {
    pub config: Config,
    /// The region this copy runs in and manages.
    pub region: Region,
    pub lambda: L,
    pub discovery: G,
    pub utilization: U,
    pub routing: R,
    pub state: S,
    pub metrics: M,
    pub alerts: N,
    pub timing: Timing,
}

/// The AWS-backed dependencies.
pub type AwsDeps = Deps<Lambda, Tagging, MetricData, Route53, Ssm, CloudWatch, Sns>;

impl Deps<Lambda, Tagging, MetricData, Route53, Ssm, CloudWatch, Sns> {
    /// SDK clients for the home region (`AWS_REGION`), built once.
    pub async fn new(config: &Config) -> Result<Self> {
        let region = shared::aws::home_region()?;
        let sdk = shared::aws::sdk_config(&region).await;
        Self::from_sdk(config, &region, &sdk)
    }

    /// SDK clients for `region` from an existing SDK config (tests point it at the local AWS world).
    pub fn from_sdk(config: &Config, region: &Region, sdk: &aws_config::SdkConfig) -> Result<Self> {
        if !config.has_region(region) {
            return Err(Error::Config(vec![format!(
                "this function runs in {region}, which is not in `regions`"
            )]));
        }
        let topic = config.alerts_topic_arns.get(region).ok_or_else(|| {
            Error::Config(vec![format!("alerts_topic_arns: no topic for {region}")])
        })?;
        Ok(Self {
            config: config.clone(),
            region: region.clone(),
            lambda: Lambda::new(sdk),
            discovery: Tagging::new(sdk),
            utilization: MetricData::new(sdk),
            routing: Route53::new(
                sdk,
                &config.failover.hosted_zone_id,
                &config.failover.state_record_name,
            ),
            state: Ssm::new(sdk),
            metrics: CloudWatch::new(sdk),
            alerts: Sns::new(sdk, topic.as_str()),
            timing: Timing::default(),
        })
    }
}

/// What an invocation asks for, parsed before any AWS call.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Plan,
    Reconcile { dry_run: bool },
    Override(OverrideRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OverrideRequest {
    pub function: String,
    pub alias: String,
    pub level: u32,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub by: Option<String>,
    pub dry_run: bool,
}

/// Longest an override may last: it must expire on its own.
pub const MAX_OVERRIDE: chrono::Duration = chrono::Duration::days(7);

/// Turns an event into a request and its trigger, or refuses it (no AWS call made).
pub fn parse_request(
    payload: &Value,
    config: &Config,
    region: &Region,
    now: DateTime<Utc>,
) -> Result<(Request, String)> {
    match Event::parse(payload)? {
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok((Request::Reconcile { dry_run: false }, "schedule".into())),
            ScheduleTask::EndDrill { .. } => Err(Error::invalid_event(
                "end_drill schedules belong to the failover function, not the concurrency-scheduler",
            )),
        },
        Event::ControlPlane(e) => {
            let what = match e.kind {
                ControlPlaneKind::RegionEvacuated | ControlPlaneKind::DrillStarted => "surge",
                ControlPlaneKind::RegionRestored | ControlPlaneKind::DrillEnded => "back to schedule",
            };
            Ok((Request::Reconcile { dry_run: false }, format!("{} {} ({what})", e.kind.detail_type(), e.detail.region)))
        }
        Event::Manual(m) => parse_manual(&m, config, region, now).map(|r| (r, "manual".to_string())),
        other => Err(Error::invalid_event(format!(
            "the concurrency-scheduler does not handle {} events (it handles schedules, control-plane events and \
             the manual actions plan, reconcile and override)",
            other.kind()
        ))),
    }
}

fn parse_manual(
    m: &ManualRequest,
    config: &Config,
    region: &Region,
    now: DateTime<Utc>,
) -> Result<Request> {
    match m.action.as_str() {
        "plan" => {
            m.deny_unknown_args(&[])?;
            Ok(Request::Plan)
        }
        "reconcile" => {
            m.deny_unknown_args(&[])?;
            Ok(Request::Reconcile { dry_run: m.dry_run })
        }
        "override" => {
            m.deny_unknown_args(&["function", "alias", "region", "level", "until"])?;
            let reason = m.require_reason()?.to_string();
            let function = m.str_arg("function")?.to_string();
            let alias = m.opt_str_arg("alias")?.unwrap_or(&config.concurrency.alias).to_string();
            if let Some(r) = m.opt_str_arg("region")? {
                let r = config.region(r)?;
                if &r != region {
                    return Err(Error::invalid_event(format!(
                        "override: this copy of the concurrency-scheduler manages {region}; invoke the copy in {r}"
                    )));
                }
            }
            let level = m
                .u64_arg("level")?
                .ok_or_else(|| Error::invalid_event("action \"override\": missing `level`"))?;
            let level = u32::try_from(level)
                .ok()
                .filter(|l| *l >= 1)
                .ok_or_else(|| Error::invalid_event(format!("override: level {level} must be between 1 and max")))?;
            let until = parse_until(m.str_arg("until")?, now)?;
            Ok(Request::Override(OverrideRequest {
                function,
                alias,
                level,
                until,
                reason,
                by: m.requested_by.clone(),
                dry_run: m.dry_run,
            }))
        }
        other => Err(Error::invalid_event(format!(
            "unknown action {other:?} for the concurrency-scheduler (expected plan, reconcile or override)"
        ))),
    }
}

/// `until`: an RFC 3339 time, or a duration from now (`90m`, `2h`).
pub fn parse_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let until = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => match shared::Duration::parse(text) {
            Ok(d) => now + d.as_chrono(),
            Err(_) => {
                return Err(Error::invalid_event(format!(
                    "override: until {text:?} is neither an RFC 3339 time nor a duration like 2h"
                )))
            }
        },
    };
    if until <= now {
        return Err(Error::invalid_event(format!(
            "override: until {} is not in the future",
            until.to_rfc3339()
        )));
    }
    if until - now > MAX_OVERRIDE {
        return Err(Error::invalid_event(
            "override: until is more than 7 days away; overrides must expire on their own",
        ));
    }
    Ok(until)
}

/// The Lambda handler: one event in, one decision record out.
pub async fn handle<L, G, U, R, S, M, N>(
    payload: Value,
    deps: &Deps<L, G, U, R, S, M, N>,
) -> Result<Value>
where
    L: ProvisionedConcurrency,
    G: FunctionDiscovery,
    U: MetricReader,
    R: StateStore,
    S: StateParam,
    M: MetricSink,
    N: Notifier,
{
    handle_at(payload, deps, Utc::now()).await
}

/// [`handle`] at a given instant (schedules and overrides are evaluated at `now`).
#[tracing::instrument(skip_all, fields(region = %deps.region))]
pub async fn handle_at<L, G, U, R, S, M, N>(
    payload: Value,
    deps: &Deps<L, G, U, R, S, M, N>,
    now: DateTime<Utc>,
) -> Result<Value>
where
    L: ProvisionedConcurrency,
    G: FunctionDiscovery,
    U: MetricReader,
    R: StateStore,
    S: StateParam,
    M: MetricSink,
    N: Notifier,
{
    let (request, trigger) = parse_request(&payload, &deps.config, &deps.region, now)?;
    let action = match &request {
        Request::Plan => "plan",
        Request::Reconcile { .. } => "reconcile",
        Request::Override(_) => "override",
    };
    let mut record = DecisionRecord::new(FUNCTION, deps.region.as_str(), action, trigger);
    if let Request::Override(o) = &request {
        record.requested_by = o.by.clone();
    } else if let Some(Value::String(by)) = payload.get("requested_by") {
        record.requested_by = Some(by.clone());
    }
    let record = run::execute(deps, request, record, now).await;
    let record = record.finish();
    Ok(record.to_json())
}

/// A compact view of the request for the record.
pub fn describe(request: &Request) -> Value {
    match request {
        Request::Plan => json!({"action": "plan"}),
        Request::Reconcile { dry_run } => json!({"action": "reconcile", "dry_run": dry_run}),
        Request::Override(o) => json!({
            "action": "override", "function": o.function, "alias": o.alias, "level": o.level,
            "until": o.until, "dry_run": o.dry_run,
        }),
    }
}

pub(crate) fn outcome_for(dry_run: bool, changed: usize, failures: usize) -> Outcome {
    if dry_run {
        Outcome::DryRun
    } else if failures > 0 {
        Outcome::Failed
    } else if changed > 0 {
        Outcome::Applied
    } else {
        Outcome::Noop
    }
}

#[cfg(test)]
mod tests;
