//! The adapter from a DynamoDB stream record to the domain: the old and new images decoded into the
//! records they hold, then the events that change raises. Items other than checkouts and transfers
//! raise nothing (the event source mapping's filter keeps most of them away already).

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::de::DeserializeOwned;
use shared::domain::checkout::CheckoutRecord;
use shared::domain::settlement_event::{SettlementEvent, checkout_events, deposit_events};
use shared::domain::transfer::TransferRecord;

/// One stream record and what it raises.
#[derive(Debug, Clone)]
pub struct RecordEvents {
    /// The record's sequence number: what a partial batch response names.
    pub sequence_number: String,
    pub events: Result<Vec<SettlementEvent>, DecodeError>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("stream record without a sequence number")]
    NoSequenceNumber,
    #[error("{image} image of {key} is not a readable {kind}: {reason}")]
    Unreadable { image: &'static str, key: String, kind: &'static str, reason: String },
}

/// What one record raises. A record whose images cannot be read is an error, never "no events": it
/// goes back to the event source mapping and, after its retries, to the on-failure queue.
pub fn events_of(record: &EventRecord) -> RecordEvents {
    let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
    let events = if sequence_number.is_empty() { Err(DecodeError::NoSequenceNumber) } else { derive(record) };
    RecordEvents { sequence_number, events }
}

fn derive(record: &EventRecord) -> Result<Vec<SettlementEvent>, DecodeError> {
    let new = &record.change.new_image;
    let old = &record.change.old_image;
    let key = match new.get("pk").or_else(|| record.change.keys.get("pk")) {
        Some(serde_dynamo::AttributeValue::S(pk)) => pk.clone(),
        _ => return Ok(Vec::new()),
    };
    if new.is_empty() {
        return Ok(Vec::new()); // a removal raises nothing
    }
    if key.starts_with("CHECKOUT#") {
        let new: CheckoutRecord = decode(new, "new", &key, "checkout")?;
        let old: Option<CheckoutRecord> = decode_old(old, &key, "checkout")?;
        Ok(checkout_events(old.as_ref(), &new))
    } else if key.starts_with("TRANSFER#") {
        let new: TransferRecord = decode(new, "new", &key, "transfer")?;
        let old: Option<TransferRecord> = decode_old(old, &key, "transfer")?;
        Ok(deposit_events(old.as_ref(), &new))
    } else {
        Ok(Vec::new())
    }
}

fn decode<T: DeserializeOwned>(
    image: &serde_dynamo::Item,
    which: &'static str,
    key: &str,
    kind: &'static str,
) -> Result<T, DecodeError> {
    serde_dynamo::from_item(image.clone()).map_err(|e| DecodeError::Unreadable {
        image: which,
        key: key.to_string(),
        kind,
        reason: e.to_string(),
    })
}

fn decode_old<T: DeserializeOwned>(
    image: &serde_dynamo::Item,
    key: &str,
    kind: &'static str,
) -> Result<Option<T>, DecodeError> {
    if image.is_empty() { Ok(None) } else { decode(image, "old", key, kind).map(Some) }
}
