//! The Mesh Connect API: typed models (REST camelCase, webhook PascalCase), the HTTP client, its
//! errors, the credentials it calls with, and the webhook signature. Depends on nothing else in
//! `shared`. Contract: `docs/mesh-contract.md`.

/// The HTTP client: timeouts on every call, the error classes, pagination of the transfer listing.
mod client;
mod credentials;
mod error;
mod listing;
pub mod models;
pub mod signature;
mod webhook_event;

pub use client::{HttpOptions, MeshClient, TransferPages};
pub use credentials::{MeshSecrets, SecretsError};
pub use error::MeshError;
pub use listing::*;
pub use models::*;
pub use webhook_event::WebhookEvent;
