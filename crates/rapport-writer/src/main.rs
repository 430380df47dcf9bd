use std::path::PathBuf;

use clap::Parser;
use rapport_writer::WriterConfig;

/// Writes normalized Rapport interactions from Kafka into the ClickHouse history store.
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_CLICKHOUSE__URL).
#[derive(Debug, Parser)]
#[command(name = "rapport-writer", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &WriterConfig| &c.log,
        rapport_writer::serve,
    )
    .await
}
