//! Integration and end-to-end tests: one binary, so the SDK links once.

mod bench_smoke;
mod concurrency;
mod dark_region;
mod dashboard;
mod demo;
mod e2e;
mod failover;
mod faults;
mod iam;
mod infra;
mod replication;
mod strict;
