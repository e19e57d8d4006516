//! The webhook function: receives Mesh's signed transfer-status deliveries and records each event
//! exactly once through the shared ingest path.

pub mod handler;
pub mod receive;
