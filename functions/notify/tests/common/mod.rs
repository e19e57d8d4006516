//! The local stack for notify's tests, on real protocols: moto's DynamoDB (a table created from
//! template.yaml, with its stream), EventBridge and SQS (the template's subscription rules delivering to
//! queues, `dev/bootstrap.py events`); `dev/stream_poller.py` as the event source mapping; the function's
//! handler behind a Lambda Invoke API endpoint; and, between the handler and moto's EventBridge, a
//! proxy that can refuse chosen `PutEvents` entries (the fault knob, outside the function).

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use notify::bus::EventBridgeBus;
use notify::publish::RetryPolicy;
use shared::testkit;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Stack {
    pub table: String,
    pub bus: String,
    pub queues: HashMap<String, String>,
    /// The Invoke API URL the poller calls.
    pub invoke_url: String,
    pub faults: Faults,
    pub sqs: reqwest::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// PutEvents entries whose `Detail` contains a marker fail (ErrorCode InternalFailure) while their count
/// lasts; every attempt at a marked entry is counted.
#[derive(Clone, Default)]
pub struct Faults {
    pub rules: Arc<Mutex<Vec<(String, u32)>>>,
    pub attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl Faults {
    pub fn fail(&self, marker: &str, times: u32) {
        self.rules.lock().unwrap().push((marker.to_string(), times));
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    pub fn attempts(&self, marker: &str) -> u32 {
        self.attempts.lock().unwrap().get(marker).copied().unwrap_or(0)
    }
}

/// The handler's retries, quick (the production policy waits ~1.4 s per record; the stream's own
/// retries are the template's, applied by the poller).
pub const POLICY: RetryPolicy = RetryPolicy { attempts: 2, first_backoff: Duration::from_millis(5) };

pub async fn stack() -> Stack {
    let table = testkit::create_table();
    let bus = testkit::unique_name("payments");
    let made: serde_json::Value = serde_json::from_str(&testkit::bootstrap(&["events", "--bus", &bus])).unwrap();
    let queues = made.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
    let faults = Faults::default();
    let proxy = serve_proxy(faults.clone()).await;
    // The function's own wiring, with AWS_ENDPOINT_URL at the proxy: the SDK config from the environment.
    let moto_env = |name: &str| match name {
        "AWS_ENDPOINT_URL" => Some(proxy.clone()),
        "AWS_REGION" => Some("us-east-1".to_string()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".to_string()),
        _ => None,
    };
    let sdk = shared::runtime::aws::sdk_config_from(moto_env, shared::tls::client_config());
    let bus_client = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus.clone());
    let invoke_url = serve_invoke_api(bus_client).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    Stack { table, bus, queues, invoke_url, faults, sqs: http(), dynamodb }
}

/// A plain-HTTP client (reqwest here carries no crypto provider of its own: the shared TLS configuration).
fn http() -> reqwest::Client {
    reqwest::Client::builder().tls_backend_preconfigured(shared::tls::client_config().as_ref().clone()).build().unwrap()
}

async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// `POST /2015-03-31/functions/notify/invocations`: the handler, as Lambda's Invoke API runs it.
async fn serve_invoke_api(bus: EventBridgeBus) -> String {
    let bus = Arc::new(bus);
    let app = axum::Router::new().route(
        "/2015-03-31/functions/notify/invocations",
        axum::routing::post(move |body: Bytes| {
            let bus = bus.clone();
            async move {
                let event = serde_json::from_slice(&body).expect("a DynamoDB stream event");
                let response = notify::handler::handle(bus.as_ref(), event, POLICY).await;
                axum::Json(response)
            }
        }),
    );
    format!("{}/2015-03-31/functions/notify/invocations", listen(app).await)
}

/// Forwards every request to moto; a PutEvents call loses the entries its faults mark (they are not
/// forwarded) and gets them back as failed entries, in place.
async fn serve_proxy(faults: Faults) -> String {
    let app = axum::Router::new().fallback(proxy).with_state(faults);
    listen(app).await
}

async fn proxy(State(faults): State<Faults>, headers: HeaderMap, body: Bytes) -> (StatusCode, HeaderMap, Vec<u8>) {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut body = body.to_vec();
    let mut refused: Vec<usize> = Vec::new();
    if target == "AWSEvents.PutEvents" {
        let mut request: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let entries = request["Entries"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let detail = entry["Detail"].as_str().unwrap_or_default().to_string();
            let mut rules = faults.rules.lock().unwrap();
            let mut attempts = faults.attempts.lock().unwrap();
            for (marker, _) in rules.iter() {
                if detail.contains(marker.as_str()) {
                    *attempts.entry(marker.clone()).or_default() += 1;
                }
            }
            let hit = rules.iter_mut().find(|(marker, left)| *left > 0 && detail.contains(marker.as_str()));
            match hit {
                Some((_, left)) => {
                    *left -= 1;
                    refused.push(i);
                }
                None => kept.push(entry),
            }
        }
        request["Entries"] = serde_json::Value::Array(kept);
        body = serde_json::to_vec(&request).unwrap();
    }
    let moto = &testkit::moto().endpoint;
    let mut forward = http().post(moto).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let mut out_headers = HeaderMap::new();
    if let Some(ct) = answer.headers().get("content-type") {
        out_headers.insert("content-type", ct.to_str().unwrap().parse().unwrap());
    }
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    if !refused.is_empty() && status.is_success() {
        let mut response: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut results: Vec<serde_json::Value> = response["Entries"].as_array().cloned().unwrap_or_default();
        for &i in &refused {
            let failed =
                serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected by the test proxy"});
            results.insert(i.min(results.len()), failed);
        }
        let failed = results.iter().filter(|r| r.get("ErrorCode").is_some()).count();
        response["Entries"] = serde_json::Value::Array(results);
        response["FailedEntryCount"] = serde_json::json!(failed);
        bytes = serde_json::to_vec(&response).unwrap();
    }
    (status, out_headers, bytes)
}

impl Stack {
    /// Runs the event source mapping until the stream is drained (`dev/stream_poller.py --once`).
    pub fn poll(&self) -> String {
        let out = std::process::Command::new(testkit::python())
            .arg(testkit::workspace_root().join("dev/stream_poller.py"))
            .args(["--endpoint", &testkit::moto().endpoint, "--table", &self.table])
            .args(["--invoke-url", &self.invoke_url, "--failure-queue", &self.queues["failure_queue"]])
            .args(["--retry-delay", "0.01", "--once"])
            .output()
            .expect("python runs dev/stream_poller.py");
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "stream_poller failed: {}\n{log}", String::from_utf8_lossy(&out.stderr));
        log
    }

    /// Every message in a queue (received and deleted), bodies parsed.
    pub async fn drain(&self, queue: &str) -> Vec<serde_json::Value> {
        let url = &self.queues[queue];
        let mut out = Vec::new();
        loop {
            let answer: serde_json::Value = self
                .sqs
                .post(url)
                .header("x-amz-target", "AmazonSQS.ReceiveMessage")
                .header("content-type", "application/x-amz-json-1.0")
                .header("authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
                .body(serde_json::json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}).to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            out.extend(messages.iter().map(|m| serde_json::from_str(m["Body"].as_str().unwrap()).unwrap()));
        }
    }
}

/// Validates an EventBridge event as a subscriber receives it: the envelope, and its detail against the
/// schema of its type in docs/events/.
pub fn assert_valid_event(event: &serde_json::Value) {
    assert_eq!(event["source"], notify::settings::EVENT_SOURCE, "{event}");
    let kind = event["detail-type"].as_str().expect("a detail-type");
    assert_eq!(event["detail"]["type"], kind, "{event}");
    validate_detail(kind, &event["detail"]);
}

/// Panics with the schema's complaints unless `detail` matches docs/events/<kind>.schema.json. The
/// validator is Python's `jsonschema` (Draft 2020-12) in .dev/venv, where cfn-lint and the SAM translator
/// need it anyway: the same one dev/test_template.py checks the schemas themselves with.
pub fn validate_detail(kind: &str, detail: &serde_json::Value) {
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        errors = [f'{e.message} at {list(e.absolute_path)}' for e in jsonschema.Draft202012Validator(schema).iter_errors(json.load(sys.stdin))]\n\
        print('\\n'.join(errors)); sys.exit(1 if errors else 0)";
    let path = testkit::workspace_root().join(format!("docs/events/{kind}.schema.json"));
    let mut child = std::process::Command::new(testkit::python())
        .args(["-c", script])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python with jsonschema (make setup)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), detail.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{kind} does not match {}: {}{}\n{detail}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
