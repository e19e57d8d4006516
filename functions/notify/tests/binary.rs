//! The function's binary as Lambda runs it (a fake Runtime API, `shared::testkit::runtime_api`), with
//! moto's EventBridge: main's wiring, the configuration it needs, and a bus that refuses every entry
//! (one that does not exist) answered with every record that raised events, never an empty success.

mod common;

use common::{assert_valid_event, stack};
use shared::testkit::runtime_api::{invoke, moto_env};
use std::path::Path;

fn fixture() -> String {
    std::fs::read_to_string(format!("{}/../../events/local/notify-stream-batch.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
}

fn run(bus: Option<&str>) -> serde_json::Value {
    let mut env = moto_env("unused-table", "unused-secret");
    if let Some(bus) = bus {
        env.push(("EVENT_BUS_NAME".into(), bus.into()));
    }
    let run = invoke(Path::new(env!("CARGO_BIN_EXE_notify")), &env, &fixture());
    serde_json::from_str(&run.response).unwrap_or_else(|_| panic!("{}\n{}", run.response, run.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_batch_reaches_the_bus_and_its_rules() {
    let stack = stack().await;
    assert_eq!(run(Some(&stack.bus)), serde_json::json!({"batchItemFailures": []}));
    let events = stack.drain("merchant-events").await;
    let mut types: Vec<_> = events.iter().map(|e| e["detail-type"].as_str().unwrap().to_string()).collect();
    types.sort();
    assert_eq!(types, vec!["checkout.paid", "deposit.succeeded"]);
    events.iter().for_each(assert_valid_event);
    assert_eq!(stack.drain("paid-events").await.len(), 1);
}

#[test]
fn a_bus_that_refuses_everything_gets_the_records_back_and_a_missing_bus_name_stops_init() {
    let answer = run(Some("no-such-bus"));
    let named: Vec<_> =
        answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].clone()).collect();
    assert_eq!(named, vec![serde_json::json!("200000000000000000002"), serde_json::json!("200000000000000000003")]);
    let init = run(None);
    assert!(init.to_string().contains("EVENT_BUS_NAME is missing"), "{init}");
}
