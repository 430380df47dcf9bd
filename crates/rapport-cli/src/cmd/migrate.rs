//! `rapport migrate`: create or upgrade the ClickHouse history store.

use std::io::Write;

use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print every statement the migrations run for this configuration (their cluster form when
    /// clickhouse.cluster is set), each ending in `;`, and change nothing.
    #[arg(long)]
    print: bool,
}

/// Applies the migrations the database has not recorded, then checks the `interactions` table.
pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    if args.print {
        let out = &mut std::io::stdout().lock();
        let files = rapport_clickhouse::migrations::statements_for(&config.clickhouse)?;
        for (migration, statements) in rapport_clickhouse::migrations::MIGRATIONS.iter().zip(files)
        {
            writeln!(out, "-- {:03}_{}.sql", migration.version, migration.name)?;
            for statement in statements {
                writeln!(out, "{statement};")?;
            }
        }
        return Ok(0);
    }
    let report = rapport_clickhouse::migrations::migrate(&config.clickhouse).await?;
    for version in &report.already_applied {
        eprintln!("migration {version:03}: already applied");
    }
    for version in &report.applied {
        eprintln!("migration {version:03}: applied");
    }
    rapport_clickhouse::cluster::check(&config.clickhouse).await?;
    rapport_clickhouse::check_interactions_table(&config.clickhouse).await?;
    eprintln!(
        "database {} at {} is up to date",
        config.clickhouse.database, config.clickhouse.url
    );
    Ok(0)
}
