//! The AWS SDK configuration, loaded once per cold start. Endpoint, region and credentials come from
//! the standard chain (`AWS_ENDPOINT_URL`, `AWS_REGION`, the Lambda role), so local runs against moto
//! need no code of their own. The Rust SDK sets no operation timeout by default; we set them all.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt at DynamoDB or Secrets Manager: their p99 is in single-digit milliseconds.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// All attempts together, within the webhook's and the API's budgets.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}
