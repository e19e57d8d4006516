//! The Mesh Connect API: typed models (REST camelCase, webhook PascalCase), the HTTP client, and its
//! errors. Contract: `shared/mesh-api.md` in the steering repo.

mod client;
mod error;
pub mod models;
pub mod signature;

pub use client::{HttpOptions, MeshClient, TransferPages};
pub use error::MeshError;
pub use models::*;
