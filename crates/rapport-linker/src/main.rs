use std::path::PathBuf;

use clap::Parser;
use rapport_linker::LinkerConfig;

/// Links each customer's identifiers (emails, phones, source ids) across channels into one
/// customer, and publishes every change.
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_CLICKHOUSE__URL).
#[derive(Debug, Parser)]
#[command(name = "rapport-linker", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &LinkerConfig| &c.log,
        rapport_linker::serve,
    )
    .await
}
