//! Properties of settlement through the ingest path, on the in-memory store: over arbitrary sequences
//! of reports about a checkout's attempts (any status, any amount, token and time, event ids reused,
//! redelivered) interleaved with cancels and expiries, after every step:
//! - the checkout agrees with its transfers: its `succeeded` and `pending` attempts are exactly the
//!   transfers Mesh reports succeeded and pending (one transaction writes both);
//! - a closed status never changes;
//! - a settled status is the judgement of a succeeded attempt's value, from Mesh's figures, and
//!   `safe_to_fulfil` only ever means that attempt paid the price in full;
//! - two successes on a settled checkout are a double payment; a success on a closed one is late.

use proptest::prelude::*;
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, NewCheckout, ReviewFlag, close, judge, value_in_fiat};
use shared::domain::ids::{CheckoutId, EventId, OrderId, TransactionId, TransferId, UserId};
use shared::domain::report::{Report, ReportSource};
use shared::domain::transfer::{Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::ingest::ingest;
use shared::storage::{CheckoutChange, CheckoutStore, MemoryTransferStore, StoreError, TransferStore};
use std::collections::{BTreeMap, BTreeSet};

const ATTEMPTS: usize = 3;
const EVENT_IDS: usize = 8;
const STATUSES: [&str; 5] = ["Pending", "Succeeded", "Failed", "RefundPending", "Exploded"];
/// (token, amount, Mesh's fiat figure): exact, short, over, unpriced, priced by Mesh.
const PAYMENTS: [(&str, &str, Option<&str>); 6] = [
    ("USDC", "50", None),
    ("USDC", "20", None),
    ("USDT", "80", None),
    ("ETH", "0.02", None),
    ("ETH", "0.02", Some("50.2")),
    ("USDC", "49.6", Some("1")),
];
const START: i64 = 1_000_000;

#[derive(Debug, Clone)]
enum Step {
    /// `listed`: as the transfers API gives it, with Mesh's fiat figure; else as a webhook, without.
    Report {
        event: usize,
        attempt: usize,
        status: &'static str,
        listed: bool,
        at: Option<i64>,
    },
    Cancel,
    Expire,
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..EVENT_IDS, 0..ATTEMPTS, prop::sample::select(&STATUSES[..]), any::<bool>(), prop::option::of(0i64..50))
            .prop_map(|(event, attempt, status, listed, at)| Step::Report { event, attempt, status, listed, at }),
        1 => Just(Step::Cancel),
        1 => Just(Step::Expire),
    ]
}

/// What arrived for one attempt (each attempt pays one way), as a webhook or the listing tells it.
fn received(payment: usize, listed: bool) -> Received {
    let (token, amount, fiat) = PAYMENTS[payment];
    Received {
        amount: Some(amount.parse().unwrap()),
        token: Some(token.into()),
        chain: None,
        address: None,
        amount_in_fiat: fiat.filter(|_| listed).map(|f| f.parse().unwrap()),
    }
}

async fn setup(store: &MemoryTransferStore) -> (CheckoutId, Vec<TransactionId>) {
    let new = NewCheckout {
        order_id: OrderId::parse("order-p").unwrap(),
        shopper: UserId::parse("u").unwrap(),
        amount_in_fiat: "50".parse().unwrap(),
        currency: "USD".into(),
        assets: vec![],
        metadata: BTreeMap::new(),
        expires_in_ms: 60_000,
    };
    let c = CheckoutRecord::open(CheckoutId::parse("chk_p").unwrap(), new, START);
    store.open_checkout(&c, None).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..ATTEMPTS {
        let mut t =
            TransferRecord::created(TransactionId::parse(format!("txn_{i}")).unwrap(), c.shopper.clone(), START);
        t.checkout_id = Some(c.checkout_id.clone());
        let version = store.get_checkout(&c.checkout_id).await.unwrap().unwrap().version;
        store.create_attempt(&t, &c.checkout_id, version).await.unwrap();
        ids.push(t.transaction_id);
    }
    (c.checkout_id, ids)
}

async fn close_now(store: &MemoryTransferStore, id: &CheckoutId, to: CheckoutStatus, now: i64) {
    let c = store.get_checkout(id).await.unwrap().unwrap();
    if let Some(state) = close(&c, to, now) {
        let change = CheckoutChange { id: id.clone(), expected_version: c.version, state, now };
        match store.update_checkout(&change).await {
            Ok(()) | Err(StoreError::VersionConflict) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn check(c: &CheckoutRecord, before: &CheckoutRecord, transfers: &[TransferRecord]) -> Result<(), String> {
    let with = |s: TransferStatus| -> BTreeSet<&TransactionId> {
        transfers.iter().filter(|t| t.status == s).map(|t| &t.transaction_id).collect()
    };
    let succeeded: BTreeSet<&TransactionId> = c.succeeded.iter().collect();
    let pending: BTreeSet<&TransactionId> = c.pending.iter().collect();
    if succeeded != with(TransferStatus::Succeeded) || succeeded.len() != c.succeeded.len() {
        return Err(format!("succeeded {:?} vs transfers {:?}", c.succeeded, with(TransferStatus::Succeeded)));
    }
    if pending != with(TransferStatus::Pending) || pending.len() != c.pending.len() {
        return Err(format!("pending {:?} vs transfers {:?}", c.pending, with(TransferStatus::Pending)));
    }
    if !before.status.is_open() && c.status != before.status {
        return Err(format!("closed {:?} became {:?}", before.status, c.status));
    }
    if c.status.is_settled() {
        let by = c.settled_by.as_ref().ok_or("settled by nobody")?;
        let t = transfers.iter().find(|t| &t.transaction_id == by).ok_or("settled by a stranger")?;
        let value = t.received.as_ref().and_then(value_in_fiat).ok_or("settled on an unknown value")?;
        if t.status != TransferStatus::Succeeded || c.received_in_fiat != Some(value) {
            return Err(format!("settled by {by} ({:?}) with {:?}, value {value}", t.status, c.received_in_fiat));
        }
        if judge(c.amount_in_fiat, value) != c.status {
            return Err(format!("{value} judged {:?}", c.status));
        }
        if c.succeeded.len() > 1 && !c.flags.contains(&ReviewFlag::DoublePayment) {
            return Err("two successes without a double-payment flag".into());
        }
    } else if c.settled_by.is_some() {
        return Err(format!("{:?} with a settling attempt", c.status));
    }
    if c.safe_to_fulfil() && c.status != CheckoutStatus::Paid {
        return Err("safe to fulfil while not paid".into());
    }
    if matches!(c.status, CheckoutStatus::Expired | CheckoutStatus::Canceled)
        && !c.succeeded.is_empty()
        && !c.flags.contains(&ReviewFlag::Late)
    {
        return Err("a success on a closed checkout is not flagged late".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn settlement_agrees_with_the_transfers_and_only_moves_forward(
        payments in prop::array::uniform3(0..PAYMENTS.len()),
        steps in prop::collection::vec(any_step(), 1..30),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let store = MemoryTransferStore::default();
            let (id, attempts) = setup(&store).await;
            for (i, step) in steps.iter().enumerate() {
                let now = START + 1_000 * (i as i64 + 1) * 10;
                let before = store.get_checkout(&id).await.unwrap().unwrap();
                match step {
                    Step::Cancel => close_now(&store, &id, CheckoutStatus::Canceled, now).await,
                    Step::Expire => close_now(&store, &id, CheckoutStatus::Expired, now).await,
                    Step::Report { event, attempt, status, listed, at } => {
                        let report = Report {
                            event_id: EventId::parse(format!("evt-{event}")).unwrap(),
                            source: ReportSource::Webhook,
                            transfer_id: TransferId::parse(format!("tr-{attempt}")).unwrap(),
                            transaction_id: Some(attempts[*attempt].clone()),
                            user_id: None,
                            status: ReportedStatus::parse(status),
                            event_at: at.map(|a| START + a),
                            tx_hash: None,
                            received: received(payments[*attempt], *listed),
                        };
                        ingest(&store, &report, status, now).await.unwrap();
                    }
                }
                let after = store.get_checkout(&id).await.unwrap().unwrap();
                let mut transfers = Vec::new();
                for t in &attempts {
                    transfers.push(store.get(t).await.unwrap().unwrap());
                }
                if let Err(broken) = check(&after, &before, &transfers) {
                    prop_assert!(false, "step {} ({:?}) of {:?}: {}", i, step, steps, broken);
                }
            }
            Ok(())
        })?;
    }
}
