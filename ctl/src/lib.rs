//! `ctl`: the operator's command line. It invokes the deployed control-plane
//! functions with the manual payloads they accept (failover `status`, `evacuate`,
//! `restore`, `drill`, `end_drill`; replication-monitor `check`; concurrency-scheduler
//! `plan`) and shows their answers: it decides nothing itself.

pub mod args;
pub mod aws;
pub mod view;

use args::{Args, Command};
use aws::{Aws, CallError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Runs one command; returns the exit code (0 done, 1 refused or failed, 2 usage).
pub async fn run(args: Args) -> i32 {
    if args.command == Command::Help {
        print!("{}", args::USAGE);
        return 0;
    }
    let aws = match Aws::connect(args.region.as_deref()).await {
        Ok(aws) => aws,
        Err(e @ CallError::NoRegion) => {
            eprintln!("ctl: {e}");
            return 2;
        }
        Err(e) => {
            eprintln!("ctl: {e}");
            return 1;
        }
    };
    match &args.command {
        Command::Status => status(&args, &aws).await,
        Command::Plan => plan(&args, &aws).await,
        _ => action(&args, &aws).await,
    }
}

const FAILOVER_HINT: &str =
    "pass --service NAME (CTL_SERVICE) or --failover-function NAME (CTL_FAILOVER_FUNCTION)";
const MONITOR_HINT: &str =
    "pass --service NAME (CTL_SERVICE) or --monitor-function NAME (CTL_MONITOR_FUNCTION)";
const SCHEDULER_HINT: &str =
    "pass --service NAME (CTL_SERVICE) or --scheduler-function NAME (CTL_SCHEDULER_FUNCTION)";

/// The regions whose schedulers to ask: those failover reports, else `--regions`.
fn regions_of(args: &Args, failover: &Result<Value, String>) -> Vec<String> {
    let reported: Vec<String> = failover
        .as_ref()
        .ok()
        .and_then(|f| f["state"]["regions"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if reported.is_empty() {
        args.regions.clone()
    } else {
        reported
    }
}

async fn plans(
    args: &Args,
    aws: &Aws,
    regions: &[String],
) -> BTreeMap<String, Result<Value, String>> {
    let mut out = BTreeMap::new();
    for region in regions {
        let name = args.function_name(&args.scheduler_function, region);
        let answer = aws
            .invoke(region, &name, &json!({"action": "plan"}), SCHEDULER_HINT)
            .await
            .map_err(|e| e.to_string());
        out.insert(region.clone(), answer);
    }
    out
}

async fn status(args: &Args, aws: &Aws) -> i32 {
    let home = aws.home();
    let failover_name = args.function_name(&args.failover_function, &home);
    let monitor_name = args.function_name(&args.monitor_function, &home);
    let status_payload = json!({"action": "status"});
    // a dry run: observe and report, publish no metric and send no alert
    let check_payload = json!({"action": "check", "dry_run": true});
    let (failover, replication) = tokio::join!(
        aws.invoke(&home, &failover_name, &status_payload, FAILOVER_HINT),
        aws.invoke(&home, &monitor_name, &check_payload, MONITOR_HINT),
    );
    if let Err(e @ (CallError::NoCredentials(_) | CallError::NoRegion)) = &failover {
        eprintln!("ctl: {e}");
        return 1;
    }
    let failover = failover.map_err(|e| e.to_string());
    let regions = regions_of(args, &failover);
    let gathered = view::Gathered {
        service: args.service.clone(),
        via: home,
        failover,
        replication: replication.map_err(|e| e.to_string()),
        concurrency: plans(args, aws, &regions).await,
    };
    if args.json {
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

async fn plan(args: &Args, aws: &Aws) -> i32 {
    let plans = plans(args, aws, &args.regions).await;
    if args.json {
        let doc: serde_json::Map<String, Value> = plans
            .iter()
            .map(|(r, p)| {
                (
                    r.clone(),
                    p.clone().unwrap_or_else(|e| json!({ "error": e })),
                )
            })
            .collect();
        println!("{:#}", Value::Object(doc));
    } else {
        print!("{}", view::plan_text(&plans));
    }
    if plans
        .values()
        .all(|p| p.as_ref().is_ok_and(|v| v["outcome"] != "failed"))
    {
        0
    } else {
        1
    }
}

/// The manual payload for a routing action.
pub fn payload(args: &Args, requested_by: &str) -> Value {
    let mut p = match &args.command {
        Command::Evacuate { region, force } => {
            json!({"action": "evacuate", "region": region, "force": force})
        }
        Command::Restore { region, force } => {
            json!({"action": "restore", "region": region, "force": force})
        }
        Command::Drill {
            region,
            duration_minutes,
        } => {
            let mut p = json!({"action": "drill", "region": region});
            if let Some(m) = duration_minutes {
                p["duration_minutes"] = json!(m);
            }
            p
        }
        Command::EndDrill => json!({"action": "end_drill"}),
        Command::Status | Command::Plan | Command::Help => json!({"action": "status"}),
    };
    p["reason"] = json!(args.reason);
    p["requested_by"] = json!(requested_by);
    if args.dry_run {
        p["dry_run"] = json!(true);
    }
    p
}

async fn action(args: &Args, aws: &Aws) -> i32 {
    let requested_by = match &args.requested_by {
        Some(who) => who.clone(),
        None => match aws.caller_arn().await {
            Ok(arn) => arn,
            Err(e) => {
                eprintln!("ctl: {e} (or pass --requested-by / CTL_REQUESTED_BY)");
                return 1;
            }
        },
    };
    let home = aws.home();
    let name = args.function_name(&args.failover_function, &home);
    match aws
        .invoke(&home, &name, &payload(args, &requested_by), FAILOVER_HINT)
        .await
    {
        Ok(record) => {
            if args.json {
                println!("{record:#}");
            } else {
                print!("{}", view::answer_text(&record, &name, &home));
            }
            view::exit_code(&record)
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

    fn args(line: &str) -> Args {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        args::parse(&argv, |_| None).unwrap()
    }

    #[tokio::test]
    async fn a_manual_action_meeting_429s_is_retried_and_succeeds() {
        let rule = aws::tests::throttled_twice(r#"{"outcome":"applied","action":"evacuate"}"#);
        let (aws, notices) = aws::tests::mocked(&rule);
        let line = "evacuate us-east-1 --reason r --requested-by alice --json";
        assert_eq!(action(&args(line), &aws).await, 0);
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(notices.lock().unwrap().len(), 2, "one line per retry");
    }

    #[tokio::test]
    async fn a_manual_action_throttled_every_time_exits_1() {
        let rule = aws::tests::always_throttled();
        let (aws, notices) = aws::tests::mocked(&rule);
        let line = "evacuate us-east-1 --reason r --requested-by alice";
        assert_eq!(action(&args(line), &aws).await, 1);
        assert_eq!(rule.num_calls(), 5);
        assert_eq!(notices.lock().unwrap().len(), 4);
    }

    #[test]
    fn payloads_are_the_manual_actions_failover_accepts() {
        assert_eq!(
            payload(&args("evacuate us-east-1 --reason r --force"), "alice"),
            json!({"action": "evacuate", "region": "us-east-1", "force": true, "reason": "r", "requested_by": "alice"})
        );
        assert_eq!(
            payload(&args("restore us-east-1 --reason r --dry-run"), "alice"),
            json!({"action": "restore", "region": "us-east-1", "force": false, "reason": "r", "requested_by": "alice", "dry_run": true})
        );
        assert_eq!(
            payload(&args("drill eu-central-1 --duration 15m --reason g"), "bob"),
            json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 15, "reason": "g", "requested_by": "bob"})
        );
        assert_eq!(
            payload(&args("drill eu-central-1 --reason g"), "bob"),
            json!({"action": "drill", "region": "eu-central-1", "reason": "g", "requested_by": "bob"})
        );
        assert_eq!(
            payload(&args("end-drill --reason done"), "bob"),
            json!({"action": "end_drill", "reason": "done", "requested_by": "bob"})
        );
    }
}
