//! `redeliver <checkoutId|transactionId>...`: publishes the events each record shows now, with their
//! original ids, to the bus the function publishes to. Configuration from the environment, as the
//! function's: TRANSFERS_TABLE, EVENT_BUS_NAME, the AWS variables (README "Settlement events").

use notify::bus::EventBridgeBus;
use notify::redeliver::{Target, current_events, redeliver};
use notify::settings::NotifySettings;
use shared::runtime::config::{ProcessEnv, TRANSFERS_TABLE};
use shared::storage::DynamoTransferStore;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let ids: Vec<String> = std::env::args().skip(1).collect();
    if ids.is_empty() || ids.iter().any(|a| a.starts_with('-')) {
        eprintln!("usage: redeliver <checkoutId|transactionId>...   (env: {TRANSFERS_TABLE}, EVENT_BUS_NAME, AWS_*)");
        return ExitCode::from(2);
    }
    let (table, settings) = match (std::env::var(TRANSFERS_TABLE), NotifySettings::from_source(&ProcessEnv)) {
        (Ok(table), Ok(settings)) if !table.trim().is_empty() => (table, settings),
        (_, Err(e)) => return fail(&e.to_string()),
        _ => return fail(&format!("configuration variable {TRANSFERS_TABLE} is missing")),
    };
    let sdk = shared::runtime::aws::load_sdk_config().await;
    let store = DynamoTransferStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), settings.event_bus);
    let mut ok = true;
    for raw in ids {
        let events = match Target::parse(&raw) {
            Ok(target) => current_events(&store, &target).await,
            Err(e) => Err(e),
        };
        match events {
            Ok(events) => {
                let ids: Vec<String> = events.iter().map(|e| format!("{} {}", e.id, e.kind.as_str())).collect();
                let out = redeliver(&bus, events).await;
                let status = if out.failed_records.is_empty() { "published" } else { "NOT published" };
                ok &= out.failed_records.is_empty();
                println!(
                    "{raw}: {} event(s) {status}{}",
                    ids.len(),
                    ids.iter().map(|i| format!("\n  {i}")).collect::<String>()
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("{raw}: {e}");
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("redeliver: {message}");
    ExitCode::from(2)
}
