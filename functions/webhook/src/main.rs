//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module maps a delivery to the domain call.

use shared::runtime::config::ProcessEnv;
use std::sync::Arc;
use webhook::receive::WebhookSettings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::runtime::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_http::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("webhook");
    let deps = Arc::new(shared::runtime::app::Deps::init().await?);
    let settings = Arc::new(WebhookSettings::from_source(&ProcessEnv)?);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let (deps, settings) = (deps.clone(), settings.clone());
        async move {
            let response = webhook::handler::handle(&deps.store, &deps.secrets, &settings, request).await;
            shared::runtime::metrics::flush();
            response
        }
    }))
    .await
}
