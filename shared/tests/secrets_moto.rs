//! The Mesh secret read from Secrets Manager on moto, over the real API.

use aws_sdk_secretsmanager::Client;
use secrecy::ExposeSecret;
use shared::runtime::secrets::{SecretCache, SecretSource, SecretsError, SecretsManagerSource};
use shared::testkit;
use std::time::Duration;

async fn client() -> Client {
    Client::new(&testkit::sdk_config().await)
}

async fn create(client: &Client, value: &str) -> (String, String) {
    let name = testkit::unique_name("mesh");
    let out = client.create_secret().name(&name).secret_string(value).send().await.unwrap();
    (name, out.arn.unwrap())
}

const VALUE: &str = r#"{"clientId":"cid","clientSecret":"csecret","webhookSecret":"whsec-1"}"#;

#[tokio::test]
async fn reads_the_secret_by_name_and_by_arn() {
    let c = client().await;
    let (name, arn) = create(&c, VALUE).await;
    for id in [name, arn] {
        let cache = SecretCache::new(SecretsManagerSource::new(c.clone(), id), Duration::from_secs(300));
        let s = cache.get().await.unwrap();
        assert_eq!(s.client_id, "cid");
        assert_eq!(s.client_secret.expose_secret(), "csecret");
        assert_eq!(s.webhook_secrets().collect::<Vec<_>>(), ["whsec-1"]);
    }
}

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let source = SecretsManagerSource::new(client().await, testkit::unique_name("absent"));
    assert!(matches!(source.fetch().await, Err(SecretsError::NotFound)));
}

#[tokio::test]
async fn a_malformed_secret_is_refused_without_echoing_it() {
    let c = client().await;
    let (name, _) = create(&c, r#"{"clientId":"cid","clientSecret":"hunter2"}"#).await;
    let cache = SecretCache::new(SecretsManagerSource::new(c, name), Duration::from_secs(300));
    let err = cache.get().await.unwrap_err();
    assert!(matches!(err, SecretsError::Malformed(_)));
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn rotation_is_seen_after_a_forced_refresh_and_the_ttl() {
    let c = client().await;
    let (name, _) = create(&c, VALUE).await;
    let cache = SecretCache::with_min_refresh_interval(
        SecretsManagerSource::new(c.clone(), name.clone()),
        Duration::from_secs(300),
        Duration::ZERO,
    );
    assert_eq!(cache.get().await.unwrap().webhook_secrets().collect::<Vec<_>>(), ["whsec-1"]);
    let rotated =
        r#"{"clientId":"cid","clientSecret":"csecret","webhookSecret":"whsec-2","previousWebhookSecret":"whsec-1"}"#;
    c.put_secret_value().secret_id(&name).secret_string(rotated).send().await.unwrap();
    assert_eq!(cache.get().await.unwrap().webhook_secrets().collect::<Vec<_>>(), ["whsec-1"], "cached within the TTL");
    let fresh = cache.force_refresh().await.unwrap();
    assert_eq!(fresh.webhook_secrets().collect::<Vec<_>>(), ["whsec-2", "whsec-1"]);
}
