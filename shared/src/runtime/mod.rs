pub mod app;
pub mod aws;
pub mod config;
pub mod metrics;
pub mod secrets;
pub mod telemetry;
