//! The link-token function: mints Mesh Link tokens with server-chosen destinations and lets a user
//! read their own transfers.

pub mod app;
pub mod auth;
pub mod body;
pub mod error;
pub mod idempotency;
pub mod link;
pub mod routes;
pub mod service;
#[cfg(test)]
mod tests;
