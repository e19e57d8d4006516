//! What every function builds once per cold start and shares through an `Arc` across invocations:
//! configuration, the AWS clients, the Mesh secret cache and the transfer store; the Mesh client for the
//! functions that call Mesh.

use crate::mesh::{HttpOptions, MeshClient, MeshError};
use crate::runtime::aws::OnFirstUse;
use crate::runtime::config::{ConfigError, CoreConfig};
use crate::runtime::secrets::{SecretCache, SecretsManagerSource};
use crate::storage::DynamoTransferStore;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

pub struct Deps {
    pub config: CoreConfig,
    pub secrets: SecretCache<SecretsManagerSource>,
    pub store: DynamoTransferStore,
    /// For adapters beyond the transfer store (idempotency, the reconcile lease) on the same table.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Deps {
    /// Reads the configuration and builds every client. Fails with a message naming what is wrong.
    pub async fn init() -> Result<Self, InitError> {
        let config = CoreConfig::from_env()?;
        let sdk = crate::runtime::aws::load_sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        // Built on the first secret read, a request's (`OnFirstUse` says why); the table's client is
        // built here, as before.
        let secrets_manager = OnFirstUse::new(move || aws_sdk_secretsmanager::Client::new(&sdk));
        let secrets = SecretCache::new(
            SecretsManagerSource::new(secrets_manager, config.mesh_secret_id.clone()),
            config.secret_ttl,
        );
        let store = DynamoTransferStore::new(dynamodb.clone(), config.transfers_table.clone());
        Ok(Self { config, secrets, store, dynamodb })
    }

    /// The Mesh client, for the functions that call Mesh (link-token, reconcile; the webhook never does).
    /// It shares the TLS configuration (compiled-in roots) with the AWS clients.
    pub fn mesh_client(&self) -> Result<MeshClient, InitError> {
        Ok(MeshClient::new(self.config.mesh_base_url.clone(), HttpOptions::default())?)
    }
}
