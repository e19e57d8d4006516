pub mod ids;
pub mod mismatch;
pub mod report;
pub mod time;
pub mod transfer;
