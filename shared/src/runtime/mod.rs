//! Runtime plumbing, set up once per cold start: typed configuration, the invocation's deadline, the
//! Mesh secret from Secrets Manager with its cache, JSON logs, EMF metrics, the AWS SDK configuration,
//! and `app::Deps`, what every function builds from them (the top of the layers: it wires `mesh` and `storage`).

pub mod app;
pub mod aws;
pub mod aws_http;
pub mod config;
pub mod deadline;
pub mod http;
pub mod metrics;
pub mod secrets;
pub mod startup;
pub mod telemetry;
