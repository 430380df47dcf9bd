use std::fmt;

use crate::{ClickHouseConfig, ClickHouseError, INTERACTION_COLUMNS, INTERACTIONS_TABLE};

/// The table the writer would insert into does not have the shape of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaMismatch {
    pub table: String,
    pub problems: Vec<String>,
}

impl fmt::Display for SchemaMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table {} does not match what this version writes ({}); run `rapport migrate` or deploy the matching version",
            self.table,
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for SchemaMismatch {}

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    default_kind: String,
}

/// Compares `system.columns` with [`INTERACTION_COLUMNS`]: every written column must exist with
/// exactly its type; a column the writer does not send must have a default the server fills.
pub async fn check_interactions_table(config: &ClickHouseConfig) -> Result<(), ClickHouseError> {
    let columns: Vec<Column> = config
        .client()
        .query(
            "SELECT name, type, default_kind FROM system.columns \
             WHERE database = ? AND table = ?",
        )
        .bind(&config.database)
        .bind(INTERACTIONS_TABLE)
        .fetch_all()
        .await?;
    let table = format!("{}.{INTERACTIONS_TABLE}", config.database);
    let found: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind.as_str(), c.default_kind.as_str()))
        .collect();
    match compare(&found) {
        problems if problems.is_empty() => Ok(()),
        problems => Err(SchemaMismatch { table, problems }.into()),
    }
}

/// Every one of `tables` exists in the database (the writer's read-model and forget-list
/// tables: a missing one would fail the first batch, after it was read).
pub async fn check_tables_exist(
    config: &ClickHouseConfig,
    tables: &[&str],
) -> Result<(), ClickHouseError> {
    let present: Vec<String> = config
        .client()
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&config.database)
        .fetch_all()
        .await?;
    let problems: Vec<String> = tables
        .iter()
        .filter(|t| !present.iter().any(|p| p == *t))
        .map(|t| format!("table {t} is missing"))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaMismatch {
            table: format!("{} (tables rapport-writer writes)", config.database),
            problems,
        }
        .into())
    }
}

fn compare(found: &[(&str, &str, &str)]) -> Vec<String> {
    if found.is_empty() {
        return vec!["the table does not exist".into()];
    }
    let mut problems = Vec::new();
    for (name, expected) in INTERACTION_COLUMNS {
        match found.iter().find(|(n, _, _)| n == name) {
            None => problems.push(format!("column {name} is missing")),
            Some((_, actual, _)) if actual != expected => {
                problems.push(format!("column {name} is {actual}, expected {expected}"))
            }
            Some(_) => {}
        }
    }
    for (name, kind, default_kind) in found {
        let written = INTERACTION_COLUMNS.iter().any(|(n, _)| n == name);
        if !written && default_kind.is_empty() {
            problems.push(format!(
                "column {name} ({kind}) has no default and this version does not write it"
            ));
        }
    }
    problems
}

/// A service's start-up: migrations (when `migrate`) and the schema check, retried with jittered
/// back-off while ClickHouse is unreachable. `Ok(false)` when `stop` resolved first.
pub async fn prepare(
    config: &ClickHouseConfig,
    migrate: bool,
    initial_backoff: std::time::Duration,
    max_backoff: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<bool, ClickHouseError> {
    let prepared = rapport_runtime::retry::retry(
        &mut rapport_runtime::retry::Backoff::new(initial_backoff, max_backoff),
        stop,
        ClickHouseError::is_retryable,
        |error, wait| tracing::warn!(%error, ?wait, "clickhouse not ready; retrying"),
        || async {
            if migrate {
                crate::migrations::migrate(config).await?;
            }
            check_interactions_table(config).await
        },
    )
    .await?;
    Ok(prepared.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Vec<(&'static str, &'static str, &'static str)> {
        INTERACTION_COLUMNS
            .iter()
            .map(|(n, t)| (*n, *t, ""))
            .collect()
    }

    #[test]
    fn the_exact_columns_pass() {
        assert!(compare(&expected()).is_empty());
    }

    #[test]
    fn missing_retyped_and_unfillable_columns_are_all_reported() {
        let mut found = expected();
        found.retain(|(n, _, _)| *n != "team");
        found.iter_mut().find(|c| c.0 == "rating").unwrap().1 = "UInt8";
        found.push(("sentiment", "Float32", ""));
        found.push(("ingest_host", "String", "DEFAULT"));
        let problems = compare(&found);
        assert_eq!(problems.len(), 3, "{problems:?}");
        let all = problems.join("\n");
        assert!(all.contains("team is missing"), "{all}");
        assert!(
            all.contains("rating is UInt8, expected Nullable(UInt8)"),
            "{all}"
        );
        assert!(all.contains("sentiment (Float32) has no default"), "{all}");
    }

    #[test]
    fn a_missing_table_is_named() {
        assert_eq!(compare(&[]), vec!["the table does not exist".to_string()]);
    }
}
