//! Key lists in SQL text. Reads by many keys bind them into `IN (?, …)`, which is what lets
//! ClickHouse 18.16 use the primary key index; the server parses at most `max_query_size`
//! (256 KiB by default) of the text, with every bound value inlined and escaped (at most twice
//! its length). So a list is cut by count and by bytes.

/// Keys per query: more keys per query mean fewer part openings per key (the reads of a batch's
/// conversations took 30 % less server time at 2,000 than at 500).
const MAX_KEYS: usize = 2_000;

/// Key bytes per query: escaped, at most twice this, inside 256 KiB with the rest of the SQL.
/// A key is at most `rapport_model::MAX_KEY_BYTES`, so a chunk holds at least 96 of them.
const MAX_BYTES: usize = 96 * 1024;

/// `?, ?, …` for `n` binds.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `sql`, whose first `?` is the tenant and whose `{ids}` is where the keys go, for one run of
/// keys (a run from [`chunks`]).
pub fn query_in(
    client: &clickhouse::Client,
    sql: &str,
    tenant_id: &str,
    ids: &[&String],
) -> clickhouse::query::Query {
    let text = sql.replace("{ids}", &placeholders(ids.len()));
    ids.iter()
        .fold(client.query(&text).bind(tenant_id), |q, id| {
            q.bind(id.as_str())
        })
}

/// [`query_in`] for every run of `ids`, and the rows of them all.
pub async fn select_in<T>(
    client: &clickhouse::Client,
    sql: &str,
    tenant_id: &str,
    ids: &[&String],
) -> Result<Vec<T>, crate::ClickHouseError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let mut out = Vec::new();
    for run in chunks(ids) {
        out.extend(
            query_in(client, sql, tenant_id, run)
                .fetch_all::<T>()
                .await?,
        );
    }
    Ok(out)
}

/// `ids` in order, cut into runs of at most [`MAX_KEYS`] keys and [`MAX_BYTES`] bytes (a longer
/// key alone in its run).
pub fn chunks<T: AsRef<str>>(ids: &[T]) -> Vec<&[T]> {
    cut(ids, MAX_BYTES)
}

/// [`chunks`] for a query that binds two such lists (each run of one list with a run of the
/// other): half the bytes each, so both fit in the query together, escaped.
pub fn halves<T: AsRef<str>>(ids: &[T]) -> Vec<&[T]> {
    cut(ids, MAX_BYTES / 2)
}

fn cut<T: AsRef<str>>(ids: &[T], max_bytes: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let len = id.as_ref().len();
        if i > start && (i - start == MAX_KEYS || bytes + len > max_bytes) {
            out.push(&ids[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < ids.len() {
        out.push(&ids[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_keep_the_order_and_stay_within_both_bounds() {
        let short: Vec<String> = (0..4_500).map(|n| format!("c{n}")).collect();
        let runs = chunks(&short);
        assert_eq!(
            runs.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [2_000, 2_000, 500]
        );
        assert_eq!(runs.concat(), short);

        let long: Vec<String> = (0..300).map(|n| format!("{n:01024}")).collect();
        let runs = chunks(&long);
        assert!(
            runs.iter()
                .all(|r| r.len() == 96 || r.len() == 300 - 3 * 96)
        );
        assert_eq!(runs.concat(), long);

        let huge = ["x".repeat(MAX_BYTES + 1), "y".into()];
        assert_eq!(chunks(&huge).len(), 2, "an oversized key stands alone");

        let halves = halves(&long);
        assert!(
            halves
                .iter()
                .all(|r| r.len() == 48 || r.len() == 300 - 6 * 48)
        );
        assert_eq!(halves.concat(), long);
        assert!(chunks::<String>(&[]).is_empty());
    }
}
