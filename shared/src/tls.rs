//! The one TLS client configuration of a cold start, shared by every outbound HTTPS call: Mesh (reqwest)
//! and AWS (the SDK's HTTP client in `aws_http`). Roots are the Mozilla set compiled in (`webpki-roots`),
//! crypto is `ring`. Nothing is read from the file system: loading and parsing the system's PEM bundle
//! was 73–83 % of init (callgrind), and a Lambda's bundle is whatever the runtime image ships anyway.

use rustls::{ClientConfig, RootCertStore};
use std::sync::{Arc, LazyLock};

/// The process-wide configuration with the compiled-in roots. Built on first use (microseconds: the
/// roots are already parsed trust anchors).
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: LazyLock<Arc<ClientConfig>> = LazyLock::new(|| client_config_with(webpki_roots()));
    CONFIG.clone()
}

/// The maintained root set: Mozilla's, as packaged by `webpki-roots`.
pub fn webpki_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A configuration trusting exactly `roots` (tests add their own root to `webpki_roots()` here).
/// TLS 1.2 and 1.3 with `ring`'s defaults; no ALPN, so every client speaks HTTP/1.1.
pub fn client_config_with(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
