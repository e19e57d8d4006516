use crate::error::ApiError;
use crate::idempotency::IdempotencyStore;
use crate::link::{LinkTokenBody, mesh_user_id};
use crate::service::{LinkService, page_json};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::domain::ids::UserId;
use shared::runtime::config::{ConfigError, EnvSource, MeshEnv};
use shared::runtime::secrets::SecretSource;
use shared::storage::TransferStore;

pub const AUTH_MODE: &str = "AUTH_MODE";
/// The header trusted for the user in local mode only.
pub const LOCAL_USER_HEADER: &str = "x-local-user";
/// Request bodies are a few hundred bytes; anything much larger is not ours.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// The routes this function serves (the OpenAPI document is checked against this list).
#[cfg(test)]
pub const ROUTES: &[(&str, &str)] =
    &[("POST", "/link-tokens"), ("GET", "/transfers"), ("GET", "/transfers/{transactionId}")];

/// Who the caller is. In AWS the API Gateway JWT authorizer has verified the token and passes its
/// claims; `sub` is the user. Local runs have no authorizer, so an explicit local mode trusts a
/// header instead; it refuses to start against production Mesh, and the SAM template never sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwt,
    Local,
}

impl AuthMode {
    pub fn from_source(env: &impl EnvSource, mesh_env: MeshEnv) -> Result<Self, ConfigError> {
        match env.var(AUTH_MODE).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("jwt") => Ok(Self::Jwt),
            Some("local") if mesh_env == MeshEnv::Sandbox => Ok(Self::Local),
            Some("local") => Err(ConfigError::Invalid {
                name: AUTH_MODE.into(),
                reason: "local mode is refused with MESH_ENV=production".into(),
            }),
            Some(_) => Err(ConfigError::Invalid { name: AUTH_MODE.into(), reason: "expected 'jwt' or 'local'".into() }),
        }
    }

    fn user(self, request: &Request) -> Result<UserId, ApiError> {
        let sub = match self {
            Self::Jwt => match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => {
                    ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).and_then(|j| j.claims.get("sub")).cloned()
                }
                _ => None,
            },
            Self::Local => request.headers().get(LOCAL_USER_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string),
        };
        match sub.map(|s| s.trim().to_string()) {
            Some(s) if !s.is_empty() && s.len() <= 512 => Ok(mesh_user_id(&s)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// Routes a request to its use case and maps the result to JSON.
pub async fn handle<S: TransferStore, I: IdempotencyStore, K: SecretSource>(
    service: &LinkService<S, I, K>,
    auth: AuthMode,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let response = match route(service, auth, &request).await {
        Ok((status, body, replayed)) => {
            let mut r = json(status, &body);
            if replayed {
                r.headers_mut().insert("idempotent-replayed", "true".parse().expect("static header value"));
            }
            r
        }
        Err(e) => error_response(&e),
    };
    Ok(response)
}

async fn route<S: TransferStore, I: IdempotencyStore, K: SecretSource>(
    service: &LinkService<S, I, K>,
    auth: AuthMode,
    request: &Request,
) -> Result<(u16, serde_json::Value, bool), ApiError> {
    let path = request.raw_http_path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().as_str();
    let known = matches!(segments.as_slice(), ["link-tokens"] | ["transfers"] | ["transfers", _]);
    if !known {
        return Err(ApiError::RouteNotFound);
    }
    let user = auth.user(request)?;
    match (method, segments.as_slice()) {
        ("POST", ["link-tokens"]) => {
            let body = parse_body(request.body().as_ref())?;
            let key = request.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}"));
            let now = shared::domain::time::now_millis();
            let deadline = request
                .lambda_context_ref()
                .and_then(|c| i64::try_from(c.deadline).ok())
                .filter(|d| *d > 0)
                .unwrap_or(now + 30_000);
            let (minted, replayed) = service.create(&user, body, key, deadline, now).await?;
            Ok((201, serde_json::to_value(minted).map_err(|_| ApiError::InvalidJson)?, replayed))
        }
        ("GET", ["transfers"]) => {
            let query = request.query_string_parameters();
            let (items, next) = service.list(&user, query.first("cursor"), query.first("limit")).await?;
            Ok((200, page_json(items, next), false))
        }
        ("GET", ["transfers", id]) => {
            let view = service.get(&user, id).await?;
            Ok((200, serde_json::to_value(view).map_err(|_| ApiError::InvalidJson)?, false))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn parse_body(bytes: &[u8]) -> Result<LinkTokenBody, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::InvalidJson);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(LinkTokenBody::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.to_string().starts_with("unknown field") {
            ApiError::UnknownField
        } else if e.is_data() {
            ApiError::InvalidField
        } else {
            ApiError::InvalidJson
        }
    })
}

fn error_response(e: &ApiError) -> Response<Body> {
    if e.status() >= 500 {
        tracing::error!(code = e.code(), error = %e, "request failed");
    } else {
        tracing::info!(code = e.code(), "request refused");
    }
    let mut r = json(e.status(), &serde_json::json!({ "code": e.code(), "message": e.message() }));
    if let Some(after) = e.retry_after() {
        let secs = after.as_secs().max(1).to_string();
        r.headers_mut().insert("retry-after", secs.parse().expect("digits are a valid header value"));
    }
    r
}

fn json(status: u16, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
