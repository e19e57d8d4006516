pub mod ids;
pub mod time;
pub mod transfer;
