//! The AWS SDK's HTTP client: hyper-util's pooled HTTP/1.1 client over hyper-rustls with the shared TLS
//! configuration (`tls`). The SDK's own client (`aws-smithy-http-client`) only takes roots as PEM and
//! loads the system's bundle when built; this one shares the compiled-in roots with the Mesh client.
//!
//! It keeps what the SDK's retries rely on: the connect timeout covers DNS, TCP and the TLS handshake, a
//! read timeout if one is configured, transport errors classified as the SDK's own client classifies
//! them (I/O and timeouts are retried, user errors are not), and connection poisoning (a connection that
//! failed is not reused).

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector as TcpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Timeouts = (Option<Duration>, Option<Duration>);

/// The client handed to `SdkConfig`. The SDK asks for a connector on every attempt: one is built per
/// distinct (connect, read) timeout pair and kept, so the connection pool lives for the cold start.
#[derive(Debug)]
pub struct SdkHttpClient {
    tls: Arc<rustls::ClientConfig>,
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl SdkHttpClient {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self { tls, connectors: Mutex::default() }
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(self.tls.clone(), key.0, key.1)))
            .clone()
    }
}

/// One pooled hyper client with fixed timeouts.
#[derive(Debug)]
pub struct Connector {
    client: Client<ConnectTimeout, SdkBody>,
    read_timeout: Option<Duration>,
}

impl Connector {
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        connect_timeout: Option<Duration>,
        read_timeout: Option<Duration>,
    ) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false); // the TLS layer takes https; plain http is for local endpoints (moto)
        tcp.set_nodelay(true);
        let https = HttpsConnector::from((tcp, tls));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout { inner: https, timeout: connect_timeout });
        Self { client, read_timeout }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let captured = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || {
                captured.connection_metadata().as_ref()?;
                let captured = captured.clone();
                Some(
                    ConnectionMetadata::builder()
                        .proxied(false)
                        .poison_fn(move || {
                            if let Some(connection) = captured.connection_metadata().as_ref() {
                                connection.poison();
                            }
                        })
                        .build(),
                )
            });
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(elapsed) => return Err(ConnectorError::timeout(elapsed.into())),
                },
                None => response.await,
            };
            let response = response.map_err(|e| classify(e.into()))?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The HTTPS connector with a deadline over the whole connection setup (DNS, TCP, TLS), as the SDK's
/// own client applies its connect timeout.
#[derive(Clone, Debug)]
struct ConnectTimeout {
    inner: HttpsConnector<TcpConnector>,
    timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("connection not established within {0:?}")]
struct ConnectTimedOut(Duration);

type Connection = <HttpsConnector<TcpConnector> as Service<http::Uri>>::Response;
type Connecting = Pin<Box<dyn Future<Output = Result<Connection, BoxError>> + Send>>;

impl Service<http::Uri> for ConnectTimeout {
    type Response = Connection;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, connecting).await.map_err(|_| ConnectTimedOut(limit))?,
                None => connecting.await,
            }
        })
    }
}

/// Maps a transport error to the SDK's kinds the way `aws-smithy-http-client` does, so the standard
/// retry strategy makes the same decisions.
fn classify(error: BoxError) -> ConnectorError {
    if find::<ConnectTimedOut>(error.as_ref()).is_some() {
        return ConnectorError::timeout(error);
    }
    if let Some(hyper) = find::<hyper::Error>(error.as_ref()) {
        if hyper.is_timeout() {
            return ConnectorError::timeout(error);
        }
        if hyper.is_user() {
            return ConnectorError::user(error);
        }
        if hyper.is_closed() || hyper.is_canceled() || find::<std::io::Error>(hyper).is_some() {
            return ConnectorError::io(error);
        }
        if hyper.is_incomplete_message() {
            return ConnectorError::other(error, Some(ErrorKind::TransientError));
        }
        return ConnectorError::other(error, None);
    }
    if let Some(legacy) = find::<hyper_util::client::legacy::Error>(error.as_ref())
        && (legacy.is_connect() || find::<std::io::Error>(legacy).is_some())
    {
        return ConnectorError::io(error);
    }
    ConnectorError::other(error, None)
}

fn find<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
