//! Wiring only: configuration and the EventBridge client are built once per cold start;
//! `handler::serve` shares them with every batch.

use notify::bus::EventBridgeBus;
use notify::settings::NotifySettings;
use shared::runtime::config::ProcessEnv;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::runtime::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_runtime::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("notify");
    let settings = NotifySettings::from_source(&ProcessEnv)?;
    let sdk = shared::runtime::aws::load_sdk_config().await;
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), settings.event_bus);
    notify::handler::serve(bus).await
}
