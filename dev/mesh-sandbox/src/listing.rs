//! `GET /api/v1/transfers/managed/mesh` query: parsing (names case-insensitive, arrays as repeated keys
//! or `Key[]`), validation (the documented limits), filtering, ordering and paging. Pure functions.

use std::cmp::Ordering;

use uuid::Uuid;

use crate::transfer::{Transfer, TransferStatus};

pub const DEFAULT_COUNT: usize = 10;
pub const MAX_COUNT: usize = 100;
pub const MAX_STATUSES: usize = 5;
pub const MAX_INTEGRATION_IDS: usize = 100;
pub const MAX_USER_ID: usize = 50;
pub const MAX_CLIENT_TRANSACTION_ID: usize = 128;

/// `TransferOrderByFields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBy {
    Id,
    ClientTransferId,
    UserId,
    FromType,
    AmountInFiat,
    Status,
    CreatedTimestamp,
    Symbol,
    NetworkName,
}

impl OrderBy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "id" => OrderBy::Id,
            "clienttransferid" => OrderBy::ClientTransferId,
            "userid" => OrderBy::UserId,
            "fromtype" => OrderBy::FromType,
            "amountinfiat" => OrderBy::AmountInFiat,
            "status" => OrderBy::Status,
            "createdtimestamp" => OrderBy::CreatedTimestamp,
            "symbol" => OrderBy::Symbol,
            "networkname" => OrderBy::NetworkName,
            _ => return None,
        })
    }
}

/// A validated query.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferQuery {
    pub count: usize,
    pub offset: usize,
    pub id: Option<Uuid>,
    pub client_transaction_id: Option<String>,
    pub user_id: Option<String>,
    pub statuses: Vec<TransferStatus>,
    pub integration_ids: Vec<Uuid>,
    pub from_timestamp: Option<i64>,
    pub to_timestamp: Option<i64>,
    pub min_amount_in_fiat: Option<f64>,
    pub max_amount_in_fiat: Option<f64>,
    pub hash: Option<String>,
    pub order_by: OrderBy,
    pub descending: bool,
}

impl Default for TransferQuery {
    fn default() -> Self {
        TransferQuery {
            count: DEFAULT_COUNT,
            offset: 0,
            id: None,
            client_transaction_id: None,
            user_id: None,
            statuses: Vec::new(),
            integration_ids: Vec::new(),
            from_timestamp: None,
            to_timestamp: None,
            min_amount_in_fiat: None,
            max_amount_in_fiat: None,
            hash: None,
            order_by: OrderBy::CreatedTimestamp,
            descending: false,
        }
    }
}

/// A rejected query parameter: `(parameter name as documented, reason)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param} {reason}")]
pub struct QueryError {
    pub param: &'static str,
    pub reason: String,
}

fn err(param: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError { param, reason: reason.into() }
}

/// Canonical key: lower-cased, with a trailing `[]` or `[n]` removed (`Statuses[]`, `Statuses[0]`).
fn normalize_key(key: &str) -> String {
    let k = key.trim().to_ascii_lowercase();
    if let Some(open) = k.rfind('[')
        && k.ends_with(']')
        && k[open + 1..k.len() - 1].chars().all(|c| c.is_ascii_digit())
    {
        return k[..open].to_string();
    }
    k
}

/// Parses a raw query string (without `?`). Unknown parameters are ignored; empty values read as absent;
/// for single-valued parameters the first occurrence wins.
pub fn parse_query(raw: &str) -> Result<TransferQuery, QueryError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (normalize_key(&k), v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let all = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();

    let mut q = TransferQuery::default();
    if let Some(v) = first("count") {
        let n: i64 = v.parse().map_err(|_| err("Count", "must be an integer"))?;
        if n < 1 || n > MAX_COUNT as i64 {
            return Err(err("Count", format!("must be between 1 and {MAX_COUNT}")));
        }
        q.count = n as usize;
    }
    if let Some(v) = first("offset") {
        let n: i64 = v.parse().map_err(|_| err("Offset", "must be an integer"))?;
        if n < 0 || n > i64::from(i32::MAX) {
            return Err(err("Offset", "must be a non-negative 32-bit integer"));
        }
        q.offset = n as usize;
    }
    if let Some(v) = first("id") {
        q.id = Some(Uuid::parse_str(v).map_err(|_| err("Id", "must be a UUID"))?);
    }
    if let Some(v) = first("clienttransactionid") {
        if v.chars().count() > MAX_CLIENT_TRANSACTION_ID {
            return Err(err("ClientTransactionId", format!("must be at most {MAX_CLIENT_TRANSACTION_ID} characters")));
        }
        q.client_transaction_id = Some(v.to_string());
    }
    if let Some(v) = first("userid") {
        if v.chars().count() > MAX_USER_ID {
            return Err(err("UserId", format!("must be at most {MAX_USER_ID} characters")));
        }
        q.user_id = Some(v.to_string());
    }
    let statuses = all("statuses");
    if statuses.len() > MAX_STATUSES {
        return Err(err("Statuses", format!("accepts at most {MAX_STATUSES} values")));
    }
    for s in statuses {
        let status = TransferStatus::parse(s).ok_or_else(|| err("Statuses", format!("has an unknown value '{s}'")))?;
        if !q.statuses.contains(&status) {
            q.statuses.push(status);
        }
    }
    let integration_ids = all("integrationids");
    if integration_ids.len() > MAX_INTEGRATION_IDS {
        return Err(err("IntegrationIds", format!("accepts at most {MAX_INTEGRATION_IDS} values")));
    }
    for s in integration_ids {
        q.integration_ids.push(Uuid::parse_str(s).map_err(|_| err("IntegrationIds", "must be UUIDs"))?);
    }
    if let Some(v) = first("fromtimestamp") {
        q.from_timestamp = Some(v.parse().map_err(|_| err("FromTimestamp", "must be an integer"))?);
    }
    if let Some(v) = first("totimestamp") {
        q.to_timestamp = Some(v.parse().map_err(|_| err("ToTimestamp", "must be an integer"))?);
    }
    if let Some(v) = first("minamountinfiat") {
        q.min_amount_in_fiat = Some(parse_f64(v).ok_or_else(|| err("MinAmountInFiat", "must be a number"))?);
    }
    if let Some(v) = first("maxamountinfiat") {
        q.max_amount_in_fiat = Some(parse_f64(v).ok_or_else(|| err("MaxAmountInFiat", "must be a number"))?);
    }
    if let Some(v) = first("hash") {
        q.hash = Some(v.to_string());
    }
    if let Some(v) = first("orderby") {
        q.order_by = OrderBy::parse(v).ok_or_else(|| {
            err(
                "OrderBy",
                format!(
                    "has an unknown value '{v}' (id, clientTransferId, userId, fromType, amountInFiat, status, \
                     createdTimestamp, symbol, networkName)"
                ),
            )
        })?;
    }
    if let Some(v) = first("descendingorder") {
        q.descending = match v.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(err("DescendingOrder", "must be true or false")),
        };
    }
    Ok(q)
}

fn parse_f64(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl TransferQuery {
    pub fn matches(&self, t: &Transfer) -> bool {
        self.id.is_none_or(|id| t.id == id)
            && self.client_transaction_id.as_deref().is_none_or(|c| t.client_transaction_id.as_deref() == Some(c))
            && self.user_id.as_deref().is_none_or(|u| t.user_id == u)
            && (self.statuses.is_empty() || self.statuses.contains(&t.status))
            && (self.integration_ids.is_empty() || self.integration_ids.contains(&t.from.id))
            && self.from_timestamp.is_none_or(|f| t.created_timestamp >= f)
            && self.to_timestamp.is_none_or(|to| t.created_timestamp <= to)
            && self.min_amount_in_fiat.is_none_or(|m| t.amount_in_fiat >= m)
            && self.max_amount_in_fiat.is_none_or(|m| t.amount_in_fiat <= m)
            && self.hash.as_deref().is_none_or(|h| t.hash.as_deref() == Some(h))
    }

    fn compare(&self, a: &Transfer, b: &Transfer) -> Ordering {
        let primary = match self.order_by {
            OrderBy::Id => Ordering::Equal,
            OrderBy::ClientTransferId => a.client_transaction_id.cmp(&b.client_transaction_id),
            OrderBy::UserId => a.user_id.cmp(&b.user_id),
            OrderBy::FromType => a.from.broker_type.cmp(&b.from.broker_type),
            OrderBy::AmountInFiat => a.amount_in_fiat.total_cmp(&b.amount_in_fiat),
            OrderBy::Status => a.status.as_str().cmp(b.status.as_str()),
            OrderBy::CreatedTimestamp => a.created_timestamp.cmp(&b.created_timestamp),
            OrderBy::Symbol => a.symbol.cmp(&b.symbol),
            OrderBy::NetworkName => a.network.name.cmp(b.network.name),
        };
        // Ties are broken by id so pages are stable; the whole ordering flips when descending.
        let ordering = primary.then_with(|| a.id.cmp(&b.id));
        if self.descending { ordering.reverse() } else { ordering }
    }

    /// Filters, orders and pages. Returns the page and the total number of matches.
    pub fn run<'a>(&self, transfers: impl Iterator<Item = &'a Transfer>) -> (Vec<&'a Transfer>, usize) {
        let mut matched: Vec<&Transfer> = transfers.filter(|t| self.matches(t)).collect();
        matched.sort_by(|a, b| self.compare(a, b));
        let total = matched.len();
        let page = matched.into_iter().skip(self.offset).take(self.count).collect();
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let q = parse_query("").expect("empty query");
        assert_eq!(q, TransferQuery::default());
        assert_eq!(q.count, 10);
        assert!(!q.descending);
        assert_eq!(q.order_by, OrderBy::CreatedTimestamp);
    }

    #[test]
    fn names_are_case_insensitive_and_arrays_repeat() {
        let q = parse_query(
            "count=5&OFFSET=10&statuses=pending&Statuses%5B%5D=FAILED&Statuses[0]=pending&orderBy=AmountInFiat&descendingorder=True&UserId=u",
        )
        .expect("valid");
        assert_eq!(q.count, 5);
        assert_eq!(q.offset, 10);
        assert_eq!(q.statuses, vec![TransferStatus::Pending, TransferStatus::Failed]);
        assert_eq!(q.order_by, OrderBy::AmountInFiat);
        assert!(q.descending);
        assert_eq!(q.user_id.as_deref(), Some("u"));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_query("Count=101").map_err(|e| e.param), Err("Count"));
        assert_eq!(parse_query("Count=0").map_err(|e| e.param), Err("Count"));
        assert_eq!(parse_query("Count=abc").map_err(|e| e.param), Err("Count"));
        assert!(parse_query("Count=100").is_ok());
        assert_eq!(parse_query("Offset=-1").map_err(|e| e.param), Err("Offset"));
        assert_eq!(parse_query(&format!("UserId={}", "u".repeat(51))).map_err(|e| e.param), Err("UserId"));
        assert!(parse_query(&format!("UserId={}", "u".repeat(50))).is_ok());
        assert_eq!(
            parse_query(
                "Statuses=pending&Statuses=failed&Statuses=succeeded&Statuses=pending&Statuses=failed&Statuses=pending"
            )
            .map_err(|e| e.param),
            Err("Statuses")
        );
        assert_eq!(parse_query("Statuses=done").map_err(|e| e.param), Err("Statuses"));
        assert_eq!(parse_query("Id=nope").map_err(|e| e.param), Err("Id"));
        assert_eq!(parse_query("OrderBy=colour").map_err(|e| e.param), Err("OrderBy"));
        assert_eq!(parse_query("DescendingOrder=yes").map_err(|e| e.param), Err("DescendingOrder"));
        assert_eq!(parse_query("MinAmountInFiat=NaN").map_err(|e| e.param), Err("MinAmountInFiat"));
        assert_eq!(parse_query("FromTimestamp=1.5").map_err(|e| e.param), Err("FromTimestamp"));
        // Unknown parameters and empty values are ignored.
        assert!(parse_query("IsSandBox=true&IncludeWebhooksLogs=true&Count=").is_ok());
    }
}
