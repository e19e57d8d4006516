//! Storage: the ports (`TransferStore`, `CheckoutStore` and the records they read and write), the
//! DynamoDB adapters one file per item kind (transfers; checkouts; event records and parked bodies),
//! the SDK-error helpers every DynamoDB adapter uses, and the in-memory twin for fast tests of code above the store (with, for
//! tests only, `MemorySnapshot`: its whole content and what one report may change in it).
//!
//! Table design (also in the README; the table itself is declared once, in `template.yaml`):
//! - key `pk` (S): `TRANSFER#<transactionId>` for a transfer; other item kinds (webhook events,
//!   the reconcile lease) use their own prefixes in the same table.
//! - `status_rank` (N) mirrors `TransferStatus::rank`; the forward-only rule is a condition on it.
//! - GSI `by-user`: `user_id` + `created_at`, a user's transfers newest first.
//! - GSI `open-transfers`: `open_shard` + `created_at`, sparse: `open_shard` exists only while the
//!   transfer is not terminal, so the index holds exactly the open transfers. Four shards keep one
//!   partition from taking every write.
//! - `CHECKOUT#<checkoutId>`: a checkout; `ORDER#<orderId>`: the order's current checkout.
//! - GSI `open-checkouts`: `checkout_shard` + `expires_at_ms`, sparse like `open-transfers`: the open
//!   and processing checkouts, soonest to expire first.
//! - `expires_at` (N, epoch seconds): the TTL attribute, for short-lived items only (never on a
//!   transfer or a checkout).

mod checkouts;
mod events;
mod memory;
mod port;
mod sdk;
#[cfg(feature = "testkit")]
mod snapshot;
mod transfers;

pub use checkouts::OPEN_CHECKOUTS_INDEX;
pub use memory::MemoryTransferStore;
pub use port::{
    CheckoutChange, CheckoutStore, EVENT_RETENTION_SECS, EventRecord, PageCursor, StatusUpdate, StoreError,
    TransferChange, TransferStore, parked_key,
};
pub use sdk::{n, sdk_error_detail, unavailable};
#[cfg(feature = "testkit")]
pub use snapshot::MemorySnapshot;
pub use transfers::{BY_USER_INDEX, DynamoTransferStore, OPEN_INDEX, OPEN_SHARDS, open_shard};
