//! Integration and end-to-end tests: one binary, so the SDK links once.

mod e2e;
mod infra;
