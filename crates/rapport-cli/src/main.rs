use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rapport_cli::cmd::Command;
use rapport_cli::config::CliConfig;

/// Rapport's operator command line.
///
/// Settings come from built-in defaults, then the TOML file named by --config (or RAPPORT_CONFIG),
/// then RAPPORT_* environment variables with `__` between nested keys, e.g.
/// RAPPORT_KAFKA__BROKERS=kafka:9092.
#[derive(Debug, Parser)]
#[command(name = "rapport", version)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("rapport: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let config: CliConfig = rapport_runtime::load(cli.config.as_deref())?;
    rapport_runtime::telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli.command.run(&config))
}
