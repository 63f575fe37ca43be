//! The failover function: evacuates a failing region from DNS, brings it back,
//! and runs drills that end themselves. The desired routing state lives in a
//! Route 53 TXT record changed by compare-and-swap; gates are reconciled to it.

pub mod aws;
pub mod decide;

use chrono::{DateTime, Utc};
use decide::{decide, Actor, Decision, RegionHealth, Request};
use serde_json::{json, Value};
use shared::aws::route53::{CasResult, GateStatus, StateVersion};
use shared::events::{
    AlarmState, ControlPlaneDetail, ControlPlaneKind, Event, ManualRequest, ScheduleTask,
};
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::routing::{truncate_stored, RoutingState, REASON_MAX, REQUESTED_BY_MAX};
use shared::{Change, Config, DecisionRecord, Error, Outcome, Region, Result};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

pub const FUNCTION: &str = "failover";

/// Exactly the IAM actions this function calls; Terraform grants these and no more.
pub const IAM_ACTIONS: &[&str] = &[
    "route53:GetHealthCheck",
    "route53:UpdateHealthCheck",
    "route53:ListResourceRecordSets",
    "route53:ChangeResourceRecordSets",
    "cloudwatch:PutMetricData",
    "cloudwatch:GetMetricData",
    "sns:Publish",
    "events:PutEvents",
    "scheduler:CreateSchedule",
    "scheduler:DeleteSchedule",
    "iam:PassRole",
    "lambda:GetProvisionedConcurrencyConfig",
    "ssm:GetParameter",
];

/// What a drill keeps of its run's time for evacuating after the surge wait.
const DEADLINE_MARGIN_SECS: i64 = 15;

/// How many times a lost compare-and-swap is re-read and re-decided.
const CAS_ATTEMPTS: usize = 5;

/// Everything the function touches in AWS, behind one trait so tests pass fakes.
pub trait World: Send + Sync {
    fn read_state(
        &self,
    ) -> impl Future<Output = Result<Option<(RoutingState, StateVersion)>>> + Send;
    fn swap_state(
        &self,
        expected: Option<&StateVersion>,
        new: &RoutingState,
    ) -> impl Future<Output = Result<CasResult>> + Send;
    fn gate(&self, region: &Region) -> impl Future<Output = Result<GateStatus>> + Send;
    fn set_gate(
        &self,
        gate: &GateStatus,
        threshold: i32,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The latest `ReplicationReady` for a destination region within `max_age`: None when stale.
    fn replication_ready(
        &self,
        region: &Region,
        max_age: Duration,
    ) -> impl Future<Output = Result<Option<f64>>> + Send;
    /// Provisioned concurrency (requested, status) of the configured targets in `region`.
    fn peer_capacity(
        &self,
        region: &Region,
    ) -> impl Future<Output = Result<Vec<(String, i32, String)>>> + Send;
    fn emit(
        &self,
        kind: ControlPlaneKind,
        detail: &ControlPlaneDetail,
    ) -> impl Future<Output = Result<()>> + Send;
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
    fn schedule_drill_end(
        &self,
        drill_id: &str,
        at: DateTime<Utc>,
        target_arn: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn cancel_drill_end(&self, drill_id: &str) -> impl Future<Output = Result<()>> + Send;
    fn publish(&self, metrics: MetricBatch) -> impl Future<Output = Result<()>> + Send;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    fn now(&self) -> DateTime<Utc>;
}

/// What the Lambda context tells about the invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    pub function_arn: String,
    /// When Lambda stops this run (its timeout), if known: a drill waits for the
    /// peer's surge only while there is time left to evacuate.
    pub deadline: Option<DateTime<Utc>>,
}

/// The parsed, validated request, before any AWS call.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Status,
    Tick,
    Change {
        request: Request,
        trigger: String,
        dry_run: bool,
        by: Option<String>,
    },
    Drill {
        region: Region,
        duration: shared::Duration,
        actor: Actor,
        dry_run: bool,
    },
    /// A refusal known from the input alone (unknown region, unmapped alarm).
    Refuse {
        action: String,
        trigger: String,
        reason: String,
    },
}

pub async fn handle(
    payload: Value,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let event = Event::parse(&payload)?;
    let plan = plan(event, config)?;
    // Changes asked by an alarm or a drill-end schedule (no person waiting for the
    // answer) fail as a function error, so Lambda's async retry tries again.
    let event_driven = matches!(&plan, Plan::Change { by: None, .. });
    let record = run(plan, invocation, config, home, world).await;
    let record = record.finish();
    if record.outcome == Outcome::Failed {
        let mut metrics = MetricBatch::default();
        metrics.push(Metric::new("ActionFailed", 1.0, Unit::Count).dim("Function", FUNCTION));
        let _ = world.publish(metrics).await;
        if event_driven {
            return Err(Error::Unfinished(format!(
                "{}: {} ({})",
                record.action,
                record.reason,
                record.errors.join("; ")
            )));
        }
    }
    Ok(record.to_json())
}

fn manual_actor(m: &ManualRequest, force: bool) -> Result<Actor> {
    Ok(Actor {
        by: m
            .requested_by
            .clone()
            .unwrap_or_else(|| "unknown caller (no requested_by)".into()),
        reason: m.require_reason()?.to_string(),
        automatic: false,
        force,
    })
}

/// Turns an event into a plan; every input problem is found here, before AWS is touched.
fn plan(event: Event, config: &Config) -> Result<Plan> {
    match event {
        Event::Manual(m) => {
            let region_arg = |m: &ManualRequest| -> Result<std::result::Result<Region, String>> {
                let name = m.str_arg("region")?;
                Ok(config.region(name).map_err(|e| {
                    e.to_string()
                        .trim_start_matches("rejected event: ")
                        .to_string()
                }))
            };
            match m.action.as_str() {
                "status" => {
                    m.deny_unknown_args(&[])?;
                    Ok(Plan::Status)
                }
                "evacuate" | "restore" => {
                    m.deny_unknown_args(&["region", "force"])?;
                    let force = m.bool_arg("force")?;
                    let actor = manual_actor(&m, force)?;
                    let trigger = format!("manual {} by {}", m.action, actor.by);
                    let region = match region_arg(&m)? {
                        Ok(r) => r,
                        Err(reason) => return Ok(Plan::Refuse { action: m.action.clone(), trigger, reason }),
                    };
                    let request = if m.action == "evacuate" {
                        Request::Evacuate { region, actor: actor.clone(), observed_at: None }
                    } else {
                        Request::Restore { region, actor: actor.clone() }
                    };
                    Ok(Plan::Change { request, trigger, dry_run: m.dry_run, by: Some(actor.by) })
                }
                "drill" => {
                    m.deny_unknown_args(&["region", "duration_minutes"])?;
                    let actor = manual_actor(&m, false)?;
                    let minutes = m.u64_arg("duration_minutes")?;
                    let duration = minutes.map_or(config.failover.drill.default_duration, shared::Duration::from_mins);
                    if duration.secs() == 0 || duration > config.failover.drill.max_duration {
                        return Err(Error::invalid_event(format!(
                            "drill: duration_minutes must be between 1 and {} minutes (failover.drill.max_duration)",
                            config.failover.drill.max_duration.secs() / 60
                        )));
                    }
                    let region = match region_arg(&m)? {
                        Ok(r) => r,
                        Err(reason) => {
                            return Ok(Plan::Refuse { action: "drill".into(), trigger: format!("manual drill by {}", actor.by), reason })
                        }
                    };
                    Ok(Plan::Drill { region, duration, actor, dry_run: m.dry_run })
                }
                "end_drill" => {
                    m.deny_unknown_args(&["drill_id"])?;
                    let actor = manual_actor(&m, false)?;
                    let drill_id = m.opt_str_arg("drill_id")?.map(str::to_string);
                    Ok(Plan::Change {
                        trigger: format!("manual end_drill by {}", actor.by),
                        by: Some(actor.by.clone()),
                        request: Request::EndDrill { drill_id, actor },
                        dry_run: m.dry_run,
                    })
                }
                other => Err(Error::invalid_event(format!(
                    "unknown action {other:?} for failover (known: status, evacuate, restore, drill, end_drill)"
                ))),
            }
        }
        Event::Alarm(alarm) => {
            let trigger = format!("alarm {} {:?}", alarm.alarm_name, alarm.state);
            let Some(region) = config
                .failover
                .region_alarms
                .get(&alarm.alarm_name)
                .cloned()
            else {
                return Ok(Plan::Refuse {
                    action: "alarm".into(),
                    trigger,
                    reason: format!(
                        "alarm {:?} is not mapped to any region (failover.region_alarms); nothing done",
                        alarm.alarm_name
                    ),
                });
            };
            // Alarm text is CloudWatch's (a reason up to 1,023 characters, a name up to
            // 255), not a person's to shorten: cut to what the state record holds.
            let reason = format!(
                "alarm {} went {:?}: {}",
                alarm.alarm_name, alarm.state, alarm.reason
            );
            let actor = Actor {
                by: truncate_stored(&format!("alarm:{}", alarm.alarm_name), REQUESTED_BY_MAX),
                reason: truncate_stored(&reason, REASON_MAX),
                automatic: true,
                force: false,
            };
            let request = match alarm.state {
                AlarmState::Alarm => Request::Evacuate {
                    region,
                    actor,
                    observed_at: alarm.timestamp,
                },
                AlarmState::Ok => Request::Recovered {
                    region,
                    observed_at: alarm.timestamp,
                },
                AlarmState::InsufficientData => return Ok(Plan::Refuse {
                    action: "alarm".into(),
                    trigger,
                    reason:
                        "INSUFFICIENT_DATA is not a verdict on the region's health; nothing done"
                            .into(),
                }),
            };
            Ok(Plan::Change {
                request,
                trigger,
                dry_run: false,
                by: None,
            })
        }
        Event::Schedule(tick) => match tick.task {
            ScheduleTask::Tick => Ok(Plan::Tick),
            ScheduleTask::EndDrill { drill_id } => Ok(Plan::Change {
                trigger: format!("drill-end schedule for {drill_id}"),
                request: Request::EndDrill {
                    drill_id: Some(drill_id),
                    actor: Actor {
                        by: "controlplane:drill-schedule".into(),
                        reason: "drill time is up".into(),
                        automatic: true,
                        force: false,
                    },
                },
                dry_run: false,
                by: None,
            }),
        },
        other => Err(Error::invalid_event(format!(
            "failover does not handle {} events (it takes alarm state changes, schedules and manual actions)",
            other.kind()
        ))),
    }
}

async fn run(
    plan: Plan,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    match plan {
        Plan::Status => status(config, home, world).await,
        Plan::Tick => tick(config, home, world).await,
        Plan::Refuse {
            action,
            trigger,
            reason,
        } => {
            let record = DecisionRecord::new(FUNCTION, home.as_str(), action, trigger)
                .outcome(Outcome::Refused, reason.clone());
            let _ = world
                .notify(
                    &format!("[{}] failover refused", config.service_name),
                    &reason,
                )
                .await;
            record
        }
        Plan::Change {
            request,
            trigger,
            dry_run,
            by,
        } => {
            let action = action_name(&request);
            let mut record = DecisionRecord::new(FUNCTION, home.as_str(), action, trigger);
            record.requested_by = by;
            change(request, dry_run, config, world, &mut record).await;
            record
        }
        Plan::Drill {
            region,
            duration,
            actor,
            dry_run,
        } => {
            drill(
                region, duration, actor, dry_run, invocation, config, home, world,
            )
            .await
        }
    }
}

fn action_name(request: &Request) -> &'static str {
    match request {
        Request::Evacuate { .. } => "evacuate",
        Request::Restore { .. } => "restore",
        Request::PrepareDrill { .. } | Request::StartDrill { .. } => "drill",
        Request::EndDrill { .. } => "end_drill",
        Request::Recovered { .. } => "recovered",
        Request::Relapsed { .. } => "relapsed",
        Request::Tick => "tick",
    }
}

/// Reads the state, gathers health, decides, and swaps; a lost swap re-reads and
/// re-decides. After a swap, gates are reconciled and events and notices sent.
async fn change(
    request: Request,
    dry_run: bool,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Option<(RoutingState, Gates)> {
    // A write whose answer did not say "swapped": the next read tells whether it is
    // this run's own (a retry met it, or the answer was lost), or someone else's.
    let mut unanswered: Option<Unanswered> = None;
    let mut attempt = 0;
    loop {
        let read = world.read_state().await;
        if let Some(u) = unanswered.take() {
            if matches!(&read, Ok(Some((now, _))) if *now == u.write.next) {
                let why = u
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                record.step(format!(
                    "state epoch {} is this run's own write (its answer was lost{why})",
                    u.write.next.epoch
                ));
                applied(&u.write, config, world, record).await;
                return Some((u.write.next, u.write.gates));
            }
            if let Some(e) = u.error {
                return fail(record, e);
            }
            record.changes.clear();
        }
        attempt += 1;
        if attempt > CAS_ATTEMPTS {
            let lost = format!(
                "compare-and-swap lost {CAS_ATTEMPTS} times in a row; the next run retries"
            );
            fail::<()>(record, Error::State(lost.clone()));
            record.reason = lost;
            return None;
        }
        let (state, version) = match read {
            Ok(Some((s, v))) => (s, Some(v)),
            Ok(None) => (RoutingState::default(), None),
            Err(e) => return fail(record, e),
        };
        let mut request = request.clone();
        if let Request::Evacuate {
            region,
            observed_at,
            ..
        } = &request
        {
            if state.is_evacuated(region) && state.recovered_at.contains_key(region) {
                request = Request::Relapsed {
                    region: region.clone(),
                    observed_at: *observed_at,
                };
            }
        }
        let (health, gates) = match gather_health(config, world).await {
            Ok(read) => read,
            Err(e) => return fail(record, e),
        };
        let decision = decide(
            &request,
            &state,
            &config.regions,
            &health,
            &config.failover,
            world.now(),
        );
        record.state = state_json(&state, &health);
        match decision {
            Decision::Noop(reason) => {
                noop(&request, &state, reason, config, world, record).await;
                return Some((state, gates));
            }
            Decision::Refuse(reason) => {
                refuse(&request, reason, config, world, record).await;
                return None;
            }
            Decision::Note {
                state: next,
                refused,
                reason,
            } => {
                if !dry_run {
                    match world.swap_state(version.as_ref(), &next).await {
                        Ok(CasResult::Swapped) => record.step(
                            "alarm event recorded: a repeat or an older one is now a noop",
                        ),
                        Ok(CasResult::Lost) => {
                            record.step(format!(
                                "compare-and-swap lost (attempt {attempt}): re-reading"
                            ));
                            continue;
                        }
                        Err(e) => record.errors.push(format!(
                            "could not record the alarm event ({e}); a repeat of it is decided again"
                        )),
                    }
                }
                if refused {
                    refuse(&request, reason, config, world, record).await;
                    return None;
                }
                noop(&request, &state, reason, config, world, record).await;
                return Some((next, gates));
            }
            Decision::Change {
                state: next,
                reason,
                events,
            } => {
                record.changes = routing_changes(&state, &next, &config.regions);
                record.state = state_json(&next, &health);
                if dry_run {
                    record.outcome = Outcome::DryRun;
                    record.reason = format!("would apply: {reason}");
                    return Some((next, gates));
                }
                let swapped = world.swap_state(version.as_ref(), &next).await;
                let write = Write {
                    old: state,
                    next,
                    reason,
                    events,
                    gates,
                };
                match swapped {
                    Ok(CasResult::Swapped) => {
                        record.step(format!(
                            "state epoch {} written (attempt {attempt})",
                            write.next.epoch
                        ));
                        applied(&write, config, world, record).await;
                        return Some((write.next, write.gates));
                    }
                    Ok(CasResult::Lost) => {
                        record.step(format!(
                            "compare-and-swap lost (attempt {attempt}): re-reading"
                        ));
                        unanswered = Some(Unanswered { write, error: None });
                    }
                    // Refused as sent (too large for its record, an invalid batch,
                    // access denied): nothing was written and sending it again cannot help.
                    Err(e) if !e.is_retryable() => return fail(record, e),
                    // The answer is lost, not necessarily the write (a timeout, a
                    // dropped connection): look before reporting a failure.
                    Err(e) => {
                        unanswered = Some(Unanswered {
                            write,
                            error: Some(e),
                        })
                    }
                }
            }
        }
    }
}

/// One state write: from `old` to `next`, why, what to announce, and the gates as read
/// before it.
struct Write {
    old: RoutingState,
    next: RoutingState,
    reason: String,
    events: Vec<(ControlPlaneKind, Region)>,
    gates: Gates,
}

/// A state write that was not answered "swapped", kept until the next read.
struct Unanswered {
    write: Write,
    /// The error it was answered with; None when the swap was reported lost.
    error: Option<Error>,
}

/// The state moved from `old` to `next`: bring the gates to it, tell the world, and
/// drop the end schedule of a drill that is over.
async fn applied(write: &Write, config: &Config, world: &impl World, record: &mut DecisionRecord) {
    record.outcome = Outcome::Applied;
    record.reason = write.reason.clone();
    if let Err(e) = reconcile_gates(&write.next, &write.gates, config, world, record).await {
        record.outcome = Outcome::Failed;
        record.errors.push(format!(
            "state written, gate update failed (the next tick repairs it): {e}"
        ));
    }
    announce(
        &write.events,
        &write.next,
        &write.reason,
        config,
        world,
        record,
    )
    .await;
    cancel_ended_drill(&write.old, &write.next, world, record).await;
}

/// Nothing to change. An evacuated region's alarm went OK but failback is manual:
/// tell a person.
async fn noop(
    request: &Request,
    state: &RoutingState,
    reason: String,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    if let Request::Recovered { region, .. } = request {
        if state.is_evacuated(region) && !config.failover.failback.automatic {
            if let Err(e) = world
                .notify(
                    &format!("[{}] {region} recovered", config.service_name),
                    &reason,
                )
                .await
            {
                record.errors.push(format!("could not notify: {e}"));
            }
        }
    }
    record.outcome = Outcome::Noop;
    record.reason = reason;
}

/// A refusal; an automatic evacuation refused is worth a notification.
async fn refuse(
    request: &Request,
    reason: String,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    if matches!(request, Request::Evacuate { actor, .. } if actor.automatic) {
        let _ = world
            .notify(
                &format!("[{}] automatic evacuation refused", config.service_name),
                &reason,
            )
            .await;
    }
    record.outcome = Outcome::Refused;
    record.reason = reason;
}

/// A drill that left the state (ended by hand, by the tick, or aborted) no longer
/// needs its one-time end schedule; deleting it keeps the schedule group clean and
/// stops a stale schedule from firing later. A failure here is harmless: the
/// schedule would find the drill already ended (a noop).
async fn cancel_ended_drill(
    old: &RoutingState,
    new: &RoutingState,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    let Some(ended) = &old.drill else { return };
    if new.drill.as_ref().is_some_and(|d| d.id == ended.id) {
        return;
    }
    match world.cancel_drill_end(&ended.id).await {
        Ok(()) => record.step(format!("drill-end schedule for {} removed", ended.id)),
        Err(e) => record.errors.push(format!(
            "could not remove the drill-end schedule for {} ({e}); when it fires it finds the drill ended",
            ended.id
        )),
    }
}

fn fail<T>(record: &mut DecisionRecord, error: Error) -> Option<T> {
    record.outcome = Outcome::Failed;
    record.reason = "an AWS call failed; nothing further was changed".into();
    record.errors.push(error.to_string());
    None
}

async fn announce(
    events: &[(ControlPlaneKind, Region)],
    state: &RoutingState,
    reason: &str,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) {
    for (kind, region) in events {
        let detail = ControlPlaneDetail {
            region: region.to_string(),
            epoch: state.epoch,
            reason: reason.to_string(),
            drill_id: state.drill.as_ref().map(|d| d.id.clone()),
            expires_at: state.drill.as_ref().map(|d| d.expires_at),
        };
        match world.emit(*kind, &detail).await {
            Ok(()) => record.step(format!("emitted {}", kind.detail_type())),
            Err(e) => record
                .errors
                .push(format!("could not emit {}: {e}", kind.detail_type())),
        }
    }
    if !events.is_empty() {
        let subject = format!(
            "[{}] {}",
            config.service_name,
            events
                .iter()
                .map(|(k, r)| format!("{} {r}", k.detail_type()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Err(e) = world.notify(&subject, reason).await {
            record.errors.push(format!("could not notify: {e}"));
        }
    }
}

fn routing_changes(old: &RoutingState, new: &RoutingState, regions: &[Region]) -> Vec<Change> {
    let mut changes = Vec::new();
    for region in regions {
        let (was, is) = (old.is_evacuated(region), new.is_evacuated(region));
        if was != is {
            let label = |out: bool| if out { "evacuated" } else { "active" };
            changes.push(Change::new(
                format!("region:{region}"),
                "routing",
                label(was),
                label(is),
            ));
        }
    }
    if old.drill != new.drill {
        changes.push(Change::new("drill", "drill", &old.drill, &new.drill));
    }
    if old.recovered_at != new.recovered_at {
        changes.push(Change::new(
            "failback",
            "recovered_at",
            &old.recovered_at,
            &new.recovered_at,
        ));
    }
    changes
}

/// Sets every gate to what the state wants: closed for evacuated regions. Starts from
/// the gates this run read (`known`); a gate changed since (its version moved on) is
/// read again once.
async fn reconcile_gates(
    state: &RoutingState,
    known: &Gates,
    config: &Config,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Result<()> {
    let mut first_error = None;
    for region in &config.regions {
        let result = async {
            let want = |gate: &GateStatus| {
                if state.is_evacuated(region) {
                    gate.closed_threshold()
                } else {
                    gate.open_threshold()
                }
            };
            let mut gate = match known.get(region) {
                Some(gate) => gate.clone(),
                None => world.gate(region).await?,
            };
            let set = match world.set_gate(&gate, want(&gate)).await {
                Err(e)
                    if known.contains_key(region)
                        && e.aws_kind() == Some(shared::error::AwsErrorKind::Conflict) =>
                {
                    gate = world.gate(region).await?;
                    world.set_gate(&gate, want(&gate)).await
                }
                other => other,
            };
            let want = want(&gate);
            if set? {
                record.changes.push(Change::new(
                    format!("gate:{region}"),
                    "health_threshold",
                    gate.health_threshold,
                    want,
                ));
                record.step(format!(
                    "gate {region} {}",
                    if state.is_evacuated(region) {
                        "closed"
                    } else {
                        "opened"
                    }
                ));
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            record.errors.push(format!("gate {region}: {e}"));
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Each region's gate as read by this run: the health decisions are made from them,
/// and the gate updates after a swap start from them (one Route 53 read per gate a run).
type Gates = BTreeMap<Region, GateStatus>;

async fn gather_health(
    config: &Config,
    world: &impl World,
) -> Result<(BTreeMap<Region, RegionHealth>, Gates)> {
    let mut health = BTreeMap::new();
    let mut gates = Gates::new();
    for region in &config.regions {
        let gate = world.gate(region).await?;
        let replication = if config.failover.readiness.require_replication_ready {
            match world
                .replication_ready(region, config.failover.readiness.max_age.as_std())
                .await?
            {
                Some(v) if v >= 1.0 => decide::Replication::Ready,
                Some(_) => decide::Replication::NotReady,
                None => decide::Replication::Stale,
            }
        } else {
            decide::Replication::NotRequired
        };
        health.insert(
            region.clone(),
            RegionHealth {
                gate_healthy: gate.is_healthy(),
                endpoints_healthy: gate.children_healthy == gate.children.len(),
                replication,
            },
        );
        gates.insert(region.clone(), gate);
    }
    Ok((health, gates))
}

fn state_json(state: &RoutingState, health: &BTreeMap<Region, RegionHealth>) -> Value {
    json!({ "routing": state, "health": health })
}

async fn status(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "status", "manual status");
    let state = match world.read_state().await {
        Ok(s) => s.map(|(s, _)| s).unwrap_or_default(),
        Err(e) => {
            fail::<()>(&mut record, e);
            return record;
        }
    };
    let mut regions = serde_json::Map::new();
    for region in &config.regions {
        let entry = match world.gate(region).await {
            Ok(gate) => json!({
                "routing": if state.is_evacuated(region) { "evacuated" } else { "active" },
                "gate": { "id": gate.health_check_id, "open": gate.is_open(), "healthy": gate.is_healthy(),
                          "threshold": gate.health_threshold, "children": gate.children.len(),
                          "children_healthy": gate.children_healthy },
                "gate_matches_state": gate.is_open() != state.is_evacuated(region),
            }),
            Err(e) => {
                record.errors.push(format!("gate {region}: {e}"));
                json!({ "routing": if state.is_evacuated(region) { "evacuated" } else { "active" }, "gate": null })
            }
        };
        regions.insert(region.to_string(), entry);
    }
    record.state = json!({ "routing": state, "regions": regions });
    let active = state.active_regions(&config.regions).count();
    record.outcome = if record.errors.is_empty() {
        Outcome::Noop
    } else {
        Outcome::Failed
    };
    record.reason = format!(
        "{active} of {} regions active, epoch {}",
        config.regions.len(),
        state.epoch
    );
    record
}

/// The scheduled tick: apply due state changes (expired drills, failback),
/// repair gates that disagree with the state, publish RegionActive.
async fn tick(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "tick", "schedule");
    let Some((state, gates)) = change(Request::Tick, false, config, world, &mut record).await
    else {
        return record;
    };
    let outcome_before = record.outcome;
    let before = record.changes.len();
    // An applied change has just brought the gates to the state; a noop may still find
    // a gate that disagrees with it (a failed update earlier, a hand edit): repair it.
    let repair = if outcome_before == Outcome::Noop {
        reconcile_gates(&state, &gates, config, world, &mut record).await
    } else {
        Ok(())
    };
    if let Err(e) = repair {
        record.outcome = Outcome::Failed;
        record.reason = format!("gate repair failed: {e}");
    } else if record.changes.len() > before && outcome_before == Outcome::Noop {
        record.outcome = Outcome::Applied;
        record.reason = "repaired gates that disagreed with the routing state".into();
        let _ = world
            .notify(
                &format!("[{}] failover repaired gates", config.service_name),
                &record.reason,
            )
            .await;
    }
    let mut metrics = MetricBatch::default();
    for region in &config.regions {
        let active = if state.is_evacuated(region) { 0.0 } else { 1.0 };
        metrics
            .push(Metric::new("RegionActive", active, Unit::None).dim("Region", region.as_str()));
    }
    if let Err(e) = world.publish(metrics).await {
        record.errors.push(format!("metrics: {e}"));
    }
    record
}

/// A graceful drill: record it (the peer surges on `Drill Started` and from the
/// state), wait for the peer's capacity up to `surge_wait`, evacuate, and leave a
/// one-time schedule that ends it even if nobody comes back.
#[allow(clippy::too_many_arguments)]
async fn drill(
    region: Region,
    duration: shared::Duration,
    actor: Actor,
    dry_run: bool,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    let mut record = DecisionRecord::new(
        FUNCTION,
        home.as_str(),
        "drill",
        format!("manual drill by {}", actor.by),
    );
    record.requested_by = Some(actor.by.clone());
    let now = world.now();
    let drill_id = format!("drill-{}-{}", region, now.format("%Y%m%dT%H%M%S"));
    let expires_at = now + duration.as_chrono();
    let prepare = Request::PrepareDrill {
        region: region.clone(),
        drill_id: drill_id.clone(),
        expires_at,
        actor: actor.clone(),
    };
    let peers: Vec<Region> = config.peers_of(&region).cloned().collect();
    let before: Vec<(String, i32, String)> = if dry_run {
        Vec::new()
    } else {
        let mut all = Vec::new();
        for peer in &peers {
            all.extend(world.peer_capacity(peer).await.unwrap_or_default());
        }
        all
    };
    if change(prepare, dry_run, config, world, &mut record)
        .await
        .is_none()
        || dry_run
        // Failed with the state written means only a gate read or update failed: the
        // drill is recorded, so go on (the tick repairs gates) rather than strand it.
        || !matches!(record.outcome, Outcome::Applied | Outcome::Failed)
    {
        if dry_run && record.outcome == Outcome::DryRun {
            record.reason = format!(
                "would drill {region} for {duration}: surge peers, evacuate, end at {expires_at}"
            );
        }
        return record;
    }
    // Never wait past the run's own deadline: the evacuation must still fit.
    let mut surge_wait = config.failover.drill.surge_wait.as_std();
    if let Some(deadline) = invocation.deadline {
        let left = (deadline - world.now() - chrono::Duration::seconds(DEADLINE_MARGIN_SECS))
            .to_std()
            .unwrap_or_default();
        surge_wait = surge_wait.min(left);
    }
    record.step(format!(
        "drill {drill_id} prepared; waiting up to {:.0?} for the peer surge",
        surge_wait
    ));
    let waited = wait_for_surge(&peers, &before, surge_wait, world).await;
    record.step(waited);

    let start = Request::StartDrill {
        drill_id: drill_id.clone(),
        actor: actor.clone(),
    };
    let prepared_changes = std::mem::take(&mut record.changes);
    let state = change(start, false, config, world, &mut record).await;
    record.changes.splice(0..0, prepared_changes);
    if state.is_none() || record.outcome != Outcome::Applied {
        // Evacuation refused or failed: withdraw the drill so the peer stops surging.
        let end = Request::EndDrill {
            drill_id: Some(drill_id.clone()),
            actor: Actor {
                reason: "drill aborted".into(),
                ..actor
            },
        };
        let (outcome, reason) = (record.outcome, record.reason.clone());
        change(end, false, config, world, &mut record).await;
        record.outcome = outcome;
        record.reason = format!("drill aborted: {reason}");
        return record;
    }
    match world.schedule_drill_end(&drill_id, expires_at, &invocation.function_arn).await {
        Ok(()) => record.step(format!("one-time schedule ends the drill at {expires_at}")),
        Err(e) => record.errors.push(format!(
            "could not create the drill-end schedule ({e}); the every-minute tick still ends the drill at {expires_at}"
        )),
    }
    record.reason = format!("drill {drill_id}: {region} evacuated until {expires_at}");
    record
}

async fn wait_for_surge(
    peers: &[Region],
    before: &[(String, i32, String)],
    limit: Duration,
    world: &impl World,
) -> String {
    if before.is_empty() {
        return "no provisioned-concurrency targets in the peer region(s): nothing to wait for"
            .into();
    }
    let started = std::time::Instant::now();
    loop {
        let mut now = Vec::new();
        for peer in peers {
            now.extend(world.peer_capacity(peer).await.unwrap_or_default());
        }
        let surged = before.iter().all(|(name, level, _)| {
            now.iter()
                .any(|(n, l, status)| n == name && *l > *level && status == "READY")
        });
        if surged {
            return format!(
                "peer surge READY after {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        if started.elapsed() >= limit {
            return format!("peer surge not confirmed within {:?}; evacuating anyway (the peer's endpoints are healthy)", limit);
        }
        world.sleep(Duration::from_secs(2).min(limit)).await;
    }
}

#[cfg(test)]
mod tests;
