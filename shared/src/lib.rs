//! Everything the three functions share: the transfer domain (pure), the Mesh API client, and the AWS
//! adapters (Secrets Manager, DynamoDB), plus configuration and telemetry set up once per cold start.

pub mod domain;
pub mod ingest;
pub mod mesh;
pub mod runtime;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
