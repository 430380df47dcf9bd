use std::path::PathBuf;

use clap::Parser;
use rapport_sla::SlaServiceConfig;

/// Announces SLA outcomes (at risk, breached, met, corrected) on rapport.sla.v1 when they happen.
///
/// Settings: built-in defaults, then --config FILE (or RAPPORT_CONFIG), then RAPPORT_* variables
/// (`__` between nested keys, e.g. RAPPORT_CLICKHOUSE__URL).
#[derive(Debug, Parser)]
#[command(name = "rapport-sla", version)]
struct Args {
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rapport_runtime::service_main(
        args.config.as_deref(),
        |c: &SlaServiceConfig| &c.log,
        rapport_sla::serve,
    )
    .await
}
