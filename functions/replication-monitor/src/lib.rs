//! replication-monitor: one view of ECR, S3 and Secrets Manager replication, the
//! per-region `ReplicationReady` verdict failover trusts, and alerts once per crossing.
//!
//! Every trigger runs the same sweep: a schedule tick, an `ECR Image Action` PUSH
//! (the pushed image is added to the sweep, so it is checked at once even before
//! DescribeImages lists it), and the manual `check` (which returns the full report).
//! An image deleted before the monitor looks (DescribeImageReplicationStatus answers
//! ImageNotFoundException) has nothing left to replicate: it is not counted (no lag,
//! nothing pending or failed) and the decision record names it as gone.
//!
//! Where the images to watch are recorded: ECR itself is the source of truth.
//! Every image pushed inside `replication.window` is found again by DescribeImages
//! (`imagePushedAt`), so a missed or late PUSH event (ECR events are best effort)
//! loses nothing and no pending list has to survive cold starts, grow without bound
//! in a 4 KB SSM parameter, or be updated by concurrent pushes without a lock.

pub mod alerts;
pub mod deps;
pub mod join;
pub mod observe;
pub mod report;

use alerts::{AlertState, Crossing};
use chrono::{DateTime, Utc};
use observe::PushedImage;
use report::{Kind, Limits, Plan, Report, FUNCTION};
use serde_json::{json, Value};
use shared::aws::ecr::EcrImages;
use shared::aws::metric_data::MetricReader;
use shared::aws::secrets::SecretReplication;
use shared::aws::sns::Notifier;
use shared::events::{ManualRequest, ScheduleTask};
use shared::metrics::{MetricBatch, MetricSink};
use shared::{Change, Config, DecisionRecord, Error, Event, Outcome, Region, Result};
use std::future::Future;

pub use deps::AwsDeps;

/// Exactly the IAM actions this function calls (cross-checked against Terraform).
pub const IAM_ACTIONS: &[&str] = &[
    "ecr:DescribeImages",
    "ecr:DescribeImageReplicationStatus",
    "sts:AssumeRole",
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    "secretsmanager:DescribeSecret",
    "sns:Publish",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

pub const ACTIONS: &[&str] = &["check"];

/// The alert-state document (SSM parameter).
pub trait StateStore: Send + Sync {
    fn load(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    fn save(&self, document: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Everything the handler touches, one small trait each.
pub trait Deps: Send + Sync {
    type Ecr: EcrImages;
    type Metrics: MetricReader;
    type Secrets: SecretReplication;
    type State: StateStore;
    type Notify: Notifier;
    type Sink: MetricSink;
    /// ECR in the configured source region (through the role when set).
    fn ecr(&self) -> Option<&Self::Ecr>;
    /// CloudWatch metric reads in `region` (S3 rules' source regions).
    fn metric_reader(&self, region: &Region) -> Option<&Self::Metrics>;
    /// Secrets Manager in the configured source region.
    fn secrets(&self) -> Option<&Self::Secrets>;
    fn state(&self) -> &Self::State;
    fn notifier(&self) -> &Self::Notify;
    fn metrics(&self) -> &Self::Sink;
}

/// What the runtime tells the handler about this invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The region this copy runs in (alerts and state live here).
    pub region: Region,
    pub request_id: Option<String>,
}

enum Run {
    Sweep {
        trigger: &'static str,
        pushed: Option<PushedImage>,
        dry_run: bool,
        requested_by: Option<String>,
    },
    Ignore {
        trigger: &'static str,
        reason: String,
    },
}

fn classify(event: Event, config: &Config, now: DateTime<Utc>) -> Result<Run> {
    match event {
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok(Run::Sweep { trigger: "schedule", pushed: None, dry_run: false, requested_by: None }),
            ScheduleTask::EndDrill { .. } => Err(Error::invalid_event(
                "replication-monitor does not handle the end_drill task (failover does); it runs on task \"tick\"",
            )),
        },
        Event::EcrImage(action) => {
            let watched = config.replication.ecr.as_ref().is_some_and(|e| e.repositories.contains(&action.repository));
            if !action.is_successful_push() {
                return Ok(Run::Ignore {
                    trigger: "ecr_image_action",
                    reason: format!("ECR {} {} of {}: only successful pushes start replication", action.action_type, action.result, action.repository),
                });
            }
            if !watched {
                return Ok(Run::Ignore {
                    trigger: "ecr_image_action",
                    reason: format!("repository {} is not in replication.ecr.repositories", action.repository),
                });
            }
            Ok(Run::Sweep {
                trigger: "ecr_push",
                pushed: Some(PushedImage {
                    repository: action.repository,
                    digest: action.image_digest,
                    tag: action.image_tag,
                    pushed_at: action.time.unwrap_or(now).min(now),
                }),
                dry_run: false,
                requested_by: None,
            })
        }
        Event::Manual(m) => manual(m),
        other => Err(Error::invalid_event(format!(
            "replication-monitor does not handle {} events; it handles schedule ticks, ECR Image Action PUSH events and the manual action \"check\"",
            other.kind()
        ))),
    }
}

fn manual(m: ManualRequest) -> Result<Run> {
    match m.action.as_str() {
        "check" => {
            m.deny_unknown_args(&[])?;
            Ok(Run::Sweep {
                trigger: "manual",
                pushed: None,
                dry_run: m.dry_run,
                requested_by: m.requested_by,
            })
        }
        other => Err(Error::invalid_event(format!(
            "unknown action {other:?}: replication-monitor accepts {}",
            ACTIONS
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn limits(t: &shared::config::Thresholds, pending: Option<u64>) -> Limits {
    Limits {
        lag_seconds: t.lag.secs(),
        failed: t.failed,
        pending,
    }
}

/// What is configured, as plain data for the verdicts.
pub fn plan(config: &Config) -> Plan {
    let r = &config.replication;
    let mut kinds = std::collections::BTreeMap::new();
    if let Some(e) = &r.ecr {
        kinds.insert(
            Kind::Ecr,
            (
                limits(&e.thresholds, None),
                e.destination_regions
                    .iter()
                    .map(Region::to_string)
                    .collect(),
            ),
        );
    }
    if let Some(s) = &r.s3 {
        let mut dests: Vec<String> = s
            .rules
            .iter()
            .map(|r| r.destination_region.to_string())
            .collect();
        dests.sort();
        dests.dedup();
        kinds.insert(
            Kind::S3,
            (limits(&s.thresholds, Some(s.pending_threshold)), dests),
        );
    }
    if let Some(s) = &r.secrets {
        kinds.insert(
            Kind::Secrets,
            (
                limits(&s.thresholds, None),
                secret_destinations(config, &s.source_region),
            ),
        );
    }
    Plan {
        kinds,
        regions: config.regions.iter().map(Region::to_string).collect(),
    }
}

/// Every secret must have a replica in every other region of the control plane.
fn secret_destinations(config: &Config, source: &Region) -> Vec<String> {
    config
        .regions
        .iter()
        .filter(|r| *r != source)
        .map(Region::to_string)
        .collect()
}

/// Handles one event. Invalid events are refused before any AWS call.
pub async fn handle(
    event: Value,
    inv: &Invocation,
    deps: &impl Deps,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Value> {
    let event = Event::parse(&event)?;
    let region = inv.region.to_string();
    match classify(event, config, now)? {
        Run::Ignore { trigger, reason } => {
            let record = DecisionRecord::new(FUNCTION, region, "ignore", trigger)
                .outcome(Outcome::Noop, reason)
                .finish();
            Ok(record.to_json())
        }
        Run::Sweep {
            trigger,
            pushed,
            dry_run,
            requested_by,
        } => {
            let action = if trigger == "manual" {
                "check"
            } else {
                "sweep"
            };
            let mut record = DecisionRecord::new(FUNCTION, region, action, trigger);
            record.requested_by = requested_by;
            let result = sweep(
                &mut record,
                inv,
                deps,
                config,
                now,
                pushed.as_ref(),
                dry_run,
            )
            .await;
            let record = record.finish();
            result.map(|()| record.to_json())
        }
    }
}

async fn sweep(
    record: &mut DecisionRecord,
    inv: &Invocation,
    deps: &impl Deps,
    config: &Config,
    now: DateTime<Utc>,
    pushed: Option<&PushedImage>,
    dry_run: bool,
) -> Result<()> {
    let r = &config.replication;
    let mut errors: Vec<String> = Vec::new();

    // 1. The alert state (crossings, first sight of InProgress secret replicas).
    let (mut state, state_usable) = match deps.state().load().await {
        Ok(None) => (AlertState::default(), true),
        Ok(Some(text)) => match AlertState::parse(&text) {
            Ok(s) => (s, true),
            Err(e) => {
                // Unreadable document: start over (and overwrite it) rather than never alert again.
                errors.push(format!(
                    "{}: {e}; starting from an empty state",
                    r.alert_state_parameter
                ));
                (AlertState::default(), true)
            }
        },
        Err(e) => {
            // Unknown state: observe and publish, but neither alert nor overwrite it.
            errors.push(format!("alert state: {e}; alerts are skipped this run"));
            (AlertState::default(), false)
        }
    };

    // 2. Observe.
    let (mut observations, mut read_errors) = (Vec::new(), Vec::new());
    let mut gone = Vec::new();
    if let Some(cfg) = &r.ecr {
        match deps.ecr() {
            Some(ecr) => {
                let found = observe::observe_ecr(ecr, cfg, r.window.secs(), now, pushed).await;
                observations.extend(found.observations);
                read_errors.extend(found.errors);
                gone = found.gone;
            }
            None => read_errors.push(report::ReadError {
                kind: Kind::Ecr,
                resource: "ecr".into(),
                destination: None,
                message: "no ECR client".into(),
            }),
        }
    }
    if let Some(cfg) = &r.s3 {
        let (o, e) =
            observe::observe_s3(|region| deps.metric_reader(region), &cfg.rules, now).await;
        observations.extend(o);
        read_errors.extend(e);
    }
    let mut seen = state.secrets_in_progress.clone();
    if let Some(cfg) = &r.secrets {
        match deps.secrets() {
            Some(secrets) => {
                let expected = secret_destinations(config, &cfg.source_region);
                let (o, e, s) = observe::observe_secrets(
                    secrets,
                    cfg,
                    &expected,
                    &state.secrets_in_progress,
                    now,
                )
                .await;
                observations.extend(o);
                read_errors.extend(e);
                seen = s;
            }
            None => read_errors.push(report::ReadError {
                kind: Kind::Secrets,
                resource: "secretsmanager".into(),
                destination: None,
                message: "no Secrets Manager client".into(),
            }),
        }
    }
    errors.extend(
        read_errors
            .iter()
            .map(|e| format!("{} {}: {}", e.kind.as_str(), e.resource, e.message)),
    );
    let report = report::evaluate(&plan(config), observations, read_errors);
    record.step(format!(
        "observed {} resource(s), {} unreadable",
        report.resources.len(),
        report.errors.len()
    ));
    for image in &gone {
        record.step(format!(
            "ecr image {image} is gone (ImageNotFoundException): deleted after its push, \
             nothing left to replicate; not counted"
        ));
    }

    // 3. Alerts, once per crossing.
    let alerts = if state_usable {
        alerts::crossings(&state, &report, &config.service_name, inv.region.as_str())
    } else {
        Vec::new()
    };
    let mut new_state = state.clone();
    new_state.secrets_in_progress = seen;
    for alert in &alerts {
        let resource = format!("alert:{}", alert.kind.as_str());
        let change = match alert.crossing {
            Crossing::Breached => Change::new(resource, "breaching", false, true),
            Crossing::Recovered => Change::new(resource, "breaching", true, false),
        };
        if dry_run {
            record.changes.push(change);
            continue;
        }
        match deps.notifier().notify(&alert.subject, &alert.message).await {
            Ok(()) => {
                alerts::record(&mut new_state, alert, now);
                record.changes.push(change);
            }
            // Not recorded: the next run tries again.
            Err(e) => errors.push(format!("alert for {}: {e}", alert.kind.as_str())),
        }
    }
    // Kinds no longer configured are forgotten.
    new_state.kinds.retain(|k, _| report.kinds.contains_key(k));
    if !dry_run && state_usable && new_state != state {
        if let Err(e) = deps.state().save(&new_state.to_text()).await {
            errors.push(format!("saving {}: {e}", r.alert_state_parameter));
        }
    }
    state = new_state;

    // 4. One batched PutMetricData.
    let run_failed = !errors.is_empty();
    let mut published = 0;
    let mut flush_error = None;
    if !dry_run {
        let mut batch = MetricBatch::default();
        for m in report::metrics(&report, run_failed) {
            batch.push(m);
        }
        match batch.flush(deps.metrics(), &config.metrics_namespace).await {
            Ok(n) => published = n,
            Err(e) => {
                errors.push(format!("publishing metrics: {e}"));
                flush_error = Some(e);
            }
        }
    }

    record.state = state_json(&report, &state, &gone, r.window.secs(), published, now);
    record.errors = errors;
    record.outcome = if dry_run {
        Outcome::DryRun
    } else if !record.errors.is_empty() {
        Outcome::Failed
    } else if record.changes.is_empty() {
        Outcome::Noop
    } else {
        Outcome::Applied
    };
    record.reason = summary(&report, &gone);
    // Without metrics, failover sees a stale ReplicationReady: say so to Lambda as well.
    match flush_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn summary(report: &Report, gone: &[String]) -> String {
    let regions: Vec<String> = report
        .regions
        .iter()
        .map(|(r, v)| format!("{r} {}", verdict_word(v.verdict)))
        .collect();
    let kinds: Vec<String> = report
        .kinds
        .iter()
        .map(|(k, v)| format!("{} {}", k.as_str(), verdict_word(v.verdict)))
        .collect();
    let mut text = format!(
        "regions: {}; kinds: {}",
        regions.join(", "),
        if kinds.is_empty() {
            "none configured".into()
        } else {
            kinds.join(", ")
        }
    );
    if !gone.is_empty() {
        text.push_str(&format!(
            "; gone, not counted: {} (image deleted, nothing to replicate)",
            gone.join(", ")
        ));
    }
    text
}

fn verdict_word(v: report::Verdict) -> &'static str {
    match v {
        report::Verdict::Ready => "ready",
        report::Verdict::Unknown => "unknown",
        report::Verdict::NotReady => "not_ready",
    }
}

fn state_json(
    report: &Report,
    state: &AlertState,
    gone: &[String],
    window_secs: u64,
    published: usize,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "checked_at": now,
        "window_seconds": window_secs,
        "regions": report.regions,
        "kinds": report.kinds,
        "resources": report.resources,
        "unreadable": report.errors,
        "gone": gone,
        "alert_state": state.kinds,
        "metrics_published": published,
    })
}

#[cfg(test)]
mod tests;
