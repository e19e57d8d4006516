//! What one reconcile run costs against histories of 1k, 10k and 100k transfers with 1% open: Mesh
//! calls, DynamoDB requests and seconds. A benchmark, not a test: it prints a Markdown table.
//!
//!     . .dev/venv/bin/activate && cargo run -p reconcile --example reconcile_cost
//!
//! (moto from `make setup`; `MOTO_ENDPOINT` points it at a running one.) Sizes can be given as
//! arguments: `cargo run -p reconcile --example reconcile_cost -- 1000 5000`.
//!
//! The world, per size: the Mesh sandbox holds the whole history, one transfer every 30 days / N,
//! ending just before the grace period; the newest 1% are open on our side (status `pending`) and
//! Mesh says succeeded, pending and failed in turn, so two thirds need a repair. The previous run
//! finished 5 minutes ago (the checkpoint). Our table holds the open transfers and every settled one
//! from the hour before the oldest open one; older history is not copied into it because nothing
//! reads it, which the request counts show (DynamoDB requests are counted by an SDK interceptor,
//! retries included).

use reconcile::deadline::Deadline;
use reconcile::lease::{Acquired, Checkpoint, DynamoLeaseStore, LeaseStore, MemoryLeaseStore};
use reconcile::run::Reconciler;
use reconcile::settings::Settings;
use serde_json::json;
use shared::domain::ids::{TransactionId, UserId};
use shared::domain::time::now_millis;
use shared::domain::transfer::{TransferRecord, TransferStatus};
use shared::mesh::{HttpOptions, MeshClient};
use shared::runtime::secrets::SecretCache;
use shared::storage::{CheckoutStore, DynamoTransferStore, MemoryTransferStore, TransferStore};
use shared::testkit;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SPAN_SECS: i64 = 30 * 24 * 3600;
const SEED_CHUNK: u64 = 10_000;

/// Counts DynamoDB requests by operation (`x-amz-target`), every attempt included.
#[derive(Debug, Default, Clone)]
struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl RequestCounter {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(op).or_default() += 1;
        Ok(())
    }
}

/// The ids the sandbox gives a seeded batch: `{prefix}{i}`, zero-padded to at least 4 digits.
fn seeded_ids(prefix: &str, count: u64) -> Vec<String> {
    let width = (count.saturating_sub(1)).to_string().len().max(4);
    (0..count).map(|i| format!("{prefix}{i:0width$}")).collect()
}

struct Row {
    size: u64,
    open: u64,
    plan: String,
    mesh_calls: u64,
    pages: u64,
    repaired: u64,
    ddb: BTreeMap<String, u64>,
    seconds: f64,
    seconds_in_memory: f64,
}

/// The state the previous run left: its window ended five minutes before `cutoff_s`.
async fn previous_run<L: LeaseStore>(leases: &L, cutoff_s: i64) -> Result<(), Box<dyn std::error::Error>> {
    let lease = match leases.acquire("previous-run", now_millis(), now_millis()).await? {
        Acquired::Granted(lease) => lease,
        Acquired::Held { holder, .. } => return Err(format!("lease held by {holder}").into()),
    };
    let checkpoint =
        Checkpoint { scanned_until: Some((cutoff_s - 300) * 1000), unfinished: None, ..Checkpoint::default() };
    leases.save_checkpoint(&lease, &checkpoint, now_millis()).await?;
    Ok(())
}

async fn run_once<T: TransferStore + CheckoutStore, L: LeaseStore>(
    store: &T,
    leases: &L,
    mesh: &MeshClient,
) -> Result<reconcile::summary::Summary, Box<dyn std::error::Error>> {
    let settings = Settings::default();
    let secrets = SecretCache::new(testkit::sandbox_secret(), Duration::from_secs(300));
    let reconciler = Reconciler { store, leases, secrets: &secrets, mesh, settings: &settings };
    let outcome = reconciler.run("bench", Deadline::after(Duration::from_secs(900), now_millis())).await;
    match outcome.error {
        Some(e) => Err(e.into()),
        None => Ok(outcome.summary),
    }
}

async fn measure(size: u64, http: &reqwest::Client) -> Result<Row, Box<dyn std::error::Error>> {
    let grace = Settings::default().grace;
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await?;
    let counter = RequestCounter::default();
    let sdk = testkit::sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = testkit::create_table();
    let store = DynamoTransferStore::new(client.clone(), table.clone());
    let leases = DynamoLeaseStore::new(client, table, "reconcile");

    let now_s = now_millis() / 1000;
    let cutoff_s = now_s - i64::try_from(grace.as_secs())?;
    let open = (size / 100).max(1);
    let settled = size - open;
    let step = (SPAN_SECS / i64::try_from(size)?).max(1);
    let start = cutoff_s - 60 - step * i64::try_from(size - 1)?;

    // Mesh: the whole history, in batches the sandbox accepts.
    let mut batches = Vec::new();
    let mut done = 0;
    while done < settled {
        let count = SEED_CHUNK.min(settled - done);
        batches.push((format!("h{}-", batches.len()), count, done, "succeeded"));
        done += count;
    }
    batches.push(("open-".to_string(), open, settled, "mixed"));
    let first_open_s = start + step * i64::try_from(settled)?;
    let mut local = Vec::new();
    for (prefix, count, index, status) in &batches {
        let from = start + step * i64::try_from(*index)?;
        let body = json!({"count": count, "clientTransactionIdPrefix": prefix, "status": status,
                          "fromTimestamp": from, "stepSeconds": step});
        http.post(sandbox.url("/sandbox/transfers/seed")).json(&body).send().await?.error_for_status()?;
        // Ours: the open ones, and the settled ones a stretched window could reach.
        for (i, id) in seeded_ids(prefix, *count).into_iter().enumerate() {
            let created_s = from + step * i64::try_from(i)?;
            if created_s < first_open_s - 3600 {
                continue;
            }
            let mut r = TransferRecord::created(
                TransactionId::parse(id)?,
                UserId::parse("seed-user")?,
                created_s * 1000 - 30_000,
            );
            r.status = if *status == "mixed" { TransferStatus::Pending } else { TransferStatus::Succeeded };
            r.last_event_at = Some(created_s * 1000);
            local.push(r);
        }
    }
    let memory = MemoryTransferStore::default();
    for r in &local {
        store.create(r).await?;
        memory.create(r).await?;
    }
    previous_run(&leases, cutoff_s).await?;
    counter.take();

    let mesh = MeshClient::new(url::Url::parse(&sandbox.base_url())?, HttpOptions::default())?;
    let s = run_once(&store, &leases, &mesh).await?;
    let ddb = counter.take();
    eprintln!("{size}: {} local records; {s:?}", local.len());
    let memory_leases = MemoryLeaseStore::default();
    previous_run(&memory_leases, cutoff_s).await?;
    let in_memory = run_once(&memory, &memory_leases, &mesh).await?;
    assert_eq!((in_memory.mesh_calls, in_memory.repaired), (s.mesh_calls, s.repaired), "the same run either way");
    Ok(Row {
        size,
        open,
        plan: s.plan.map(|p| format!("{p:?}").to_lowercase()).unwrap_or_default(),
        mesh_calls: s.mesh_calls,
        pages: s.pages,
        repaired: s.repaired,
        ddb,
        seconds: s.duration_ms as f64 / 1000.0,
        seconds_in_memory: in_memory.duration_ms as f64 / 1000.0,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<u64> = match std::env::args().skip(1).map(|a| a.parse::<u64>()).collect::<Result<Vec<_>, _>>()? {
        given if !given.is_empty() => given,
        _ => vec![1_000, 10_000, 100_000],
    };
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    for size in sizes {
        rows.push(measure(size, &http).await?);
    }
    println!(
        "| transfers at Mesh | open (1%) | plan | Mesh calls | pages | repaired | DynamoDB requests | seconds on moto | seconds, store in memory | a full-history scan |"
    );
    println!("|---:|---:|---|---:|---:|---:|---|---:|---:|---:|");
    for r in rows {
        let total: u64 = r.ddb.values().sum();
        let detail: Vec<String> = r.ddb.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {:.2} | {:.2} | {} pages |",
            r.size,
            r.open,
            r.plan,
            r.mesh_calls,
            r.pages,
            r.repaired,
            total,
            detail.join(", "),
            r.seconds,
            r.seconds_in_memory,
            r.size.div_ceil(100)
        );
    }
    Ok(())
}
