//! What two or more of the functions share, in layers (see `docs/architecture.md`): `domain` (pure),
//! `mesh` (the Mesh API client and webhook signature) and `storage` (the DynamoDB adapters and their
//! in-memory twins) on top of it, `ingest` (the write path of webhook and reconcile), and `runtime`
//! (configuration, secrets, telemetry, the cold-start wiring); `tls`, the one TLS configuration both
//! HTTP clients (Mesh's and the AWS SDK's) use. A function's own flow lives in its crate.

pub mod domain;
pub mod ingest;
pub mod mesh;
pub mod runtime;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tls;
