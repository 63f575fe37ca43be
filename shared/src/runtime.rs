//! The one `main` of every control-plane function: logging, the home region, the
//! configuration (refused whole when anything is wrong), the AWS clients, then the
//! Lambda runtime. Each function's main.rs is one line: `shared::lambda_main!(crate)`.

use crate::aws::{home_region, sdk_config, ssm::Ssm};
use crate::{Config, Invocation, Region};
use lambda_runtime::Context;

/// Logging on, the home region and the configuration read (inline or from SSM) and
/// checked against it. An error here makes the function refuse to start.
pub async fn start() -> Result<(Config, Region), lambda_runtime::Error> {
    crate::logging::init();
    crate::aws::tls::Trust::parse(std::env::var(crate::aws::tls::TRUST_ENV).ok().as_deref())?;
    let home = home_region()?;
    let config = Config::from_env_with(|name| {
        let home = home.clone();
        async move { Ssm::new(&sdk_config(&home).await).get_required(&name).await }
    })
    .await?;
    config.check_home(&home)?;
    Ok((config, home))
}

/// How the process ends when it cannot serve: one JSON ERROR line saying why (the
/// configuration's every problem, a region outside `regions`, the Runtime API gone), in
/// place of Rust's `Error: …` debug print on stderr, and a failing exit status so Lambda
/// reports the init error.
pub fn exit(function: &str, why: &str, error: lambda_runtime::Error) -> std::process::ExitCode {
    tracing::error!(function, error = %error, "{why}");
    std::process::ExitCode::FAILURE
}

impl Invocation {
    pub fn of(context: &Context) -> Self {
        Self {
            request_id: context.request_id.clone(),
            function_arn: context.invoked_function_arn.clone(),
            deadline: chrono::DateTime::from_timestamp_millis(context.deadline as i64),
        }
    }
}

/// `main` for a function crate that has `FUNCTION`, `aws::AwsWorld::new(&Config, &Region)
/// -> Result<AwsWorld>` and `handle(payload, &Invocation, &Config, &Region, &World)`.
#[macro_export]
macro_rules! lambda_main {
    ($function:ident) => {
        #[tokio::main(flavor = "current_thread")]
        async fn main() -> std::process::ExitCode {
            let refused =
                |error| $crate::runtime::exit($function::FUNCTION, "refused to start", error);
            let (config, home) = match $crate::runtime::start().await {
                Ok(started) => started,
                Err(error) => return refused(error),
            };
            let world = match $function::aws::AwsWorld::new(&config, &home).await {
                Ok(world) => world,
                Err(error) => return refused(error.into()),
            };
            let (config, home, world) = (&config, &home, &world);
            let served = $crate::logging::run(
                $function::FUNCTION,
                lambda_runtime::service_fn(
                    move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
                        let invocation = $crate::Invocation::of(&event.context);
                        $function::handle(event.payload, &invocation, config, home, world)
                            .await
                            .map_err(lambda_runtime::Diagnostic::from)
                    },
                ),
            )
            .await;
            match served {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(error) => $crate::runtime::exit($function::FUNCTION, "runtime stopped", error),
            }
        }
    };
}
