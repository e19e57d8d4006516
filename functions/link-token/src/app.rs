//! What a cold start of the link-token function builds on top of the shared dependencies: the Mesh
//! client, the idempotency store, the merchant's destinations and link policy, and the use cases.

use crate::idempotency::DynamoIdempotencyStore;
use crate::link::LinkPolicy;
use crate::service::{DEFAULT_TIMEOUT, LinkService};
use shared::runtime::app::Deps;
use shared::runtime::config::{Destinations, ProcessEnv};
use shared::runtime::deadline::FunctionTimeout;
use shared::runtime::secrets::SecretsManagerSource;
use shared::storage::DynamoTransferStore;

pub type Service = LinkService<DynamoTransferStore, DynamoIdempotencyStore, SecretsManagerSource>;

/// Reads `DESTINATIONS`, the link policy and the function's timeout; fails with a message naming what is wrong.
pub fn service(deps: Deps) -> Result<Service, lambda_http::Error> {
    let mesh = deps.mesh_client()?;
    let destinations = Destinations::from_env()?;
    let policy = LinkPolicy::from_source(&ProcessEnv)?;
    let idempotency = DynamoIdempotencyStore::new(deps.dynamodb.clone(), deps.config.transfers_table.clone());
    let mut service = LinkService::new(deps.store, idempotency, deps.secrets, mesh, destinations, policy);
    service.timeout = FunctionTimeout::from_source(&ProcessEnv, DEFAULT_TIMEOUT)?;
    Ok(service)
}
