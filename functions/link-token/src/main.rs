//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module maps requests to the use cases in `service`.

mod error;
mod handler;
mod service;
#[cfg(test)]
mod tests;

use shared::config::{Destinations, ProcessEnv};
use shared::idempotency::DynamoIdempotencyStore;
use shared::link::LinkPolicy;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    shared::metrics::init("link-token");
    let deps = shared::app::Deps::init().await?;
    let mesh = deps.mesh_client()?;
    let auth = handler::AuthMode::from_source(&ProcessEnv, deps.config.mesh_env)?;
    let destinations = Destinations::from_env()?;
    let policy = LinkPolicy::from_source(&ProcessEnv)?;
    let idempotency = DynamoIdempotencyStore::new(deps.dynamodb.clone(), deps.config.transfers_table.clone());
    let service =
        Arc::new(service::LinkService::new(deps.store, idempotency, deps.secrets, mesh, destinations, policy));
    lambda_http::run(lambda_http::service_fn(move |request| {
        let service = service.clone();
        async move {
            let response = handler::handle(service.as_ref(), auth, request).await;
            shared::metrics::flush();
            response
        }
    }))
    .await
}
