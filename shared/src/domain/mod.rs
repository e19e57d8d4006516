//! The payment domain, pure: ids, the transfer record and its state machine, the checkout and its
//! settlement rules, what Mesh reports and what became of it, the mismatch rules, the events a change
//! raises for the merchant's systems, time helpers. No I/O and no AWS, HTTP or Lambda type
//! (`tests/layers.rs` holds that); every other layer builds on this one.

pub mod checkout;
pub mod ids;
pub mod mismatch;
pub mod report;
pub mod settlement_event;
pub mod time;
pub mod transfer;
