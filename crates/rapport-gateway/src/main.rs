use std::path::PathBuf;

use clap::Parser;
use rapport_gateway::service::ServiceConfig;

/// Receives each channel's webhooks, verifies each provider's signature, and lands the raw
/// bodies on the raw Kafka topics (answering 2xx only once the broker acknowledged them).
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_KAFKA__BROKERS). Endpoints are `[[endpoints]]` tables
/// of the file; their secrets come from the environment or files they name.
#[derive(Debug, Parser)]
#[command(name = "rapport-gateway", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &ServiceConfig| &c.log,
        rapport_gateway::service::serve,
    )
    .await
}
