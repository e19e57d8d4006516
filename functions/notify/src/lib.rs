//! The notify function: reads the table's change stream (checkout and deposit items only, by the event
//! source mapping's filter), derives each change's settlement events (`shared::domain::settlement_event`)
//! and publishes them to the merchant's EventBridge bus, at least once, each with its stable id.

pub mod bus;
pub mod handler;
pub mod publish;
pub mod redeliver;
pub mod settings;
pub mod stream;
