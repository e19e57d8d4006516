//! The DynamoDB SDK's failures in words safe for logs, and the number helper every DynamoDB adapter
//! (transfers, events, idempotency records, the reconcile lease) uses.

use crate::storage::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

pub fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(sdk_error_detail(&err))
}

/// What an SDK failure was, in words safe for logs: the service's error code or the transport's kind.
pub fn sdk_error_detail<E, R>(err: &SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_string(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        _ => "unreadable response".into(),
    }
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
