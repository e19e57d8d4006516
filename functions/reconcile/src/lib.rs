//! The reconcile function: a scheduled pass that asks Mesh for what the webhooks may have missed and
//! repairs it through the shared ingest path.

pub mod handler;
pub mod lease;
pub mod run;
