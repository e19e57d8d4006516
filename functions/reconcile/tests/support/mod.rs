//! What every reconcile scenario runs on: the Mesh sandbox over real HTTP, DynamoDB on moto (a table
//! created from template.yaml) for transfers, checkouts, events, the lease and the checkpoint, and
//! backoff in milliseconds so the suites stay fast. Each test binary uses a part of it.
#![allow(dead_code)]

use mesh_sandbox::{SandboxConfig, SandboxHandle};
use reconcile::deadline::Deadline;
use reconcile::lease::DynamoLeaseStore;
use reconcile::retry::RetryPolicy;
use reconcile::run::{Reconciler, RunOutcome};
use reconcile::settings::Settings;
use serde_json::{Value, json};
use shared::domain::ids::{TransactionId, TransferId, UserId};
use shared::domain::report::Outcome;
use shared::domain::time::now_millis;
use shared::domain::transfer::TransferRecord;
use shared::mesh::{HttpOptions, MeshClient};
use shared::runtime::secrets::{SecretCache, SecretSource, SecretsError};
use shared::storage::{DynamoTransferStore, TransferStore};
use shared::testkit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use webhook::receive::{Delivery, WebhookSettings, receive};

pub const GOOD: &str = r#"{"clientId":"sandbox-client-id","clientSecret":"sandbox-client-secret","webhookSecret":"sandbox-webhook-secret"}"#;
pub const STALE: &str =
    r#"{"clientId":"sandbox-client-id","clientSecret":"rotated-away","webhookSecret":"sandbox-webhook-secret"}"#;

/// Answers the queued secrets in turn, repeating the last; counts fetches.
pub struct Secrets {
    pub answers: Vec<&'static str>,
    pub fetches: AtomicUsize,
}

impl SecretSource for &'static Secrets {
    async fn fetch(&self) -> Result<String, SecretsError> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(self.answers[n.min(self.answers.len() - 1)].to_string())
    }
}

pub fn secrets(answers: &[&'static str]) -> &'static Secrets {
    Box::leak(Box::new(Secrets { answers: answers.to_vec(), fetches: AtomicUsize::new(0) }))
}

pub fn settings() -> Settings {
    Settings {
        grace: Duration::ZERO,
        lookback: Duration::from_secs(3600),
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
            max_attempts: 3,
            budget: 10,
        },
        ..Settings::default()
    }
}

pub struct World {
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
    pub store: DynamoTransferStore,
    pub leases: DynamoLeaseStore,
    pub secrets: SecretCache<&'static Secrets>,
    pub source: &'static Secrets,
    pub mesh: MeshClient,
    pub settings: Settings,
}

pub async fn world(settings: Settings) -> World {
    world_with(settings, secrets(&[GOOD]), None).await
}

pub async fn world_with(settings: Settings, source: &'static Secrets, mesh_url: Option<String>) -> World {
    let sandbox = mesh_sandbox::spawn(SandboxConfig::default()).await.unwrap();
    let table = testkit::create_table();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let base = mesh_url.unwrap_or_else(|| sandbox.base_url());
    World {
        http: reqwest::Client::new(),
        store: DynamoTransferStore::new(client.clone(), table.clone()),
        leases: DynamoLeaseStore::new(client, table, "reconcile"),
        secrets: SecretCache::with_min_refresh_interval(source, Duration::from_secs(300), Duration::ZERO),
        source,
        mesh: MeshClient::new(url::Url::parse(&base).unwrap(), HttpOptions::default()).unwrap(),
        settings,
        sandbox,
    }
}

impl World {
    pub fn reconciler(&self) -> Reconciler<'_, DynamoTransferStore, DynamoLeaseStore, &'static Secrets> {
        Reconciler {
            store: &self.store,
            leases: &self.leases,
            secrets: &self.secrets,
            mesh: &self.mesh,
            settings: &self.settings,
        }
    }

    pub async fn run_for(&self, time: Duration) -> RunOutcome {
        let id = format!("run-{}", uuid::Uuid::new_v4().simple());
        self.reconciler().run(&id, Deadline::after(time, now_millis())).await
    }

    pub async fn run(&self) -> RunOutcome {
        let outcome = self.run_for(Duration::from_secs(120)).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        outcome
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(self.sandbox.url(path)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    pub async fn fault(&self, body: Value) {
        self.control("/sandbox/faults", body).await;
    }

    /// A transfer of ours, created (link token minted) `age` ago.
    pub async fn ours(&self, user: &str, age: Duration) -> TransferRecord {
        let created_at = now_millis() - i64::try_from(age.as_millis()).unwrap();
        let r = TransferRecord::created(TransactionId::generate(), UserId::parse(user).unwrap(), created_at);
        self.store.create(&r).await.unwrap();
        r
    }

    /// The user finishes Link at Mesh, and every webhook about it is lost.
    pub async fn paid_without_webhooks(&self, transaction_id: &str, user: &str) -> TransferId {
        let t = self
            .control(
                "/sandbox/transfers",
                json!({"transactionId": transaction_id, "userId": user, "outcome": "succeeded", "webhooks": {"drop": true}}),
            )
            .await;
        TransferId::parse(t["id"].as_str().unwrap()).unwrap()
    }

    pub async fn seed(&self, count: u32, prefix: &str) {
        let from = now_millis() / 1000 - 3000;
        let body = json!({"count": count, "clientTransactionIdPrefix": prefix, "status": "succeeded",
                          "fromTimestamp": from, "stepSeconds": 1});
        assert_eq!(self.control("/sandbox/transfers/seed", body).await["created"], count);
    }

    pub async fn status(&self, r: &TransferRecord) -> TransferRecord {
        self.store.get(&r.transaction_id).await.unwrap().unwrap()
    }

    /// Every webhook the sandbox held back for a transfer, delivered now (signed as Mesh would) to the
    /// webhook's receive path, in order; the outcome of each.
    pub async fn deliver_dropped(&self, transfer_id: &TransferId) -> Vec<Outcome> {
        let url = self.sandbox.url(&format!("/sandbox/webhooks?transferId={transfer_id}"));
        let deliveries: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        let mut outcomes = Vec::new();
        for d in deliveries.as_array().unwrap() {
            assert_eq!(d["status"], "dropped");
            let body = serde_json::to_vec(&d["body"]).unwrap();
            let signature = mesh_sandbox::sign("sandbox-webhook-secret", &body);
            let delivery =
                Delivery { method: "POST", body: &body, signature: Some(signature.as_bytes()), source_ip: None };
            let accepted =
                receive(&self.store, &self.secrets, &WebhookSettings::default(), delivery, now_millis()).await.unwrap();
            outcomes.push(accepted.outcome);
        }
        outcomes
    }
}
