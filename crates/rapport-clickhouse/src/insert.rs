use std::time::Duration;

use crate::{ClickHouseError, ErrorClass, INTERACTIONS_TABLE, InteractionRow};

/// A row the server refused for good, by its index in the batch, with the server's words.
#[derive(Debug)]
pub struct Rejected {
    pub index: usize,
    pub error: ClickHouseError,
}

/// Inserts `rows` as one `INSERT` (one part per partition on the server).
pub async fn insert_rows(
    client: &clickhouse::Client,
    rows: &[InteractionRow],
    timeout: Duration,
) -> Result<(), ClickHouseError> {
    insert_into(client, INTERACTIONS_TABLE, rows, timeout).await
}

/// Inserts rows of any table as one `INSERT`, bounded by `timeout` as a whole.
pub async fn insert_into<T>(
    client: &clickhouse::Client,
    table: &str,
    rows: &[T],
    timeout: Duration,
) -> Result<(), ClickHouseError>
where
    T: clickhouse::Row + clickhouse::RowWrite + serde::Serialize,
    for<'a> T: clickhouse::Row<Value<'a> = T>,
{
    if rows.is_empty() {
        return Ok(());
    }
    let request = async {
        let mut insert = client
            .insert::<T>(table)
            .await?
            .with_timeouts(Some(timeout), Some(timeout));
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    };
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(ClickHouseError::Timeout(timeout)),
    }
}

/// Inserts `rows`; when the server rejects the data, splits the batch in halves until each
/// rejected row stands alone, so one bad row costs O(log n) extra inserts and its batch-mates
/// are stored. Returns the rows that could not be stored.
///
/// A retryable or fatal error returns `Err` and the caller retries the whole batch later: halves
/// already written are written again, which the table's deduplication by `event_id` absorbs.
pub async fn insert_isolating(
    client: &clickhouse::Client,
    rows: &[InteractionRow],
    timeout: Duration,
) -> Result<Vec<Rejected>, ClickHouseError> {
    let mut rejected = Vec::new();
    let mut pending = vec![(0, rows.len())];
    while let Some((start, end)) = pending.pop() {
        if start == end {
            continue;
        }
        match insert_rows(client, &rows[start..end], timeout).await {
            Ok(()) => {}
            Err(error) if error.class() == ErrorClass::Data => {
                if end - start == 1 {
                    rejected.push(Rejected {
                        index: start,
                        error,
                    });
                } else {
                    let middle = start + (end - start) / 2;
                    pending.push((middle, end));
                    pending.push((start, middle));
                }
            }
            Err(error) => return Err(error),
        }
    }
    if rows.len() > 1 && rejected.len() == rows.len() {
        return Err(ClickHouseError::AllRowsRejected {
            rows: rows.len(),
            first: rejected[0].error.to_string(),
        });
    }
    rejected.sort_by_key(|r| r.index);
    Ok(rejected)
}
