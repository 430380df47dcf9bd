use std::path::PathBuf;

use clap::Parser;
use rapport_normalizer::NormalizerConfig;

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
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &NormalizerConfig| &c.log,
        rapport_normalizer::serve,
    )
    .await
}
