use std::path::PathBuf;

use clap::Parser;
use rapport_runtime::Shutdown;
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
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: WriterConfig = rapport_runtime::load(args.config.as_deref())?;
    rapport_runtime::telemetry::init(&config.log);
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let result = rapport_writer::serve(config, shutdown).await;
    if let Err(error) = &result {
        tracing::error!(%error, "stopped");
    }
    // As in the normalizer: a librdkafka close blocked on an unresponsive coordinator must not
    // hold the process open.
    std::process::exit(i32::from(result.is_err()));
}
