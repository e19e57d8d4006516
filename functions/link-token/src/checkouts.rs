//! The merchant's use cases: open a checkout for an order (idempotently per order), read it by id or
//! by order, cancel it. Every change is one conditional write on the version read; after a lost race
//! the checkout is read again and the answer is what is there now.

use crate::auth::Merchant;
use crate::error::ApiError;
use crate::idempotency::IdempotencyStore;
use crate::service::{LinkService, store_error};
use crate::view::CheckoutView;
use shared::domain::checkout::{self, CheckoutRecord, CheckoutStatus, NewCheckout};
use shared::domain::ids::{CheckoutId, OrderId};
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutChange, CheckoutStore, StoreError, TransferStore};

/// How often a write is tried again after a concurrent change (each time on a fresh read).
const WRITES: usize = 5;

/// What `POST /checkouts` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new checkout (201).
    Created,
    /// The order's checkout, asked for again with the same price and shopper (200).
    Existing,
}

impl<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource> LinkService<S, I, K> {
    /// Opens a checkout for the order, unless the order already has one that is open or settled: then
    /// that one, if it was asked for with the same price, currency and shopper, else `order_conflict`.
    /// An expired or canceled one is replaced.
    pub async fn open_checkout(
        &self,
        merchant: &Merchant,
        new: NewCheckout,
        now_ms: i64,
    ) -> Result<(Opened, CheckoutView), ApiError> {
        for _ in 0..WRITES {
            let current = self.store.checkout_for_order(&new.order_id).await.map_err(store_error)?;
            let replacing = match current {
                Some(c) if !matches!(c.status, CheckoutStatus::Expired | CheckoutStatus::Canceled) => {
                    let same = c.amount_in_fiat == new.amount_in_fiat
                        && c.currency == new.currency
                        && c.shopper == new.shopper;
                    return if same { Ok((Opened::Existing, c.into())) } else { Err(ApiError::OrderConflict) };
                }
                Some(c) => Some(c.checkout_id),
                None => None,
            };
            let record = CheckoutRecord::open(CheckoutId::generate(), new.clone(), now_ms);
            match self.store.open_checkout(&record, replacing.as_ref()).await {
                Ok(()) => {
                    tracing::info!(checkout_id = %record.checkout_id, replaced = replacing.as_ref().map(|r| r.as_str()),
                        merchant = %merchant.0, "checkout opened");
                    return Ok((Opened::Created, record.into()));
                }
                // Another create for the order won the race (or a generated id was taken): read again.
                Err(StoreError::VersionConflict | StoreError::AlreadyExists) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::StoreUnavailable("the order's checkout kept changing".into()))
    }

    /// `GET /checkouts/{checkoutId}`: an id that cannot exist is as absent as an unknown one.
    pub async fn checkout(&self, raw_id: &str) -> Result<CheckoutView, ApiError> {
        Ok(self.read_checkout(raw_id).await?.into())
    }

    /// `GET /checkouts?orderId=`: the order's current checkout.
    pub async fn checkout_of_order(&self, raw_order: Option<&str>) -> Result<CheckoutView, ApiError> {
        let invalid =
            || ApiError::InvalidParameter { name: "orderId", expected: "the order's id, 1-128 printable characters" };
        let order = OrderId::parse(raw_order.ok_or_else(invalid)?).map_err(|_| invalid())?;
        match self.store.checkout_for_order(&order).await.map_err(store_error)? {
            Some(c) => Ok(c.into()),
            None => Err(ApiError::NotFound),
        }
    }

    /// `POST /checkouts/{checkoutId}/cancel`: open and processing checkouts close as `canceled` (a
    /// payment that succeeds later is flagged `late`); a closed one answers `checkout_closed`, one with a
    /// payment Mesh reported succeeded (still being valued) `payment_received`. Counted in
    /// `CheckoutsSettled{Status=canceled}` once the write commits.
    pub async fn cancel_checkout(
        &self,
        merchant: &Merchant,
        raw_id: &str,
        now_ms: i64,
    ) -> Result<CheckoutView, ApiError> {
        for _ in 0..WRITES {
            let current = self.read_checkout(raw_id).await?;
            let Some(state) = checkout::close(&current, CheckoutStatus::Canceled, now_ms) else {
                return Err(if current.status.is_open() {
                    // Mesh reported a payment succeeded and it awaits its value: it settles, never cancels.
                    ApiError::PaymentReceived
                } else {
                    ApiError::CheckoutClosed(current.status.as_str())
                });
            };
            let change = CheckoutChange {
                id: current.checkout_id.clone(),
                expected_version: current.version,
                state,
                now: now_ms,
            };
            match self.store.update_checkout(&change).await {
                Ok(()) => {
                    shared::ingest::count_settlement(&current, &change);
                    tracing::info!(checkout_id = %change.id, merchant = %merchant.0, "checkout canceled");
                    return Ok(current.with_state(change.state, now_ms).into());
                }
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::StoreUnavailable("the checkout kept changing".into()))
    }

    async fn read_checkout(&self, raw_id: &str) -> Result<CheckoutRecord, ApiError> {
        let id = CheckoutId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        self.store.get_checkout(&id).await.map_err(store_error)?.ok_or(ApiError::NotFound)
    }
}
