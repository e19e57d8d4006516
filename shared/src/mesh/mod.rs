//! The Mesh Connect API: typed models (REST camelCase, webhook PascalCase), the HTTP client, and its
//! errors. Contract: `docs/mesh-contract.md`.

mod client;
mod error;
pub mod models;

pub use client::{HttpOptions, MeshClient, TransferPages};
pub use error::MeshError;
pub use models::*;
