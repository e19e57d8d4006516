//! At TRACE, the runtime (`lambda_runtime`, `lambda_http`) and the AWS SDK log whole events, request
//! bodies and headers. The function's binary, run as Lambda runs it (a fake Runtime API, DynamoDB and
//! Secrets Manager on moto) with `AWS_LAMBDA_LOG_LEVEL=TRACE`, must still print no body, signature or
//! secret.

use shared::testkit;

#[test]
fn a_delivery_logged_at_trace_shows_no_body_signature_or_secret() {
    let event =
        std::fs::read_to_string(format!("{}/../../events/local/webhook-succeeded.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let mut env = testkit::runtime_api::moto_env(&testkit::create_table(), &testkit::create_sandbox_secret());
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into()));
    let run = testkit::runtime_api::invoke(std::path::Path::new(env!("CARGO_BIN_EXE_webhook")), &env, &event);
    assert!(run.response.contains("outcome"), "the delivery was handled: {}\n{}", run.response, run.stdout);
    assert!(run.stdout.contains("\"level\":\"DEBUG\""), "the capture holds the runtime's own lines: {}", run.stdout);
    for secret in [
        "r4apyYcDFHR2Cm4CYuYun2syTCAaUDeietAQjpM2t2s=",
        "sandbox-webhook-secret",
        "sandbox-client-secret",
        "0x1111111111111111111111111111111111111111",
        "SourceAccountProvider",
        "0x5f2c8e91a",
        "49.99",
    ] {
        assert!(!run.stdout.contains(secret), "{secret} is in the TRACE logs:\n{}", run.stdout);
    }
}
