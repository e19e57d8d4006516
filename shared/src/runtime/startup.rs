//! What a function does when it cannot start: one line a person can act on, on stderr
//! (`link-token: cannot start: configuration variable TRANSFERS_TABLE is missing`), the same message
//! reported to the Lambda Runtime API as an init error, and a non-zero exit.
//!
//! Returning the error from `main` would print its `Debug` form instead
//! (`Error: Config(Missing { name: "TRANSFERS_TABLE" })`), and without the report the invocation that
//! started the function (Lambda's, or `cargo lambda watch`'s) would get no answer until it timed out.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

type BoxError = Box<dyn Error + Send + Sync>;

/// `main`'s exit: success when `run` ended normally; otherwise says why on stderr and to the Runtime API.
///
/// ```ignore
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     shared::runtime::startup::exit_code(run().await).await
/// }
/// ```
pub async fn exit_code<E: Into<BoxError>>(result: Result<(), E>) -> ExitCode {
    let Err(error) = result else { return ExitCode::SUCCESS };
    let message = message(error.into().as_ref());
    eprintln!("{}: cannot start: {message}", function_name());
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        report_init_error(&api, &message).await;
    }
    ExitCode::FAILURE
}

/// The error's `Display`, followed by each source that adds something (a `#[error(transparent)]`
/// wrapper repeats its source's text).
pub fn message(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = e.source();
    }
    text
}

/// The name Lambda (and cargo-lambda) gives the function, else the binary's.
fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        std::env::args()
            .next()
            .and_then(|p| std::path::Path::new(&p).file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "function".into())
    })
}

/// `POST /2018-06-01/runtime/init/error`: Lambda fails the waiting invocation with this message and
/// logs it. Best effort: the process exits non-zero either way.
async fn report_init_error(api: &str, message: &str) {
    let body = serde_json::json!({ "errorType": "Runtime.InitError", "errorMessage": message });
    let sent = async {
        reqwest::Client::builder()
            // reqwest carries no crypto provider of its own here (one TLS stack per process, `crate::tls`).
            .tls_backend_preconfigured(crate::tls::client_config().as_ref().clone())
            .timeout(Duration::from_secs(2))
            .build()?
            .post(init_error_url(api))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .json(&body)
            .send()
            .await
    };
    if let Err(e) = sent.await {
        eprintln!("reporting the init error to the Lambda Runtime API failed: {e}");
    }
}

/// Lambda sets `AWS_LAMBDA_RUNTIME_API` to `host:port`; cargo-lambda to a URL with a path.
fn init_error_url(api: &str) -> String {
    let base =
        if api.starts_with("http://") || api.starts_with("https://") { api.into() } else { format!("http://{api}") };
    format!("{}/2018-06-01/runtime/init/error", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::app::InitError;
    use crate::runtime::config::ConfigError;

    #[test]
    fn the_message_is_the_display_form_naming_the_variable() {
        let error = InitError::from(ConfigError::Missing { name: "TRANSFERS_TABLE".into() });
        assert_eq!(message(&error), "configuration variable TRANSFERS_TABLE is missing");
    }

    #[test]
    fn the_runtime_api_is_lambdas_host_and_port_or_cargo_lambdas_url() {
        assert_eq!(init_error_url("127.0.0.1:9001"), "http://127.0.0.1:9001/2018-06-01/runtime/init/error");
        assert_eq!(
            init_error_url("http://127.0.0.1:9000/.rt/webhook"),
            "http://127.0.0.1:9000/.rt/webhook/2018-06-01/runtime/init/error"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading the secret failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn sources_that_add_something_are_appended() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(message(&error), "reading the secret failed: connection refused");
    }

    #[tokio::test]
    async fn an_error_exits_non_zero_and_is_reported_to_the_runtime_api() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let api = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("errorMessage") {
                let n = socket.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            socket.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").unwrap();
            String::from_utf8(request).unwrap()
        });
        let error = ConfigError::Missing { name: "MESH_ENV".into() };
        report_init_error(&api, &message(&error)).await;
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /2018-06-01/runtime/init/error "), "{request}");
        assert!(request.contains("configuration variable MESH_ENV is missing"), "{request}");
        assert_eq!(exit_code(Err::<(), _>(error)).await, ExitCode::FAILURE);
        assert_eq!(exit_code(Ok::<(), BoxError>(())).await, ExitCode::SUCCESS);
    }
}
