//! `ctl`: the operator's command line. It invokes the deployed control-plane
//! functions with the manual payloads they accept (`shared::ManualAction`: failover
//! `status`, `evacuate`, `restore`, `drill`, `end_drill`; replication-monitor `check`;
//! concurrency-scheduler `plan`) and shows their answers, read as
//! `shared::DecisionRecord`s: it decides nothing itself. Routing actions go through
//! failover's function URL, signed with the caller's credentials, so the record names
//! the caller AWS authenticated; the reads are Lambda Invokes.

pub mod answers;
pub mod aws;
pub mod backoff;
pub mod cli;
pub mod error;
pub mod status;
pub mod view;

use answers::{Answer, FailoverStatus, ReplicationCheck, SchedulerPlan};
use aws::Aws;
use cli::{Cli, Command, Options};
use error::{CallError, Failure, Role};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};
use shared::{Action, ManualAction, Outcome, Region};
use std::collections::BTreeMap;

/// Runs one command; returns the exit code (0 done, 1 refused or failed, 2 usage).
pub async fn run(cli: Cli) -> i32 {
    let region = cli.options.region.as_ref().map(Region::as_str);
    let aws = match Aws::connect(region).await {
        Ok(aws) => aws,
        Err(e) => {
            eprintln!("ctl: {e}");
            return e.exit_code();
        }
    };
    match &cli.command {
        Command::Status => status(&cli.options, &aws).await,
        Command::Plan => plan(&cli.options, &aws).await,
        command => action(command, &cli.options, &aws).await,
    }
}

/// Invokes `role`'s function in `region` and reads its answer.
async fn call<S: DeserializeOwned>(
    aws: &Aws,
    options: &Options,
    role: Role,
    region: &str,
    action: &ManualAction,
) -> Result<Answer<S>, CallError> {
    let function = options.function_name(role, region);
    let raw = aws.invoke(role, region, &function, action).await?;
    Answer::read(raw).map_err(|why| CallError {
        role,
        region: region.to_string(),
        failure: Failure::NotARecord { function, why },
    })
}

/// A call to failover through its function URL (see `aws::url`): the routing actions, and
/// `status` (so the one operator policy, which lets failover be invoked only through its
/// URL, is all `ctl status` needs of it).
async fn operate<S: DeserializeOwned>(
    aws: &Aws,
    options: &Options,
    region: &str,
    action: &ManualAction,
) -> Result<Answer<S>, CallError> {
    let role = Role::Failover;
    let function = options.function_name(role, region);
    let raw = aws.invoke_url(role, region, &function, action).await?;
    Answer::read(raw).map_err(|why| CallError {
        role,
        region: region.to_string(),
        failure: Failure::NotARecord { function, why },
    })
}

async fn plans(
    options: &Options,
    aws: &Aws,
    regions: &[Region],
) -> BTreeMap<Region, Result<Answer<SchedulerPlan>, CallError>> {
    // Every region at once: a region that does not answer (an outage) costs its
    // timeout once, not on top of the others' answers.
    let plan = ManualAction::from(Action::Plan);
    let asks = regions.iter().map(|region| {
        let plan = &plan;
        async move {
            let answer = call(aws, options, Role::Scheduler, region.as_str(), plan).await;
            (region.clone(), answer)
        }
    });
    futures::future::join_all(asks).await.into_iter().collect()
}

async fn status(options: &Options, aws: &Aws) -> i32 {
    let home = aws.home();
    let status = ManualAction::from(Action::Status);
    // a dry run: observe and report, publish no metric and send no alert
    let check = ManualAction::from(Action::Check).dry_run(true);
    // The schedulers of `--regions` are asked with the rest, not after: in an outage a
    // dark region's timeouts then overlap failover's.
    let (failover, replication, mut concurrency) = tokio::join!(
        operate::<FailoverStatus>(aws, options, &home, &status),
        call::<ReplicationCheck>(aws, options, Role::Monitor, &home, &check),
        plans(options, aws, &options.regions.0),
    );
    if let Err(
        e @ CallError {
            failure: Failure::Credentials(_),
            ..
        },
    ) = &failover
    {
        eprintln!("ctl: {e}");
        return 1;
    }
    // The schedulers shown: in the regions failover reports (any not asked yet are
    // asked now), else `--regions`.
    let reported: Vec<Region> = failover
        .as_ref()
        .ok()
        .and_then(|f| f.state.as_ref())
        .map(|s| s.regions.iter().map(|(r, _)| r.clone()).collect())
        .unwrap_or_default();
    if !reported.is_empty() {
        concurrency.retain(|region, _| reported.contains(region));
        let missing: Vec<Region> = reported
            .into_iter()
            .filter(|region| !concurrency.contains_key(region))
            .collect();
        concurrency.extend(plans(options, aws, &missing).await);
    }
    let gathered = status::Gathered {
        service: options.service.clone(),
        via: home,
        failover,
        replication,
        concurrency,
    };
    if options.json {
        println!("{:#}", gathered.to_json());
    } else {
        print!("{}", gathered.to_text());
    }
    if gathered.errors().is_empty() {
        0
    } else {
        1
    }
}

async fn plan(options: &Options, aws: &Aws) -> i32 {
    let plans = plans(options, aws, &options.regions.0).await;
    if options.json {
        let doc: Map<String, Value> = plans
            .iter()
            .map(|(region, plan)| {
                let value = match plan {
                    Ok(answer) => answer.raw.clone(),
                    Err(e) => serde_json::json!({ "error": e.to_string() }),
                };
                (region.to_string(), value)
            })
            .collect();
        println!("{:#}", Value::Object(doc));
    } else {
        print!("{}", view::plan_text(&plans));
    }
    let done = plans.values().all(|p| {
        p.as_ref()
            .is_ok_and(|a| a.record.outcome != Outcome::Failed)
    });
    if done {
        0
    } else {
        1
    }
}

async fn action(command: &Command, options: &Options, aws: &Aws) -> i32 {
    let Some(payload) = command.manual_action() else {
        return 2;
    };
    let home = aws.home();
    match operate::<IgnoredAny>(aws, options, &home, &payload).await {
        Ok(answer) => {
            if options.json {
                println!("{:#}", answer.raw);
            } else {
                let name = options.function_name(Role::Failover, &home);
                print!("{}", view::answer_text(&answer, &name, &home));
            }
            view::exit_code(&answer)
        }
        Err(e) => {
            eprintln!("ctl: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tests::{mocked, url_config, url_server};

    const APPLIED: &str = r#"{"function":"failover","region":"eu-central-1","action":"evacuate",
        "trigger":"manual","outcome":"applied","reason":"evacuated us-east-1: r","changes":[],
        "state":null,"started_at":"2026-01-01T10:00:00Z","duration_ms":5}"#;
    const THROTTLED: &str = r#"{"Message":"Rate Exceeded."}"#;

    #[tokio::test]
    async fn a_manual_action_meeting_429s_is_retried_and_succeeds() {
        let (url, requests) =
            url_server(vec![(429, THROTTLED), (429, THROTTLED), (200, APPLIED)]).await;
        let rule = url_config(url);
        let (aws, notices) = mocked(&rule);
        let cli = cli::tests::ok("evacuate us-east-1 --reason r --json");
        assert_eq!(action(&cli.command, &cli.options, &aws).await, 0);
        assert_eq!(requests.lock().unwrap().len(), 3);
        let notices = notices.lock().unwrap().clone();
        assert_eq!(notices.len(), 2, "one line per retry");
        assert!(notices[0].contains("429 Rate Exceeded."), "{notices:?}");
    }

    #[tokio::test]
    async fn a_manual_action_throttled_every_time_exits_1() {
        let (url, requests) = url_server(vec![(429, THROTTLED)]).await;
        let rule = url_config(url);
        let (aws, notices) = mocked(&rule);
        let cli = cli::tests::ok("evacuate us-east-1 --reason r");
        assert_eq!(action(&cli.command, &cli.options, &aws).await, 1);
        assert_eq!(requests.lock().unwrap().len(), 5);
        assert_eq!(notices.lock().unwrap().len(), 4);
    }
}
