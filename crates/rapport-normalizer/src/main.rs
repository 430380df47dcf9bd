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
    let result = rapport_normalizer::serve(config, shutdown).await;
    if let Err(error) = &result {
        tracing::error!(%error, "stopped");
    }
    // Exit here rather than when the runtime drops: a librdkafka close still blocked on an
    // unresponsive coordinator would otherwise hold the process open (see pipeline.rs).
    std::process::exit(i32::from(result.is_err()));
}
