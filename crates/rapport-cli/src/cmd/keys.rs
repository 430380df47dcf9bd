//! `rapport keys create|revoke|list`: the API keys of rapport-api, in ClickHouse's `api_keys`
//! (see `rapport_clickhouse::keys`; only a hash of each key is stored).

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;
use rapport_clickhouse::ClickHouseConfig;
use rapport_clickhouse::keys::{self, KeyError, KeyRow, Revocation};
use rapport_model::Timestamp;

use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it (alone on stdout, for scripts); it cannot be shown again.
    Create {
        /// The tenant the key may read, e.g. acme.
        #[arg(long)]
        tenant: String,
        /// Who or what uses the key, e.g. "reporting dashboard"; shown by `keys list`.
        #[arg(long)]
        name: String,
    },
    /// Revoke a key for good; rapport-api refuses it within its key cache time (10 s by default).
    Revoke {
        /// The key id (from `keys list`), or the whole key.
        key: String,
    },
    /// List keys with their id, tenant, name, creation time and status (never the key itself).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let ch = &config.clickhouse;
    match args.command {
        KeysCommand::Create { tenant, name } => {
            create(
                ch,
                &tenant,
                &name,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .await?
        }
        KeysCommand::Revoke { key } => revoke(ch, &key, &mut std::io::stderr().lock()).await?,
        KeysCommand::List { tenant, json } => {
            list(ch, tenant.as_deref(), json, &mut std::io::stdout().lock()).await?
        }
    }
    Ok(0)
}

/// Creates a key for `tenant`; the key goes to `out` (alone on its line, for scripts), the
/// explanation to `err`.
pub async fn create(
    config: &ClickHouseConfig,
    tenant: &str,
    name: &str,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<()> {
    let client = config.client();
    let created = bounded(config, keys::create(&client, tenant, name)).await?;
    writeln!(out, "{}", created.token)?;
    writeln!(
        err,
        "created API key {} for tenant {} ({:?}).\n\
         This is the only time the key is shown: store it now. Use it as\n  \
         curl -H \"Authorization: Bearer <key>\" http://127.0.0.1:8080/v1/unanswered\n\
         and revoke it with `rapport keys revoke {}`.",
        created.row.key_id, created.row.tenant_id, created.row.name, created.row.key_id
    )?;
    Ok(())
}

/// Revokes a key (by id, or the whole key); an unknown key is an error.
pub async fn revoke(
    config: &ClickHouseConfig,
    key: &str,
    err: &mut impl Write,
) -> anyhow::Result<()> {
    let client = config.client();
    match bounded(config, keys::revoke(&client, key)).await? {
        Revocation::Revoked(row) => writeln!(
            err,
            "revoked API key {} (tenant {}, {:?}). rapport-api refuses it within its key cache \
             time (auth.cache_ttl_ms, 10 s by default).",
            row.key_id, row.tenant_id, row.name
        )?,
        Revocation::AlreadyRevoked(row) => writeln!(
            err,
            "API key {} (tenant {}, {:?}) was already revoked on {}",
            row.key_id,
            row.tenant_id,
            row.name,
            row.revoked_at_ms
                .map_or_else(|| "an unknown date".to_owned(), time)
        )?,
        Revocation::Unknown => anyhow::bail!("no API key {key:?}; `rapport keys list` shows them"),
    }
    Ok(())
}

/// Lists keys (never their secrets) as a table, or JSON lines with `json`.
pub async fn list(
    config: &ClickHouseConfig,
    tenant: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = config.client();
    let rows = bounded(config, keys::list(&client, tenant)).await?;
    if json {
        for row in &rows {
            let line = serde_json::json!({
                "key_id": row.key_id,
                "tenant_id": row.tenant_id,
                "name": row.name,
                "created_at": time(row.created_at_ms),
                "revoked": row.is_revoked(),
                "revoked_at": row.revoked_at_ms.map(time),
            });
            writeln!(out, "{line}")?;
        }
    } else {
        out.write_all(table(&rows).as_bytes())?;
    }
    Ok(())
}

async fn bounded<T>(
    config: &ClickHouseConfig,
    request: impl Future<Output = Result<T, KeyError>>,
) -> anyhow::Result<T> {
    let result = tokio::time::timeout(config.request_timeout(), request)
        .await
        .with_context(|| {
            format!(
                "ClickHouse at {} did not answer within {} ms",
                config.url, config.request_timeout_ms
            )
        })?;
    result.map_err(|error| match &error {
        KeyError::Store(e) if matches!(e.code(), Some(60 | 81)) => anyhow::anyhow!(
            "{error}\ndatabase {} is not set up for API keys yet: run `rapport migrate`",
            config.database
        ),
        _ => error.into(),
    })
}

fn time(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

fn table(rows: &[KeyRow]) -> String {
    let header = ["KEY ID", "TENANT", "NAME", "CREATED", "STATUS"];
    let lines: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.key_id.clone(),
                r.tenant_id.clone(),
                r.name.clone(),
                time(r.created_at_ms),
                match r.revoked_at_ms {
                    _ if !r.is_revoked() => "active".to_owned(),
                    Some(ms) => format!("revoked {}", time(ms)),
                    None => "revoked".to_owned(),
                },
            ]
        })
        .collect();
    let mut text = crate::table::aligned(&header, &lines, header.len());
    if rows.is_empty() {
        text.push_str("(no keys; create one with `rapport keys create --tenant T --name N`)\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, revoked_at: Option<i64>) -> KeyRow {
        KeyRow {
            key_id: id.into(),
            tenant_id: "acme".into(),
            name: name.into(),
            hash: "never shown".into(),
            created_at_ms: 1_717_405_200_000,
            revoked: u8::from(revoked_at.is_some()),
            revoked_at_ms: revoked_at,
        }
    }

    #[test]
    fn the_key_table_is_aligned_and_never_shows_hashes() {
        let text = table(&[
            row("0123456789abcdef", "reporting", None),
            row("fedcba9876543210", "old dashboard", Some(1_717_408_800_000)),
        ]);
        assert_eq!(
            text,
            "KEY ID            TENANT  NAME           CREATED                   STATUS\n\
             0123456789abcdef  acme    reporting      2024-06-03T09:00:00.000Z  active\n\
             fedcba9876543210  acme    old dashboard  2024-06-03T09:00:00.000Z  revoked 2024-06-03T10:00:00.000Z\n"
        );
        assert!(!text.contains("never shown"));
    }

    #[test]
    fn an_empty_list_says_how_to_create_a_key() {
        assert!(table(&[]).contains("rapport keys create"));
    }
}
