//! Who the caller is. Shoppers: in AWS the API Gateway JWT authorizer has verified the token and
//! passes its claims; `sub` is the user. The merchant's server (the `/checkouts` routes): in AWS the
//! route's IAM authorization has verified the SigV4 signature and passes the signing principal. Local
//! runs have no authorizer, so an explicit local mode trusts headers instead; it refuses to start
//! against production Mesh, and the SAM template never sets it.

use crate::error::ApiError;
use crate::link::mesh_user_id;
use http::request::Parts;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use shared::domain::ids::UserId;
use shared::runtime::config::{ConfigError, EnvSource, MeshEnv};

pub const AUTH_MODE: &str = "AUTH_MODE";
/// The header trusted for the user in local mode only.
pub const LOCAL_USER_HEADER: &str = "x-local-user";
/// The header trusted for the merchant's server in local mode only.
pub const LOCAL_MERCHANT_HEADER: &str = "x-local-merchant";
/// Longer claims or names are not ids anyone issues.
const MAX_ID_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwt,
    Local,
}

/// The merchant's server as it authenticated: the IAM principal that signed (its ARN), or the local
/// header's name. Only logged: one deployment serves one merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant(pub String);

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

    /// The shopper: the JWT's `sub` (or, locally, `X-Local-User`).
    pub fn user(self, request: &Parts) -> Result<UserId, ApiError> {
        let sub = match self {
            Self::Jwt => {
                authorizer(request).and_then(|a| a.jwt.as_ref()).and_then(|j| j.claims.get("sub")).map(String::as_str)
            }
            Self::Local => header(request, LOCAL_USER_HEADER),
        };
        sub.and_then(shopper_id).ok_or(ApiError::Unauthenticated)
    }

    /// The merchant's server: an IAM-signed request (or, locally, `X-Local-Merchant`). A shopper's
    /// credentials are never enough: 403 `merchant_only`, not 401, so the mistake is plain.
    pub fn merchant(self, request: &Parts) -> Result<Merchant, ApiError> {
        let (merchant, shopper) = match self {
            Self::Jwt => {
                let authorizer = authorizer(request);
                let iam = authorizer.and_then(|a| a.iam.as_ref());
                let principal =
                    iam.and_then(|i| i.user_arn.as_deref().or(i.caller_id.as_deref()).or(i.account_id.as_deref()));
                (principal, authorizer.is_some_and(|a| a.jwt.is_some()))
            }
            Self::Local => (header(request, LOCAL_MERCHANT_HEADER), header(request, LOCAL_USER_HEADER).is_some()),
        };
        match merchant.map(str::trim) {
            Some(m) if !m.is_empty() && m.len() <= MAX_ID_LEN => Ok(Merchant(m.to_string())),
            _ if shopper => Err(ApiError::MerchantOnly),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// The id a shopper is known by, from their `sub` as their JWT names them: the same whether the
/// shopper signs in or the merchant's server names them on a checkout.
pub fn shopper_id(sub: &str) -> Option<UserId> {
    let sub = sub.trim();
    (!sub.is_empty() && sub.len() <= MAX_ID_LEN).then(|| mesh_user_id(sub))
}

fn authorizer(request: &Parts) -> Option<&aws_lambda_events::apigw::ApiGatewayRequestAuthorizer> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref(),
        _ => None,
    }
}

fn header<'a>(request: &'a Parts, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}
