//! The failover function: evacuates a failing region from DNS, brings it back,
//! and runs drills that end themselves. The desired routing state lives in a
//! Route 53 TXT record changed by compare-and-swap; gates are reconciled to it.

/// The event read into a `Command`: the one place input is parsed.
pub mod request;

/// Pure decisions, with their case tables beside them.
pub mod decide;

/// The compare-and-swap loop over the routing-state record.
pub mod cas;

/// Gates, events and notices brought to the state.
pub mod effects;

/// An alarm's state change.
pub mod alarm;

/// The minute tick: alarms read at their level, owed announcements sent.
pub mod tick;

/// The data-plane path: decisions while Route 53's control plane does not answer.
pub mod data_plane;

/// Drills: prepare, start, end, stop.
pub mod drill;

/// `status`: the state and the gates as they are.
pub mod status;

/// `World`: every AWS call failover makes, one trait.
pub mod ports;

/// `World` on the AWS SDK.
pub mod aws;

/// `World` in memory, for unit tests and benchmarks.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

use decide::Request;
pub use ports::{Invocation, World};
use request::{Command, Entry};
use serde_json::Value;
use shared::events::Event;
use shared::metrics::{Metric, MetricBatch, Unit};
use shared::{Config, DecisionRecord, Error, Outcome, Region, Result};

pub const FUNCTION: &str = "failover";

/// One invocation. A function URL request (the operators' entry point) is answered as
/// an HTTP response: the decision record, or the error with status 400 (the input) or
/// 500; anything else (EventBridge, Scheduler, alarm actions, a direct Invoke) as before.
pub async fn handle(
    payload: Value,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let Some(url) = shared::operator::UrlRequest::recognise(&payload) else {
        return handle_event(payload, Entry::Invoke, invocation, config, home, world).await;
    };
    let (caller, result) = match url {
        Ok(url) => {
            let entry = Entry::Url {
                caller: &url.caller_arn,
            };
            let result =
                handle_event(url.body.clone(), entry, invocation, config, home, world).await;
            (Some(url.caller_arn.clone()), result)
        }
        Err(e) => (None, Err(e)),
    };
    if let Err(e) = &result {
        // The invocation itself succeeds (the caller gets the HTTP answer): its record is
        // logged here, as the runtime logs a failed invocation's, with who sent it.
        let outcome = if e.is_retryable() {
            Outcome::Failed
        } else {
            Outcome::Refused
        };
        let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "unknown", "function URL")
            .outcome(outcome, e.to_string());
        record.requested_by = caller;
        record.finish();
    }
    Ok(shared::operator::url_response(&result))
}

async fn handle_event(
    payload: Value,
    entry: Entry<'_>,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> Result<Value> {
    let event = Event::parse(&payload)?;
    let command = request::read(event, entry, config, world.now())?;
    let event_driven = command.is_event_driven();
    let record = dispatch(command, invocation, config, home, world).await;
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

async fn dispatch(
    command: Command,
    invocation: &Invocation,
    config: &Config,
    home: &Region,
    world: &impl World,
) -> DecisionRecord {
    match command {
        Command::Status => status::status(config, home, world).await,
        Command::Tick => tick::tick(config, home, world).await,
        Command::Alarm { region, alarm } => {
            alarm::on_alarm(region, alarm, config, home, world).await
        }
        Command::Refuse {
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
        Command::Change {
            request,
            trigger,
            dry_run,
            by,
        } => {
            let mut record =
                DecisionRecord::new(FUNCTION, home.as_str(), action_name(&request), trigger);
            record.requested_by = by;
            let read = world.read_state().await;
            let evacuation = matches!(request, Request::Evacuate { .. });
            match read {
                // An operator's evacuation while Route 53's control plane does not
                // answer: made on the data plane, from this region.
                Err(e)
                    if evacuation
                        && !dry_run
                        && config.failover.data_plane.is_some()
                        && data_plane::control_plane_unreachable(&e) =>
                {
                    record.step(format!(
                        "Route 53's control plane does not answer ({e}): deciding on the data plane"
                    ));
                    let read: cas::Read = Err(e);
                    if !data_plane::decide_now(request.clone(), config, home, world, &mut record)
                        .await
                    {
                        cas::change_from(Some(read), request, dry_run, config, world, &mut record)
                            .await;
                    }
                }
                read => {
                    record.path = Some(data_plane::CONTROL_PLANE.into());
                    cas::change_from(Some(read), request, dry_run, config, world, &mut record)
                        .await;
                    if record.changes.is_empty() {
                        record.path = None;
                    }
                }
            }
            record
        }
        Command::Drill {
            region,
            duration,
            actor,
            dry_run,
        } => {
            let ask = drill::DrillAsk {
                region,
                duration,
                actor,
                dry_run,
            };
            drill::drill(ask, invocation, config, home, world).await
        }
    }
}

pub fn action_name(request: &Request) -> &'static str {
    match request {
        Request::Evacuate { .. } => "evacuate",
        Request::Restore { .. } => "restore",
        Request::PrepareDrill { .. } | Request::StartDrill { .. } => "drill",
        Request::EndDrill { .. } => "end_drill",
        Request::Recovered { .. } => "recovered",
        Request::Relapsed { .. } => "relapsed",
        Request::Tick { .. } => "tick",
    }
}

#[cfg(test)]
mod tests;
