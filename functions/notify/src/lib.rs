//! The notify function: reads the table's change stream (checkout and deposit items only, by the event
//! source mapping's filter), derives each change's settlement events (`shared::domain::settlement_event`)
//! and publishes them to the merchant's EventBridge bus, at least once, each with its stable id.

pub mod bus;
pub mod handler;
pub mod publish;
pub mod redeliver;
pub mod settings;
pub mod stream;

#[cfg(test)]
pub(crate) mod test_support {
    use shared::domain::checkout::{CheckoutRecord, NewCheckout};
    use shared::domain::ids::{CheckoutId, OrderId, UserId};

    /// An open checkout `chk_<n>` of order `order-<n>`, priced 10 USD.
    pub fn open_checkout(n: usize) -> CheckoutRecord {
        let new = NewCheckout {
            order_id: OrderId::parse(format!("order-{n}")).unwrap(),
            shopper: UserId::parse("user-1").unwrap(),
            amount_in_fiat: "10".parse().unwrap(),
            currency: "USD".into(),
            assets: vec![],
            metadata: Default::default(),
            expires_in_ms: 60_000,
        };
        CheckoutRecord::open(CheckoutId::parse(format!("chk_{n}")).unwrap(), new, 0)
    }
}
