//! The Rust side of the local AWS world: a client for `tests/localaws` (start,
//! admin API, SDK configuration per account and region), the topology builder
//! that creates the seed's world in it, and a Lambda Runtime API emulator that
//! runs the real `bootstrap` binaries. Used by the tests, the demo and the benchmarks.

pub mod deploy;
pub mod http;
pub mod localaws;
pub mod runtime;
pub mod signed;
pub mod topology;
pub mod url;

pub use localaws::LocalAws;

/// The three accounts of the seed's layout.
pub const SHARED_SERVICES: &str = "111111111111";
pub const DEV: &str = "222222222222";
pub const PROD: &str = "333333333333";
pub const PRIMARY: &str = "eu-central-1";
pub const SECONDARY: &str = "us-east-1";

/// An account of its own for `name` (a world, a test): `first` and 11 digits of a
/// stable hash of `name`. AWS's quotas and limits are per account in the local world as
/// in AWS, so what runs side by side never shares them.
pub fn account_for(first: char, name: &str) -> String {
    // FNV-1a: stable across runs and platforms (std's hasher is randomly keyed).
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{first}{:011}", hash % 100_000_000_000)
}

/// The repository root: the nearest directory above this crate holding the workspace's
/// `Cargo.lock`, so fixtures and binaries resolve wherever the crate sits.
pub fn repo_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", here.display()))
        .to_path_buf()
}

/// The debug target directory (`CARGO_TARGET_DIR` honoured), where `cargo build` puts
/// this workspace's binaries.
pub fn debug_dir() -> std::path::PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"))
        .join("debug")
}

/// A binary of this workspace in the debug target directory (`cargo build` first).
pub fn binary(name: &str) -> std::path::PathBuf {
    debug_dir().join(name)
}

/// An event sample from `tests/fixtures`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Makes an alarm event (EventBridge shape) the one CloudWatch sends for `alarm_arn`:
/// `resources`, `account`, `region` and `detail.alarmName` all from the ARN, as failover
/// checks them against each other.
pub fn address_alarm_event(event: &mut serde_json::Value, alarm_arn: &str) {
    let arn = shared::AlarmArn::parse(alarm_arn).unwrap_or_else(|e| panic!("{e}"));
    event["resources"] = serde_json::json!([alarm_arn]);
    event["account"] = arn.account().as_str().into();
    event["region"] = arn.region().as_str().into();
    event["detail"]["alarmName"] = arn.name().into();
}

/// A "CloudWatch Alarm State Change" event (the EventBridge fixture) for the alarm
/// `alarm_arn` going to `state` (`ALARM`, `OK`) now, timestamped as CloudWatch does:
/// failover treats an event that is not newer than one it handled as a repeat.
pub fn alarm_event(alarm_arn: &str, state: &str) -> serde_json::Value {
    let now = chrono::Utc::now();
    let mut event = fixture("cloudwatch-alarm-state-change.json");
    address_alarm_event(&mut event, alarm_arn);
    event["time"] = now.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
    event["detail"]["state"]["value"] = state.into();
    event["detail"]["state"]["timestamp"] =
        now.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string().into();
    event
}
