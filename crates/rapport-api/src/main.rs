use std::path::PathBuf;

use clap::Parser;
use rapport_api::ApiConfig;

/// Serves Rapport's query API: customer timelines, conversations, responsiveness metrics and
/// who is waiting, each scoped to the tenant of the caller's API key (`rapport keys create`).
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_CLICKHOUSE__URL, RAPPORT_HTTP__LISTEN).
#[derive(Debug, Parser)]
#[command(name = "rapport-api", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &ApiConfig| &c.log,
        rapport_api::serve,
    )
    .await
}
