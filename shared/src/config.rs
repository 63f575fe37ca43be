//! The control plane's configuration: one JSON document, read once at start from
//! `CONTROL_PLANE_CONFIG` (inline) or `CONTROL_PLANE_CONFIG_SSM` (a parameter name),
//! validated with every problem reported together. Keys are documented in
//! `config/example.json` (a complete example) and the README.

use crate::config_reader::{Obj, Problems};
use crate::duration::Duration;
use crate::error::{Error, Result};
use crate::region::{AccountId, AlarmArn, Arn, Region};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const ENV_INLINE: &str = "CONTROL_PLANE_CONFIG";
pub const ENV_SSM: &str = "CONTROL_PLANE_CONFIG_SSM";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Dev,
}

impl Environment {
    /// The seed's provisioned concurrency on alias `live`: prod 2, dev 1.
    pub fn baseline_concurrency(self) -> u32 {
        match self {
            Self::Prod => 2,
            Self::Dev => 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub environment: Environment,
    pub service_name: String,
    /// The regions the control plane may touch: the allow-list.
    pub regions: Vec<Region>,
    /// The accounts any configured ARN may belong to.
    pub allowed_accounts: Vec<AccountId>,
    pub alerts_topic_arns: BTreeMap<Region, Arn>,
    pub event_bus_name: String,
    pub metrics_namespace: String,
    pub failover: FailoverConfig,
    pub replication: ReplicationConfig,
    pub concurrency: ConcurrencyConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverConfig {
    /// The service's public zone: its latency records, nothing of the control plane's.
    pub hosted_zone_id: String,
    /// The control plane's own private zone, which holds the routing state: the state
    /// names operators, accounts and alarms, so it is never in a zone anyone can query.
    pub state_zone_id: String,
    /// The routing state's TXT record, a name inside `state_zone_id`.
    pub state_record_name: String,
    /// IAM roles whose sessions may take manual routing actions (evacuate, restore,
    /// drill, end_drill) through the function URL; empty: no one may.
    pub operator_roles: Vec<Arn>,
    pub gate_health_checks: BTreeMap<Region, String>,
    /// Alarm ARN -> the region it watches. The alarm itself may live elsewhere
    /// (Route 53's metrics, so these alarms, are in us-east-1).
    pub region_alarms: BTreeMap<AlarmArn, Region>,
    pub min_active_regions: usize,
    pub dwell: Duration,
    pub max_automatic_evacuations_per_hour: u32,
    pub failback: FailbackConfig,
    pub readiness: ReadinessConfig,
    pub drill: DrillConfig,
    /// The data-plane path (README, "Two paths"): None leaves only Route 53's control plane.
    pub data_plane: Option<DataPlaneConfig>,
}

/// What lets a region's copy evacuate its peer without Route 53's control plane (which
/// AWS serves from us-east-1): probes of the peer published in the observer's region, a
/// CLOUDWATCH_METRIC child of each gate whose alarm lives in the observer's region, and a
/// DynamoDB table per region holding what was decided there.
#[derive(Debug, Clone, Serialize)]
pub struct DataPlaneConfig {
    /// The local store's DynamoDB table, the same name in every region.
    pub table: String,
    /// Region -> the region whose copy probes it and closes its data-plane gate child.
    pub observers: BTreeMap<Region, Region>,
    /// Region -> the URLs of its public health endpoints that its observer GETs each tick.
    pub probes: BTreeMap<Region, Vec<String>>,
    /// How long a probe may take before it counts as failed.
    pub probe_timeout: Duration,
}

impl DataPlaneConfig {
    /// The regions `home` observes: those whose probes and data-plane gate child are its.
    pub fn observed_by<'a>(&'a self, home: &'a Region) -> impl Iterator<Item = &'a Region> + 'a {
        self.observers
            .iter()
            .filter(move |(_, observer)| *observer == home)
            .map(|(region, _)| region)
    }
}

/// How far ahead of this function's clock an alarm's state-change time may be: clocks
/// differ a little, but an event dated later than that is not one CloudWatch sent.
pub const ALARM_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

impl FailoverConfig {
    /// The region `alarm` speaks for, or why the event is refused. Only a mapped alarm
    /// counts, and only when the envelope agrees with its ARN: a name alone repeats
    /// across accounts and regions.
    pub fn watched_region(
        &self,
        alarm: &crate::events::AlarmChange,
        now: chrono::DateTime<chrono::Utc>,
    ) -> std::result::Result<&Region, String> {
        // What the event says is the sender's: quoted, as it may be anything.
        let Some(arn) = alarm.alarm_arn.as_deref() else {
            return Err(format!(
                "the event for alarm {:?} carries no alarm ARN, and failover.region_alarms \
                 identifies alarms by ARN",
                alarm.alarm_name
            ));
        };
        let Some((mapped, region)) = AlarmArn::parse(arn)
            .ok()
            .and_then(|a| self.region_alarms.get_key_value(&a))
        else {
            return Err(format!(
                "alarm {arn:?} is not mapped to any region (failover.region_alarms)"
            ));
        };
        if let Some(account) = alarm.account.as_deref() {
            if account != mapped.account().as_str() {
                return Err(format!(
                    "the event for {mapped} is from account {account:?}, but the mapped alarm \
                     is in account {}",
                    mapped.account()
                ));
            }
        }
        // Both envelopes carry the region code (EventBridge `region`, alarm action `region`).
        if let Some(from) = alarm.alarm_region.as_deref() {
            if from != mapped.region().as_str() {
                return Err(format!(
                    "the event for {mapped} is from region {from:?}, but the mapped alarm is \
                     in region {}",
                    mapped.region()
                ));
            }
        }
        if alarm.alarm_name != mapped.name() {
            return Err(format!(
                "the event for {mapped} names alarm {:?}, but the mapped alarm is named {:?}",
                alarm.alarm_name,
                mapped.name()
            ));
        }
        if let Some(at) = alarm.timestamp {
            if at > now + ALARM_CLOCK_SKEW {
                return Err(format!(
                    "the event for {mapped} is dated {}, more than {} minutes in the future (now {})",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ALARM_CLOCK_SKEW.num_minutes(),
                    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ));
            }
        }
        Ok(region)
    }
}

/// Which alarm events speak for a region: a table over both envelopes' fixtures.
/// Where the routing state may live, and who may act on it.
#[cfg(test)]
mod state_and_operators {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        let path = format!("{}/../config/example.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn problems(edit: impl FnOnce(&mut Value)) -> String {
        let mut v = example();
        edit(&mut v["failover"]);
        match Config::from_value(&v) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    /// (case, edit of `failover.data_plane`, the problem it must name; "" = accepted)
    #[test]
    fn data_plane_cases() {
        type Edit = fn(&mut Value);
        let cases: &[(&str, Edit, &str)] = &[
            ("the example", |_| {}, ""),
            (
                "observers default to the peer with two regions",
                |d| {
                    d.as_object_mut().unwrap().remove("observers");
                },
                "",
            ),
            (
                "a region observing itself",
                |d| d["observers"]["us-east-1"] = json!("us-east-1"),
                "failover.data_plane.observers.us-east-1: a region cannot observe itself",
            ),
            (
                "an observer outside `regions`",
                |d| d["observers"]["us-east-1"] = json!("ap-south-1"),
                "failover.data_plane.observers.us-east-1: region ap-south-1 is not in `regions`",
            ),
            (
                "a region without probes",
                |d| {
                    d["probes"].as_object_mut().unwrap().remove("us-east-1");
                },
                "failover.data_plane.probes: missing an entry for region us-east-1",
            ),
            (
                "an empty probe list",
                |d| d["probes"]["us-east-1"] = json!([]),
                "failover.data_plane.probes.us-east-1: list at least one health endpoint URL",
            ),
            (
                "a probe that is not a URL",
                |d| d["probes"]["us-east-1"] = json!(["orders.example.com/health"]),
                "is not an http(s):// URL",
            ),
            (
                "a probe timeout longer than a tick can wait",
                |d| d["probe_timeout"] = json!("30s"),
                "failover.data_plane.probe_timeout: must be more than 0 and at most 10s",
            ),
            (
                "a table name DynamoDB refuses",
                |d| d["table"] = json!("a b"),
                "failover.data_plane.table: must be a DynamoDB table name",
            ),
            (
                "no table",
                |d| {
                    d.as_object_mut().unwrap().remove("table");
                },
                "failover.data_plane.table: missing",
            ),
        ];
        for (case, edit, want) in cases {
            let got = problems(|f| edit(&mut f["data_plane"]));
            if want.is_empty() {
                assert_eq!(got, "", "{case}");
            } else {
                assert!(got.contains(want), "{case}: {got}");
            }
        }
        let mut v = example();
        v["failover"].as_object_mut().unwrap().remove("data_plane");
        let config = Config::from_value(&v).unwrap();
        assert!(
            config.failover.data_plane.is_none(),
            "optional: without it, Route 53 only"
        );
        let config = Config::from_value(&example()).unwrap();
        let dp = config.failover.data_plane.unwrap();
        let eu = Region::parse("eu-central-1").unwrap();
        let us = Region::parse("us-east-1").unwrap();
        assert_eq!(dp.observed_by(&eu).collect::<Vec<_>>(), vec![&us]);
    }

    #[test]
    fn the_state_zone_is_required_and_is_not_the_public_zone() {
        assert_eq!(problems(|_| {}), "");
        let missing = problems(|f| {
            f.as_object_mut().unwrap().remove("state_zone_id");
        });
        assert!(
            missing.contains("failover.state_zone_id: missing"),
            "{missing}"
        );
        let public = problems(|f| f["state_zone_id"] = f["hosted_zone_id"].clone());
        assert!(
            public.contains("failover.state_zone_id: must not be hosted_zone_id"),
            "{public}"
        );
        let prefixed = problems(|f| {
            f["state_zone_id"] = json!(format!(
                "/hostedzone/{}",
                f["hosted_zone_id"].as_str().unwrap()
            ))
        });
        assert!(
            prefixed.contains("must not be hosted_zone_id"),
            "{prefixed}"
        );
    }

    #[test]
    fn operator_roles_are_role_arns_of_allowed_accounts() {
        let config = Config::from_value(&example()).unwrap();
        assert!(!config.failover.operator_roles.is_empty());
        let user =
            problems(|f| f["operator_roles"] = json!(["arn:aws:iam::333333333333:user/alice"]));
        assert!(user.contains("expected an IAM role ARN"), "{user}");
        let elsewhere =
            problems(|f| f["operator_roles"] = json!(["arn:aws:iam::999999999999:role/ops"]));
        assert!(
            elsewhere.contains("failover.operator_roles[0]"),
            "{elsewhere}"
        );
        let absent = {
            let mut v = example();
            v["failover"]
                .as_object_mut()
                .unwrap()
                .remove("operator_roles");
            Config::from_value(&v).unwrap()
        };
        assert!(absent.failover.operator_roles.is_empty());
    }
}

#[cfg(test)]
mod watched_region_table {
    use super::*;
    use crate::events::{AlarmChange, Event};
    use chrono::{DateTime, TimeDelta, Utc};

    fn file(rel: &str) -> String {
        let path = format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn alarm(fixture: &str) -> AlarmChange {
        let payload = serde_json::from_str(&file(&format!("tests/fixtures/{fixture}"))).unwrap();
        match Event::parse(&payload).unwrap() {
            Event::Alarm(a) => a,
            other => panic!("{fixture}: not an alarm: {other:?}"),
        }
    }

    #[test]
    fn only_a_mapped_alarm_from_its_own_account_and_region_and_not_from_the_future() {
        let config = Config::from_json(&file("config/example.json")).unwrap();
        let eb = alarm("cloudwatch-alarm-state-change.json");
        let action = alarm("cloudwatch-alarm-action.json");
        let at = eb.timestamp.unwrap();
        let now = at + TimeDelta::seconds(30);
        let eu_arn = "arn:aws:cloudwatch:us-east-1:333333333333:alarm:orders-health-eu-central-1";
        type Tweak = fn(&mut AlarmChange, DateTime<Utc>);
        // (what, base event, change to it, Ok(watched region) or a phrase of the refusal)
        let cases: Vec<(&str, &AlarmChange, Tweak, std::result::Result<&str, &str>)> = vec![
            ("EventBridge fixture", &eb, |_, _| {}, Ok("us-east-1")),
            ("alarm-action fixture", &action, |_, _| {}, Ok("us-east-1")),
            (
                "the other region's alarm",
                &eb,
                |a, _| {
                    a.alarm_arn = Some(
                        "arn:aws:cloudwatch:us-east-1:333333333333:alarm:orders-health-eu-central-1"
                            .into(),
                    );
                    a.alarm_name = "orders-health-eu-central-1".into();
                },
                Ok("eu-central-1"),
            ),
            (
                "no envelope account or region",
                &action,
                |a, _| (a.account, a.alarm_region) = (None, None),
                Ok("us-east-1"),
            ),
            ("no timestamp", &eb, |a, _| a.timestamp = None, Ok("us-east-1")),
            (
                "an hour old (lateness is the routing state's to judge)",
                &eb,
                |a, now| a.timestamp = Some(now - TimeDelta::hours(1)),
                Ok("us-east-1"),
            ),
            (
                "exactly the allowed skew ahead",
                &eb,
                |a, now| a.timestamp = Some(now + ALARM_CLOCK_SKEW),
                Ok("us-east-1"),
            ),
            (
                "no ARN",
                &eb,
                |a, _| a.alarm_arn = None,
                Err("event for alarm \"orders-health-us-east-1\" carries no alarm ARN"),
            ),
            (
                "an unmapped alarm",
                &eb,
                |a, _| {
                    a.alarm_arn =
                        Some("arn:aws:cloudwatch:us-east-1:333333333333:alarm:other".into());
                    a.alarm_name = "other".into();
                },
                Err("alarm \"arn:aws:cloudwatch:us-east-1:333333333333:alarm:other\" is not mapped to any region (failover.region_alarms)"),
            ),
            (
                "the same name in another account",
                &eb,
                |a, _| {
                    a.alarm_arn = Some(
                        "arn:aws:cloudwatch:us-east-1:111111111111:alarm:orders-health-us-east-1"
                            .into(),
                    );
                    a.account = Some("111111111111".into());
                },
                Err("is not mapped"),
            ),
            (
                "the same name in another region",
                &action,
                |a, _| {
                    a.alarm_arn = Some(
                        "arn:aws:cloudwatch:eu-central-1:333333333333:alarm:orders-health-us-east-1"
                            .into(),
                    );
                    a.alarm_region = Some("eu-central-1".into());
                },
                Err("is not mapped"),
            ),
            (
                "not an ARN at all",
                &eb,
                |a, _| a.alarm_arn = Some("orders-health-us-east-1".into()),
                Err("alarm \"orders-health-us-east-1\" is not mapped"),
            ),
            (
                "envelope from another account",
                &eb,
                |a, _| a.account = Some("999999999999".into()),
                Err("is from account \"999999999999\", but the mapped alarm is in account 333333333333"),
            ),
            (
                "alarm action from another account",
                &action,
                |a, _| a.account = Some("999999999999".into()),
                Err("from account \"999999999999\""),
            ),
            (
                "envelope from another region",
                &eb,
                |a, _| a.alarm_region = Some("eu-central-1".into()),
                Err("is from region \"eu-central-1\", but the mapped alarm is in region us-east-1"),
            ),
            (
                "alarm action from another region",
                &action,
                |a, _| a.alarm_region = Some("us-west-2".into()),
                Err("from region \"us-west-2\""),
            ),
            (
                "a name that is not the ARN's",
                &eb,
                |a, _| a.alarm_name = "orders-health-eu-central-1".into(),
                Err("names alarm \"orders-health-eu-central-1\", but the mapped alarm is named \"orders-health-us-east-1\""),
            ),
            (
                "a millisecond past the allowed skew",
                &eb,
                |a, now| a.timestamp = Some(now + ALARM_CLOCK_SKEW + TimeDelta::milliseconds(1)),
                Err("more than 5 minutes in the future"),
            ),
            (
                "a day ahead",
                &action,
                |a, now| a.timestamp = Some(now + TimeDelta::days(1)),
                Err("is dated 2026-11-28T14:51:57.255Z, more than 5 minutes in the future"),
            ),
        ];
        assert!(config
            .failover
            .region_alarms
            .keys()
            .any(|k| k.as_str() == eu_arn));
        for (what, base, tweak, expected) in cases {
            let mut event = base.clone();
            tweak(&mut event, now);
            let got = config.failover.watched_region(&event, now);
            match (expected, got) {
                (Ok(region), Ok(got)) => assert_eq!(got.as_str(), region, "{what}"),
                (Err(phrase), Err(refusal)) => {
                    assert!(
                        refusal.contains(phrase),
                        "{what}: {refusal:?} lacks {phrase:?}"
                    )
                }
                (expected, got) => panic!("{what}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailbackConfig {
    pub automatic: bool,
    pub stable_for: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadinessConfig {
    pub require_replication_ready: bool,
    pub max_age: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillConfig {
    pub default_duration: Duration,
    pub max_duration: Duration,
    pub surge_wait: Duration,
    pub schedule_group: String,
    pub scheduler_role_arns: BTreeMap<Region, Arn>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationConfig {
    pub window: Duration,
    pub alert_state_parameter: String,
    pub ecr: Option<EcrReplication>,
    pub s3: Option<S3Replication>,
    pub secrets: Option<SecretsReplication>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    pub lag: Duration,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CrossAccountRole {
    pub role_arn: Arn,
    pub external_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EcrReplication {
    pub registry_id: AccountId,
    pub source_region: Region,
    pub repositories: Vec<String>,
    pub destination_regions: Vec<Region>,
    pub role: Option<CrossAccountRole>,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Rule {
    pub source_bucket: String,
    pub destination_bucket: String,
    pub rule_id: String,
    pub source_region: Region,
    pub destination_region: Region,
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Replication {
    pub rules: Vec<S3Rule>,
    pub thresholds: Thresholds,
    pub pending_threshold: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretsReplication {
    pub source_region: Region,
    pub secret_ids: Vec<String>,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Window {
    pub name: String,
    /// Cron expression (5 fields: minute hour day-of-month month day-of-week) for the window's start.
    pub cron: String,
    pub duration: Duration,
    pub timezone: String,
    pub level: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UtilizationConfig {
    pub enabled: bool,
    pub window: Duration,
    pub target: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub function: String,
    pub alias: String,
    pub regions: Vec<Region>,
    pub baseline: u32,
    pub min: u32,
    pub max: u32,
    pub surge: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryConfig {
    pub tag_key: String,
    pub tag_value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConcurrencyConfig {
    pub alias: String,
    pub baseline: u32,
    pub min: u32,
    pub max: u32,
    pub surge_factor: f64,
    pub windows: Vec<Window>,
    pub utilization: UtilizationConfig,
    pub targets: Vec<Target>,
    pub discovery: Option<DiscoveryConfig>,
    pub requests_per_second: u32,
    pub max_in_flight: usize,
    pub ready_timeout: Duration,
    pub state_parameter: String,
}

impl Config {
    /// Reads the config from the environment: inline JSON or an SSM parameter.
    /// The SSM fetch goes through `fetch_ssm`, so this stays testable without AWS.
    pub async fn from_env_with<F, Fut>(fetch_ssm: F) -> Result<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<String>>,
    {
        let inline = std::env::var(ENV_INLINE)
            .ok()
            .filter(|s| !s.trim().is_empty());
        let param = std::env::var(ENV_SSM).ok().filter(|s| !s.trim().is_empty());
        match (inline, param) {
            (Some(json), None) => Self::from_json(&json),
            (None, Some(name)) => Self::from_json(&fetch_ssm(name).await?),
            (Some(_), Some(_)) => Err(Error::Config(vec![format!(
                "both {ENV_INLINE} and {ENV_SSM} are set; set exactly one"
            )])),
            (None, None) => Err(Error::Config(vec![format!(
                "neither {ENV_INLINE} (inline JSON) nor {ENV_SSM} (SSM parameter name) is set"
            )])),
        }
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::Config(vec![format!("not valid JSON: {e}")]))?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Self> {
        let problems = Problems::default();
        let config = Obj::root(value, &problems).and_then(|root| parse(&root, &problems));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(Error::Config(problems.into_vec())),
        }
    }

    pub fn has_region(&self, region: &Region) -> bool {
        self.regions.contains(region)
    }

    /// A copy of a function may only run in a region of the allow-list.
    pub fn check_home(&self, home: &Region) -> Result<()> {
        if self.has_region(home) {
            return Ok(());
        }
        let listed: Vec<&str> = self.regions.iter().map(Region::as_str).collect();
        Err(Error::Config(vec![format!(
            "this function runs in {home}, which is not in `regions` ({})",
            listed.join(", ")
        )]))
    }

    /// Looks a region up by name in the allow-list, with a clear refusal.
    pub fn region(&self, name: &str) -> Result<Region> {
        self.regions
            .iter()
            .find(|r| r.as_str() == name)
            .cloned()
            .ok_or_else(|| {
                Error::invalid_event(format!(
                    "unknown region {name:?}: this control plane manages {}",
                    self.regions
                        .iter()
                        .map(Region::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The other regions (the peers of `region`).
    pub fn peers_of<'a>(&'a self, region: &'a Region) -> impl Iterator<Item = &'a Region> + 'a {
        self.regions.iter().filter(move |r| *r != region)
    }

    /// The configured targets for a region (discovered ones are added at run time).
    pub fn targets_in<'a>(&'a self, region: &'a Region) -> impl Iterator<Item = &'a Target> + 'a {
        self.concurrency
            .targets
            .iter()
            .filter(move |t| t.regions.contains(region))
    }
}

fn parse(root: &Obj<'_>, problems: &Problems) -> Option<Config> {
    let environment: Option<Environment> = root.req("environment");
    let service_name: Option<String> = root.req("service_name");
    let regions: Vec<Region> = root.req_each("regions");
    let allowed_accounts: Vec<AccountId> = root.req_each("allowed_accounts");
    let alerts_topic_arns: BTreeMap<Region, Arn> =
        root.req("alerts_topic_arns").unwrap_or_default();
    let event_bus_name = root.or("event_bus_name", "default".to_string());
    let metrics_namespace = root.or("metrics_namespace", "ControlPlane".to_string());

    let check = Checker {
        regions: &regions,
        accounts: &allowed_accounts,
        problems,
    };
    if regions.len() < 2 {
        problems.push("regions: list at least two regions (the active/active pair)");
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &regions {
        if !seen.insert(r) {
            problems.push(format!("regions: {r} is listed twice"));
        }
    }
    if allowed_accounts.is_empty() {
        problems.push("allowed_accounts: list at least one account");
    }
    check.every_region("alerts_topic_arns", &alerts_topic_arns);
    for (region, arn) in &alerts_topic_arns {
        check.arn(
            &format!("alerts_topic_arns.{region}"),
            arn,
            "sns",
            Some(region),
        );
    }

    let failover = root
        .obj("failover", true)
        .and_then(|o| parse_failover(&o, &check));
    let replication = parse_replication(root.obj("replication", false), &check);
    let concurrency = parse_concurrency(root.obj("concurrency", false), environment, &check);

    Some(Config {
        environment: environment?,
        service_name: service_name?,
        regions,
        allowed_accounts,
        alerts_topic_arns,
        event_bus_name,
        metrics_namespace,
        failover: failover?,
        replication: replication?,
        concurrency: concurrency?,
    })
}

/// Cross-field checks: every region and account referenced must be allowed.
struct Checker<'a> {
    regions: &'a [Region],
    accounts: &'a [AccountId],
    problems: &'a Problems,
}

impl Checker<'_> {
    fn region(&self, path: &str, region: &Region) {
        if !self.regions.contains(region) {
            self.problems
                .push(format!("{path}: region {region} is not in `regions`"));
        }
    }

    fn account(&self, path: &str, account: &AccountId) {
        if !self.accounts.contains(account) {
            self.problems.push(format!(
                "{path}: account {account} is not in `allowed_accounts`"
            ));
        }
    }

    fn every_region<V>(&self, path: &str, map: &BTreeMap<Region, V>) {
        for region in map.keys() {
            self.region(&format!("{path}.{region}"), region);
        }
        for region in self.regions {
            if !map.contains_key(region) {
                self.problems
                    .push(format!("{path}: missing an entry for region {region}"));
            }
        }
    }

    fn arn(&self, path: &str, arn: &Arn, service: &str, region: Option<&Region>) {
        if arn.service() != service {
            self.problems
                .push(format!("{path}: expected an {service} ARN, got {arn}"));
        }
        if let Some(account) = arn.account() {
            self.account(path, &account);
        }
        match (arn.region(), region) {
            (Some(actual), Some(expected)) if &actual != expected => self
                .problems
                .push(format!("{path}: ARN is in {actual}, expected {expected}")),
            (Some(actual), _) => self.region(path, &actual),
            _ => {}
        }
    }
}

fn parse_failover(o: &Obj<'_>, check: &Checker<'_>) -> Option<FailoverConfig> {
    let hosted_zone_id: Option<String> = o.req("hosted_zone_id");
    let state_zone_id: Option<String> = o.req("state_zone_id");
    let state_record_name: Option<String> = o.req("state_record_name");
    let operator_roles: Vec<Arn> = o.or("operator_roles", Vec::new());
    for (i, role) in operator_roles.iter().enumerate() {
        let path = format!("failover.operator_roles[{i}]");
        check.arn(&path, role, "iam", None);
        if !role.resource().starts_with("role/") {
            check.problems.push(format!(
                "{path}: expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role}"
            ));
        }
    }
    let gate_health_checks: BTreeMap<Region, String> =
        o.req("gate_health_checks").unwrap_or_default();
    let alarms_by_key: BTreeMap<String, Region> = o.or("region_alarms", BTreeMap::new());
    let min_active_regions: usize = o.or("min_active_regions", 1);
    let dwell = o.or("dwell", Duration::from_mins(10));
    let max_automatic_evacuations_per_hour = o.or("max_automatic_evacuations_per_hour", 2u32);

    check.every_region("failover.gate_health_checks", &gate_health_checks);
    let mut region_alarms = BTreeMap::new();
    for (key, region) in alarms_by_key {
        let path = format!("failover.region_alarms.{key}");
        check.region(&path, &region);
        match AlarmArn::split(&key) {
            Ok(arn) => {
                // The alarm's own region need not be in `regions`; its account must be allowed.
                check.account(&path, arn.account());
                region_alarms.insert(arn, region);
            }
            Err(why) => check.problems.push(format!(
                "{path}: must be a CloudWatch alarm ARN ({}); {why}",
                AlarmArn::FORMAT
            )),
        }
    }
    if min_active_regions < 1 || min_active_regions > check.regions.len().max(1) {
        o.problem(
            "min_active_regions",
            format!(
                "must be between 1 and the number of regions ({})",
                check.regions.len()
            ),
        );
    }
    // The routing state is one Route 53 record: its largest form (every region but one
    // evacuated, a drill, texts at their limits, the hourly cap's times) must fit.
    let worst = crate::routing::RoutingState::worst_case(
        check.regions,
        max_automatic_evacuations_per_hour,
        &"b".repeat(crate::routing::REQUESTED_BY_MAX),
        &"r".repeat(crate::routing::REASON_MAX),
    )
    .txt_len_bound();
    if worst > crate::routing::STATE_VALUE_MAX {
        check.problems.push(format!(
            "regions, failover.max_automatic_evacuations_per_hour: with {} regions and {} automatic \
             evacuations an hour the routing state could take {worst} characters, over the {} of \
             its Route 53 record; list fewer regions or lower the cap",
            check.regions.len(),
            max_automatic_evacuations_per_hour,
            crate::routing::STATE_VALUE_MAX
        ));
    }
    if let Some(name) = &state_record_name {
        if !name.contains('.') {
            o.problem(
                "state_record_name",
                "must be a name inside the state zone, e.g. _state.controlplane.example.com",
            );
        }
    }
    // Anyone can read a public zone's records with a DNS query; the state stays out of it.
    if let (Some(public), Some(state)) = (&hosted_zone_id, &state_zone_id) {
        let bare = |id: &str| id.trim_start_matches("/hostedzone/").to_string();
        if bare(public) == bare(state) {
            o.problem(
                "state_zone_id",
                "must not be hosted_zone_id: the routing state names operators and accounts, \
                 so it lives in the control plane's private zone, not the service's public one",
            );
        }
    }

    let failback = {
        let f = o.obj("failback", false);
        FailbackConfig {
            automatic: f.as_ref().is_some_and(|f| f.or("automatic", false)),
            stable_for: f.as_ref().map_or(Duration::from_mins(30), |f| {
                f.or("stable_for", Duration::from_mins(30))
            }),
        }
    };
    let readiness = {
        let r = o.obj("readiness", false);
        ReadinessConfig {
            require_replication_ready: r
                .as_ref()
                .is_none_or(|r| r.or("require_replication_ready", true)),
            max_age: r.as_ref().map_or(Duration::from_mins(15), |r| {
                r.or("max_age", Duration::from_mins(15))
            }),
        }
    };
    let drill = {
        let d = o.obj("drill", true);
        let get = |key: &str, default: Duration| d.as_ref().map_or(default, |d| d.or(key, default));
        let scheduler_role_arns: BTreeMap<Region, Arn> = d
            .as_ref()
            .and_then(|d| d.req("scheduler_role_arns"))
            .unwrap_or_default();
        check.every_region("failover.drill.scheduler_role_arns", &scheduler_role_arns);
        for (region, arn) in &scheduler_role_arns {
            check.arn(
                &format!("failover.drill.scheduler_role_arns.{region}"),
                arn,
                "iam",
                None,
            );
        }
        let cfg = DrillConfig {
            default_duration: get("default_duration", Duration::from_mins(15)),
            max_duration: get("max_duration", Duration::from_mins(240)),
            surge_wait: get("surge_wait", Duration::from_mins(3)),
            schedule_group: d.as_ref().map_or("default".into(), |d| {
                d.or("schedule_group", "default".to_string())
            }),
            scheduler_role_arns,
        };
        if cfg.default_duration > cfg.max_duration {
            check
                .problems
                .push("failover.drill.default_duration: longer than max_duration");
        }
        cfg
    };
    let data_plane = o
        .obj("data_plane", false)
        .and_then(|d| parse_data_plane(&d, check));

    Some(FailoverConfig {
        hosted_zone_id: hosted_zone_id?,
        state_zone_id: state_zone_id?,
        state_record_name: state_record_name?,
        operator_roles,
        gate_health_checks,
        region_alarms,
        min_active_regions,
        dwell,
        max_automatic_evacuations_per_hour,
        failback,
        readiness,
        drill,
        data_plane,
    })
}

/// The longest a probe may wait: the tick runs every minute and a probe must leave it time.
const PROBE_TIMEOUT_MAX: Duration = Duration::from_secs(10);

fn parse_data_plane(d: &Obj<'_>, check: &Checker<'_>) -> Option<DataPlaneConfig> {
    let table: Option<String> = d.req("table");
    let observers: BTreeMap<Region, Region> = match d.opt("observers") {
        Some(map) => map,
        // Two regions: each observes the other.
        None if check.regions.len() == 2 => BTreeMap::from([
            (check.regions[0].clone(), check.regions[1].clone()),
            (check.regions[1].clone(), check.regions[0].clone()),
        ]),
        None => {
            d.problem("observers", "required with more than two regions");
            BTreeMap::new()
        }
    };
    let probes: BTreeMap<Region, Vec<String>> = d.req("probes").unwrap_or_default();
    let probe_timeout = d.or("probe_timeout", Duration::from_secs(3));
    check.every_region("failover.data_plane.observers", &observers);
    for (region, observer) in &observers {
        let path = format!("failover.data_plane.observers.{region}");
        check.region(&path, observer);
        if region == observer {
            check.problems.push(format!(
                "{path}: a region cannot observe itself: when it is dark, its own copy is too"
            ));
        }
    }
    check.every_region("failover.data_plane.probes", &probes);
    for (region, urls) in &probes {
        let path = format!("failover.data_plane.probes.{region}");
        if urls.is_empty() {
            check
                .problems
                .push(format!("{path}: list at least one health endpoint URL"));
        }
        for url in urls {
            if let Err(why) = crate::probe::ProbeUrl::parse(url) {
                check.problems.push(format!("{path}: {why}"));
            }
        }
    }
    if probe_timeout.as_std().is_zero() || probe_timeout > PROBE_TIMEOUT_MAX {
        d.problem(
            "probe_timeout",
            format!("must be more than 0 and at most {PROBE_TIMEOUT_MAX}"),
        );
    }
    if let Some(t) = &table {
        // DynamoDB table names: 3-255 of [a-zA-Z0-9_.-].
        let ok = (3..=255).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            d.problem(
                "table",
                "must be a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)",
            );
        }
    }
    Some(DataPlaneConfig {
        table: table?,
        observers,
        probes,
        probe_timeout,
    })
}

fn thresholds(o: &Obj<'_>, lag_default: Duration) -> Thresholds {
    Thresholds {
        lag: o.or("lag_threshold", lag_default),
        failed: o.or("failed_threshold", 0u64),
    }
}

fn parse_replication(o: Option<Obj<'_>>, check: &Checker<'_>) -> Option<ReplicationConfig> {
    let Some(o) = o else {
        return Some(ReplicationConfig {
            window: Duration::from_mins(120),
            alert_state_parameter: "/controlplane/replication-alert-state".into(),
            ecr: None,
            s3: None,
            secrets: None,
        });
    };
    let window = o.or("window", Duration::from_mins(120));
    let alert_state_parameter = o.or(
        "alert_state_parameter",
        "/controlplane/replication-alert-state".to_string(),
    );
    if !alert_state_parameter.starts_with('/') {
        o.problem(
            "alert_state_parameter",
            "SSM parameter names with a path must start with '/'",
        );
    }

    let ecr = o.obj("ecr", false).and_then(|e| {
        let registry_id: Option<AccountId> = e.req("registry_id");
        let source_region: Option<Region> = e.req("source_region");
        let repositories: Vec<String> = e.req("repositories").unwrap_or_default();
        let destination_regions: Vec<Region> = e.req("destination_regions").unwrap_or_default();
        let role = e.obj("role", false).and_then(|r| {
            let role_arn: Option<Arn> = r.req("role_arn");
            let external_id: Option<String> = r.req("external_id");
            if let Some(arn) = &role_arn {
                check.arn("replication.ecr.role.role_arn", arn, "iam", None);
            }
            if external_id.as_deref().is_some_and(|x| x.len() < 2) {
                r.problem("external_id", "must be at least 2 characters");
            }
            Some(CrossAccountRole {
                role_arn: role_arn?,
                external_id: external_id?,
            })
        });
        if let Some(id) = &registry_id {
            check.account("replication.ecr.registry_id", id);
        }
        if let Some(r) = &source_region {
            check.region("replication.ecr.source_region", r);
        }
        for r in &destination_regions {
            check.region("replication.ecr.destination_regions", r);
            if Some(r) == source_region.as_ref() {
                e.problem("destination_regions", format!("{r} is the source region"));
            }
        }
        if destination_regions.is_empty() {
            e.problem("destination_regions", "list at least one region");
        }
        let thresholds = thresholds(&e, Duration::from_mins(15));
        Some(EcrReplication {
            registry_id: registry_id?,
            source_region: source_region?,
            repositories,
            destination_regions,
            role,
            thresholds,
        })
    });

    let s3 = o.obj("s3", false).map(|s| {
        let rules = s.list("rules", true, |r| {
            let rule = S3Rule {
                source_bucket: r.req("source_bucket")?,
                destination_bucket: r.req("destination_bucket")?,
                rule_id: r.req("rule_id")?,
                source_region: r.req("source_region")?,
                destination_region: r.req("destination_region")?,
            };
            check.region(&r.path_of("source_region"), &rule.source_region);
            check.region(&r.path_of("destination_region"), &rule.destination_region);
            Some(rule)
        });
        S3Replication {
            rules,
            thresholds: thresholds(&s, Duration::from_mins(15)),
            pending_threshold: s.or("pending_threshold", 1_000u64),
        }
    });

    let secrets = o.obj("secrets", false).and_then(|s| {
        let source_region: Option<Region> = s.req("source_region");
        let secret_ids: Vec<String> = s.req("secret_ids").unwrap_or_default();
        if let Some(r) = &source_region {
            check.region("replication.secrets.source_region", r);
        }
        let thresholds = thresholds(&s, Duration::from_mins(10));
        Some(SecretsReplication {
            source_region: source_region?,
            secret_ids,
            thresholds,
        })
    });

    Some(ReplicationConfig {
        window,
        alert_state_parameter,
        ecr,
        s3,
        secrets,
    })
}

fn parse_concurrency(
    o: Option<Obj<'_>>,
    env: Option<Environment>,
    check: &Checker<'_>,
) -> Option<ConcurrencyConfig> {
    let env_baseline = env.map_or(1, Environment::baseline_concurrency);
    let empty = serde_json::Map::new();
    let problems_sink = Problems::default();
    // An absent section reads as an empty object: defaults everywhere.
    let fallback;
    let o = match o {
        Some(o) => o,
        None => {
            fallback = Obj::root_of(&empty, &problems_sink);
            fallback
        }
    };
    let alias = o.or("alias", "live".to_string());
    let baseline = o.or("baseline", env_baseline);
    let min = o.or("min", 0u32);
    let max = o.or("max", 100u32);
    let surge_factor = o.or("surge_factor", 2.0f64);
    let windows: Vec<Window> = o.or("windows", Vec::new());
    let utilization = {
        let u = o.obj("utilization", false);
        UtilizationConfig {
            enabled: u.as_ref().is_some_and(|u| u.or("enabled", false)),
            window: u.as_ref().map_or(Duration::from_mins(15), |u| {
                u.or("window", Duration::from_mins(15))
            }),
            target: u.as_ref().map_or(0.7, |u| u.or("target", 0.7)),
        }
    };
    let targets = o.list("targets", false, |t| {
        let function: String = t.req("function")?;
        let regions: Vec<Region> = t.or("regions", check.regions.to_vec());
        for r in &regions {
            check.region(&t.path_of("regions"), r);
        }
        let target = Target {
            alias: t.or("alias", alias.clone()),
            baseline: t.or("baseline", baseline),
            min: t.or("min", min),
            max: t.or("max", max),
            surge: t.opt("surge"),
            function,
            regions,
        };
        if target.min > target.max {
            t.problem("min", format!("{} is above max {}", target.min, target.max));
        }
        Some(target)
    });
    let discovery = o.obj("discovery", false).and_then(|d| {
        Some(DiscoveryConfig {
            tag_key: d.req("tag_key")?,
            tag_value: d.opt("tag_value"),
        })
    });
    let requests_per_second = o.or("requests_per_second", 10u32);
    let max_in_flight = o.or("max_in_flight", 4usize);
    let ready_timeout = o.or("ready_timeout", Duration::from_secs(120));
    let state_parameter = o.or(
        "state_parameter",
        "/controlplane/concurrency-state".to_string(),
    );

    if min > max {
        o.problem("min", format!("{min} is above max {max}"));
    }
    if !(1.0..=10.0).contains(&surge_factor) {
        o.problem("surge_factor", "must be between 1.0 and 10.0");
    }
    if !(0.1..=1.0).contains(&utilization.target) {
        check
            .problems
            .push("concurrency.utilization.target: must be between 0.1 and 1.0");
    }
    if requests_per_second == 0 || requests_per_second > 15 {
        o.problem(
            "requests_per_second",
            "must be 1..=15 (Lambda's control-plane quota is about 15 requests/s per account)",
        );
    }
    if max_in_flight == 0 || max_in_flight > 32 {
        o.problem("max_in_flight", "must be 1..=32");
    }
    if !state_parameter.starts_with('/') {
        o.problem(
            "state_parameter",
            "SSM parameter names with a path must start with '/'",
        );
    }
    for (i, w) in windows.iter().enumerate() {
        if let Err(e) = crate::schedule::validate_window(w) {
            check
                .problems
                .push(format!("concurrency.windows[{i}] ({}): {e}", w.name));
        }
    }
    Some(ConcurrencyConfig {
        alias,
        baseline,
        min,
        max,
        surge_factor,
        windows,
        utilization,
        targets,
        discovery,
        requests_per_second,
        max_in_flight,
        ready_timeout,
        state_parameter,
    })
}
