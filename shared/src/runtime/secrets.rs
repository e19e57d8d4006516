//! The Mesh secret: one Secrets Manager secret holding a JSON object
//! `{clientId, clientSecret, webhookSecret, previousWebhookSecret?}`, fetched at most once per TTL and
//! shared by every invocation of a warm function. Secret values are `SecretString`s: their `Debug`
//! prints `[REDACTED]` and they have no `Display`, so they cannot reach a log line by accident.

use crate::runtime::aws::OnFirstUse;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use crate::mesh::{MeshSecrets, SecretsError};

/// Forced refreshes (after a 401 from Mesh, or a signature that matches no known secret) are
/// rate-limited so a flood of bad signatures cannot turn into a flood of Secrets Manager calls.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Where the secret's JSON comes from: Secrets Manager in functions, a fake in unit tests.
pub trait SecretSource: Send + Sync {
    fn fetch(&self) -> impl std::future::Future<Output = Result<String, SecretsError>> + Send;
}

pub struct SecretsManagerSource {
    client: OnFirstUse<aws_sdk_secretsmanager::Client>,
    secret_id: String,
}

impl SecretsManagerSource {
    /// `client` may be built on the first fetch (`OnFirstUse::new`) or given ready.
    pub fn new(client: impl Into<OnFirstUse<aws_sdk_secretsmanager::Client>>, secret_id: impl Into<String>) -> Self {
        Self { client: client.into(), secret_id: secret_id.into() }
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<String, SecretsError> {
        let out =
            self.client.get().get_secret_value().secret_id(&self.secret_id).send().await.map_err(map_sdk_error)?;
        out.secret_string.ok_or_else(|| SecretsError::Malformed("the secret has no string value".into()))
    }
}

fn map_sdk_error(err: SdkError<GetSecretValueError>) -> SecretsError {
    match err.as_service_error() {
        Some(GetSecretValueError::ResourceNotFoundException(_)) => SecretsError::NotFound,
        Some(e) if e.meta().code() == Some("AccessDeniedException") => SecretsError::AccessDenied,
        Some(e) => SecretsError::Unavailable(e.meta().code().unwrap_or("service error").to_string()),
        None => SecretsError::Unavailable(kind_of(&err).to_string()),
    }
}

fn kind_of<E, R>(err: &SdkError<E, R>) -> &'static str {
    match err {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ConstructionFailure(_) => "request construction failure",
        _ => "service error",
    }
}

struct Cached {
    value: Arc<MeshSecrets>,
    fetched_at: Instant,
}

/// A TTL cache in front of a `SecretSource`. One fetch at a time: concurrent callers wait for it
/// rather than each calling Secrets Manager.
pub struct SecretCache<S> {
    source: S,
    ttl: Duration,
    min_refresh_interval: Duration,
    state: Mutex<Option<Cached>>,
}

impl<S: SecretSource> SecretCache<S> {
    pub fn new(source: S, ttl: Duration) -> Self {
        Self::with_min_refresh_interval(source, ttl, DEFAULT_MIN_REFRESH_INTERVAL)
    }

    pub fn with_min_refresh_interval(source: S, ttl: Duration, min_refresh_interval: Duration) -> Self {
        Self { source, ttl, min_refresh_interval, state: Mutex::new(None) }
    }

    /// The cached secret while it is younger than the TTL, a fresh one otherwise. If a refresh
    /// fails while an older value is held, the older value is served (and the failure logged):
    /// a Secrets Manager blip must not fail payments with credentials that were valid a minute ago.
    pub async fn get(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref()
            && c.fetched_at.elapsed() < self.ttl
        {
            return Ok(c.value.clone());
        }
        self.refresh_locked(&mut state).await
    }

    /// Re-reads the secret now (e.g. after Mesh answered 401), unless it was read less than the
    /// minimum refresh interval ago, in which case the held value is returned.
    pub async fn force_refresh(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref()
            && c.fetched_at.elapsed() < self.min_refresh_interval
        {
            return Ok(c.value.clone());
        }
        self.refresh_locked(&mut state).await
    }

    async fn refresh_locked(&self, state: &mut Option<Cached>) -> Result<Arc<MeshSecrets>, SecretsError> {
        let fetched = match self.source.fetch().await {
            Ok(json) => MeshSecrets::parse(&json),
            Err(e) => Err(e),
        };
        match (fetched, state.as_mut()) {
            (Ok(secrets), _) => {
                let value = Arc::new(secrets);
                *state = Some(Cached { value: value.clone(), fetched_at: Instant::now() });
                Ok(value)
            }
            (Err(e), Some(stale)) => {
                tracing::warn!(error = %e, "refreshing the Mesh secret failed; serving the previous value");
                // Back off: try again after the minimum refresh interval, not on every call.
                stale.fetched_at = Instant::now() - self.ttl.saturating_sub(self.min_refresh_interval);
                Ok(stale.value.clone())
            }
            (Err(e), None) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const JSON: &str = r#"{"clientId":"cid","clientSecret":"csecret","webhookSecret":"whsec-new","previousWebhookSecret":"whsec-old"}"#;

    /// Answers with the queued results in turn, repeating the last one. `Err(true)` is "not found",
    /// `Err(false)` "unavailable".
    struct FakeSource {
        calls: AtomicUsize,
        answers: StdMutex<Vec<Result<&'static str, bool>>>,
    }

    impl FakeSource {
        fn answering(answers: Vec<Result<&'static str, bool>>) -> Self {
            Self { calls: AtomicUsize::new(0), answers: StdMutex::new(answers) }
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl SecretSource for &FakeSource {
        async fn fetch(&self) -> Result<String, SecretsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock().unwrap();
            let answer = if answers.len() > 1 { answers.remove(0) } else { answers[0] };
            match answer {
                Ok(json) => Ok(json.to_string()),
                Err(true) => Err(SecretsError::NotFound),
                Err(false) => Err(SecretsError::Unavailable("down".into())),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn caches_for_the_ttl_then_refetches() {
        let src = FakeSource::answering(vec![Ok(JSON)]);
        let cache = SecretCache::new(&src, Duration::from_secs(300));
        let a = cache.get().await.unwrap();
        let b = cache.get().await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(src.calls(), 1);
        tokio::time::advance(Duration::from_secs(299)).await;
        cache.get().await.unwrap();
        assert_eq!(src.calls(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.get().await.unwrap();
        assert_eq!(src.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn forced_refresh_is_rate_limited() {
        let src = FakeSource::answering(vec![Ok(JSON)]);
        let cache = SecretCache::with_min_refresh_interval(&src, Duration::from_secs(300), Duration::from_secs(30));
        cache.get().await.unwrap();
        cache.force_refresh().await.unwrap();
        cache.force_refresh().await.unwrap();
        assert_eq!(src.calls(), 1, "within the interval a forced refresh reuses the held value");
        tokio::time::advance(Duration::from_secs(31)).await;
        cache.force_refresh().await.unwrap();
        assert_eq!(src.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_serves_the_previous_value_and_backs_off() {
        let src = FakeSource::answering(vec![Ok(JSON), Err(false)]);
        let cache = SecretCache::with_min_refresh_interval(&src, Duration::from_secs(300), Duration::from_secs(30));
        cache.get().await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;
        let s = cache.get().await.unwrap();
        assert_eq!(s.client_id, "cid");
        assert_eq!(src.calls(), 2);
        cache.get().await.unwrap();
        assert_eq!(src.calls(), 2, "no retry storm right after a failure");
        tokio::time::advance(Duration::from_secs(31)).await;
        cache.get().await.unwrap();
        assert_eq!(src.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_previous_value_the_error_is_returned() {
        let src = FakeSource::answering(vec![Err(true)]);
        let cache = SecretCache::new(&src, Duration::from_secs(300));
        assert!(matches!(cache.get().await, Err(SecretsError::NotFound)));
    }
}
