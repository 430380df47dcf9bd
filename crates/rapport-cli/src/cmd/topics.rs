//! `rapport topics create`: every topic Rapport uses, created when missing.

use clap::Subcommand;

use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create every topic Rapport uses that does not exist yet (brokers such as Tansu never auto-create).
    Create,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let TopicsCommand::Create = args.command;
    let created = rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
    for spec in config.topics.specs() {
        let state = if created.contains(&spec.name) {
            "created"
        } else {
            "exists"
        };
        eprintln!("{}: {state}", spec.name);
    }
    Ok(0)
}
