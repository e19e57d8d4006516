//! Who the caller is. In AWS the API Gateway JWT authorizer has verified the token and passes its
//! claims; `sub` is the user. Local runs have no authorizer, so an explicit local mode trusts a
//! header instead; it refuses to start against production Mesh, and the SAM template never sets it.

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

    pub fn user(self, request: &Parts) -> Result<UserId, ApiError> {
        let sub = match self {
            Self::Jwt => match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => {
                    ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).and_then(|j| j.claims.get("sub")).cloned()
                }
                _ => None,
            },
            Self::Local => request.headers.get(LOCAL_USER_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string),
        };
        match sub.map(|s| s.trim().to_string()) {
            Some(s) if !s.is_empty() && s.len() <= 512 => Ok(mesh_user_id(&s)),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}
