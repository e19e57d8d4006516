//! Business metrics in CloudWatch Embedded Metric Format: counters recorded through the `metrics`
//! facade during an invocation and written as one EMF JSON line to stdout at its end. CloudWatch
//! turns those lines into metrics asynchronously: no API call, no latency on the request path.

use metrics_cloudwatch_embedded::{Builder, Collector};
use std::sync::OnceLock;

pub const NAMESPACE: &str = "MeshBackend";

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Installs the EMF recorder for this function (once per cold start) and counts the cold start.
pub fn init(function: &'static str) {
    let collector = COLLECTOR.get_or_init(|| {
        Builder::new().cloudwatch_namespace(NAMESPACE).with_dimension("Function", function).init().ok()
    });
    if collector.is_some() {
        metrics::counter!("ColdStart").increment(1);
    }
}

/// Writes what the invocation counted as one EMF line and resets the counters.
pub fn flush() {
    if let Some(Some(collector)) = COLLECTOR.get()
        && let Err(e) = collector.flush(std::io::stdout().lock())
    {
        tracing::warn!(error = %e, "writing metrics failed");
    }
}
