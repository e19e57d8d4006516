//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module runs one reconciliation pass.

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = Arc::new(shared::app::Deps::init().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| handler::handle(deps.clone(), event)))
        .await
}
