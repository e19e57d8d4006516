//! Reconciliation scenarios end to end: the Mesh sandbox over real HTTP (wiremock for a listing that
//! never ends), DynamoDB on moto (a table created from template.yaml) for transfers, events, the
//! lease and the checkpoint (`support`).

mod support;

use reconcile::deadline::Deadline;
use reconcile::lease::{Checkpoint, DynamoLeaseStore, LeaseStore};
use reconcile::plan::{PlanKind, TimestampUnit, reconcile_event_id};
use reconcile::run::{ReconcileError, Reconciler};
use reconcile::settings::Settings;
use reconcile::summary::RunStatus;
use serde_json::{Value, json};
use shared::domain::ids::TransactionId;
use shared::domain::report::{Outcome, ReportSource};
use shared::domain::time::now_millis;
use shared::domain::transfer::TransferStatus;
use shared::mesh::MeshError;
use shared::storage::TransferStore;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{GOOD, STALE, secrets, settings, world, world_with};

#[tokio::test]
async fn a_dropped_webhook_is_repaired_and_a_late_webhook_changes_nothing() {
    let w = world(settings()).await;
    // Older than the window (one hour back): found by a lookup on its ClientTransactionId.
    let ours = w.ours("shopper-1", Duration::from_secs(2 * 3600)).await;
    let transfer_id = w.paid_without_webhooks(ours.transaction_id.as_str(), "shopper-1").await;

    let first = w.run().await.summary;
    assert_eq!(first.plan, Some(PlanKind::Lookup));
    assert_eq!((first.open, first.repaired, first.still_open, first.unknown_to_us), (1, 1, 0, 0), "{first:?}");
    assert_eq!((first.mesh_calls, first.pages), (2, 1), "one lookup, one page of the recent window");
    let repaired = w.status(&ours).await;
    assert_eq!(repaired.status, TransferStatus::Succeeded);
    assert_eq!(repaired.mesh_transfer_id.as_ref(), Some(&transfer_id));
    assert!(repaired.tx_hash.is_some());
    let event_id = reconcile_event_id(&transfer_id, "succeeded");
    let event = w.store.get_event(&event_id, now_millis()).await.unwrap().unwrap();
    assert_eq!((event.source, event.outcome), (ReportSource::Reconcile, Outcome::Applied));

    // A second run has nothing left to repair and writes nothing.
    let second = w.run().await.summary;
    assert_eq!((second.open, second.repaired), (0, 0), "{second:?}");
    assert_eq!(w.status(&ours).await.version, repaired.version);

    // The lost webhooks finally arrive (signed as Mesh would): neither changes the repaired transfer.
    let outcomes = w.deliver_dropped(&transfer_id).await;
    assert_eq!(outcomes, vec![Outcome::Regression, Outcome::Stale], "Pending then Succeeded, both too late");
    let after = w.status(&ours).await;
    assert_eq!(
        (after.status, after.version, after.last_event_at),
        (TransferStatus::Succeeded, repaired.version, repaired.last_event_at)
    );
}

#[tokio::test]
async fn a_transfer_unknown_to_us_is_recorded_and_a_recent_one_repaired_from_the_window() {
    let w = world(settings()).await;
    let ours = w.ours("shopper-2", Duration::from_secs(120)).await;
    w.paid_without_webhooks(ours.transaction_id.as_str(), "shopper-2").await;
    let stranger = w.paid_without_webhooks("txn_made_elsewhere", "someone-else").await;

    let s = w.run().await.summary;
    assert_eq!(s.plan, Some(PlanKind::Lookup));
    assert_eq!((s.checked, s.repaired, s.unknown_to_us, s.still_open), (2, 1, 1, 0), "{s:?}");
    assert_eq!((s.mesh_calls, s.pages), (1, 1), "both come from one page of the window; no lookup");
    assert_eq!(w.status(&ours).await.status, TransferStatus::Succeeded);
    let event = w.store.get_event(&reconcile_event_id(&stranger, "succeeded"), now_millis()).await.unwrap().unwrap();
    assert_eq!(event.outcome, Outcome::Orphan);
    assert_eq!(event.transaction_id.as_ref().map(TransactionId::as_str), Some("txn_made_elsewhere"));
    assert!(
        w.store.get(&TransactionId::parse("txn_made_elsewhere").unwrap()).await.unwrap().is_none(),
        "recorded as an event, not invented as a transfer"
    );
}

#[tokio::test]
async fn many_old_open_transfers_are_covered_by_one_stretched_window_when_cheaper() {
    let w = world(Settings { lookup_max: 2, ..settings() }).await;
    let mut ours = Vec::new();
    for i in 0..5 {
        let user = format!("shopper-w{i}");
        let r = w.ours(&user, Duration::from_secs(2 * 3600)).await;
        w.paid_without_webhooks(r.transaction_id.as_str(), &user).await;
        ours.push(r);
    }
    let s = w.run().await.summary;
    assert_eq!(s.plan, Some(PlanKind::Window), "{s:?}");
    assert_eq!(
        (s.mesh_calls, s.pages, s.repaired, s.still_open),
        (2, 1, 5, 0),
        "a Count=1 probe and one page, not 5 lookups"
    );
    for r in &ours {
        assert_eq!(w.status(r).await.status, TransferStatus::Succeeded);
    }
}

/// Transfers are held in memory here (the lease and checkpoint stay on moto): paging is what is under
/// test, and 2,500 unknown transfers would cost 7,500 calls to the one-request-at-a-time moto that
/// every test binary shares.
#[tokio::test]
async fn a_2500_transfer_history_is_paged_to_its_end() {
    let w = world(settings()).await;
    w.seed(2500, "hist-").await;
    let store = shared::storage::MemoryTransferStore::default();
    let reconciler =
        Reconciler { store: &store, leases: &w.leases, secrets: &w.secrets, mesh: &w.mesh, settings: &w.settings };
    let outcome = reconciler.run("run-history", Deadline::after(Duration::from_secs(120), now_millis())).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let s = outcome.summary;
    assert_eq!(s.status, RunStatus::Completed);
    assert_eq!((s.pages, s.mesh_calls, s.checked, s.unknown_to_us), (25, 25, 2500, 2500), "{s:?}");
    let window = s.window.unwrap();
    assert_eq!(window.offset, 2500);
    assert_eq!(
        w.leases.load_checkpoint().await.unwrap(),
        Checkpoint {
            scanned_until: Some(window.to_ms),
            unfinished: None,
            timestamp_unit: Some(TimestampUnit::Seconds)
        },
        "the whole window is behind us"
    );
    // A second pass over the same history (checkpoint reset) sees the same and repairs nothing.
    w.leases.save_checkpoint(&granted(&w.leases).await, &Checkpoint::default(), now_millis()).await.unwrap();
    let again = reconciler.run("run-again", Deadline::after(Duration::from_secs(120), now_millis())).await.summary;
    assert_eq!((again.pages, again.checked, again.unknown_to_us, again.repaired), (25, 2500, 2500, 0), "{again:?}");
}

async fn granted(leases: &DynamoLeaseStore) -> reconcile::lease::Lease {
    match leases.acquire("test", now_millis(), now_millis()).await.unwrap() {
        reconcile::lease::Acquired::Granted(lease) => lease,
        held => panic!("{held:?}"),
    }
}

#[tokio::test]
async fn a_listing_that_keeps_claiming_more_pages_is_stopped_by_the_page_cap() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c{i:02}"), "clientTransactionId": format!("txn_endless_{i}"),
                        "status": "pending", "createdTimestamp": now_millis() / 1000 - 60}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/transfers/managed/mesh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "content": {"items": items, "total": 1_000_000_000_u64, "hasMorePages": true}, "status": "ok", "message": "", "errorType": ""
        })))
        .mount(&server)
        .await;
    let w =
        world_with(Settings { max_pages: 5, page_size: 10, ..settings() }, secrets(&[GOOD]), Some(server.uri())).await;

    let s = w.run().await.summary;
    assert_eq!((s.status, s.pages, s.mesh_calls), (RunStatus::PageCapReached, 5, 5), "{s:?}");
    let cp = w.leases.load_checkpoint().await.unwrap();
    assert_eq!(cp.unfinished.map(|c| c.offset), Some(50), "the next run resumes after the fifth page");

    let again = w.run().await.summary;
    assert_eq!((again.status, again.plan, again.pages), (RunStatus::PageCapReached, Some(PlanKind::Resume), 5));
    let offsets: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.url.query_pairs().find(|(k, _)| k == "Offset").map(|(_, v)| v.into_owned()))
        .collect();
    assert_eq!(offsets, ["0", "10", "20", "30", "40", "50", "60", "70", "80", "90"]);
}

#[tokio::test]
async fn injected_429_and_5xx_are_retried_and_the_run_completes() {
    let w = world(Settings { page_size: 10, ..settings() }).await;
    w.seed(25, "flaky-").await;
    w.fault(json!({"endpoint": "transfers", "status": 429, "times": 1, "retryAfterSeconds": 0})).await;
    w.fault(json!({"endpoint": "transfers", "status": 503, "times": 1})).await;
    let s = w.run().await.summary;
    assert_eq!(s.status, RunStatus::Completed);
    assert_eq!((s.pages, s.mesh_retries, s.mesh_calls, s.checked), (3, 2, 5, 25), "{s:?}");

    // Three failures in a row exhaust a call's attempts: the run fails, keeping its place.
    w.seed(5, "flaky-late-").await;
    w.fault(json!({"endpoint": "transfers", "status": 500, "times": 3})).await;
    let failed = w.run_for(Duration::from_secs(60)).await;
    assert_eq!(failed.summary.status, RunStatus::Failed);
    assert!(
        matches!(failed.error, Some(ReconcileError::Mesh(MeshError::Server { status: 500 }))),
        "{:?}",
        failed.error
    );
    let recovered = w.run().await.summary;
    assert_eq!(recovered.status, RunStatus::Completed, "{recovered:?}");
}

#[tokio::test]
async fn a_401_rereads_the_secret_once_then_fails() {
    let w = world_with(settings(), secrets(&[STALE, GOOD]), None).await;
    let s = w.run().await.summary;
    assert_eq!((s.status, s.mesh_calls), (RunStatus::Completed, 2), "{s:?}");
    assert_eq!(w.source.fetches.load(Ordering::SeqCst), 2, "read at start, re-read once after the 401");

    let w = world_with(settings(), secrets(&[STALE]), None).await;
    let out = w.run_for(Duration::from_secs(60)).await;
    assert!(matches!(out.error, Some(ReconcileError::Mesh(MeshError::Unauthorized))), "{:?}", out.error);
    assert_eq!((out.summary.status, out.summary.mesh_calls), (RunStatus::Failed, 2));
    assert_eq!(w.source.fetches.load(Ordering::SeqCst), 2, "one refresh, no more");
}

#[tokio::test]
async fn a_run_cut_off_by_its_deadline_resumes_from_its_checkpoint() {
    let w = world(Settings { page_size: 10, deadline_margin: Duration::from_secs(2), ..settings() }).await;
    w.seed(50, "slow-").await;
    w.fault(json!({"endpoint": "transfers", "delayMs": 1000, "times": 100})).await;

    // 3 s to live, 2 s margin, 1 s per page: one page, then it stops and checkpoints.
    let cut = w.run_for(Duration::from_secs(3)).await;
    assert!(cut.error.is_none(), "{:?}", cut.error);
    let cut = cut.summary;
    assert_eq!((cut.status, cut.pages, cut.checked), (RunStatus::DeadlineReached, 1, 10), "{cut:?}");
    let window = w.leases.load_checkpoint().await.unwrap().unfinished.expect("an unfinished window");
    assert_eq!(window.offset, 10);

    let _ = w.http.delete(w.sandbox.url("/sandbox/faults")).send().await.unwrap();
    let resumed = w.run().await.summary;
    assert_eq!((resumed.status, resumed.plan), (RunStatus::Completed, Some(PlanKind::Resume)), "{resumed:?}");
    assert_eq!(
        (resumed.pages, resumed.checked, resumed.window.map(|c| (c.from_ms, c.to_ms))),
        (4, 40, Some((window.from_ms, window.to_ms)))
    );
    assert_eq!(cut.unknown_to_us + resumed.unknown_to_us, 50, "every transfer once, none skipped");
    assert_eq!(
        w.leases.load_checkpoint().await.unwrap(),
        Checkpoint {
            scanned_until: Some(window.to_ms),
            unfinished: None,
            timestamp_unit: Some(TimestampUnit::Seconds)
        }
    );
}

#[tokio::test]
async fn of_two_concurrent_runs_exactly_one_works() {
    let w = world(Settings { page_size: 10, ..settings() }).await;
    w.seed(20, "twice-").await;
    w.fault(json!({"endpoint": "transfers", "delayMs": 300, "times": 3})).await;
    let (a, b) = tokio::join!(w.run(), w.run());
    let (a, b) = (a.summary, b.summary);
    let mut statuses = [a.status, b.status];
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(statuses, [RunStatus::Completed, RunStatus::LeaseHeld], "{a:?} {b:?}");
    let (winner, loser) = if a.status == RunStatus::Completed { (a, b) } else { (b, a) };
    assert_eq!(loser.held_by.as_deref(), Some(winner.run_id.as_str()));
    assert_eq!((loser.mesh_calls, loser.checked), (0, 0), "the loser did nothing");
    assert_eq!(winner.unknown_to_us, 20);
    // Released at the end: the next run gets the lease.
    assert_eq!(w.run().await.summary.status, RunStatus::Completed);
}

/// Mesh's listing in milliseconds throughout: the first run's bounds (seconds) find nothing, so the
/// empty window is checked against an open transfer inside it; that lookup teaches the unit, the
/// window is paged again, and later runs send milliseconds from the start.
#[tokio::test]
async fn a_listing_in_milliseconds_is_noticed_learnt_and_kept() {
    let w = world(settings()).await;
    w.control("/sandbox/config", json!({"listingTimestamps": "milliseconds"})).await;
    let ours = w.ours("shopper-ms", Duration::from_secs(120)).await;
    w.paid_without_webhooks(ours.transaction_id.as_str(), "shopper-ms").await;

    let s = w.run().await.summary;
    assert_eq!((s.repaired, s.still_open, s.listing_contradicted), (1, 0, 1), "{s:?}");
    assert_eq!(s.timestamp_unit, Some(TimestampUnit::Milliseconds), "{s:?}");
    assert_eq!(w.status(&ours).await.status, TransferStatus::Succeeded);
    assert_eq!(w.leases.load_checkpoint().await.unwrap().timestamp_unit, Some(TimestampUnit::Milliseconds));

    // The next run's window is in milliseconds from the start: one page finds what Mesh has.
    w.paid_without_webhooks("txn_made_elsewhere_ms", "someone-else").await;
    let s = w.run().await.summary;
    assert_eq!((s.unknown_to_us, s.listing_contradicted, s.mesh_calls), (1, 0, 1), "{s:?}");
}

/// A Mesh that reports seconds but reads its bounds as milliseconds: the stretched window's count is
/// zero though open transfers of ours are in it. A sample lookup finds one, so the count is not
/// believed: every open transfer is looked up, and the run says so.
#[tokio::test]
async fn a_count_of_zero_contradicted_by_a_lookup_is_not_believed() {
    let w = world(Settings { lookup_max: 2, ..settings() }).await;
    w.control("/sandbox/config", json!({"listingTimestamps": "boundsInMilliseconds"})).await;
    let mut ours = Vec::new();
    for i in 0..5 {
        let user = format!("shopper-z{i}");
        let r = w.ours(&user, Duration::from_secs(2 * 3600)).await;
        w.paid_without_webhooks(r.transaction_id.as_str(), &user).await;
        ours.push(r);
    }
    let s = w.run().await.summary;
    assert_eq!(s.plan, Some(PlanKind::Lookup), "{s:?}");
    assert_eq!((s.repaired, s.still_open, s.listing_contradicted), (5, 0, 1), "{s:?}");
    for r in &ours {
        assert_eq!(w.status(r).await.status, TransferStatus::Succeeded);
    }
}

/// Open transfers Mesh has never heard of (abandoned Link sessions) are why a count of zero can be
/// true: one lookup confirms it, and the run trusts the listing. Their link tokens lapsed long ago,
/// so each is then asked about once (the sample not again) and abandoned: the open set empties.
#[tokio::test]
async fn a_count_of_zero_confirmed_by_a_lookup_is_believed() {
    let w = world(Settings { lookup_max: 2, ..settings() }).await;
    for i in 0..5 {
        w.ours(&format!("abandoned-{i}"), Duration::from_secs(2 * 3600)).await;
    }
    let s = w.run().await.summary;
    assert_eq!(s.plan, Some(PlanKind::Window), "{s:?}");
    assert_eq!((s.listing_contradicted, s.not_found_at_mesh, s.abandoned, s.still_open), (0, 5, 5, 0), "{s:?}");
    assert_eq!((s.mesh_calls, s.pages), (7, 1), "a probe, the sample, one page, four more lookups: {s:?}");
    assert!(w.store.list_open(now_millis(), 100).await.unwrap().is_empty());
}
