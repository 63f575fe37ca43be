//! The command line, parsed into validated types before anything is called.
//! Options may stand anywhere on the line, as `--name value` or `--name=value`;
//! each falls back to an environment variable, then to the Terraform naming.

use std::fmt;

pub const USAGE: &str = "\
ctl: operate the dual-region control plane by invoking its deployed functions

usage: ctl [OPTIONS] COMMAND [ARGS]

commands:
  status                                   routing state, endpoints and gates, replication lag,
                                           provisioned concurrency: one table
  plan                                     the concurrency-scheduler's plan in every region (changes nothing)
  evacuate REGION --reason TEXT [--force] [--dry-run]
  restore  REGION --reason TEXT [--force] [--dry-run]
  drill    REGION --reason TEXT [--duration 15m] [--dry-run]
  end-drill --reason TEXT [--dry-run]
  help

options (environment variable in brackets):
  --json                    print the functions' answers as JSON instead of text
  --region REGION           whose copy of failover and replication-monitor to invoke
                            [CTL_REGION, then AWS_REGION, AWS_DEFAULT_REGION, the profile's region]
  --regions R1,R2           the control plane's regions [CTL_REGIONS; default eu-central-1,us-east-1]
  --service NAME            service_name the functions were deployed with [CTL_SERVICE; default orders]
  --failover-function NAME  [CTL_FAILOVER_FUNCTION; default {service}-failover-{region}]
  --monitor-function NAME   [CTL_MONITOR_FUNCTION; default {service}-replication-monitor-{region}]
  --scheduler-function NAME [CTL_SCHEDULER_FUNCTION; default {service}-concurrency-scheduler-{region}]
                            ({service} and {region} are replaced in the three names)
  --requested-by WHO        recorded as requested_by [CTL_REQUESTED_BY; default: your ARN (STS)]

busy functions: Lambda answers 429 (TooManyRequestsException) when a function's reserved
concurrency is taken by other runs (failover's tick, its event runs, a drill waiting for the
surge); nothing ran, so ctl retries: up to 4 times over 4 to 8 s (exponential backoff with
jitter), one line on stderr per retry, then says the function is busy (exit 1): run it again
in a minute

exit codes: 0 done (applied, noop or dry run), 1 refused or failed, 2 usage error
";

pub const DEFAULT_REGIONS: &str = "eu-central-1,us-east-1";
pub const DEFAULT_SERVICE: &str = "orders";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Plan,
    Evacuate {
        region: String,
        force: bool,
    },
    Restore {
        region: String,
        force: bool,
    },
    Drill {
        region: String,
        duration_minutes: Option<u64>,
    },
    EndDrill,
    Help,
}

impl Command {
    /// Whether the command changes routing (and so needs a reason and an identity).
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Self::Evacuate { .. } | Self::Restore { .. } | Self::Drill { .. } | Self::EndDrill
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub json: bool,
    pub dry_run: bool,
    pub reason: Option<String>,
    /// Explicit `--region` or `CTL_REGION`; `None` leaves it to the SDK's chain.
    pub region: Option<String>,
    pub regions: Vec<String>,
    pub service: String,
    pub failover_function: String,
    pub monitor_function: String,
    pub scheduler_function: String,
    pub requested_by: Option<String>,
}

impl Args {
    /// A function's name in `region`, from its template.
    pub fn function_name(&self, template: &str, region: &str) -> String {
        template
            .replace("{service}", &self.service)
            .replace("{region}", region)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

const VALUE_OPTIONS: &[&str] = &[
    "--reason",
    "--duration",
    "--region",
    "--regions",
    "--service",
    "--failover-function",
    "--monitor-function",
    "--scheduler-function",
    "--requested-by",
];
const SWITCHES: &[&str] = &["--json", "--dry-run", "--force", "--help", "-h"];

/// Parses the arguments (without the program name); `env` looks up variables.
pub fn parse(argv: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Args, UsageError> {
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if SWITCHES.contains(&name.as_str()) {
            if inline.is_some() {
                return Err(usage(format!("{name} takes no value")));
            }
            options.push((name, None));
        } else if VALUE_OPTIONS.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(format!("{name} needs a value")))?,
            };
            if value.trim().is_empty() {
                return Err(usage(format!("{name} needs a non-empty value")));
            }
            options.push((name, Some(value)));
        } else {
            return Err(usage(format!("unknown option {name}")));
        }
    }
    let has = |n: &str| options.iter().any(|(k, _)| k == n);
    let value = |n: &str| {
        options
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.clone())
    };
    let from_env = |n: &str| env(n).filter(|v| !v.trim().is_empty());

    if has("--help") || has("-h") {
        return Ok(base(Command::Help, &value, &from_env));
    }
    let mut words = positional.into_iter();
    let verb = words.next().ok_or_else(|| {
        usage("no command given (status, plan, evacuate, restore, drill, end-drill)")
    })?;
    let mut region_arg = |verb: &str| -> Result<String, UsageError> {
        let region = words
            .next()
            .ok_or_else(|| usage(format!("{verb} needs a REGION, e.g. ctl {verb} us-east-1")))?;
        check_region(&region)?;
        Ok(region)
    };
    let command = match verb.as_str() {
        "status" => Command::Status,
        "plan" => Command::Plan,
        "evacuate" => Command::Evacuate {
            region: region_arg("evacuate")?,
            force: has("--force"),
        },
        "restore" => Command::Restore {
            region: region_arg("restore")?,
            force: has("--force"),
        },
        "drill" => Command::Drill {
            region: region_arg("drill")?,
            duration_minutes: value("--duration").map(|d| minutes(&d)).transpose()?,
        },
        "end-drill" | "end_drill" => Command::EndDrill,
        "help" => Command::Help,
        other => {
            return Err(usage(format!(
                "unknown command {other:?} (status, plan, evacuate, restore, drill, end-drill)"
            )))
        }
    };
    if let Some(extra) = words.next() {
        return Err(usage(format!("unexpected argument {extra:?} after {verb}")));
    }
    let allowed: &[&str] = match command {
        Command::Evacuate { .. } | Command::Restore { .. } => &["--reason", "--force", "--dry-run"],
        Command::Drill { .. } => &["--reason", "--duration", "--dry-run"],
        Command::EndDrill => &["--reason", "--dry-run"],
        _ => &[],
    };
    for (name, _) in &options {
        let command_option = matches!(
            name.as_str(),
            "--reason" | "--force" | "--dry-run" | "--duration"
        );
        if command_option && !allowed.contains(&name.as_str()) {
            return Err(usage(format!("{name} does not apply to {verb}")));
        }
    }
    let mut args = base(command, &value, &from_env);
    args.json = has("--json");
    args.dry_run = has("--dry-run");
    args.reason = value("--reason");
    if args.command.mutates() && args.reason.is_none() {
        return Err(usage(format!(
            "{verb} needs --reason TEXT (it is recorded in the routing state and the decision log)"
        )));
    }
    if let Some(region) = &args.region {
        check_region(region)?;
    }
    if args.regions.is_empty() {
        return Err(usage("--regions is empty"));
    }
    for region in &args.regions {
        check_region(region)?;
    }
    Ok(args)
}

fn base(
    command: Command,
    value: &dyn Fn(&str) -> Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Args {
    let pick = |flag: &str, var: &str, default: &str| {
        value(flag)
            .or_else(|| env(var))
            .unwrap_or_else(|| default.to_string())
    };
    Args {
        json: false,
        dry_run: false,
        reason: None,
        region: value("--region").or_else(|| env("CTL_REGION")),
        regions: pick("--regions", "CTL_REGIONS", DEFAULT_REGIONS)
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        service: pick("--service", "CTL_SERVICE", DEFAULT_SERVICE),
        failover_function: pick(
            "--failover-function",
            "CTL_FAILOVER_FUNCTION",
            "{service}-failover-{region}",
        ),
        monitor_function: pick(
            "--monitor-function",
            "CTL_MONITOR_FUNCTION",
            "{service}-replication-monitor-{region}",
        ),
        scheduler_function: pick(
            "--scheduler-function",
            "CTL_SCHEDULER_FUNCTION",
            "{service}-concurrency-scheduler-{region}",
        ),
        requested_by: value("--requested-by").or_else(|| env("CTL_REQUESTED_BY")),
        command,
    }
}

/// `eu-central-1`, `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: letters, dashes, a number.
fn check_region(region: &str) -> Result<(), UsageError> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "{region:?} is not a region name (like eu-central-1)"
        )))
    }
}

/// `15m`, `2h`, `1h30m`, `90` (minutes), `600s`: whole minutes, at least one.
pub fn minutes(text: &str) -> Result<u64, UsageError> {
    let bad = || {
        usage(format!(
            "--duration {text:?}: expected whole minutes like 15m, 2h, 1h30m or 90"
        ))
    };
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse::<u64>().ok().filter(|m| *m > 0).ok_or_else(bad);
    }
    let (mut seconds, mut number) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        seconds = n
            .checked_mul(unit)
            .and_then(|v| seconds.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || seconds == 0 || seconds % 60 != 0 {
        return Err(bad());
    }
    Ok(seconds / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(line: &str, env: &[(&str, &str)]) -> Result<Args, UsageError> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&argv, |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    fn ok(line: &str) -> Args {
        parse_with(line, &[]).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        parse_with(line, &[]).expect_err(line).0
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(ok("status").command, Command::Status);
        assert!(ok("status --json").json);
        assert!(ok("--json plan").json);
        let a = ok("evacuate us-east-1 --reason=API-errors --force --dry-run");
        assert_eq!(
            a.command,
            Command::Evacuate {
                region: "us-east-1".into(),
                force: true
            }
        );
        assert_eq!(a.reason.as_deref(), Some("API-errors"));
        assert!(a.dry_run);
        assert_eq!(
            ok("restore us-east-1 --reason ok").command,
            Command::Restore {
                region: "us-east-1".into(),
                force: false
            }
        );
        assert_eq!(
            ok("drill eu-central-1 --duration 1h30m --reason gameday").command,
            Command::Drill {
                region: "eu-central-1".into(),
                duration_minutes: Some(90)
            }
        );
        assert_eq!(
            ok("drill eu-central-1 --reason gameday").command,
            Command::Drill {
                region: "eu-central-1".into(),
                duration_minutes: None
            }
        );
        assert_eq!(ok("end-drill --reason done").command, Command::EndDrill);
        assert_eq!(ok("--help").command, Command::Help);
        assert_eq!(ok("help").command, Command::Help);
    }

    #[test]
    fn reasons_with_spaces_stay_whole() {
        let argv: Vec<String> = ["evacuate", "us-east-1", "--reason", "API errors 40%"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = parse(&argv, |_| None).unwrap();
        assert_eq!(a.reason.as_deref(), Some("API errors 40%"));
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        for (line, needle) in [
            ("", "no command"),
            ("frobnicate", "unknown command"),
            ("evacuate", "needs a REGION"),
            ("evacuate us-east-1", "needs --reason"),
            ("drill eu-central-1", "needs --reason"),
            ("end-drill", "needs --reason"),
            ("evacuate useast1 --reason x", "not a region name"),
            ("status --region EU", "not a region name"),
            ("status --reason x", "does not apply to status"),
            (
                "restore us-east-1 --reason x --duration 5m",
                "does not apply",
            ),
            ("drill eu-central-1 --reason x --force", "does not apply"),
            ("status --bogus", "unknown option --bogus"),
            ("status --region", "needs a value"),
            ("status extra", "unexpected argument"),
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
            ("status --json=yes", "takes no value"),
        ] {
            let e = err(line);
            assert!(e.contains(needle), "{line:?}: {e:?} lacks {needle:?}");
        }
    }

    #[test]
    fn names_follow_flags_then_environment_then_terraform() {
        let a = ok("status");
        assert_eq!(a.service, "orders");
        assert_eq!(a.regions, vec!["eu-central-1", "us-east-1"]);
        assert_eq!(a.region, None);
        assert_eq!(
            a.function_name(&a.failover_function, "eu-central-1"),
            "orders-failover-eu-central-1"
        );
        assert_eq!(
            a.function_name(&a.monitor_function, "us-east-1"),
            "orders-replication-monitor-us-east-1"
        );
        assert_eq!(
            a.function_name(&a.scheduler_function, "us-east-1"),
            "orders-concurrency-scheduler-us-east-1"
        );
        let env = [
            ("CTL_SERVICE", "billing"),
            ("CTL_REGION", "us-east-1"),
            ("CTL_REGIONS", "us-east-1, us-west-2"),
            ("CTL_FAILOVER_FUNCTION", "fo-{region}"),
            ("CTL_REQUESTED_BY", "alice"),
        ];
        let a = parse_with("status", &env).unwrap();
        assert_eq!(a.service, "billing");
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.regions, vec!["us-east-1", "us-west-2"]);
        assert_eq!(
            a.function_name(&a.failover_function, "us-west-2"),
            "fo-us-west-2"
        );
        assert_eq!(a.requested_by.as_deref(), Some("alice"));
        let a = parse_with("status --service web --region eu-central-1", &env).unwrap();
        assert_eq!(a.service, "web");
        assert_eq!(a.region.as_deref(), Some("eu-central-1"));
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
}
