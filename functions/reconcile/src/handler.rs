//! The scheduled event in, one run, its summary out: logged, recorded as metrics and returned.

use crate::deadline::Deadline;
use crate::lease::LeaseStore;
use crate::run::{ReconcileError, Reconciler};
use crate::summary::Summary;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferStore};

/// What the EventBridge Scheduler target delivers: its `Input` as-is, `{}` in the template
/// (`events/aws/reconcile-schedule.json`). No field is read today; unknown ones are ignored so the
/// schedule can carry notes without breaking runs.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduleInput {}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the scheduled input is not a JSON object: {0}")]
    Input(serde_json::Error),
    #[error("reconciliation failed: {0}")]
    Run(#[from] ReconcileError),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::Input(_) => "InvalidScheduleInput",
            HandlerError::Run(_) => "ReconcileFailed",
        };
        Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}

/// One scheduled run: maps the invocation's deadline and request id to a reconciliation run, logs its
/// summary, records it as metrics and returns it. A run that found the lease held returns normally.
pub async fn handle<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource>(
    reconciler: &Reconciler<'_, T, L, S>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, HandlerError> {
    let LambdaEvent { payload, context } = event;
    serde_json::from_value::<Option<ScheduleInput>>(payload).map_err(HandlerError::Input)?;
    let now = shared::domain::time::now_millis();
    let deadline = Deadline::at_epoch_ms(reconciler.settings.timeout.deadline_ms(context.deadline, now), now);
    let run_id = if context.request_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { context.request_id };
    let outcome = reconciler.run(&run_id, deadline).await;
    let s = &outcome.summary;
    let plan = s.plan.map(|p| format!("{p:?}").to_lowercase());
    tracing::info!(
        run_id = %s.run_id,
        status = s.status.as_str(),
        plan = plan.as_deref(),
        open = s.open,
        checked = s.checked,
        repaired = s.repaired,
        still_open = s.still_open,
        unknown_to_us = s.unknown_to_us,
        amount_mismatches = s.amount_mismatches,
        other_mismatches = s.other_mismatches,
        conflicts = s.conflicts,
        not_found_at_mesh = s.not_found_at_mesh,
        beyond_horizon = s.beyond_horizon,
        listing_contradicted = s.listing_contradicted,
        abandoned = s.abandoned,
        open_checkouts = s.open_checkouts,
        checkouts_expired = s.checkouts_expired,
        checkouts_priced = s.checkouts_priced,
        timestamp_unit = ?s.timestamp_unit,
        mesh_calls = s.mesh_calls,
        mesh_retries = s.mesh_retries,
        pages = s.pages,
        duration_ms = s.duration_ms,
        held_by = s.held_by.as_deref(),
        error = s.error.as_deref(),
        "reconcile summary"
    );
    s.record_metrics();
    match outcome.error {
        Some(e) => Err(e.into()),
        None => Ok(outcome.summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{Acquired, MemoryLeaseStore};
    use crate::settings::Settings;
    use crate::summary::RunStatus;
    use lambda_runtime::Context;
    use shared::mesh::{HttpOptions, MeshClient};
    use shared::runtime::secrets::SecretCache;
    use shared::storage::MemoryTransferStore;
    use std::time::Duration;

    fn fixture() -> serde_json::Value {
        let path = format!("{}/../../events/aws/reconcile-schedule.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn event(payload: serde_json::Value, request_id: &str) -> LambdaEvent<serde_json::Value> {
        let deadline = u64::try_from(shared::domain::time::now_millis() + 120_000).unwrap();
        let mut context = Context::default();
        context.request_id = request_id.into();
        context.deadline = deadline;
        LambdaEvent::new(payload, context)
    }

    #[tokio::test]
    async fn the_scheduled_event_runs_a_pass_and_a_held_lease_is_a_clean_exit() {
        let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
        let mesh = MeshClient::new(url::Url::parse(&sandbox.base_url()).unwrap(), HttpOptions::default()).unwrap();
        let (store, leases) = (MemoryTransferStore::default(), MemoryLeaseStore::default());
        let secrets = SecretCache::new(shared::testkit::sandbox_secret(), Duration::from_secs(300));
        let settings = Settings::default();
        let reconciler =
            Reconciler { store: &store, leases: &leases, secrets: &secrets, mesh: &mesh, settings: &settings };

        let summary = handle(&reconciler, event(fixture(), "req-1")).await.unwrap();
        assert_eq!((summary.status, summary.run_id.as_str()), (RunStatus::Completed, "req-1"));
        assert_eq!((summary.pages, summary.mesh_calls), (1, 1), "an empty sandbox is one empty page");

        let now = shared::domain::time::now_millis();
        assert!(matches!(leases.acquire("other-run", now, now + 60_000).await.unwrap(), Acquired::Granted(_)));
        let summary = handle(&reconciler, event(fixture(), "req-2")).await.unwrap();
        assert_eq!(summary.status, RunStatus::LeaseHeld);
        assert_eq!((summary.held_by.as_deref(), summary.mesh_calls), (Some("other-run"), 0));
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["status"], "lease_held");
    }

    #[tokio::test]
    async fn the_input_must_be_an_object_or_absent() {
        assert!(serde_json::from_value::<Option<ScheduleInput>>(fixture()).unwrap().is_some());
        assert!(serde_json::from_value::<Option<ScheduleInput>>(serde_json::json!({"note": "ignored"})).is_ok());
        assert!(serde_json::from_value::<Option<ScheduleInput>>(serde_json::Value::Null).unwrap().is_none());
        let err = serde_json::from_value::<Option<ScheduleInput>>(serde_json::json!("run"))
            .map_err(HandlerError::Input)
            .unwrap_err();
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "InvalidScheduleInput");
    }
}
