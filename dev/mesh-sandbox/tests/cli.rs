//! The `mesh-sandbox` binary: help, bad flags, and a real run on a free port.

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mesh-sandbox");

/// Kills the child this test started, even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_and_bad_flags() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--webhook-url") && text.contains("MESH_SANDBOX_PORT"));

    let out = Command::new(BIN).arg("--bogus").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option --bogus"));
}

#[tokio::test]
async fn serves_on_the_requested_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let _child = KillOnDrop(
        Command::new(BIN)
            .env("MESH_SANDBOX_PORT", port.to_string())
            .args(["--client-id", "cli-id", "--client-secret", "cli-secret"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts"),
    );
    mesh_sandbox::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/sandbox/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "binary answered on port {port}");
    let r = client
        .get(format!("{base}/api/v1/transfers/managed/networks"))
        .header("X-Client-Id", "cli-id")
        .header("X-Client-Secret", "cli-secret")
        .send()
        .await
        .expect("networks");
    assert_eq!(r.status(), 200);
    let r = client.get(format!("{base}/api/v1/transfers/managed/networks")).send().await.expect("networks");
    assert_eq!(r.status(), 401);
}
