//! Checkouts through the handler: the merchant's routes (who may call them, what they accept, reuse,
//! conflict, replacement, cancel) and the shopper paying a checkout in payment mode, on the stores in
//! memory and the Mesh sandbox over HTTP; one flow on DynamoDB over moto.

use super::*;
use shared::domain::checkout::{CheckoutRecord, MAX_ATTEMPTS, NewCheckout};
use shared::domain::ids::{CheckoutId, OrderId, TransactionId, UserId};

/// Payment mode (the default), stores in memory.
async fn shop() -> World {
    world_in(LinkPolicy::default()).await
}

fn order(id: &str, amount: Value, user: &str) -> Value {
    json!({"orderId": id, "amountInFiat": amount, "userId": user})
}

async fn open(service: &Arc<MemoryService>, body: Value) -> (u16, Value) {
    let (status, view, _) = call(service, &merchant_event("POST", "/checkouts", Some(body))).await;
    (status, view)
}

fn pay(checkout: &Value, extra: Value) -> Value {
    let mut body = json!({"checkoutId": checkout["checkoutId"]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

/// A checkout put straight into the store, for states the API cannot reach quickly.
async fn seeded(service: &Arc<MemoryService>, shopper: &str, edit: impl FnOnce(&mut CheckoutRecord)) -> CheckoutId {
    let new = NewCheckout {
        order_id: OrderId::parse(format!("seed-{}", uuid::Uuid::new_v4())).unwrap(),
        shopper: UserId::parse(shopper).unwrap(),
        amount_in_fiat: 20.into(),
        currency: "USD".into(),
        assets: vec![],
        metadata: Default::default(),
        expires_in_ms: 1_800_000,
    };
    let mut record = CheckoutRecord::open(CheckoutId::generate(), new, shared::domain::time::now_millis());
    edit(&mut record);
    service.store.open_checkout(&record, None).await.unwrap();
    record.checkout_id
}

async fn local(service: &Arc<MemoryService>, event: &Value) -> (u16, Value) {
    let request: Request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = handle(service.clone(), AuthMode::Local, request).await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn only_the_merchants_server_may_call_the_checkout_routes() {
    let w = shop().await;
    let body = order("order-1", json!(10), "alice");
    // A shopper's JWT on a merchant route: refused as such, whatever the route and method.
    for (method, path) in [
        ("POST", "/checkouts"),
        ("GET", "/checkouts?orderId=order-1"),
        ("GET", "/checkouts/chk_x"),
        ("POST", "/checkouts/chk_x/cancel"),
        ("DELETE", "/checkouts"),
    ] {
        let mut shopper = merchant_event(method, path, Some(body.clone()));
        shopper["requestContext"]["authorizer"] =
            fixture("link-token-create.json")["requestContext"]["authorizer"].clone();
        let (status, err, _) = call(&w.service, &shopper).await;
        assert_eq!((status, err["code"].as_str()), (403, Some("merchant_only")), "{method} {path}: {err}");
        let mut anonymous = merchant_event(method, path, Some(body.clone()));
        anonymous["requestContext"]["authorizer"] = Value::Null;
        let (status, err, _) = call(&w.service, &anonymous).await;
        assert_eq!((status, err["code"].as_str()), (401, Some("unauthenticated")), "{method} {path}");
    }
    // The merchant's IAM principal is not a shopper either.
    let mut signed_mint = merchant_event("POST", "/link-tokens", Some(json!({"checkoutId": "chk_x"})));
    signed_mint["requestContext"]["http"]["path"] = json!("/link-tokens");
    assert_eq!(call(&w.service, &signed_mint).await.1["code"], "unauthenticated");
    let (status, _, response) = call(&w.service, &merchant_event("DELETE", "/checkouts", None)).await;
    assert_eq!((status, response.headers()["allow"].to_str().unwrap()), (405, "GET, POST"));
    let (status, _, response) = call(&w.service, &merchant_event("GET", "/checkouts/chk_x/cancel", None)).await;
    assert_eq!((status, response.headers()["allow"].to_str().unwrap()), (405, "POST"));
    assert!(w.service.store.checkout_for_order(&OrderId::parse("order-1").unwrap()).await.unwrap().is_none());

    // Locally: X-Local-Merchant, and X-Local-User alone is a shopper.
    let mut e = fixture("checkouts-create.json");
    e["requestContext"]["authorizer"] = Value::Null;
    e["headers"]["x-local-merchant"] = json!("demo-shop");
    let (status, view) = local(&w.service, &e).await;
    assert_eq!(status, 201, "{view}");
    e["headers"].as_object_mut().unwrap().remove("x-local-merchant");
    e["headers"]["x-local-user"] = json!("user-7f3a9c");
    assert_eq!(local(&w.service, &e).await.1["code"], "merchant_only");
    e["headers"].as_object_mut().unwrap().remove("x-local-user");
    assert_eq!(local(&w.service, &e).await.1["code"], "unauthenticated");
}

#[tokio::test]
async fn a_checkout_is_created_read_by_id_and_by_order_and_echoes_what_was_asked() {
    let w = shop().await;
    let (status, view, _) = call(&w.service, &fixture("checkouts-create.json")).await;
    assert_eq!(status, 201, "{view}");
    let id = view["checkoutId"].as_str().unwrap();
    assert!(id.starts_with("chk_") && id.len() == 36, "{id}");
    assert_eq!(view["status"], "open");
    assert_eq!(view["amountInFiat"], "49.99");
    assert_eq!((view["currency"].as_str(), view["userId"].as_str()), (Some("USD"), Some("user-7f3a9c")));
    assert_eq!((view["assets"].clone(), view["metadata"].clone()), (json!(["USDC"]), json!({"cart": "c-42"})));
    assert_eq!((view["attempts"].clone(), view["flags"].clone()), (json!([]), json!([])));
    for absent in ["receivedInFiat", "settledBy", "closedAt"] {
        assert!(view[absent].is_null() && view.as_object().unwrap().contains_key(absent), "{absent} is null: {view}");
    }
    assert_eq!((view["safeToFulfil"].as_bool(), view["reviewRequired"].as_bool()), (Some(false), Some(false)));
    assert_eq!(view["expiresAt"].as_i64().unwrap() - view["createdAt"].as_i64().unwrap(), 1_800_000);

    let (status, by_id, _) = call(&w.service, &merchant_event("GET", &format!("/checkouts/{id}"), None)).await;
    assert_eq!((status, &by_id), (200, &view));
    let (status, by_order, _) = call(&w.service, &merchant_event("GET", "/checkouts?orderId=order-1001", None)).await;
    assert_eq!((status, &by_order), (200, &view));
    for path in
        ["/checkouts/chk_00000000000000000000000000000000", "/checkouts/not%20an%20id", "/checkouts?orderId=nope"]
    {
        let (status, err, _) = call(&w.service, &merchant_event("GET", path, None)).await;
        assert_eq!((status, err["code"].as_str()), (404, Some("not_found")), "{path}");
    }
    let (status, err, _) = call(&w.service, &merchant_event("GET", "/checkouts", None)).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("invalid_parameter")));
    assert!(err["message"].as_str().unwrap().contains("orderId"), "{err}");
}

#[tokio::test]
async fn bad_checkout_bodies_get_a_stable_code_naming_the_field() {
    let w = shop().await;
    let cases = [
        (json!({"amountInFiat": 10, "userId": "u"}), "missing_field", "orderId"),
        (order("o", json!(0), "u"), "invalid_amount", "amountInFiat"),
        (order("o", json!(20000.5), "u"), "invalid_amount", "amountInFiat"),
        (order("o", json!("12.345"), "u"), "invalid_amount", "amountInFiat"),
        (order("o", json!("ten"), "u"), "invalid_field", "amountInFiat"),
        (
            json!({"orderId": "o", "amountInFiat": 10, "userId": "u", "currency": "EUR"}),
            "unsupported_currency",
            "currency",
        ),
        (json!({"orderId": "o", "amountInFiat": 10, "userId": "u", "assets": ["DOGE"]}), "unknown_asset", "assets"),
        (
            json!({"orderId": "o", "amountInFiat": 10, "userId": "u", "expiresInSeconds": 10}),
            "invalid_field",
            "expiresInSeconds",
        ),
        (json!({"orderId": "o", "amountInFiat": 10, "userId": "u", "price": 1}), "unknown_field", "price"),
    ];
    for (body, code, field) in cases {
        let (status, err) = open(&w.service, body.clone()).await;
        assert_eq!((status, err["code"].as_str()), (400, Some(code)), "{body}: {err}");
        assert!(err["message"].as_str().unwrap().contains(field), "{body}: {err}");
    }
    let mut malformed = merchant_event("POST", "/checkouts", None);
    malformed["body"] = json!("{\"orderId\": ");
    assert_eq!(call(&w.service, &malformed).await.1["code"], "invalid_json");
    assert!(w.service.store.list_open_checkouts(10).await.unwrap().is_empty(), "nothing was stored");
}

#[tokio::test]
async fn the_same_order_is_reused_a_different_one_conflicts_and_a_closed_one_is_replaced() {
    let w = shop().await;
    let (status, first) = open(&w.service, order("order-7", json!("25.00"), "alice")).await;
    assert_eq!(status, 201);
    // The same price (however written), currency and shopper: the same checkout, 200.
    let (status, again) =
        open(&w.service, json!({"orderId": "order-7", "amountInFiat": 25, "userId": "alice", "currency": "USD"})).await;
    assert_eq!((status, &again["checkoutId"]), (200, &first["checkoutId"]));
    for (body, what) in
        [(order("order-7", json!(26), "alice"), "price"), (order("order-7", json!(25), "bob"), "shopper")]
    {
        let (status, err) = open(&w.service, body).await;
        assert_eq!((status, err["code"].as_str()), (409, Some("order_conflict")), "another {what}");
    }
    // Canceled: a new checkout replaces it, and the order now points at the new one.
    let id = first["checkoutId"].as_str().unwrap();
    let (status, canceled, _) =
        call(&w.service, &merchant_event("POST", &format!("/checkouts/{id}/cancel"), None)).await;
    assert_eq!((status, canceled["status"].as_str()), (200, Some("canceled")), "{canceled}");
    assert!(canceled["closedAt"].is_i64());
    let (status, replaced) = open(&w.service, order("order-7", json!(26), "bob")).await;
    assert_eq!(status, 201, "{replaced}");
    assert_ne!(replaced["checkoutId"], first["checkoutId"]);
    let (_, current, _) = call(&w.service, &merchant_event("GET", "/checkouts?orderId=order-7", None)).await;
    assert_eq!(current["checkoutId"], replaced["checkoutId"]);
    let (_, old, _) = call(&w.service, &merchant_event("GET", &format!("/checkouts/{id}"), None)).await;
    assert_eq!(old["status"], "canceled", "the old one stays readable");
    // Expired (by reconcile's sweep): replaced too.
    let order_9 = OrderId::parse("order-9").unwrap();
    let expired = seeded(&w.service, "alice", |c| {
        c.order_id = order_9.clone();
        c.status = shared::domain::checkout::CheckoutStatus::Expired;
    })
    .await;
    let (status, fresh) = open(&w.service, order("order-9", json!(20), "alice")).await;
    assert_eq!(status, 201);
    assert_ne!(fresh["checkoutId"], expired.as_str());
    // A settled one is never replaced: the same order answers it (paid) or conflicts.
    let paid = seeded(&w.service, "alice", |c| {
        c.order_id = OrderId::parse("order-10").unwrap();
        c.status = shared::domain::checkout::CheckoutStatus::Paid;
    })
    .await;
    let (status, view) = open(&w.service, order("order-10", json!(20), "alice")).await;
    assert_eq!(
        (status, view["checkoutId"].as_str(), view["status"].as_str()),
        (200, Some(paid.as_str()), Some("paid"))
    );
    assert_eq!(open(&w.service, order("order-10", json!(21), "alice")).await.1["code"], "order_conflict");
}

/// Concurrent creates for one order: one checkout; the losers of the race read it and answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_for_one_order_open_one_checkout() {
    let w = shop().await;
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let service = w.service.clone();
            tokio::spawn(async move { open(&service, order("order-race", json!(30), "alice")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|(s, v)| [200, 201].contains(s) && v["checkoutId"] == answers[0].1["checkoutId"]));
    assert_eq!(w.service.store.list_open_checkouts(100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_closes_an_open_or_processing_checkout_once() {
    let w = shop().await;
    let (_, view) = open(&w.service, order("order-c", json!(10), "alice")).await;
    let cancel = merchant_event("POST", &format!("/checkouts/{}/cancel", view["checkoutId"].as_str().unwrap()), None);
    let (status, canceled, _) = call(&w.service, &cancel).await;
    assert_eq!(
        (status, canceled["status"].as_str(), canceled["safeToFulfil"].as_bool()),
        (200, Some("canceled"), Some(false))
    );
    let (status, err, _) = call(&w.service, &cancel).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("checkout_closed")));
    assert!(err["message"].as_str().unwrap().contains("canceled"), "{err}");
    let processing =
        seeded(&w.service, "alice", |c| c.status = shared::domain::checkout::CheckoutStatus::Processing).await;
    let (status, view, _) =
        call(&w.service, &merchant_event("POST", &format!("/checkouts/{processing}/cancel"), None)).await;
    assert_eq!((status, view["status"].as_str()), (200, Some("canceled")));
    // Mesh reported a payment succeeded, not yet valued (another token than a USD stablecoin): it settles.
    let unpriced = seeded(&w.service, "alice", |c| {
        c.status = shared::domain::checkout::CheckoutStatus::Processing;
        c.attempts = vec![TransactionId::generate()];
        c.succeeded = c.attempts.clone();
        c.flags = vec![shared::domain::checkout::ReviewFlag::Unpriced];
    })
    .await;
    let (status, err, _) =
        call(&w.service, &merchant_event("POST", &format!("/checkouts/{unpriced}/cancel"), None)).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("payment_received")), "{err}");
    assert_eq!(w.service.store.get_checkout(&unpriced).await.unwrap().unwrap().status.as_str(), "processing");
    let paid = seeded(&w.service, "alice", |c| c.status = shared::domain::checkout::CheckoutStatus::Paid).await;
    let (status, err, _) = call(&w.service, &merchant_event("POST", &format!("/checkouts/{paid}/cancel"), None)).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("checkout_closed")));
    assert_eq!(w.service.store.get_checkout(&paid).await.unwrap().unwrap().status.as_str(), "paid", "unchanged");
    let (status, _, _) = call(&w.service, &merchant_event("POST", "/checkouts/chk_missing/cancel", None)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn in_payment_mode_the_shopper_sends_a_checkout_never_a_price_or_an_order() {
    let w = shop().await;
    let (_, checkout) = open(&w.service, order("order-p", json!("500.00"), "alice")).await;
    let cases = [
        (pay(&checkout, json!({"amountInFiat": 1})), "set_by_checkout", "amountInFiat"),
        (pay(&checkout, json!({"orderId": "order-p"})), "set_by_checkout", "orderId"),
        (json!({"amountInFiat": 1, "orderId": "order-p"}), "set_by_checkout", "amountInFiat"),
        (json!({"symbol": "USDC"}), "checkout_required", "checkoutId"),
        (json!({}), "checkout_required", "checkoutId"),
    ];
    for (body, code, field) in cases {
        let (status, err, _) = call(&w.service, &create_event(body.clone(), Some("alice"), None)).await;
        assert_eq!((status, err["code"].as_str()), (400, Some(code)), "{body}: {err}");
        assert!(err["message"].as_str().unwrap().contains(field), "{body}: {err}");
    }
    // Another shopper's checkout is as unknown as one that does not exist.
    for (body, user) in [
        (pay(&checkout, json!({})), "bob"),
        (json!({"checkoutId": "chk_00000000000000000000000000000000"}), "alice"),
        (json!({"checkoutId": "not an id"}), "alice"),
    ] {
        let (status, err, _) = call(&w.service, &create_event(body.clone(), Some(user), None)).await;
        assert_eq!((status, err["code"].as_str()), (404, Some("not_found")), "{body} as {user}");
    }
    assert!(sandbox_tokens(&w.sandbox).await.is_empty(), "nothing reached Mesh");

    let (status, minted, _) = call(&w.service, &create_event(pay(&checkout, json!({})), Some("alice"), None)).await;
    assert_eq!(status, 201, "{minted}");
    let token = &sandbox_tokens(&w.sandbox).await[0];
    assert_eq!(token["amountInFiat"], 500.0, "Mesh is asked for the checkout's price");
    assert_eq!(token["toAddresses"].as_array().unwrap().len(), 3, "every configured destination");
    let record = w.service.store.get(&TransactionId::parse(minted["transactionId"].as_str().unwrap()).unwrap()).await;
    let record = record.unwrap().unwrap();
    assert_eq!(record.checkout_id.as_ref().map(|c| c.as_str()), checkout["checkoutId"].as_str());
    assert_eq!(
        (record.order_id.as_deref(), record.expected_amount_fiat),
        (Some("order-p"), Some("500.00".parse().unwrap()))
    );
    let (_, view, _) = call(&w.service, &merchant_event("GET", "/checkouts?orderId=order-p", None)).await;
    assert_eq!(view["attempts"], json!([minted["transactionId"]]));
}

#[tokio::test]
async fn the_checkouts_assets_narrow_what_link_offers() {
    let w = shop().await;
    let (_, checkout) =
        open(&w.service, json!({"orderId": "o-eth", "amountInFiat": 40, "userId": "alice", "assets": ["eth"]})).await;
    assert_eq!(checkout["assets"], json!(["ETH"]));
    let (status, _, _) = call(&w.service, &create_event(pay(&checkout, json!({})), Some("alice"), None)).await;
    assert_eq!(status, 201);
    let to = sandbox_tokens(&w.sandbox).await[0]["toAddresses"].clone();
    assert_eq!(to.as_array().unwrap().len(), 1);
    assert_eq!(to[0]["symbol"], "ETH");
    let (status, err, _) =
        call(&w.service, &create_event(pay(&checkout, json!({"symbol": "USDC"})), Some("alice"), None)).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("unknown_symbol")));
}

#[tokio::test]
async fn a_closed_expired_or_exhausted_checkout_takes_no_attempt() {
    let w = shop().await;
    let (_, canceled) = open(&w.service, order("o-cancel", json!(10), "alice")).await;
    let cancel = format!("/checkouts/{}/cancel", canceled["checkoutId"].as_str().unwrap());
    call(&w.service, &merchant_event("POST", &cancel, None)).await;
    let past = seeded(&w.service, "alice", |c| {
        c.created_at -= 3_600_000;
        c.expires_at_ms = c.created_at + 60_000;
    })
    .await;
    let paid = seeded(&w.service, "alice", |c| c.status = shared::domain::checkout::CheckoutStatus::Paid).await;
    let full =
        seeded(&w.service, "alice", |c| c.attempts = (0..MAX_ATTEMPTS).map(|_| TransactionId::generate()).collect())
            .await;
    for (id, code, says) in [
        (canceled["checkoutId"].as_str().unwrap().to_string(), "checkout_closed", "canceled"),
        (past.to_string(), "checkout_closed", "expired"),
        (paid.to_string(), "checkout_closed", "paid"),
        (full.to_string(), "too_many_attempts", "20"),
    ] {
        let (status, err, _) = call(&w.service, &create_event(json!({"checkoutId": id}), Some("alice"), None)).await;
        assert_eq!((status, err["code"].as_str()), (409, Some(code)), "{id}: {err}");
        assert!(err["message"].as_str().unwrap().contains(says), "{err}");
    }
    assert!(sandbox_tokens(&w.sandbox).await.is_empty(), "nothing reached Mesh");
}

/// Concurrent attempts on one checkout: each write after the first finds the checkout moved, reads it
/// again and is recorded; every attempt ends up on the checkout exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_on_one_checkout_are_all_recorded() {
    let w = shop().await;
    let (_, checkout) = open(&w.service, order("o-many", json!(15), "alice")).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (service, event) = (w.service.clone(), create_event(pay(&checkout, json!({})), Some("alice"), None));
            tokio::spawn(async move { call(&service, &event).await })
        })
        .collect();
    let mut minted = Vec::new();
    for c in calls {
        let (status, body, _) = c.await.unwrap();
        assert_eq!(status, 201, "{body}");
        minted.push(body["transactionId"].as_str().unwrap().to_string());
    }
    let id = CheckoutId::parse(checkout["checkoutId"].as_str().unwrap()).unwrap();
    let stored = w.service.store.get_checkout(&id).await.unwrap().unwrap();
    let mut attempts: Vec<String> = stored.attempts.iter().map(ToString::to_string).collect();
    attempts.sort();
    minted.sort();
    assert_eq!(attempts, minted);
    assert_eq!(stored.version, 1 + minted.len() as u64);
}

#[tokio::test]
async fn deposit_mode_keeps_the_users_amount_and_takes_no_checkout() {
    let w = world().await;
    let (status, err, _) =
        call(&w.service, &create_event(json!({"checkoutId": "chk_x", "amountInFiat": 5}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("checkout_not_allowed")));
    let (status, minted, _) = call(&w.service, &create_event(json!({"amountInFiat": 5}), Some("u1"), None)).await;
    assert_eq!(status, 201);
    let (_, view, _) = call(&w.service, &get_event(minted["transactionId"].as_str().unwrap(), "u1")).await;
    assert!(view.get("checkout").is_none(), "{view}");
}

/// A shopper's transfers say whether the order they pay is settled, without the merchant's view.
#[tokio::test]
async fn transfers_carry_their_checkouts_summary() {
    let w = shop().await;
    let (_, checkout) = open(&w.service, order("o-sum", json!(12), "alice")).await;
    let mut minted = Vec::new();
    for _ in 0..2 {
        let (_, m, _) = call(&w.service, &create_event(pay(&checkout, json!({})), Some("alice"), None)).await;
        minted.push(m["transactionId"].as_str().unwrap().to_string());
    }
    call(
        &w.service,
        &merchant_event("POST", &format!("/checkouts/{}/cancel", checkout["checkoutId"].as_str().unwrap()), None),
    )
    .await;
    let summary = json!({"checkoutId": checkout["checkoutId"], "status": "canceled", "safeToFulfil": false, "reviewRequired": false});
    let mut list = fixture("link-token-list-transfers.json");
    list["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("alice");
    list["rawQueryString"] = json!("");
    list["queryStringParameters"] = json!({});
    let (_, page, _) = call(&w.service, &list).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["checkout"] == summary), "{page}");
    assert_eq!(call(&w.service, &get_event(&minted[0], "alice")).await.1["checkout"], summary);
}

/// The merchant's flow on DynamoDB over moto: open, reuse, pay attempts, cancel, replace.
#[tokio::test]
async fn checkouts_on_dynamodb_over_moto() {
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
    let service = moto_service(&sandbox, LinkPolicy::default()).await;
    let (status, checkout, _) = call(&service, &fixture("checkouts-create.json")).await;
    assert_eq!(status, 201, "{checkout}");
    let (status, again, _) = call(&service, &fixture("checkouts-create.json")).await;
    assert_eq!((status, &again), (200, &checkout));
    let id = checkout["checkoutId"].as_str().unwrap();
    let event =
        create_event(json!({"checkoutId": id, "symbol": "USDC", "network": "Base"}), Some("user-7f3a9c"), Some("k1"));
    let (status, minted, _) = call(&service, &event).await;
    assert_eq!(status, 201, "{minted}");
    let (_, replay, _) = call(&service, &event).await;
    assert_eq!(replay, minted, "the Idempotency-Key replays");
    let (status, second, _) = call(&service, &create_event(json!({"checkoutId": id}), Some("user-7f3a9c"), None)).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(call(&service, &create_event(json!({"checkoutId": id}), Some("mallory"), None)).await.0, 404);
    assert_eq!(sandbox_tokens(&sandbox).await[0]["amountInFiat"], 49.99);
    let (_, view, _) = call(&service, &merchant_event("GET", &format!("/checkouts/{id}"), None)).await;
    assert_eq!(view["attempts"], json!([minted["transactionId"], second["transactionId"]]));
    let (status, transfer, _) =
        call(&service, &get_event(minted["transactionId"].as_str().unwrap(), "user-7f3a9c")).await;
    assert_eq!((status, transfer["checkout"]["status"].as_str()), (200, Some("open")), "{transfer}");

    let cancel = merchant_event("POST", &format!("/checkouts/{id}/cancel"), None);
    let (status, canceled, _) = call(&service, &cancel).await;
    assert_eq!((status, canceled["status"].as_str()), (200, Some("canceled")), "{canceled}");
    assert_eq!(call(&service, &cancel).await.1["code"], "checkout_closed");
    let (status, err, _) = call(&service, &create_event(json!({"checkoutId": id}), Some("user-7f3a9c"), None)).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("checkout_closed")));
    let (status, replaced, _) = call(&service, &fixture("checkouts-create.json")).await;
    assert_eq!(status, 201, "{replaced}");
    assert_ne!(replaced["checkoutId"], checkout["checkoutId"]);
    let (_, current, _) = call(&service, &merchant_event("GET", "/checkouts?orderId=order-1001", None)).await;
    assert_eq!(current, replaced);
}
