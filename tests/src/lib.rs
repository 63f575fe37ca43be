//! The Rust side of the local AWS world: a client for `tests/localaws` (start,
//! admin API, SDK configuration per account and region), the topology builder
//! that creates the seed's world in it, and a Lambda Runtime API emulator that
//! runs the real `bootstrap` binaries. Used by the tests, the demo and the benchmarks.

pub mod bench;
pub mod demo;
pub mod deploy;
pub mod localaws;
pub mod runtime;
pub mod topology;

pub use localaws::LocalAws;

/// The three accounts of the seed's layout.
pub const SHARED_SERVICES: &str = "111111111111";
pub const DEV: &str = "222222222222";
pub const PROD: &str = "333333333333";
pub const PRIMARY: &str = "eu-central-1";
pub const SECONDARY: &str = "us-east-1";

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
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

/// A "CloudWatch Alarm State Change" event (the EventBridge fixture) for `alarm`
/// going to `state` (`ALARM`, `OK`) now, timestamped as CloudWatch does: failover
/// treats an event that is not newer than one it handled as a repeat.
pub fn alarm_event(alarm: &str, state: &str) -> serde_json::Value {
    let now = chrono::Utc::now();
    let mut event = fixture("cloudwatch-alarm-state-change.json");
    event["time"] = now.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
    event["detail"]["alarmName"] = alarm.into();
    event["detail"]["state"]["value"] = state.into();
    event["detail"]["state"]["timestamp"] =
        now.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string().into();
    event
}
