//! How a Mesh call failed, in the classes callers act on differently.

use std::time::Duration;

/// How a Mesh call failed, in the classes callers act on differently: fix credentials, fix the
/// request, back off, or retry. Messages carry Mesh's own words (never our secret) for logs; callers
/// map them to their own user-facing errors.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("Mesh rejected the credentials (HTTP 401)")]
    Unauthorized,
    #[error("Mesh denied permission (HTTP 403)")]
    Forbidden,
    #[error("Mesh rejected the request: {error_type}: {message}")]
    BadRequest { error_type: String, message: String },
    #[error("Mesh found nothing there: {message}")]
    NotFound { message: String },
    #[error("Mesh is throttling (HTTP 429)")]
    Throttled { retry_after: Option<Duration> },
    #[error("Mesh failed (HTTP {status})")]
    Server { status: u16 },
    #[error("Mesh answered with unexpected HTTP {status}")]
    UnexpectedStatus { status: u16 },
    #[error("Mesh did not answer in time")]
    Timeout,
    #[error("could not reach Mesh: {0}")]
    Transport(String),
    #[error("Mesh's response exceeds {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("Mesh's response could not be read: {0}")]
    Decode(String),
    #[error("the listing did not end within {max_pages} pages")]
    TooManyPages { max_pages: u32 },
    #[error("invalid Mesh client setup: {0}")]
    Setup(String),
}

impl MeshError {
    /// Worth another attempt later (with backoff): throttling, Mesh-side failures, network trouble.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Server { .. } | Self::Timeout | Self::Transport(_))
    }

    /// How long Mesh asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }
}
