//! `mesh-sandbox` binary: parse flags/environment, bind 127.0.0.1, serve until Ctrl-C or SIGTERM.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use mesh_sandbox::cli::{self, Command};
use tokio::net::TcpListener;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .init();

    let options = match cli::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mesh-sandbox: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            error!("cannot bind 127.0.0.1:{}: {e}", options.port);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => info!(
            "mesh-sandbox listening on http://{addr} (webhooks to {})",
            options.config.webhook_url.as_deref().unwrap_or("nowhere: no --webhook-url")
        ),
        Err(e) => error!("no local address: {e}"),
    }
    match mesh_sandbox::serve_with_shutdown(listener, options.config, shutdown_signal()).await {
        Ok(()) => {
            info!("mesh-sandbox stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("mesh-sandbox failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
