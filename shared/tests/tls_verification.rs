//! TLS verification of both outbound clients (the Mesh client over reqwest, the AWS SDK over
//! `shared::aws_http`), against a local HTTPS server whose certificate is issued by a root made here.
//! With the production roots (`tls::client_config`) both refuse it; with that root added, in this test
//! only, both accept it. The server is the same in both cases, so the roots are the only difference.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use shared::mesh::{HttpOptions, MeshClient, MeshError};
use shared::runtime::secrets::MeshSecrets;
use shared::tls;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// One body both clients can read: Mesh's envelope (networks) and DynamoDB's `ListTables` answer.
const BODY: &str = r#"{"content":{"networks":[]},"status":"ok","TableNames":[]}"#;

struct Server {
    base: String,
    /// Requests answered (only after a completed handshake).
    served: Arc<AtomicUsize>,
    /// The test root, for the client configuration that trusts it.
    root: CertificateDer<'static>,
}

/// An HTTPS server on 127.0.0.1 with a certificate for that address, issued by a fresh test root.
async fn server() -> Server {
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = root_params.self_signed(&root_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::new(root_params, root_key))
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake with an alert: nothing to serve.
                let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Server { base, served, root: root.der().clone() }
}

fn trusting(root: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = tls::webpki_roots();
    roots.add(root.clone()).unwrap();
    tls::client_config_with(roots)
}

fn creds() -> MeshSecrets {
    MeshSecrets::parse(r#"{"clientId":"cid","clientSecret":"secret","webhookSecret":"w"}"#).unwrap()
}

fn dynamodb(endpoint: &str, tls: Arc<rustls::ClientConfig>) -> aws_sdk_dynamodb::Client {
    let endpoint = endpoint.to_string();
    let vars = move |name: &str| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    };
    aws_sdk_dynamodb::Client::new(&shared::runtime::aws::sdk_config_from(vars, tls))
}

#[tokio::test]
async fn mesh_client_refuses_a_certificate_outside_the_roots_and_accepts_a_trusted_one() {
    let server = server().await;
    let base = Url::parse(&server.base).unwrap();

    let production = MeshClient::new(base.clone(), HttpOptions::default()).unwrap();
    let refused = production.list_networks(&creds()).await;
    assert!(matches!(refused, Err(MeshError::Transport(_))), "{refused:?}");
    assert_eq!(server.served.load(Ordering::SeqCst), 0, "no request may pass a refused handshake");

    let trusting = MeshClient::with_tls(base, HttpOptions::default(), &trusting(&server.root)).unwrap();
    let networks = trusting.list_networks(&creds()).await.expect("the test root is trusted");
    assert!(networks.is_empty());
    assert_eq!(server.served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sdk_http_client_refuses_a_certificate_outside_the_roots_and_accepts_a_trusted_one() {
    let server = server().await;

    let refused = dynamodb(&server.base, tls::client_config()).list_tables().send().await;
    let error = DisplayErrorContext(refused.expect_err("the server's root is not trusted")).to_string();
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert_eq!(server.served.load(Ordering::SeqCst), 0, "no request may pass a refused handshake");

    let tables = dynamodb(&server.base, trusting(&server.root)).list_tables().send().await.expect("trusted");
    assert!(tables.table_names().is_empty());
    assert_eq!(server.served.load(Ordering::SeqCst), 1);
}
