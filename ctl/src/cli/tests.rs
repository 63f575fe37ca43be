use super::*;
use serde_json::json;
use std::sync::Mutex;

/// clap reads the variables when it builds the command: tests that set them take turns.
static ENV: Mutex<()> = Mutex::new(());

fn parse_with(line: &str, env: &[(&str, &str)]) -> Result<Cli, clap::Error> {
    let _turn = ENV.lock().unwrap_or_else(|e| e.into_inner());
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let out = parse(std::iter::once("ctl").chain(line.split_whitespace()));
    for (k, _) in env {
        std::env::remove_var(k);
    }
    out
}

pub(crate) fn ok(line: &str) -> Cli {
    parse_with(line, &[]).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn err(line: &str) -> String {
    usage_error(&parse_with(line, &[]).expect_err(line))
}

fn region(name: &str) -> Region {
    Region::parse(name).unwrap()
}

fn payload(line: &str) -> serde_json::Value {
    ok(line).command.manual_action().unwrap().to_payload()
}

#[test]
fn commands_and_their_arguments() {
    assert!(matches!(ok("status").command, Command::Status));
    assert!(ok("status --json").options.json);
    assert!(ok("--json plan").options.json);
    let Command::Evacuate(e) =
        ok("evacuate us-east-1 --reason=API-errors --force --dry-run").command
    else {
        panic!("evacuate")
    };
    assert_eq!(e.region, region("us-east-1"));
    assert!(e.force && e.change.dry_run);
    assert_eq!(e.change.reason, "API-errors");
    let Command::Restore(r) = ok("restore us-east-1 --reason ok").command else {
        panic!("restore")
    };
    assert!(!r.force && !r.change.dry_run);
    let Command::Drill(d) = ok("drill eu-central-1 --duration 1h30m --reason gameday").command
    else {
        panic!("drill")
    };
    assert_eq!(d.duration_minutes, Some(90));
    assert!(matches!(
        ok("end-drill --reason done").command,
        Command::EndDrill(_)
    ));
    assert!(matches!(
        ok("end_drill --reason done").command,
        Command::EndDrill(_)
    ));
    // global options stand anywhere; --region is not the command's REGION
    for line in [
        "--region us-east-1 evacuate eu-central-1 --json --reason x",
        "evacuate eu-central-1 --reason x --region us-east-1 --json",
    ] {
        let a = ok(line);
        assert_eq!(a.options.region, Some(region("us-east-1")), "{line}");
        assert!(a.options.json);
        let Command::Evacuate(e) = a.command else {
            panic!("evacuate")
        };
        assert_eq!(e.region, region("eu-central-1"), "{line}");
    }
}

#[test]
fn reasons_with_spaces_stay_whole() {
    let argv = ["ctl", "evacuate", "us-east-1", "--reason", "API errors 40%"];
    let Command::Evacuate(e) = parse(argv).unwrap().command else {
        panic!("evacuate")
    };
    assert_eq!(e.change.reason, "API errors 40%");
}

#[test]
fn payloads_are_the_manual_actions_failover_accepts() {
    assert_eq!(
        payload("evacuate us-east-1 --reason r --force"),
        json!({"action": "evacuate", "region": "us-east-1", "force": true, "reason": "r"})
    );
    assert_eq!(
        payload("restore us-east-1 --reason r --dry-run"),
        json!({"action": "restore", "region": "us-east-1", "force": false, "reason": "r", "dry_run": true})
    );
    assert_eq!(
        payload("drill eu-central-1 --duration 15m --reason g"),
        json!({"action": "drill", "region": "eu-central-1", "duration_minutes": 15, "reason": "g"})
    );
    assert_eq!(
        payload("drill eu-central-1 --reason g"),
        json!({"action": "drill", "region": "eu-central-1", "reason": "g"})
    );
    assert_eq!(
        payload("end-drill --reason done"),
        json!({"action": "end_drill", "reason": "done"})
    );
    // who asked is never in the payload: failover records the caller that signed it,
    // and there is no option to claim another
    assert!(ok("status").command.manual_action().is_none());
    let claimed = err("evacuate us-east-1 --reason r --requested-by alice");
    assert!(claimed.contains("--requested-by"), "{claimed}");
}

#[test]
fn usage_errors_say_what_is_wrong_in_one_line_then_the_help() {
    for (line, needle) in [
        ("", "no command given"),
        ("frobnicate", "unrecognized subcommand 'frobnicate'"),
        ("evacuate", "evacuate needs --reason <TEXT> and <REGION>"),
        ("evacuate us-east-1", "evacuate needs --reason <TEXT>"),
        ("drill eu-central-1", "drill needs --reason"),
        ("end-drill", "end-drill needs --reason"),
        ("evacuate useast1 --reason x", "not an AWS region code"),
        ("status --region EU", "not an AWS region code"),
        ("status --regions ,", "no region in the list"),
        ("status --reason x", "unexpected argument '--reason'"),
        (
            "restore us-east-1 --reason x --duration 5m",
            "unexpected argument '--duration'",
        ),
        (
            "drill eu-central-1 --reason x --force",
            "unexpected argument '--force'",
        ),
        ("status --bogus", "unexpected argument '--bogus'"),
        (
            "status --region",
            "a value is required for '--region <REGION>'",
        ),
        ("status extra", "unexpected argument 'extra'"),
        (
            "drill eu-central-1 --reason x --duration 90s",
            "whole minutes",
        ),
        (
            "drill eu-central-1 --reason x --duration 0m",
            "whole minutes",
        ),
        (
            "drill eu-central-1 --reason x --duration soon",
            "whole minutes",
        ),
        ("status --json=yes", "unexpected value 'yes' for '--json'"),
    ] {
        let e = err(line);
        let (first, rest) = e.split_once('\n').unwrap();
        assert!(first.starts_with("ctl: "), "{line:?}: {first:?}");
        assert!(
            first.contains(needle),
            "{line:?}: {first:?} lacks {needle:?}"
        );
        assert!(
            rest.contains("\nusage: ctl [OPTIONS] <COMMAND>\n"),
            "{line:?}: {rest}"
        );
    }
}

#[test]
fn help_lists_commands_options_variables_retries_and_exit_codes() {
    let help = Cli::command().render_help().to_string();
    for part in [
        "usage: ctl [OPTIONS] <COMMAND>",
        "evacuate   REGION --reason TEXT [--force] [--dry-run]",
        "end-drill  --reason TEXT [--dry-run]",
        "[env: CTL_REGION]",
        "[env: CTL_FAILOVER_FUNCTION]",
        "[default: {service}-failover-{region}]",
        "up to 4 times over 4 to 8 s",
        "exit codes: 0 done",
    ] {
        assert!(help.contains(part), "{part:?} not in\n{help}");
    }
    let e = parse(["ctl", "help"]).expect_err("help");
    assert_eq!(e.kind(), ErrorKind::DisplayHelp);
    assert!(!e.use_stderr(), "help goes to stdout, exit 0");
}

#[test]
fn names_follow_flags_then_environment_then_terraform() {
    let o = ok("status").options;
    assert_eq!(o.service, "orders");
    assert_eq!(
        o.regions,
        Regions(vec![region("eu-central-1"), region("us-east-1")])
    );
    assert_eq!(o.region, None);
    assert_eq!(
        o.function_name(Role::Failover, "eu-central-1"),
        "orders-failover-eu-central-1"
    );
    assert_eq!(
        o.function_name(Role::Monitor, "us-east-1"),
        "orders-replication-monitor-us-east-1"
    );
    assert_eq!(
        o.function_name(Role::Scheduler, "us-east-1"),
        "orders-concurrency-scheduler-us-east-1"
    );
    let env = [
        ("CTL_SERVICE", "billing"),
        ("CTL_REGION", "us-east-1"),
        ("CTL_REGIONS", "us-east-1, us-west-2"),
        ("CTL_FAILOVER_FUNCTION", "fo-{region}"),
        ("CTL_MONITOR_FUNCTION", " "),
    ];
    let o = parse_with("status", &env).unwrap().options;
    assert_eq!(o.service, "billing");
    assert_eq!(o.region, Some(region("us-east-1")));
    assert_eq!(
        o.regions,
        Regions(vec![region("us-east-1"), region("us-west-2")])
    );
    assert_eq!(o.function_name(Role::Failover, "us-west-2"), "fo-us-west-2");
    // a blank variable counts as unset
    assert_eq!(
        o.function_name(Role::Monitor, "us-east-1"),
        "billing-replication-monitor-us-east-1"
    );
    let o = parse_with("status --service web --region eu-central-1", &env)
        .unwrap()
        .options;
    assert_eq!(o.service, "web");
    assert_eq!(o.region, Some(region("eu-central-1")));
}

#[test]
fn durations_are_whole_minutes() {
    for (text, want) in [
        ("15m", 15),
        ("2h", 120),
        ("1h30m", 90),
        ("90", 90),
        ("600s", 10),
        ("1d", 1440),
    ] {
        assert_eq!(minutes(text).unwrap(), want, "{text}");
    }
    for text in ["", "m", "15x", "30s", "0", "1h5", "99999999999999999999h"] {
        assert!(minutes(text).is_err(), "{text}");
    }
}
