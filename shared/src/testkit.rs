//! Test support (feature `testkit`): a moto server for the whole test process, tables created from
//! `template.yaml` by `dev/bootstrap.py`, and SDK configuration pointed at moto. Never compiled into
//! the functions.

pub mod runtime_api;

use aws_types::SdkConfig;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    // Held open for the life of the test process; when the process exits the pipe closes and the
    // wrapper shell stops moto, so no server outlives the tests.
    _guard: Option<Child>,
}

/// The workspace root (where `template.yaml` and `dev/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("shared/ has a parent").to_path_buf()
}

/// The moto server: `MOTO_ENDPOINT` if the test command started one, else one spawned on a free port.
/// Either way it is `dev/moto_serial.py` (moto answering one request at a time).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Moto { endpoint, _guard: None },
        _ => spawn_moto(),
    })
}

/// The Python that has the project's tools: `.dev/venv` (made by `make setup`), else `python3`.
pub fn python() -> PathBuf {
    let venv = workspace_root().join(".dev/venv/bin/python3");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

fn spawn_moto() -> Moto {
    let port = free_port();
    // dev/moto_serial.py: moto's server answering one request at a time (see its docstring).
    let server = workspace_root().join("dev/moto_serial.py");
    let script = format!(
        "'{}' '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; read _unused; kill $pid",
        python().display(),
        server.display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh can start dev/moto_serial.py (needs python3 with moto[server]: make setup)");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("moto did not start on port {port}: is moto[server] installed (make setup)? {err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { endpoint: format!("http://127.0.0.1:{port}"), _guard: Some(child) }
}

/// SDK configuration for moto: its endpoint, a fixed region and dummy credentials, set explicitly
/// so a test can never reach real AWS whatever the environment holds.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = moto().endpoint.clone();
    let vars = move |name: &str| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    };
    crate::runtime::aws::sdk_config_from(vars, crate::tls::client_config())
}

/// A name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Runs `dev/bootstrap.py <args> --endpoint <moto>`; returns what it printed on stdout.
pub fn bootstrap(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(workspace_root().join("dev/bootstrap.py"))
        .args(args)
        .args(["--endpoint", &moto().endpoint])
        .output()
        .expect("python3 runs dev/bootstrap.py");
    assert!(out.status.success(), "bootstrap {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh transfers table, created exactly as `template.yaml` declares it.
pub fn create_table() -> String {
    let name = unique_name("transfers");
    bootstrap(&["table", "--name", &name]);
    name
}

/// A fresh Mesh secret on moto holding the sandbox's default credentials; returns its name.
pub fn create_sandbox_secret() -> String {
    let name = unique_name("mesh");
    bootstrap(&[
        "secret",
        "--name",
        &name,
        "--client-id",
        "sandbox-client-id",
        "--client-secret",
        "sandbox-client-secret",
        "--webhook-secret",
        "sandbox-webhook-secret",
    ]);
    name
}

/// A secret source that always answers the same JSON (for tests of code above the secret cache).
pub struct StaticSecret(pub String);

impl crate::runtime::secrets::SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<String, crate::runtime::secrets::SecretsError> {
        Ok(self.0.clone())
    }
}

/// The Mesh secret matching the sandbox's default credentials.
pub fn sandbox_secret() -> StaticSecret {
    StaticSecret(
        r#"{"clientId":"sandbox-client-id","clientSecret":"sandbox-client-secret","webhookSecret":"sandbox-webhook-secret"}"#
            .into(),
    )
}
