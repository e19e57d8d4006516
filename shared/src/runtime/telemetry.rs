//! Logging, set up once per cold start: one JSON object per line on stdout, which CloudWatch Logs
//! indexes. The Lambda runtime opens a span carrying `requestId` around every invocation; listing the
//! spans on each line puts the request id on every line logged while handling it.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates whose TRACE lines carry what must never reach a log: `lambda_runtime` prints every raw event
/// (webhook bodies, signatures, Idempotency-Keys), `lambda_http` the request, the AWS SDK (`aws_*`) and
/// the HTTP stack below it request and response bodies and headers. DEBUG and above are clean. Prefixes.
const CAPPED_AT_DEBUG: [&str; 8] =
    ["lambda_runtime", "lambda_http", "aws_", "hyper", "h2", "reqwest", "rustls", "tower"];

/// Caps those crates at DEBUG whatever level the function runs at; everything else passes through to
/// the level filter.
pub fn third_party_cap() -> Targets {
    CAPPED_AT_DEBUG
        .iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |t, target| t.with_target(*target, LevelFilter::DEBUG))
}

/// Installs the global subscriber. Level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
/// `AWS_LAMBDA_LOG_FORMAT=Text` switches to plain text for local reading.
pub fn init() {
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let level = level_from_env();
    if text {
        let text = tracing_subscriber::fmt().with_max_level(level).with_target(false).finish();
        let _ = text.with(third_party_cap()).try_init();
    } else {
        let _ = tracing::subscriber::set_global_default(json_subscriber(level, std::io::stdout));
    }
}

fn level_from_env() -> LevelFilter {
    let var = |name| std::env::var(name).ok();
    parse_level(var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")).as_deref())
}

/// One level for everything: Lambda's levels (`TRACE` … `ERROR`, `FATAL`) or a plain `RUST_LOG` level.
/// A plain level filter instead of `env-filter`'s directives keeps a regex engine out of the binary and
/// out of init; anything unreadable means `info`.
fn parse_level(raw: Option<&str>) -> LevelFilter {
    match raw.map(|r| r.trim().to_ascii_lowercase()).as_deref() {
        Some("fatal") => LevelFilter::ERROR,
        Some(level) => level.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

/// The JSON subscriber, with its writer injectable so tests can read what it prints.
pub fn json_subscriber<W>(level: LevelFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_writer(writer)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .finish()
        .with(third_party_cap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn every_line_is_json_and_carries_the_request_id() {
        let buf = Buffer::default();
        let subscriber = json_subscriber(LevelFilter::INFO, buf.clone());
        tracing::subscriber::with_default(subscriber, || {
            // The span the Lambda runtime opens around each invocation.
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "req-123");
            let _g = invoke.enter();
            tracing::info!(event_id = "evt-1", "applied");
            let inner = tracing::info_span!("store", table = "transfers");
            let _i = inner.enter();
            tracing::warn!("nested");
            tracing::debug!("filtered out");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{out}");
        for line in &lines {
            assert_eq!(line["spans"][0]["requestId"], "req-123", "{line}");
        }
        assert_eq!(lines[0]["message"], "applied");
        assert_eq!(lines[0]["event_id"], "evt-1");
        assert_eq!(lines[1]["level"], "WARN");
    }

    #[test]
    fn lambda_log_levels_map_to_one_filter() {
        assert_eq!(parse_level(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(parse_level(Some("WARN")), LevelFilter::WARN);
        assert_eq!(parse_level(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(parse_level(Some(" trace ")), LevelFilter::TRACE);
        assert_eq!(parse_level(Some("shared=debug")), LevelFilter::INFO);
        assert_eq!(parse_level(None), LevelFilter::INFO);
    }

    #[test]
    fn the_runtime_and_the_sdk_stop_at_debug_at_any_level() {
        let buf = Buffer::default();
        tracing::subscriber::with_default(json_subscriber(LevelFilter::TRACE, buf.clone()), || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "RAW-EVENT", "raw event");
            tracing::trace!(target: "aws_smithy_runtime::client::http", body = "REQUEST-BODY", "sending");
            tracing::trace!(target: "hyper::proto::h1", "HEADERS");
            tracing::debug!(target: "lambda_runtime::runtime", "kept at debug");
            tracing::trace!(target: "shared::ingest", "ours at trace");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        for capped in ["RAW-EVENT", "REQUEST-BODY", "HEADERS"] {
            assert!(!out.contains(capped), "{capped}: {out}");
        }
        assert!(out.contains("kept at debug") && out.contains("ours at trace"), "{out}");
    }
}
