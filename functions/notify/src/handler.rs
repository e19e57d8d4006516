//! A batch of stream records in, the records to retry out (a partial batch response: the event source
//! mapping retries from the first one named, and after its retries sends the batch's description to the
//! on-failure queue).

use crate::bus::EventBus;
use crate::publish::{RetryPolicy, publish};
use crate::stream::events_of;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

/// Serves batches until the runtime stops, with the bus the cold start built.
pub async fn serve<B: EventBus + 'static>(bus: B) -> Result<(), lambda_runtime::Error> {
    let bus = Arc::new(bus);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let bus = bus.clone();
        async move {
            let response = handle(bus.as_ref(), event.payload, RetryPolicy::default()).await;
            shared::runtime::metrics::flush();
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// Derives and publishes the batch's events; names the records whose events are not all published.
pub async fn handle<B: EventBus>(bus: &B, event: Event, policy: RetryPolicy) -> DynamoDbEventResponse {
    let records: Vec<_> = event.records.iter().map(events_of).collect();
    let out = publish(bus, &records, policy).await;
    tracing::info!(
        records = records.len(),
        published = out.events,
        failed_entries = out.failed_entries,
        failed_records = out.failed_records.len(),
        "batch done"
    );
    metrics::counter!("EventsPublished").increment(out.events as u64);
    metrics::counter!("EventsPutFailedEntries").increment(out.failed_entries as u64);
    metrics::counter!("EventsHandedBack").increment(out.undelivered_events as u64);
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = out
        .failed_records
        .into_iter()
        .map(|sequence_number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number);
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::memory::MemoryBus;
    use std::time::Duration;

    const FAST: RetryPolicy = RetryPolicy { attempts: 2, first_backoff: Duration::from_millis(1) };

    fn fixture(name: &str) -> Event {
        let path = format!("{}/../../events/local/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_fixture_batch_publishes_its_paid_checkout_and_nothing_for_the_rest() {
        let bus = MemoryBus::default();
        let response = handle(&bus, fixture("notify-stream-batch.json"), FAST).await;
        assert!(response.batch_item_failures.is_empty());
        let published = bus.published.lock().unwrap().clone();
        let types: Vec<_> = published.iter().map(|e| e.detail_type).collect();
        assert_eq!(types, vec!["checkout.paid", "deposit.succeeded"]);
        let detail: serde_json::Value = serde_json::from_str(&published[0].detail).unwrap();
        assert_eq!(detail["checkoutId"], "chk_0f8e2c4b9a1d4e6f8a2b3c4d5e6f7a8b");
        assert_eq!(detail["offered"]["amountInFiat"], "49.99");
        assert_eq!(detail["received"]["amountInFiat"], "49.99");
    }

    #[tokio::test]
    async fn a_record_whose_events_fail_is_named_by_its_sequence_number() {
        let bus = MemoryBus::default();
        *bus.failing_calls.lock().unwrap() = 99;
        let response = handle(&bus, fixture("notify-stream-batch.json"), FAST).await;
        let named: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
        // The two records that raise events; the open checkout's record raises none and is done.
        assert_eq!(named, vec!["200000000000000000002", "200000000000000000003"]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "200000000000000000002");
    }
}
