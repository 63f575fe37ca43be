use concurrency_scheduler::{aws::AwsWorld, handle, Invocation};
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
    let world = AwsWorld::new(&config, &home).await?;
    let (config, home, world) = (&config, &home, &world);
    shared::logging::run(
        concurrency_scheduler::FUNCTION,
        service_fn(move |event: LambdaEvent<Value>| async move {
            let invocation = Invocation {
                request_id: event.context.request_id.clone(),
                function_arn: event.context.invoked_function_arn.clone(),
            };
            handle(event.payload, &invocation, config, home, world)
                .await
                .map_err(Diagnostic::from)
        }),
    )
    .await
}
