use lambda_runtime::LambdaEvent;
use shared::app::Deps;
use std::sync::Arc;

/// Until this function's own issue lands, a run reports that it did nothing rather than pretending.
pub async fn handle(
    _deps: Arc<Deps>,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    Err("reconciliation is not available yet".into())
}
