//! The reconcile function: a scheduled pass that asks Mesh for what the webhooks may have missed and
//! repairs it through the shared ingest path.

pub mod app;
pub mod deadline;
pub mod handler;
pub mod lease;
pub mod plan;
pub mod retry;
pub mod run;
pub mod settings;
pub mod summary;
pub mod sweep;
