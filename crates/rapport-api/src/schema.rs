use rapport_clickhouse::{ClickHouseConfig, ClickHouseError, SchemaMismatch};

/// The tables the API reads (the read model, `rapport_clickhouse::read`). Only `api_keys` is
/// column-checked here: every read names the columns it reads, and a missing one fails loudly.
pub const REQUIRED_OBJECTS: &[&str] = &[
    "api_keys",
    "customers",
    "customer_identities",
    "interaction_log",
    "interaction_identities",
    "conversations",
    "replies",
    "resolutions",
    "waiting",
    "sla",
];

/// `api_keys` as `rapport_clickhouse::keys::KeyRow` reads and writes it (plain `RowBinary`: the types must match).
pub const API_KEY_COLUMNS: &[(&str, &str)] = &[
    ("key_id", "String"),
    ("tenant_id", "String"),
    ("name", "String"),
    ("hash", "String"),
    ("created_at_ms", "Int64"),
    ("revoked", "UInt8"),
    ("revoked_at_ms", "Nullable(Int64)"),
];

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct Column {
    table: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Start-up check: every object the API reads exists, and `api_keys` has the key row's columns.
/// A mismatch names every problem and points at `rapport migrate`.
pub async fn check_api_schema(config: &ClickHouseConfig) -> Result<(), ClickHouseError> {
    let client = config.client();
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&config.database)
        .fetch_all()
        .await?;
    let columns: Vec<Column> = client
        .query("SELECT table, name, type FROM system.columns WHERE database = ? AND table = 'api_keys'")
        .bind(&config.database)
        .fetch_all()
        .await?;
    let found: Vec<(&str, &str)> = columns
        .iter()
        .filter(|c| c.table == "api_keys")
        .map(|c| (c.name.as_str(), c.kind.as_str()))
        .collect();
    let problems = compare(&tables, &found);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaMismatch {
            table: format!("{} (objects read by rapport-api)", config.database),
            problems,
        }
        .into())
    }
}

fn compare(tables: &[String], api_key_columns: &[(&str, &str)]) -> Vec<String> {
    let mut problems: Vec<String> = REQUIRED_OBJECTS
        .iter()
        .filter(|name| !tables.iter().any(|t| t == *name))
        .map(|name| format!("{name} is missing"))
        .collect();
    if tables.iter().any(|t| t == "api_keys") {
        for (name, expected) in API_KEY_COLUMNS {
            match api_key_columns.iter().find(|(n, _)| n == name) {
                None => problems.push(format!("column api_keys.{name} is missing")),
                Some((_, actual)) if actual != expected => problems.push(format!(
                    "column api_keys.{name} is {actual}, expected {expected}"
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use clickhouse::Row;

    use super::*;
    use rapport_clickhouse::keys::KeyRow;

    #[test]
    fn the_checked_columns_are_the_key_rows_in_order() {
        let names: Vec<&str> = API_KEY_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, KeyRow::COLUMN_NAMES);
    }

    #[test]
    fn missing_objects_and_retyped_columns_are_all_reported() {
        let tables: Vec<String> = REQUIRED_OBJECTS
            .iter()
            .filter(|n| **n != "waiting")
            .map(|n| (*n).to_owned())
            .collect();
        let mut columns = API_KEY_COLUMNS.to_vec();
        columns[5].1 = "UInt32";
        let problems = compare(&tables, &columns);
        assert_eq!(
            problems,
            vec![
                "waiting is missing".to_string(),
                "column api_keys.revoked is UInt32, expected UInt8".to_string()
            ]
        );
        let all: Vec<String> = REQUIRED_OBJECTS.iter().map(|n| (*n).to_owned()).collect();
        assert!(compare(&all, API_KEY_COLUMNS).is_empty());
    }
}
