//! Wiring only: config, clients, runtime.

use lambda_runtime::{service_fn, LambdaEvent};
use replication_monitor::{handle, AwsDeps, Invocation};
use shared::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let home = shared::aws::home_region()?;
    let home_sdk = shared::aws::sdk_config(&home).await;
    let ssm = shared::aws::ssm::Ssm::new(&home_sdk);
    // Any config problem stops the function here: it refuses to act on a bad config.
    let config = Config::from_env_with(|name| async move { ssm.get_required(&name).await }).await?;
    config.check_home(&home)?;
    let deps = AwsDeps::new(&config, &home).await?;
    let (config, deps) = (&config, &deps);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let inv = Invocation {
            region: home.clone(),
            request_id: Some(event.context.request_id.clone()),
        };
        async move { handle(event.payload, &inv, deps, config, chrono::Utc::now()).await }
    }))
    .await
}
