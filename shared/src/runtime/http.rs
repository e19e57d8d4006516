//! Serving an HTTP function (API Gateway, function URL) with `lambda_http`, the answer's body read here.
//!
//! `lambda_http::run` turns any `Response<B>` into the event's answer by decoding the body with the
//! charset its `content-type` names, through `encoding_rs`; that links the tables of every legacy
//! encoding into the function, about 130 KB of a 2.4 MB zip that barely compress. Our answers are
//! UTF-8 JSON or empty, so the body is read here with the same rules for UTF-8 and handed over as it is
//! (`Answer`). A body in another charset is passed as binary: API Gateway returns its bytes unchanged,
//! matching its `content-type`, where lambda_http would have re-encoded it as UTF-8.

use http_body_util::BodyExt;
use lambda_http::{Body, IntoResponse, Request, Response, Service};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Starts the runtime with `service` answering each HTTP event (`lambda_http::run`, through `Answering`).
pub async fn run<S, B>(service: S) -> Result<(), lambda_http::Error>
where
    S: Service<Request, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Into<lambda_http::lambda_runtime::Diagnostic> + Send,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Debug,
{
    lambda_http::run(Answering(service)).await
}

/// An answer handed to `lambda_http` as it is.
pub struct Answer(pub Response<Body>);

impl IntoResponse for Answer {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// A service whose answers are read into `Answer`s.
#[derive(Clone)]
pub struct Answering<S>(pub S);

impl<S, B> Service<Request> for Answering<S>
where
    S: Service<Request, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Debug,
{
    type Response = Answer;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move { Ok(answer(response.await?).await) })
    }
}

/// The answer `lambda_http` would give for `response`, for UTF-8 bodies: with a `content-encoding`,
/// binary; without a `content-type`, text; text for `text/*`, JSON, JavaScript, XML and YAML types (and
/// `+json`, `+xml`, `+yaml`) or when `x-lambda-http-content-encoding: text` asks for it, decoded as UTF-8
/// (a byte-order mark dropped, invalid sequences replaced); anything else binary. A body that cannot be
/// read becomes a 500 with no body.
pub async fn answer<B>(response: Response<B>) -> Answer
where
    B: http_body::Body,
    B::Error: Debug,
{
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::error!(error = ?e, "the answer's body could not be read");
            parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
            parts.headers.clear();
            return Answer(Response::from_parts(parts, Body::Empty));
        }
    };
    let body = match text_charset(&parts.headers) {
        Some(Charset::Utf8) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            Body::Text(String::from_utf8_lossy(bytes).into_owned())
        }
        Some(Charset::Other) | None => Body::Binary(bytes.to_vec()),
    };
    Answer(Response::from_parts(parts, body))
}

enum Charset {
    Utf8,
    Other,
}

/// `Some` when lambda_http would answer with text, with the charset it would decode.
fn text_charset(headers: &http::HeaderMap) -> Option<Charset> {
    const TEXT_PREFIXES: [&str; 5] =
        ["text", "application/json", "application/javascript", "application/xml", "application/yaml"];
    const TEXT_SUFFIXES: [&str; 3] = ["+xml", "+yaml", "+json"];
    if headers.contains_key(http::header::CONTENT_ENCODING) {
        return None;
    }
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Some(Charset::Utf8);
    };
    let content_type = value.to_str().unwrap_or_default();
    let mut params = content_type.split(';');
    let mime = params.next().unwrap_or_default().trim();
    let text = TEXT_PREFIXES.iter().any(|prefix| content_type.starts_with(prefix))
        || TEXT_SUFFIXES.iter().any(|suffix| mime.ends_with(suffix))
        || headers.get("x-lambda-http-content-encoding").is_some_and(|v| v == "text");
    if !text {
        return None;
    }
    let charset =
        params.filter_map(|p| p.split_once('=')).find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"));
    match charset.map(|(_, value)| value.trim().trim_matches('"')) {
        None => Some(Charset::Utf8),
        Some(label) if label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8") => Some(Charset::Utf8),
        Some(_) => Some(Charset::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answered(content_type: Option<&str>, extra: &[(&str, &str)], body: &[u8]) -> Body {
        let mut response = Response::builder().status(201);
        if let Some(content_type) = content_type {
            response = response.header("content-type", content_type);
        }
        for (name, value) in extra {
            response = response.header(*name, *value);
        }
        let response = response.body(http_body_util::Full::new(body)).unwrap();
        let Answer(answer) = answer(response).await;
        assert_eq!(answer.status(), 201);
        answer.into_body()
    }

    #[tokio::test]
    async fn utf8_json_and_untyped_bodies_are_text_as_lambda_http_answers_them() {
        let json = r#"{"code":"invalid_field","field":"amountInFiat","note":"é"}"#;
        for content_type in
            [Some("application/json"), Some("application/problem+json"), Some("text/plain; charset=UTF-8"), None]
        {
            let body = answered(content_type, &[], json.as_bytes()).await;
            assert_eq!(body, Body::Text(json.into()), "{content_type:?}");
        }
        assert_eq!(answered(None, &[], b"").await, Body::Text(String::new()));
        let with_bom = answered(Some("application/json"), &[], b"\xEF\xBB\xBF{}").await;
        assert_eq!(with_bom, Body::Text("{}".into()));
        let invalid = answered(Some("application/json"), &[], b"{\"a\":\"\xFF\"}").await;
        assert_eq!(invalid, Body::Text("{\"a\":\"\u{FFFD}\"}".into()));
        let asked =
            answered(Some("application/octet-stream"), &[("x-lambda-http-content-encoding", "text")], b"ok").await;
        assert_eq!(asked, Body::Text("ok".into()));
    }

    #[tokio::test]
    async fn other_types_encodings_and_charsets_stay_bytes() {
        let bytes = b"\x00\x01\xE9".to_vec();
        assert_eq!(answered(Some("image/png"), &[], &bytes).await, Body::Binary(bytes.clone()));
        let gzipped = answered(Some("application/json"), &[("content-encoding", "gzip")], &bytes).await;
        assert_eq!(gzipped, Body::Binary(bytes.clone()));
        let latin1 = answered(Some("text/plain; charset=ISO-8859-1"), &[], &bytes).await;
        assert_eq!(latin1, Body::Binary(bytes), "its bytes, as its content-type says");
    }
}
