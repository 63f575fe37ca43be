//! The command line, parsed (clap) into validated types before anything is called.
//! Options that name where and what to call are global (they may stand anywhere on
//! the line, as `--name value` or `--name=value`) and fall back to an environment
//! variable (a blank one counts as unset), then to the Terraform naming.

use crate::error::Role;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use shared::{Action, Duration, ManualAction, Region};
use std::ffi::OsString;

pub const DEFAULT_REGIONS: &str = "eu-central-1,us-east-1";
pub const DEFAULT_SERVICE: &str = "orders";

pub const AFTER_HELP: &str = "\
busy functions: Lambda answers 429 (TooManyRequestsException) when a function's reserved
concurrency is taken by other runs (failover's tick, its event runs, a drill waiting for the
surge); nothing ran, so ctl retries: up to 4 times over 4 to 8 s (exponential backoff with
jitter), one line on stderr per retry, then says the function is busy (exit 1): run it again
in a minute

exit codes: 0 done (applied, noop or dry run), 1 refused or failed, 2 usage error";

const TEMPLATE: &str = "\
{about}

usage: {usage}

commands:
{subcommands}

options:
{options}{after-help}";

/// ctl: operate the dual-region control plane by invoking its deployed functions
#[derive(Debug, Clone, Parser)]
#[command(name = "ctl", help_template = TEMPLATE, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// routing state, endpoints and gates, replication lag, provisioned concurrency: one table
    Status,
    /// the concurrency-scheduler's plan in every region (changes nothing)
    Plan,
    /// REGION --reason TEXT [--force] [--dry-run]: take REGION out of DNS
    Evacuate(Routing),
    /// REGION --reason TEXT [--force] [--dry-run]: put REGION back into DNS
    Restore(Routing),
    /// REGION --reason TEXT [--duration 15m] [--dry-run]: evacuate REGION for a while, after its peers surge
    Drill(Drill),
    /// --reason TEXT [--dry-run]: end the drill now
    #[command(alias = "end_drill")]
    EndDrill(Change),
}

/// What every command that changes routing takes.
#[derive(Debug, Clone, Args)]
pub struct Change {
    /// why: recorded in the routing state and the decision log
    #[arg(long, value_name = "TEXT", required = true, value_parser = non_empty)]
    pub reason: String,
    /// decide and show what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct Routing {
    /// the region to take out of DNS or put back
    // Its own id: `region` is the global --region's.
    #[arg(id = "target", value_name = "REGION", value_parser = region)]
    pub region: Region,
    /// past the dwell time and the replication check (never below min_active_regions)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, Args)]
pub struct Drill {
    /// the region to evacuate while the drill lasts
    // Its own id: `region` is the global --region's.
    #[arg(id = "target", value_name = "REGION", value_parser = region)]
    pub region: Region,
    /// whole minutes: 15m, 2h, 1h30m or 90 [default: failover.drill.default_duration]
    #[arg(long = "duration", value_name = "15m", value_parser = minutes)]
    pub duration_minutes: Option<u64>,
    #[command(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// print the functions' answers as JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// whose copy of failover and replication-monitor to invoke [unset: AWS_REGION, AWS_DEFAULT_REGION, the profile's region]
    #[arg(long, global = true, env = "CTL_REGION", hide_env_values = true,
          value_name = "REGION", value_parser = region)]
    pub region: Option<Region>,
    /// the control plane's regions (status asks failover instead)
    #[arg(long, global = true, env = "CTL_REGIONS", hide_env_values = true,
          value_name = "R1,R2", default_value = DEFAULT_REGIONS, value_parser = regions)]
    pub regions: Regions,
    /// service_name the functions were deployed with
    #[arg(long, global = true, env = "CTL_SERVICE", hide_env_values = true,
          value_name = "NAME", default_value = DEFAULT_SERVICE, value_parser = non_empty)]
    pub service: String,
    /// failover's name ({service} and {region} are replaced in the three names)
    #[arg(long, global = true, env = "CTL_FAILOVER_FUNCTION", hide_env_values = true,
          value_name = "NAME", default_value = "{service}-failover-{region}", value_parser = non_empty)]
    pub failover_function: String,
    /// replication-monitor's name
    #[arg(long, global = true, env = "CTL_MONITOR_FUNCTION", hide_env_values = true,
          value_name = "NAME", default_value = "{service}-replication-monitor-{region}", value_parser = non_empty)]
    pub monitor_function: String,
    /// concurrency-scheduler's name
    #[arg(long, global = true, env = "CTL_SCHEDULER_FUNCTION", hide_env_values = true,
          value_name = "NAME", default_value = "{service}-concurrency-scheduler-{region}", value_parser = non_empty)]
    pub scheduler_function: String,
}

/// `--regions`: at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions(pub Vec<Region>);

impl Options {
    /// `role`'s function name in `region`, from its template.
    pub fn function_name(&self, role: Role, region: &str) -> String {
        let template = match role {
            Role::Failover => &self.failover_function,
            Role::Monitor => &self.monitor_function,
            Role::Scheduler => &self.scheduler_function,
        };
        template
            .replace("{service}", &self.service)
            .replace("{region}", region)
    }
}

impl Command {
    /// The failover action a routing command asks for (`None`: status and plan).
    /// Who asked is not part of it: failover records the caller that signed the request.
    pub fn manual_action(&self) -> Option<ManualAction> {
        let (action, change) = match self {
            Self::Status | Self::Plan => return None,
            Self::Evacuate(r) => (
                Action::Evacuate {
                    region: r.region.clone(),
                    force: r.force,
                },
                &r.change,
            ),
            Self::Restore(r) => (
                Action::Restore {
                    region: r.region.clone(),
                    force: r.force,
                },
                &r.change,
            ),
            Self::Drill(d) => (
                Action::Drill {
                    region: d.region.clone(),
                    duration_minutes: d.duration_minutes,
                },
                &d.change,
            ),
            Self::EndDrill(change) => (Action::EndDrill { drill_id: None }, change),
        };
        Some(
            ManualAction::from(action)
                .reason(change.reason.clone())
                .dry_run(change.dry_run),
        )
    }
}

fn region(text: &str) -> Result<Region, String> {
    Region::parse(text.trim())
}

fn regions(text: &str) -> Result<Regions, String> {
    let list = text
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(Region::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err("no region in the list".into());
    }
    Ok(Regions(list))
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_string())
    }
}

/// `15m`, `2h`, `1h30m`, `600s` (durations as the config writes them) or `90` (minutes):
/// whole minutes, at least one.
pub fn minutes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = |why: String| format!("{why}: expected whole minutes like 15m, 2h, 1h30m or 90");
    let seconds = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .ok()
            .and_then(|m| m.checked_mul(60))
            .ok_or_else(|| bad(format!("{text:?} is too large")))?
    } else {
        Duration::parse(text).map_err(bad)?.secs()
    };
    if seconds == 0 || seconds % 60 != 0 {
        return Err(bad(format!("{text:?} is not whole minutes")));
    }
    Ok(seconds / 60)
}

/// Parses the arguments (the program name first).
pub fn parse<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cmd = Cli::command().mut_args(|arg| {
        // A blank variable counts as unset, as an unset one falls back to the default.
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.to_string_lossy().trim().is_empty());
        if blank {
            arg.env(None::<&'static str>)
        } else {
            arg
        }
    });
    let matches = cmd.try_get_matches_from_mut(argv)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// A usage error as ctl prints it: what is wrong in one line, then the help.
pub fn usage_error(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    // clap names the command in its usage line: "Usage: ctl evacuate --reason <TEXT> <REGION>"
    let verb = rendered
        .lines()
        .find_map(|l| l.strip_prefix("Usage: ctl "))
        .and_then(|u| u.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    let line = match e.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "no command given (status, plan, evacuate, restore, drill, end-drill)".to_string()
        }
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<&str> = rendered
                .lines()
                .skip(1)
                .take_while(|l| !l.is_empty())
                .map(str::trim)
                .collect();
            match verb {
                Some(verb) => format!("{verb} needs {}", missing.join(" and ")),
                None => format!("ctl needs {}", missing.join(" and ")),
            }
        }
        _ => rendered
            .split("\n\n")
            .take_while(|part| !part.starts_with("Usage:"))
            .flat_map(str::lines)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    };
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    format!("ctl: {line}\n\n{}", Cli::command().render_help())
}

#[cfg(test)]
pub(crate) mod tests;
