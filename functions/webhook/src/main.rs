//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module maps a delivery to the domain call.

mod handler;

use shared::config::ProcessEnv;
use shared::webhook::WebhookSettings;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    shared::metrics::init("webhook");
    let deps = Arc::new(shared::app::Deps::init().await?);
    let settings = Arc::new(WebhookSettings::from_source(&ProcessEnv)?);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let (deps, settings) = (deps.clone(), settings.clone());
        async move {
            let response = handler::handle(&deps.store, &deps.secrets, &settings, request).await;
            shared::metrics::flush();
            response
        }
    }))
    .await
}
