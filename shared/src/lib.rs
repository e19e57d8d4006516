//! Everything the three functions share: the transfer domain (pure), the Mesh API client, and the AWS
//! adapters (Secrets Manager, DynamoDB), plus configuration and telemetry set up once per cold start.

pub mod app;
pub mod aws;
pub mod aws_http;
pub mod config;
pub mod idempotency;
pub mod ids;
pub mod ingest;
pub mod lease;
pub mod link;
pub mod mesh;
pub mod metrics;
pub mod reconcile;
pub mod secrets;
pub mod signature;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
pub mod tls;
pub mod transfer;
pub mod webhook;
