//! Command-line and environment configuration of the `mesh-sandbox` binary. Flags win over environment
//! variables, which win over the defaults.

use std::time::Duration;

use crate::SandboxConfig;

pub const DEFAULT_PORT: u16 = 8787;

pub const USAGE: &str = "\
mesh-sandbox: a local emulator of the Mesh Connect API and its signed webhooks (binds 127.0.0.1 only)

USAGE: mesh-sandbox [OPTIONS]

OPTIONS (each also read from the environment variable shown; flags win):
  --port <PORT>                  MESH_SANDBOX_PORT                  [default: 8787]
  --client-id <ID>               MESH_SANDBOX_CLIENT_ID             [default: sandbox-client-id]
  --client-secret <SECRET>       MESH_SANDBOX_CLIENT_SECRET         [default: sandbox-client-secret]
  --webhook-url <URL>            MESH_SANDBOX_WEBHOOK_URL           [default: none, webhooks are recorded as skipped]
  --webhook-secret <SECRET>      MESH_SANDBOX_WEBHOOK_SECRET        [default: sandbox-webhook-secret]
  --token-ttl-secs <SECS>        MESH_SANDBOX_TOKEN_TTL_SECS        [default: 600]
  --webhook-timeout-ms <MS>      MESH_SANDBOX_WEBHOOK_TIMEOUT_MS    [default: 200]
  --webhook-max-attempts <N>     MESH_SANDBOX_WEBHOOK_MAX_ATTEMPTS  [default: 5]
  --webhook-backoff-ms <MS>      MESH_SANDBOX_WEBHOOK_BACKOFF_MS    [default: 500]
  --public-url <URL>             MESH_SANDBOX_PUBLIC_URL            [default: http://127.0.0.1:<PORT>]
  -h, --help                     print this help

Log verbosity: RUST_LOG (default info).";

/// What the binary should do.
#[derive(Debug)]
pub enum Command {
    Run(Box<CliOptions>),
    Help,
}

#[derive(Debug)]
pub struct CliOptions {
    pub port: u16,
    pub config: SandboxConfig,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("unknown option {0}")]
    Unknown(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("invalid value for {name}: {value:?} ({reason})")]
    Invalid { name: String, value: String, reason: &'static str },
}

/// `(flag, environment variable)`.
const OPTIONS: &[(&str, &str)] = &[
    ("--port", "MESH_SANDBOX_PORT"),
    ("--client-id", "MESH_SANDBOX_CLIENT_ID"),
    ("--client-secret", "MESH_SANDBOX_CLIENT_SECRET"),
    ("--webhook-url", "MESH_SANDBOX_WEBHOOK_URL"),
    ("--webhook-secret", "MESH_SANDBOX_WEBHOOK_SECRET"),
    ("--token-ttl-secs", "MESH_SANDBOX_TOKEN_TTL_SECS"),
    ("--webhook-timeout-ms", "MESH_SANDBOX_WEBHOOK_TIMEOUT_MS"),
    ("--webhook-max-attempts", "MESH_SANDBOX_WEBHOOK_MAX_ATTEMPTS"),
    ("--webhook-backoff-ms", "MESH_SANDBOX_WEBHOOK_BACKOFF_MS"),
    ("--public-url", "MESH_SANDBOX_PUBLIC_URL"),
];

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, CliError> {
    value.trim().parse().map_err(|_| CliError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason: "not a number in range",
    })
}

fn http_url(name: &str, value: &str) -> Result<Option<String>, CliError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(Some(value.to_string())),
        _ => Err(CliError::Invalid { name: name.to_string(), value: value.to_string(), reason: "not an http(s) URL" }),
    }
}

fn apply(options: &mut CliOptions, flag: &str, name: &str, value: &str) -> Result<(), CliError> {
    let c = &mut options.config;
    match flag {
        "--port" => options.port = number(name, value)?,
        "--client-id" => c.client_id = value.to_string(),
        "--client-secret" => c.client_secret = value.to_string(),
        "--webhook-url" => c.webhook_url = http_url(name, value)?,
        "--webhook-secret" => c.webhook_secret = value.to_string(),
        "--token-ttl-secs" => c.token_ttl = Duration::from_secs(number(name, value)?),
        "--webhook-timeout-ms" => c.webhook_timeout = Duration::from_millis(number(name, value)?),
        "--webhook-max-attempts" => {
            let n: u32 = number(name, value)?;
            if n == 0 {
                return Err(CliError::Invalid {
                    name: name.to_string(),
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
            c.webhook_max_attempts = n;
        }
        "--webhook-backoff-ms" => c.webhook_backoff = Duration::from_millis(number(name, value)?),
        "--public-url" => c.public_url = http_url(name, value)?,
        other => return Err(CliError::Unknown(other.to_string())),
    }
    Ok(())
}

/// Parses arguments (without the program name) and environment.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, CliError>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut options = CliOptions { port: DEFAULT_PORT, config: SandboxConfig::default() };
    for (flag, var) in OPTIONS {
        if let Some(value) = env(var) {
            apply(&mut options, flag, var, &value)?;
        }
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if !OPTIONS.iter().any(|(f, _)| *f == flag) {
            return Err(CliError::Unknown(arg));
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| CliError::MissingValue(flag.clone()))?,
        };
        apply(&mut options, &flag, &flag, &value)?;
    }
    Ok(Command::Run(Box::new(options)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<CliOptions, CliError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        })? {
            Command::Run(o) => Ok(*o),
            Command::Help => Err(CliError::Unknown("help".into())),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[], &[]).expect("defaults");
        assert_eq!(o.port, 8787);
        assert_eq!(o.config.client_id, "sandbox-client-id");
        assert_eq!(o.config.token_ttl, Duration::from_secs(600));
        assert_eq!(o.config.webhook_timeout, Duration::from_millis(200));
        assert!(o.config.webhook_url.is_none());
    }

    #[test]
    fn env_then_flags() {
        let o = run(
            &["--port", "9000", "--webhook-timeout-ms=350", "--client-id", "cli"],
            &[
                ("MESH_SANDBOX_PORT", "9100"),
                ("MESH_SANDBOX_CLIENT_ID", "env"),
                ("MESH_SANDBOX_WEBHOOK_URL", "http://127.0.0.1:9000/webhook"),
                ("MESH_SANDBOX_TOKEN_TTL_SECS", "5"),
            ],
        )
        .expect("valid");
        assert_eq!(o.port, 9000);
        assert_eq!(o.config.client_id, "cli");
        assert_eq!(o.config.webhook_timeout, Duration::from_millis(350));
        assert_eq!(o.config.webhook_url.as_deref(), Some("http://127.0.0.1:9000/webhook"));
        assert_eq!(o.config.token_ttl, Duration::from_secs(5));
    }

    #[test]
    fn errors() {
        assert_eq!(run(&["--nope"], &[]).err(), Some(CliError::Unknown("--nope".into())));
        assert_eq!(run(&["--port"], &[]).err(), Some(CliError::MissingValue("--port".into())));
        assert!(matches!(run(&["--port", "99999"], &[]), Err(CliError::Invalid { .. })));
        assert!(matches!(run(&["--webhook-url", "ftp://x"], &[]), Err(CliError::Invalid { .. })));
        assert!(matches!(run(&[], &[("MESH_SANDBOX_PORT", "x")]), Err(CliError::Invalid { .. })));
        assert!(matches!(parse(["-h".to_string()], |_| None), Ok(Command::Help)));
    }
}
