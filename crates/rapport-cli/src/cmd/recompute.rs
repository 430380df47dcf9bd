//! `rapport recompute`: the stored metrics and SLA outcomes of a tenant's conversations derived
//! again with the `[business_hours]` and `[sla]` of this configuration (which must be the
//! writer's), writing only the conversations whose rows changed
//! (`rapport_clickhouse::repair`).

use std::io::Write;

use rapport_clickhouse::repair::{self, Recompute, RepairReport};
use rapport_model::Timestamp;

use crate::cmd::parse_time;
use crate::config::CliConfig;
use crate::{progress, store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tenant (default: the config's tenant_id).
    #[arg(long)]
    tenant: Option<String>,
    /// Start of the window, RFC 3339 (default: since the beginning).
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// End of the window, exclusive, RFC 3339 (default: now).
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// Only count what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let tenant = args.tenant.unwrap_or_else(|| config.tenant_id.clone());
    let now = Timestamp::now().as_millis();
    let from = args.from.map_or(0, Timestamp::as_millis);
    let to = args.to.map_or(now.saturating_add(1), Timestamp::as_millis);
    anyhow::ensure!(from < to, "--from must be before --to");
    let rules = config.derivation_rules()?;
    let report = execute(config, &rules, &tenant, (from, to), args.dry_run).await?;
    describe(
        &tenant,
        &report,
        args.dry_run,
        &mut std::io::stdout().lock(),
    )?;
    Ok(0)
}

/// Recomputes the conversations of `tenant` that `[from, to)` covers.
pub async fn execute(
    config: &CliConfig,
    rules: &rapport_clickhouse::state::Rules,
    tenant: &str,
    (from, to): (i64, i64),
    dry_run: bool,
) -> anyhow::Result<RepairReport> {
    let clickhouse = &config.clickhouse;
    let client = store::client(clickhouse);
    // Taken before anything is read, so the rows written win over every earlier recompute.
    let version = Timestamp::now().as_millis();
    let ids = store::bounded(
        clickhouse,
        repair::conversations_in(&client, tenant, from, to),
    )
    .await?;
    let bar = progress::bar(ids.len() as u64, "recomputing conversations");
    let how = Recompute {
        tenant,
        rules,
        version,
        dry_run,
        timeout: clickhouse.request_timeout(),
    };
    // The run may take long: each chunk of it is bounded instead (repair::recompute).
    let report = repair::recompute(&client, how, &ids, |done| bar.set_position(done as u64))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ClickHouse at {} (database {}): {e}",
                clickhouse.url,
                clickhouse.database
            )
        })?;
    bar.finish_and_clear();
    Ok(report)
}

/// The summary line and one line per table.
pub fn describe(
    tenant: &str,
    report: &RepairReport,
    dry_run: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "tenant {tenant}: {} conversations recomputed, {} changed, {} rows {}",
        report.conversations,
        report.changed_conversations,
        report.rows_changed_total(),
        if dry_run {
            "would change (dry run: nothing written)"
        } else {
            "changed"
        }
    )?;
    for (table, n) in &report.rows_changed {
        writeln!(out, "  {table}: {n}")?;
    }
    Ok(())
}
