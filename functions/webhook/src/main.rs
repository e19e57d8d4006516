//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module maps events to domain calls.

mod handler;

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let deps = Arc::new(shared::app::Deps::init().await?);
    lambda_http::run(lambda_http::service_fn(move |request| handler::handle(deps.clone(), request))).await
}
