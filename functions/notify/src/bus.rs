//! The bus, behind a narrow port: one `PutEvents` call of at most ten entries, and what became of each.
//! `EventBridgeBus` is the adapter; tests use an in-memory bus.

use crate::settings::EVENT_SOURCE;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::domain::settlement_event::SettlementEvent;
use std::future::Future;

/// EventBridge takes at most this many entries per `PutEvents` call.
pub const MAX_ENTRIES: usize = 10;

/// One entry as the bus receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEntry {
    /// The stable event id (also `detail.eventId`): for logs and the redelivery report.
    pub event_id: String,
    pub detail_type: &'static str,
    pub detail: String,
    /// Unix ms of the change.
    pub time_ms: i64,
}

impl BusEntry {
    pub fn from_event(event: &SettlementEvent) -> Self {
        Self {
            event_id: event.id.clone(),
            detail_type: event.kind.as_str(),
            // A struct of strings, numbers and maps: serialising it cannot fail.
            detail: serde_json::to_string(&event.detail).unwrap_or_default(),
            time_ms: event.occurred_at,
        }
    }
}

/// What the bus said about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Published,
    Failed { code: String },
}

/// The whole call failed (after the SDK's own retries): no entry is known to be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed: {0}")]
pub struct BusError(pub String);

pub trait EventBus: Send + Sync {
    /// Puts `entries` (at most `MAX_ENTRIES`); one outcome per entry, in order.
    fn put(&self, entries: &[BusEntry]) -> impl Future<Output = Result<Vec<EntryOutcome>, BusError>> + Send;
}

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }
}

impl EventBus for EventBridgeBus {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<EntryOutcome>, BusError> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .time(aws_smithy_types::DateTime::from_millis(e.time_ms))
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| BusError(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
        let results = output.entries();
        // Results come in request order; an entry without a result is not known to be published.
        Ok((0..entries.len())
            .map(|i| match results.get(i) {
                Some(r) if r.error_code().is_none() && r.event_id().is_some() => EntryOutcome::Published,
                Some(r) => EntryOutcome::Failed { code: r.error_code().unwrap_or("NoEventId").to_string() },
                None => EntryOutcome::Failed { code: "NoResult".into() },
            })
            .collect())
    }
}

#[cfg(test)]
pub mod memory {
    //! An in-memory bus whose failures a test scripts: the whole call, or chosen entries.

    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryBus {
        pub published: Mutex<Vec<BusEntry>>,
        pub calls: Mutex<Vec<usize>>,
        /// Entries whose event id is listed fail this many more times each.
        pub failing: Mutex<Vec<(String, u32)>>,
        /// The next this-many calls fail as a whole.
        pub failing_calls: Mutex<u32>,
    }

    impl MemoryBus {
        pub fn fail_entry(&self, event_id: &str, times: u32) {
            self.failing.lock().unwrap().push((event_id.to_string(), times));
        }

        pub fn ids(&self) -> Vec<String> {
            self.published.lock().unwrap().iter().map(|e| e.event_id.clone()).collect()
        }
    }

    impl EventBus for MemoryBus {
        async fn put(&self, entries: &[BusEntry]) -> Result<Vec<EntryOutcome>, BusError> {
            assert!(entries.len() <= MAX_ENTRIES, "PutEvents takes at most {MAX_ENTRIES} entries");
            self.calls.lock().unwrap().push(entries.len());
            {
                let mut calls = self.failing_calls.lock().unwrap();
                if *calls > 0 {
                    *calls -= 1;
                    return Err(BusError("ServiceUnavailable".into()));
                }
            }
            let mut failing = self.failing.lock().unwrap();
            let mut published = self.published.lock().unwrap();
            Ok(entries
                .iter()
                .map(|e| match failing.iter_mut().find(|(id, left)| *id == e.event_id && *left > 0) {
                    Some((_, left)) => {
                        *left -= 1;
                        EntryOutcome::Failed { code: "InternalFailure".into() }
                    }
                    None => {
                        published.push(e.clone());
                        EntryOutcome::Published
                    }
                })
                .collect())
        }
    }
}
