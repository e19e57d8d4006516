use lambda_http::{Body, Request, Response};
use shared::app::Deps;
use std::sync::Arc;

/// Until this function's own issue lands, every request gets a clear 501 rather than a guess.
pub async fn handle(_deps: Arc<Deps>, _request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let body = serde_json::json!({"code": "not_implemented", "message": "this endpoint is not available yet"});
    Ok(Response::builder()
        .status(501)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?)
}
