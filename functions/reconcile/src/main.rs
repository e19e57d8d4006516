//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; `App::invoke` runs one reconciliation pass.

use lambda_runtime::{LambdaEvent, service_fn};
use reconcile::app::App;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::runtime::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_runtime::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("reconcile");
    let app = Arc::new(App::new(shared::runtime::app::Deps::init().await?)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { app.invoke(event).await }
    }))
    .await
}
