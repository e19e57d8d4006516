//! What a cold start of the reconcile function builds on top of the shared dependencies (the run's
//! settings, the Mesh client, the lease store), and one invocation on it.

use crate::handler::{self, HandlerError};
use crate::lease::DynamoLeaseStore;
use crate::run::Reconciler;
use crate::settings::Settings;
use crate::summary::Summary;
use lambda_runtime::LambdaEvent;
use shared::mesh::MeshClient;
use shared::runtime::app::Deps;

pub struct App {
    deps: Deps,
    mesh: MeshClient,
    leases: DynamoLeaseStore,
    settings: Settings,
}

impl App {
    /// Reads the `RECONCILE_*` settings and builds the Mesh client and the lease store on the table.
    pub fn new(deps: Deps) -> Result<Self, lambda_runtime::Error> {
        let settings = Settings::from_env()?;
        let leases = DynamoLeaseStore::new(deps.dynamodb.clone(), deps.config.transfers_table.clone(), "reconcile");
        let mesh = deps.mesh_client()?;
        Ok(Self { deps, mesh, leases, settings })
    }

    /// One scheduled invocation: a run, then its metrics flushed.
    pub async fn invoke(&self, event: LambdaEvent<serde_json::Value>) -> Result<Summary, HandlerError> {
        let reconciler = Reconciler {
            store: &self.deps.store,
            leases: &self.leases,
            secrets: &self.deps.secrets,
            mesh: &self.mesh,
            settings: &self.settings,
        };
        let result = handler::handle(&reconciler, event).await;
        shared::runtime::metrics::flush();
        result
    }
}
