use std::path::PathBuf;

use clap::Parser;
use rapport_normalizer::NormalizerConfig;
use rapport_runtime::Shutdown;

/// Normalizes raw channel events from Kafka into Rapport interactions.
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_KAFKA__BROKERS).
#[derive(Debug, Parser)]
#[command(name = "rapport-normalizer", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: NormalizerConfig = rapport_runtime::load(args.config.as_deref())?;
    rapport_runtime::telemetry::init(&config.log);
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    rapport_normalizer::serve(config, shutdown).await?;
    Ok(())
}
