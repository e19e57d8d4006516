//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module runs one reconciliation pass.

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::app::Deps;
use shared::lease::DynamoLeaseStore;
use shared::mesh::MeshClient;
use shared::reconcile::{Reconciler, Settings};
use std::sync::Arc;

struct App {
    deps: Deps,
    mesh: MeshClient,
    leases: DynamoLeaseStore,
    settings: Settings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::startup::exit_code(run().await).await
}

async fn run() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::metrics::init("reconcile");
    let deps = Deps::init().await?;
    let settings = Settings::from_env()?;
    let leases = DynamoLeaseStore::new(deps.dynamodb.clone(), deps.config.transfers_table.clone(), "reconcile");
    let mesh = deps.mesh_client()?;
    let app = Arc::new(App { deps, mesh, leases, settings });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let reconciler = Reconciler {
                store: &app.deps.store,
                leases: &app.leases,
                secrets: &app.deps.secrets,
                mesh: &app.mesh,
                settings: &app.settings,
            };
            let result = handler::handle(&reconciler, event).await;
            shared::metrics::flush();
            result
        }
    }))
    .await
}
