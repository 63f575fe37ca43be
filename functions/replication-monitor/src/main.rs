//! Wiring only: config, clients, runtime.

use lambda_runtime::{service_fn, LambdaEvent};
use replication_monitor::{aws::AwsWorld, handle, Invocation};
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
    let world = AwsWorld::new(&config, &home).await?;
    let (config, home, world) = (&config, &home, &world);
    shared::logging::run(
        replication_monitor::FUNCTION,
        service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
            let invocation = Invocation {
                request_id: event.context.request_id.clone(),
                function_arn: event.context.invoked_function_arn.clone(),
            };
            handle(event.payload, &invocation, config, home, world).await
        }),
    )
    .await
}
