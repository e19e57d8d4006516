//! The link-token function: the merchant's server opens checkouts (priced orders); shoppers mint Mesh
//! Link tokens to pay them, with server-chosen destinations, and read their own transfers.

pub mod app;
pub mod auth;
pub mod body;
pub mod checkout_body;
pub mod checkouts;
pub mod error;
pub mod idempotency;
pub mod link;
pub mod routes;
pub mod service;
#[cfg(test)]
mod tests;
pub mod view;
