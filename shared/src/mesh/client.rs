use super::credentials::MeshSecrets;
use super::error::MeshError;
use super::listing::{TransferModel, TransferPage, TransferQuery};
use super::models::{ApiResult, LinkToken, LinkTokenRequest, Network, NetworksContent, RawLinkToken};
use reqwest::{Method, StatusCode, header};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::time::Duration;
use url::Url;

/// Timeouts and limits of every Mesh call.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    /// The whole call, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// Answers larger than this are refused unread: a page of 100 transfers is well under 1 MiB.
    pub max_response_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(2), timeout: Duration::from_secs(8), max_response_bytes: 4 << 20 }
    }
}

/// The Mesh API client: one per cold start (it holds the connection pool), shared through `Arc`.
/// Credentials are passed per call, so a rotated secret takes effect without rebuilding the client.
#[derive(Debug, Clone)]
pub struct MeshClient {
    http: reqwest::Client,
    base: Url,
    max_response_bytes: usize,
}

impl MeshClient {
    /// A client over the process-wide TLS configuration (`tls::client_config`: compiled-in roots).
    pub fn new(base: Url, options: HttpOptions) -> Result<Self, MeshError> {
        Self::with_tls(base, options, &crate::tls::client_config())
    }

    /// A client trusting what `tls` trusts (tests pass a configuration with their own root).
    pub fn with_tls(base: Url, options: HttpOptions, tls: &rustls::ClientConfig) -> Result<Self, MeshError> {
        let http = reqwest::Client::builder()
            // reqwest would otherwise build its own verifier over the system's roots.
            .tls_backend_preconfigured(tls.clone())
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            // A redirect would carry our credentials to another host; Mesh never redirects the API.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mesh-serverless-backend/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MeshError::Setup(e.to_string()))?;
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self { http, base, max_response_bytes: options.max_response_bytes })
    }

    /// `POST /api/v1/linktoken`.
    pub async fn create_link_token(
        &self,
        creds: &MeshSecrets,
        request: &LinkTokenRequest,
    ) -> Result<LinkToken, MeshError> {
        let body = serde_json::to_vec(request).map_err(|e| MeshError::Setup(e.to_string()))?;
        let raw: RawLinkToken = self.call(creds, Method::POST, "api/v1/linktoken", &[], Some(body)).await?;
        match raw.link_token {
            Some(link_token) if !link_token.is_empty() => Ok(LinkToken { link_token, payment_link: raw.payment_link }),
            _ => Err(MeshError::Decode("the answer has no linkToken".into())),
        }
    }

    /// `GET /api/v1/transfers/managed/networks`.
    pub async fn list_networks(&self, creds: &MeshSecrets) -> Result<Vec<Network>, MeshError> {
        let content: NetworksContent =
            self.call(creds, Method::GET, "api/v1/transfers/managed/networks", &[], None).await?;
        Ok(content.networks.unwrap_or_default())
    }

    /// `GET /api/v1/transfers/managed/mesh`: one page.
    pub async fn list_transfers(&self, creds: &MeshSecrets, query: &TransferQuery) -> Result<TransferPage, MeshError> {
        self.call(creds, Method::GET, "api/v1/transfers/managed/mesh", &query.pairs(), None).await
    }

    /// Walks `Count`/`Offset` pages of a listing from `query.offset` to the end.
    pub fn transfer_pages<'a>(&'a self, creds: &'a MeshSecrets, query: TransferQuery) -> TransferPages<'a> {
        TransferPages::new(self, creds, query)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        creds: &MeshSecrets,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, MeshError> {
        let mut url = self.base.join(path).map_err(|e| MeshError::Setup(e.to_string()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self
            .http
            .request(method, url)
            .header("X-Client-Id", &creds.client_id)
            .header("X-Client-Secret", creds.client_secret.expose_secret())
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.header(header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = self.read_capped(response).await?;
        match status {
            s if s.is_success() => {
                let envelope: ApiResult<T> = serde_json::from_slice(&bytes)
                    .map_err(|e| MeshError::Decode(format!("unexpected response shape ({e})")))?;
                envelope.content.ok_or_else(|| MeshError::Decode("the answer has no content".into()))
            }
            StatusCode::UNAUTHORIZED => Err(MeshError::Unauthorized),
            StatusCode::FORBIDDEN => Err(MeshError::Forbidden),
            StatusCode::TOO_MANY_REQUESTS => Err(MeshError::Throttled { retry_after }),
            StatusCode::BAD_REQUEST => {
                let (error_type, message) = error_details(&bytes);
                Err(MeshError::BadRequest { error_type, message })
            }
            StatusCode::NOT_FOUND => Err(MeshError::NotFound { message: error_details(&bytes).1 }),
            s if s.is_server_error() => Err(MeshError::Server { status: s.as_u16() }),
            s => Err(MeshError::UnexpectedStatus { status: s.as_u16() }),
        }
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, MeshError> {
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|len| len > limit as u64) {
            return Err(MeshError::ResponseTooLarge { limit });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if bytes.len() + chunk.len() > limit {
                return Err(MeshError::ResponseTooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

fn transport_error(e: reqwest::Error) -> MeshError {
    if e.is_timeout() {
        MeshError::Timeout
    } else if e.is_connect() {
        MeshError::Transport("connection failed".into())
    } else {
        // Without the URL: it can carry user ids in its query.
        MeshError::Transport(e.without_url().to_string())
    }
}

/// `Retry-After` in seconds (Mesh documents none; we honour the standard header when present).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let raw = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    raw.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `errorType` and `message` of an error envelope; the body may be empty or not JSON at all.
fn error_details(bytes: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ApiResult<serde_json::Value>>(bytes) {
        Ok(e) => {
            (e.error_type.filter(|t| !t.is_empty()).unwrap_or_else(|| "unknown".into()), e.message.unwrap_or_default())
        }
        Err(_) => ("unknown".into(), String::new()),
    }
}

/// A cursor over the pages of a transfers listing. Stops at `total`, at an empty page, or when the
/// caller stops asking (deadlines and page caps belong to the caller).
pub struct TransferPages<'a> {
    client: &'a MeshClient,
    creds: &'a MeshSecrets,
    query: TransferQuery,
    pages: u32,
    done: bool,
}

impl<'a> TransferPages<'a> {
    fn new(client: &'a MeshClient, creds: &'a MeshSecrets, mut query: TransferQuery) -> Self {
        let count = query.count.unwrap_or(TransferQuery::MAX_COUNT).clamp(1, TransferQuery::MAX_COUNT);
        query.count = Some(count);
        query.offset = Some(query.offset.unwrap_or(0));
        Self { client, creds, query, pages: 0, done: false }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<TransferModel>>, MeshError> {
        if self.done {
            return Ok(None);
        }
        let page = self.client.list_transfers(self.creds, &self.query).await?;
        self.pages += 1;
        let offset = u64::from(self.query.offset.unwrap_or(0)) + page.items.len() as u64;
        if page.items.is_empty() || offset >= page.total {
            self.done = true;
        }
        match u32::try_from(offset) {
            Ok(o) => self.query.offset = Some(o),
            Err(_) => self.done = true,
        }
        Ok(Some(page.items))
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// The offset the next page would start at (a checkpoint to resume from).
    pub fn offset(&self) -> u32 {
        self.query.offset.unwrap_or(0)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Every remaining transfer, refusing to fetch more than `max_pages` pages: a listing that keeps
    /// claiming more pages cannot keep us paging forever.
    pub async fn collect_all(mut self, max_pages: u32) -> Result<Vec<TransferModel>, MeshError> {
        let mut all = Vec::new();
        while let Some(items) = self.next_page().await? {
            all.extend(items);
            if !self.done && self.pages >= max_pages {
                return Err(MeshError::TooManyPages { max_pages });
            }
        }
        Ok(all)
    }
}
