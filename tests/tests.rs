//! Integration and end-to-end tests: one binary, so the SDK links once.

mod concurrency;
mod demo;
mod e2e;
mod infra;
mod replication;
