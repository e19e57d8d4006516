//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module maps requests to the use cases in `service`.

use link_token::idempotency::DynamoIdempotencyStore;
use link_token::link::LinkPolicy;
use link_token::{handler, service};
use shared::runtime::config::{Destinations, ProcessEnv};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("link-token");
    let deps = shared::runtime::app::Deps::init().await?;
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
            shared::runtime::metrics::flush();
            response
        }
    }))
    .await
}
