//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the router in `routes` maps requests to the use cases in `service`.

use link_token::auth::AuthMode;
use shared::runtime::config::ProcessEnv;
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::runtime::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_http::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("link-token");
    let deps = shared::runtime::app::Deps::init().await?;
    let auth = AuthMode::from_source(&ProcessEnv, deps.config.mesh_env)?;
    let service = Arc::new(link_token::app::service(deps)?);
    shared::runtime::http::run(link_token::routes::service(service, auth)).await
}
