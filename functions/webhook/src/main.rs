//! Wiring only: configuration and clients are built once per cold start; `handler::serve` shares them
//! with every invocation and maps each delivery to the domain call.

use shared::runtime::config::ProcessEnv;
use webhook::receive::WebhookSettings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::runtime::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_http::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("webhook");
    let deps = shared::runtime::app::Deps::init().await?;
    let settings = WebhookSettings::from_source(&ProcessEnv)?;
    webhook::handler::serve(deps, settings).await
}
