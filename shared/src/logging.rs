//! Structured logs: JSON when Lambda's log format is JSON (Terraform sets it),
//! readable text otherwise.

pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
