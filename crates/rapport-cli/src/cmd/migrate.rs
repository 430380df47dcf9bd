//! `rapport migrate`: create or upgrade the ClickHouse history store.

use crate::config::CliConfig;

/// Applies the migrations the database has not recorded, then checks the `interactions` table.
pub async fn run(config: &CliConfig) -> anyhow::Result<u8> {
    let report = rapport_clickhouse::migrations::migrate(&config.clickhouse).await?;
    for version in &report.already_applied {
        eprintln!("migration {version:03}: already applied");
    }
    for version in &report.applied {
        eprintln!("migration {version:03}: applied");
    }
    rapport_clickhouse::check_interactions_table(&config.clickhouse).await?;
    eprintln!(
        "database {} at {} is up to date",
        config.clickhouse.database, config.clickhouse.url
    );
    Ok(0)
}
