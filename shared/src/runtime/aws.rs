//! The AWS SDK configuration, built once per cold start from the environment alone. Lambda hands a
//! function everything the SDK needs as variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL` points local runs at moto, so
//! the functions carry no emulator-specific code. aws-config's default chain (profiles, SSO, STS, IMDS)
//! is not used: none of it applies on Lambda, and building it was init time spent for nothing.
//! The Rust SDK sets no operation timeout by default; we set them all.

use crate::runtime::aws_http::SdkHttpClient;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt at DynamoDB or Secrets Manager: their p99 is in single-digit milliseconds.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// All attempts together, within the webhook's and the API's budgets.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The configuration from the process environment, over the shared TLS configuration. A missing region
/// or missing credentials fail the first call, not init, as the SDK's own chain did.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_from(|name| std::env::var(name).ok(), crate::tls::client_config())
}

/// The configuration from `var` (an environment), with TLS trusting what `tls` trusts.
pub fn sdk_config_from(var: impl Fn(&str) -> Option<String>, tls: Arc<rustls::ClientConfig>) -> SdkConfig {
    let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(var("AWS_REGION").map(Region::new))
        .http_client(SdkHttpClient::new(tls))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        builder = builder.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    builder.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    builder.build()
}

/// A service client built on its first use instead of at init, then kept for the cold start. Building
/// an SDK client parses the SDK's endpoint-partitions JSON (once per service crate, about 0.7 M
/// instructions, more than the bare runtime's whole init), whatever endpoint resolver is configured: the
/// service's runtime plugin builds the default resolver unconditionally. A client that the first
/// request needs anyway costs the same then; one that a request may never need (the secret, for a
/// rejected webhook) is not paid for.
pub struct OnFirstUse<C> {
    client: OnceLock<C>,
    build: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> OnFirstUse<C> {
    pub fn new(build: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self { client: OnceLock::new(), build: Box::new(build) }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(&self.build)
    }
}

/// A client already built (tests hand one in).
impl<C: Clone + Send + Sync + 'static> From<C> for OnFirstUse<C> {
    fn from(client: C) -> Self {
        let built = OnceLock::from(client.clone());
        Self { client: built, build: Box::new(move || client.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::ProvideCredentials;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        sdk_config_from(|name| vars.get(name).cloned(), crate::tls::client_config())
    }

    #[tokio::test]
    async fn lambda_environment_gives_region_credentials_and_session_token() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), None);
        let creds = sdk.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.session_token(), Some("token"));
        let timeouts = sdk.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(sdk.retry_config().unwrap().max_attempts(), 3);
        assert!(sdk.http_client().is_some());
    }

    #[test]
    fn on_first_use_builds_once_and_only_when_asked() {
        let built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = built.clone();
        let lazy = OnFirstUse::new(move || counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing is built before the first use");
        assert_eq!((*lazy.get(), *lazy.get()), (1, 1));
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(*OnFirstUse::from(7).get(), 7);
    }

    #[test]
    fn endpoint_override_and_empty_or_missing_variables() {
        let sdk = config(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5005"), ("AWS_ACCESS_KEY_ID", "only-the-id")]);
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5005"));
        assert!(sdk.region().is_none());
        assert!(sdk.credentials_provider().is_none(), "half a key pair is no credentials");
        let sdk = config(&[("AWS_REGION", " "), ("AWS_ENDPOINT_URL", "")]);
        assert!(sdk.region().is_none());
        assert_eq!(sdk.endpoint_url(), None);
    }
}
