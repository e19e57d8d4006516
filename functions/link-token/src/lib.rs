//! The link-token function: mints Mesh Link tokens with server-chosen destinations and lets a user
//! read their own transfers.

pub mod error;
pub mod handler;
pub mod idempotency;
pub mod link;
pub mod service;
#[cfg(test)]
mod tests;
