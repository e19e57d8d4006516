//! A fake Lambda Runtime API: runs a function's binary as Lambda would (configuration in the
//! environment, events from `AWS_LAMBDA_RUNTIME_API`), hands it one event and returns its answer with
//! everything it printed, so a test sees what the runtime, the SDK and the function log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// What one invocation produced.
pub struct Invocation {
    /// The body the function posted back (its answer, or its error report).
    pub response: String,
    /// Everything the function wrote to stdout (its logs).
    pub stdout: String,
}

/// What every function needs to run on moto: its table and Mesh secret there, moto's address and
/// dummy credentials, JSON logs.
pub fn moto_env(table: &str, secret: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", super::moto().endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("RUST_LOG", ""),
        ("TRANSFERS_TABLE", table),
        ("MESH_SECRET_ID", secret),
        ("MESH_ENV", "sandbox"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Runs `binary` with `env` (on top of the Lambda variables), gives it `event`, and stops it once it
/// has answered (30 s at most).
pub fn invoke(binary: &Path, env: &[(String, String)], event: &str) -> Invocation {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("a bound address").to_string();
    let (answered, answer) = mpsc::channel::<String>();
    let event = Arc::new(event.to_string());
    std::thread::spawn(move || {
        let handed_out = Arc::new(Mutex::new(false));
        for stream in listener.incoming().flatten() {
            let (event, answered, handed_out) = (event.clone(), answered.clone(), handed_out.clone());
            std::thread::spawn(move || serve(stream, &event, &answered, &handed_out));
        }
    });
    let mut child = Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "under-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function's binary starts");
    // Drained while it runs: a full pipe would stall a function that logs at TRACE.
    let mut out = child.stdout.take().expect("piped stdout");
    let printed = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let response = answer.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let stdout = printed.join().unwrap_or_default();
    let response = response.unwrap_or_else(|_| panic!("the function never answered; it printed:\n{stdout}"));
    Invocation { response, stdout }
}

/// One connection of the runtime client: the first `next` gets the event, later ones are left waiting
/// (the function is stopped before they matter); a response or error is passed on.
fn serve(stream: TcpStream, event: &str, answered: &mpsc::Sender<String>, handed_out: &Mutex<bool>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a clonable stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default();
        let reply = if path == NEXT {
            let mut first = handed_out.lock().unwrap_or_else(|p| p.into_inner());
            if *first {
                drop(first);
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            *first = true;
            let deadline = crate::domain::time::now_millis() + 30_000;
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: req-1\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:under-test\r\n\
                 content-length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let _ = answered.send(String::from_utf8_lossy(&body).into_owned());
            "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_string()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
