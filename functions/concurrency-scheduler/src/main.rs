use concurrency_scheduler::{handle, Deps};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::aws::{home_region, sdk_config, ssm::Ssm};
use shared::Config;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let home = home_region()?;
    // Config errors make the function refuse to act: main returns them.
    let config = Config::from_env_with(|name| {
        let home = home.clone();
        async move { Ssm::new(&sdk_config(&home).await).get_required(&name).await }
    })
    .await?;
    config.check_home(&home)?;
    let deps = Deps::new(&config).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(event.payload, deps).await.map_err(Diagnostic::from)
    }))
    .await
}
