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
use std::sync::Arc;
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
