//! The Rust side of the local AWS world: a client for `tests/localaws` (start,
//! admin API, SDK configuration per account and region), the topology builder
//! that creates the seed's world in it, and a Lambda Runtime API emulator that
//! runs the real `bootstrap` binaries. Used by the tests, the demo and the benchmarks.

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
