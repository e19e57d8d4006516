//! Wiring only: configuration and clients are built once per cold start and shared by every
//! invocation through an `Arc`; the handler module runs one reconciliation pass.

use lambda_runtime::{LambdaEvent, service_fn};
use reconcile::lease::DynamoLeaseStore;
use reconcile::run::{Reconciler, Settings};
use shared::mesh::MeshClient;
use shared::runtime::app::Deps;
use std::sync::Arc;

struct App {
    deps: Deps,
    mesh: MeshClient,
    leases: DynamoLeaseStore,
    settings: Settings,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::telemetry::init();
    shared::runtime::metrics::init("reconcile");
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
            let result = reconcile::handler::handle(&reconciler, event).await;
            shared::runtime::metrics::flush();
            result
        }
    }))
    .await
}
