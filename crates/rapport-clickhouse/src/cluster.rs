//! Cluster mode: the migrations of `schemas/clickhouse/` rewritten for a ClickHouse cluster, and
//! the start-up check of the cluster's layout.
//!
//! The files stay written for one server (and are applied unchanged there). For a cluster each
//! statement is rewritten, strictly: a shape this module does not know is an error, so a new
//! migration that would need a different cluster form fails its unit test instead of creating
//! something half-distributed.
//!
//! - A table, `CREATE TABLE IF NOT EXISTS t (…) ENGINE = XMergeTree(args) …`, becomes a local
//!   table `t_local` on every server (`ON CLUSTER`) with the replicated engine
//!   `ReplicatedXMergeTree('/clickhouse/tables/{shard}/<database>/t', '{replica}', args)`, and a
//!   `Distributed` table `t` over it, sharded by `sipHash64(tenant_id)`. Every reader and writer
//!   keeps using `t`; a tenant's rows of every table live on one shard, so a tenant's query reads
//!   and joins on that shard. A table without `tenant_id` is refused.
//! - A materialized view reads and writes the local tables, so it runs on the shard that stores
//!   the inserted block.
//! - A view, and an `INSERT … SELECT`, read the `Distributed` tables, with every table name
//!   qualified by the database: `ON CLUSTER` statements run on each server in its default
//!   database, where an unqualified name would not resolve.
//! - `DROP TABLE IF EXISTS` drops on every server (both tables of a table).
//!
//! Writes are idempotent on replicas through ClickHouse's block deduplication: a replicated table
//! remembers the checksums of its last 100 inserted blocks (`replicated_deduplication_window`),
//! and the writer retries a failed insert with the same rows, which gives every shard the same
//! block again, so a retry after a timeout or a shard outage adds nothing, whichever server of
//! the cluster it reaches (a block is identified by the checksums of the part it makes, written
//! sorted, so the rows' order does not matter either; tests/cluster.rs,
//! `a_retried_batch_is_stored_once_on_every_replica_and_each_tenant_on_one_shard`). A redelivery
//! cut into other batches makes other blocks; those copies are collapsed by the sort key, as on
//! one server (`ReplacingMergeTree` read with `FINAL`). 18.16 has no
//! `insert_deduplication_token`, so block deduplication is the mechanism.

use std::collections::BTreeMap;

use crate::migrations::Migration;
use crate::{ClickHouseConfig, ClickHouseError};

/// Appended to a table's name for its replicated local table.
pub const LOCAL_SUFFIX: &str = "_local";
/// The `Distributed` tables' sharding key: every row of a tenant on one shard.
pub const SHARDING_KEY: &str = "sipHash64(tenant_id)";

/// A cluster and the database the store lives in.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    pub cluster: &'a str,
    pub database: &'a str,
}

impl Layout<'_> {
    /// Where the replicas of one table of one shard meet in ZooKeeper. The database is in the
    /// path so that two stores on one cluster never share a table.
    pub fn zookeeper_path(&self, table: &str) -> String {
        format!("/clickhouse/tables/{{shard}}/{}/{table}", self.database)
    }

    /// The migrations' own record, `rapport_migrations`: one table replicated to every server of
    /// the cluster (one ZooKeeper path without `{shard}`), so a runner on any server sees what
    /// every other runner recorded.
    pub fn migrations_table(&self, table: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} (version UInt32, name String, \
             checksum String, applied_at DateTime) ENGINE = ReplicatedReplacingMergeTree(\
             '/clickhouse/tables/cluster_wide/{db}/{table}', '{{shard}}-{{replica}}') ORDER BY version",
            db = self.database,
            cluster = self.cluster
        )
    }

    pub fn create_database(&self) -> String {
        format!(
            "CREATE DATABASE IF NOT EXISTS {} ON CLUSTER {}",
            self.database, self.cluster
        )
    }
}

/// A statement the cluster rewrite does not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot run on a cluster: {reason} (statement begins {begins:?})")]
pub struct RewriteError {
    pub reason: String,
    pub begins: String,
}

fn refuse(sql: &str, reason: impl Into<String>) -> RewriteError {
    let begins: String = sql.chars().take(80).collect();
    RewriteError {
        reason: reason.into(),
        begins,
    }
}

/// Every migration's statements for `layout`, in order (a view refers to what earlier files
/// created, so the files are rewritten together).
pub fn rewrite_migrations(
    layout: Layout<'_>,
    migrations: &[Migration],
) -> Result<Vec<Vec<String>>, (u32, RewriteError)> {
    let mut rewriter = Rewriter::new(layout);
    migrations
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            for statement in m.statements() {
                out.extend(rewriter.statement(&statement).map_err(|e| (m.version, e))?);
            }
            Ok(out)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    /// A replicated local table behind a `Distributed` table.
    Table,
    View,
}

/// Rewrites statements one after another, remembering what they created.
#[derive(Debug)]
pub struct Rewriter<'a> {
    layout: Layout<'a>,
    objects: BTreeMap<String, Object>,
}

/// Engines that have a `Replicated…` form taking the ZooKeeper path and replica name first.
const MERGE_TREES: &[&str] = &[
    "MergeTree",
    "ReplacingMergeTree",
    "CollapsingMergeTree",
    "VersionedCollapsingMergeTree",
    "SummingMergeTree",
    "AggregatingMergeTree",
];

impl<'a> Rewriter<'a> {
    pub fn new(layout: Layout<'a>) -> Self {
        Self {
            layout,
            objects: BTreeMap::new(),
        }
    }

    /// The cluster form of one statement (one or two statements).
    pub fn statement(&mut self, sql: &str) -> Result<Vec<String>, RewriteError> {
        let tokens = tokenize(sql).map_err(|reason| refuse(sql, reason))?;
        let words: Vec<String> = tokens
            .iter()
            .take(9)
            .map(|t| match t.kind {
                Kind::Word => sql[t.start..t.end].to_ascii_uppercase(),
                _ => sql[t.start..t.end].to_owned(),
            })
            .collect();
        let starts = |head: &[&str]| {
            words.len() >= head.len() && head.iter().zip(&words).all(|(a, b)| a == b)
        };
        if starts(&["CREATE", "TABLE", "IF", "NOT", "EXISTS"]) {
            self.table(sql, &tokens)
        } else if starts(&["CREATE", "MATERIALIZED", "VIEW", "IF", "NOT", "EXISTS"]) {
            self.materialized_view(sql, &tokens)
        } else if starts(&["CREATE", "VIEW", "IF", "NOT", "EXISTS"]) {
            self.view(sql, &tokens)
        } else if starts(&["DROP", "TABLE", "IF", "EXISTS"]) {
            self.drop(sql, &tokens)
        } else if starts(&["INSERT", "INTO"]) {
            self.insert_select(sql, &tokens)
        } else if words.len() >= 5
            && words[0] == "ALTER"
            && words[1] == "TABLE"
            && words[3] == "ADD"
            && words[4] == "COLUMN"
        {
            self.add_column(sql, &tokens)
        } else {
            Err(refuse(
                sql,
                "only CREATE TABLE|VIEW|MATERIALIZED VIEW IF NOT EXISTS, DROP TABLE IF EXISTS, \
                 ALTER TABLE … ADD COLUMN and INSERT … SELECT are rewritten",
            ))
        }
    }

    /// A column added to a table: to the replicated local table (one replica per shard runs it,
    /// replication brings it to the others), and then the Distributed table in front of it is
    /// made again from the local table's new columns. 18.16 refuses an ALTER ON CLUSTER of a
    /// table that is not replicated on a cluster whose shards replicate internally ("isn't
    /// replicated, but shard is replicated according to its cluster definition"), and a
    /// Distributed table holds no data, so dropping and creating it loses nothing; reads and
    /// writes through it fail for the moment in between, as during any migration.
    fn add_column(&mut self, sql: &str, tokens: &[Token]) -> Result<Vec<String>, RewriteError> {
        let name = self.name_at(sql, tokens, 2)?;
        if self.objects.get(&name) != Some(&Object::Table) {
            return Err(refuse(
                sql,
                "a column is added only to a table created before",
            ));
        }
        let column = tokens
            .get(5)
            .map(|t| sql[t.start..].trim())
            .ok_or_else(|| refuse(sql, "expected a column after ADD COLUMN"))?;
        let layout = self.layout;
        Ok(vec![
            format!(
                "ALTER TABLE {db}.{name}{LOCAL_SUFFIX} ON CLUSTER {cluster} ADD COLUMN {column}",
                db = layout.database,
                cluster = layout.cluster,
            ),
            format!(
                "DROP TABLE IF EXISTS {db}.{name} ON CLUSTER {cluster}",
                db = layout.database,
                cluster = layout.cluster,
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS {db}.{name}{LOCAL_SUFFIX} \
                 ENGINE = Distributed({cluster}, {db}, {name}{LOCAL_SUFFIX}, {SHARDING_KEY})",
                db = layout.database,
                cluster = layout.cluster,
            ),
        ])
    }

    fn name_at(&self, sql: &str, tokens: &[Token], i: usize) -> Result<String, RewriteError> {
        let token = tokens
            .get(i)
            .filter(|t| t.kind == Kind::Word)
            .ok_or_else(|| refuse(sql, "expected a name"))?;
        if tokens.get(i + 1).is_some_and(|t| t.is(sql, ".")) {
            return Err(refuse(
                sql,
                "a name qualified by a database; the migrations name tables of their own database only",
            ));
        }
        Ok(sql[token.start..token.end].to_owned())
    }

    fn table(&mut self, sql: &str, tokens: &[Token]) -> Result<Vec<String>, RewriteError> {
        let name = self.name_at(sql, tokens, 5)?;
        let open = 6;
        if !tokens.get(open).is_some_and(|t| t.is(sql, "(")) {
            return Err(refuse(sql, "expected the column list after the table name"));
        }
        let close = matching(sql, tokens, open)?;
        let columns = column_names(sql, &tokens[open + 1..close]);
        if !columns.iter().any(|c| c == "tenant_id") {
            return Err(refuse(
                sql,
                format!("table {name} has no tenant_id column to shard by"),
            ));
        }
        let engine_at = close + 1;
        let engine_ok = tokens
            .get(engine_at)
            .is_some_and(|t| t.word_is(sql, "ENGINE"))
            && tokens.get(engine_at + 1).is_some_and(|t| t.is(sql, "="));
        if !engine_ok {
            return Err(refuse(sql, "expected ENGINE = after the column list"));
        }
        let engine_token = tokens
            .get(engine_at + 2)
            .filter(|t| t.kind == Kind::Word)
            .ok_or_else(|| refuse(sql, "expected an engine name"))?;
        let engine = &sql[engine_token.start..engine_token.end];
        if !MERGE_TREES.contains(&engine) {
            return Err(refuse(
                sql,
                format!("engine {engine} has no replicated form here (MergeTree family only)"),
            ));
        }
        let (args, rest_from) = match tokens.get(engine_at + 3) {
            Some(t) if t.is(sql, "(") => {
                let end = matching(sql, tokens, engine_at + 3)?;
                let inner = sql[t.end..tokens[end].start].trim();
                (Some(inner.to_owned()), tokens[end].end)
            }
            _ => (None, engine_token.end),
        };
        let layout = self.layout;
        let mut engine_args = format!("'{}', '{{replica}}'", layout.zookeeper_path(&name));
        if let Some(args) = args.filter(|a| !a.is_empty()) {
            engine_args.push_str(", ");
            engine_args.push_str(&args);
        }
        let local = format!(
            "CREATE TABLE IF NOT EXISTS {db}.{name}{LOCAL_SUFFIX} ON CLUSTER {cluster}\n{columns}\nENGINE = Replicated{engine}({engine_args}){rest}",
            db = layout.database,
            cluster = layout.cluster,
            columns = &sql[tokens[open].start..tokens[close].end],
            rest = &sql[rest_from..],
        );
        let distributed = format!(
            "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS {db}.{name}{LOCAL_SUFFIX} \
             ENGINE = Distributed({cluster}, {db}, {name}{LOCAL_SUFFIX}, {SHARDING_KEY})",
            db = layout.database,
            cluster = layout.cluster,
        );
        self.objects.insert(name, Object::Table);
        Ok(vec![local, distributed])
    }

    fn materialized_view(
        &mut self,
        sql: &str,
        tokens: &[Token],
    ) -> Result<Vec<String>, RewriteError> {
        let name = self.name_at(sql, tokens, 6)?;
        if !tokens.get(7).is_some_and(|t| t.word_is(sql, "TO")) {
            return Err(refuse(
                sql,
                "a materialized view must write TO an explicit table",
            ));
        }
        let target = self.name_at(sql, tokens, 8)?;
        if self.objects.get(&target) != Some(&Object::Table) {
            return Err(refuse(
                sql,
                format!(
                    "materialized view {name} writes to {target}, which no earlier statement created as a table"
                ),
            ));
        }
        if !tokens.get(9).is_some_and(|t| t.word_is(sql, "AS")) {
            return Err(refuse(sql, "expected AS after the target table"));
        }
        let body = self.qualify(sql, &tokens[10..], true)?;
        let layout = self.layout;
        self.objects.insert(name.clone(), Object::View);
        Ok(vec![format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} TO {db}.{target}{LOCAL_SUFFIX} AS {body}",
            db = layout.database,
            cluster = layout.cluster,
        )])
    }

    fn view(&mut self, sql: &str, tokens: &[Token]) -> Result<Vec<String>, RewriteError> {
        let name = self.name_at(sql, tokens, 5)?;
        if !tokens.get(6).is_some_and(|t| t.word_is(sql, "AS")) {
            return Err(refuse(sql, "expected AS after the view name"));
        }
        let body = self.qualify(sql, &tokens[7..], false)?;
        let layout = self.layout;
        self.objects.insert(name.clone(), Object::View);
        Ok(vec![format!(
            "CREATE VIEW IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS {body}",
            db = layout.database,
            cluster = layout.cluster,
        )])
    }

    fn drop(&mut self, sql: &str, tokens: &[Token]) -> Result<Vec<String>, RewriteError> {
        let name = self.name_at(sql, tokens, 4)?;
        if tokens.len() != 5 {
            return Err(refuse(sql, "expected nothing after the dropped name"));
        }
        let layout = self.layout;
        let drop = |table: &str| {
            format!(
                "DROP TABLE IF EXISTS {}.{table} ON CLUSTER {}",
                layout.database, layout.cluster
            )
        };
        Ok(match self.objects.remove(&name) {
            Some(Object::Table) => vec![drop(&name), drop(&format!("{name}{LOCAL_SUFFIX}"))],
            // Also what a later file drops before creating it again, created or not.
            Some(Object::View) | None => vec![drop(&name)],
        })
    }

    fn insert_select(&mut self, sql: &str, tokens: &[Token]) -> Result<Vec<String>, RewriteError> {
        let target = self.name_at(sql, tokens, 2)?;
        if self.objects.get(&target) != Some(&Object::Table) {
            return Err(refuse(
                sql,
                format!("INSERT INTO {target}, which no earlier statement created as a table"),
            ));
        }
        if !tokens.get(3).is_some_and(|t| t.word_is(sql, "SELECT")) {
            return Err(refuse(sql, "only INSERT INTO table SELECT … is rewritten"));
        }
        // Run once, on the server the runner talks to, through the Distributed tables: the rows
        // read from every shard are written to the shard of their tenant.
        let body = self.qualify(sql, &tokens[3..], false)?;
        Ok(vec![format!(
            "INSERT INTO {}.{target} {body}",
            self.layout.database
        )])
    }

    /// The text from `tokens[0]` to the end, with every table named after FROM or JOIN (not
    /// ARRAY JOIN) qualified by the database: the local table when `local` (a materialized view,
    /// which must see its shard only), the Distributed table or the view otherwise.
    fn qualify(&self, sql: &str, tokens: &[Token], local: bool) -> Result<String, RewriteError> {
        let Some(first) = tokens.first() else {
            return Err(refuse(sql, "expected a SELECT"));
        };
        let mut out = String::new();
        let mut copied = first.start;
        for (i, token) in tokens.iter().enumerate() {
            let after_from = token.word_is(sql, "FROM");
            let after_join =
                token.word_is(sql, "JOIN") && !(i > 0 && tokens[i - 1].word_is(sql, "ARRAY"));
            if !(after_from || after_join) {
                continue;
            }
            let Some(next) = tokens.get(i + 1) else {
                return Err(refuse(sql, "nothing after FROM or JOIN"));
            };
            if next.is(sql, "(") {
                continue;
            }
            if next.kind != Kind::Word || tokens.get(i + 2).is_some_and(|t| t.is(sql, ".")) {
                return Err(refuse(
                    sql,
                    "FROM or JOIN names something other than a table or view of the migrations",
                ));
            }
            let name = &sql[next.start..next.end];
            let qualified = match (self.objects.get(name), local) {
                (Some(Object::Table), true) => format!("{name}{LOCAL_SUFFIX}"),
                (Some(Object::Table), false) | (Some(Object::View), false) => name.to_owned(),
                (Some(Object::View), true) => {
                    return Err(refuse(
                        sql,
                        format!("a materialized view reads view {name}; it must read a table"),
                    ));
                }
                (None, _) => {
                    return Err(refuse(
                        sql,
                        format!("reads {name}, which no earlier statement created"),
                    ));
                }
            };
            out.push_str(&sql[copied..next.start]);
            out.push_str(self.layout.database);
            out.push('.');
            out.push_str(&qualified);
            copied = next.end;
        }
        out.push_str(&sql[copied..]);
        Ok(out)
    }
}

/// The index of the `)` that closes the `(` at `open`.
fn matching(sql: &str, tokens: &[Token], open: usize) -> Result<usize, RewriteError> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is(sql, "(") {
            depth += 1;
        } else if token.is(sql, ")") {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(refuse(sql, "unbalanced parentheses"))
}

/// The first word of every top-level, comma-separated item of a column list.
fn column_names(sql: &str, tokens: &[Token]) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    for token in tokens {
        if token.is(sql, "(") {
            depth += 1;
        } else if token.is(sql, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && token.is(sql, ",") {
            at_item_start = true;
            continue;
        } else if at_item_start && depth == 0 && token.kind == Kind::Word {
            names.push(sql[token.start..token.end].to_owned());
        }
        at_item_start = false;
    }
    names
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An identifier or keyword.
    Word,
    /// A quoted string, or an identifier in backquotes or double quotes.
    Quoted,
    /// Numbers and operators.
    Other,
    /// One of `( ) , .`.
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn is(&self, sql: &str, text: &str) -> bool {
        &sql[self.start..self.end] == text
    }

    fn word_is(&self, sql: &str, keyword: &str) -> bool {
        self.kind == Kind::Word && sql[self.start..self.end].eq_ignore_ascii_case(keyword)
    }
}

/// Words, quoted parts and punctuation, enough to find names and parentheses; one pass.
fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Kind::Word
        } else if c == b'\'' || c == b'`' || c == b'"' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err("an unterminated quote".into()),
                    Some(b'\\') => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        // A doubled quote is an escaped one.
                        if bytes.get(i) == Some(&c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            Kind::Quoted
        } else if matches!(c, b'(' | b')' | b',' | b'.') {
            i += 1;
            Kind::Punct
        } else if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            return Err("a comment inside a statement".into());
        } else {
            i += 1;
            // Whole UTF-8 characters, so every token boundary is a char boundary.
            while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                i += 1;
            }
            Kind::Other
        };
        tokens.push(Token {
            kind,
            start,
            end: i.min(bytes.len()),
        });
    }
    Ok(tokens)
}

/// One replica as `system.clusters` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, clickhouse::Row)]
struct Replica {
    shard_num: u32,
    is_local: u8,
}

/// What a service checks at start on a cluster, with the session its clients have (the user's
/// profile included): the cluster is defined on the server it talks to, the server reads shards
/// the way ClickHouse 18.16 answers correctly, and a read follows the write before it.
///
/// `prefer_localhost_replica` (the profile's) decides where a shard with a replica on this server
/// is read. With several shards it must be 0: 18.16 reading the local replica in-process as one
/// shard of several answers `FINAL … PREWHERE` without the version column with "Cannot find
/// column … in source stream". With one shard it must be 1: 18.16 then sends the whole query to
/// one replica, over the native protocol when not in-process, where the read path's unqualified
/// subqueries name the remote server's default database. (Both seen on 18.16 by
/// `crates/rapport-api/tests/cluster.rs`.) A shard of several replicas that is not read here may
/// be read on a replica that has not fetched the last write yet: `insert_quorum` (with
/// `select_sequential_consistency`) is what makes the write wait for them.
pub async fn check(config: &ClickHouseConfig) -> Result<(), ClickHouseError> {
    let Some(cluster) = &config.cluster else {
        return Ok(());
    };
    let client = config.server_client();
    let replicas: Vec<Replica> = client
        .query("SELECT shard_num, toUInt8(is_local) AS is_local FROM system.clusters WHERE cluster = ?")
        .bind(cluster)
        .fetch_all()
        .await?;
    let prefer_local: u8 = client
        .query("SELECT toUInt8(value = '1') FROM system.settings WHERE name = 'prefer_localhost_replica'")
        .fetch_one()
        .await?;
    let shards = shards(&replicas);
    problems(cluster, config.insert_quorum, prefer_local == 1, &shards)
        .map_or(Ok(()), |p| Err(ClickHouseError::Cluster(p)))
}

/// Per shard: (replicas, whether one of them is this server).
fn shards(replicas: &[Replica]) -> BTreeMap<u32, (u32, bool)> {
    let mut shards: BTreeMap<u32, (u32, bool)> = BTreeMap::new();
    for r in replicas {
        let shard = shards.entry(r.shard_num).or_default();
        shard.0 += 1;
        shard.1 |= r.is_local != 0;
    }
    shards
}

fn problems(
    cluster: &str,
    quorum: u32,
    prefer_local: bool,
    shards: &BTreeMap<u32, (u32, bool)>,
) -> Option<String> {
    if shards.is_empty() {
        return Some(format!(
            "cluster {cluster} is not defined on this server (<remote_servers> in its configuration)"
        ));
    }
    match (shards.len(), prefer_local) {
        (1, false) => {
            return Some(format!(
                "cluster {cluster} has one shard and this user's profile sets prefer_localhost_replica = 0, \
                 under which ClickHouse 18.16 cannot run the read path's queries: set it to 1 (the default)"
            ));
        }
        (n, true) if n > 1 => {
            return Some(format!(
                "cluster {cluster} has {n} shards and this user's profile leaves prefer_localhost_replica = 1, \
                 under which ClickHouse 18.16 answers the read path's FINAL queries wrongly: set it to 0 \
                 in the profile (docs/SCALING.md)"
            ));
        }
        _ => {}
    }
    let fewest = shards.values().map(|(n, _)| *n).min().unwrap_or(1);
    if quorum > fewest {
        return Some(format!(
            "clickhouse.insert_quorum is {quorum} but a shard of cluster {cluster} has {fewest} replica(s): \
             no insert could be acknowledged"
        ));
    }
    let lagging: Vec<u32> = shards
        .iter()
        .filter(|(_, (n, local))| *n > 1 && !(prefer_local && *local))
        .map(|(shard, _)| *shard)
        .collect();
    if quorum < 2 && !lagging.is_empty() {
        return Some(format!(
            "shard(s) {lagging:?} of cluster {cluster} have several replicas and are not read on this server: \
             set clickhouse.insert_quorum (2 or more) so that a read after a write sees it"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::MIGRATIONS;

    const LAYOUT: Layout<'static> = Layout {
        cluster: "rapport",
        database: "store",
    };

    fn one(sql: &str) -> Vec<String> {
        let mut r = Rewriter::new(LAYOUT);
        r.statement(sql).unwrap()
    }

    #[test]
    fn a_table_becomes_a_replicated_local_table_behind_a_distributed_one() {
        let out = one(
            "CREATE TABLE IF NOT EXISTS t\n(\n    tenant_id String,\n    v Array(Tuple(Int64, String)),\n    written Int64\n)\n\
             ENGINE = ReplacingMergeTree(written)\nPARTITION BY tuple()\nORDER BY (tenant_id, v)",
        );
        assert_eq!(
            out,
            vec![
                "CREATE TABLE IF NOT EXISTS store.t_local ON CLUSTER rapport\n(\n    tenant_id String,\n    v Array(Tuple(Int64, String)),\n    written Int64\n)\n\
                 ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/store/t', '{replica}', written)\nPARTITION BY tuple()\nORDER BY (tenant_id, v)"
                    .to_owned(),
                "CREATE TABLE IF NOT EXISTS store.t ON CLUSTER rapport AS store.t_local \
                 ENGINE = Distributed(rapport, store, t_local, sipHash64(tenant_id))"
                    .to_owned(),
            ]
        );
        let bare = one(
            "CREATE TABLE IF NOT EXISTS k (tenant_id String) ENGINE = ReplacingMergeTree ORDER BY tenant_id",
        );
        assert!(
            bare[0].ends_with("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/store/k', '{replica}') ORDER BY tenant_id"),
            "{}",
            bare[0]
        );
    }

    #[test]
    fn views_read_qualified_distributed_tables_and_materialized_views_local_ones() {
        let mut r = Rewriter::new(LAYOUT);
        r.statement("CREATE TABLE IF NOT EXISTS a (tenant_id String, xs Array(String)) ENGINE = MergeTree ORDER BY tenant_id").unwrap();
        r.statement("CREATE TABLE IF NOT EXISTS b (tenant_id String, x String) ENGINE = MergeTree ORDER BY tenant_id").unwrap();
        let mv = r
            .statement("CREATE MATERIALIZED VIEW IF NOT EXISTS a_mv TO b AS SELECT tenant_id, x FROM a ARRAY JOIN xs AS x")
            .unwrap();
        assert_eq!(
            mv,
            vec![
                "CREATE MATERIALIZED VIEW IF NOT EXISTS store.a_mv ON CLUSTER rapport TO store.b_local AS SELECT tenant_id, x FROM store.a_local ARRAY JOIN xs AS x"
            ]
        );
        let view = r
            .statement("CREATE VIEW IF NOT EXISTS v AS SELECT * FROM (SELECT 'FROM a' AS s, tenant_id FROM a FINAL) ANY LEFT JOIN b USING tenant_id")
            .unwrap();
        assert_eq!(
            view,
            vec![
                "CREATE VIEW IF NOT EXISTS store.v ON CLUSTER rapport AS SELECT * FROM (SELECT 'FROM a' AS s, tenant_id FROM store.a FINAL) ANY LEFT JOIN store.b USING tenant_id"
            ]
        );
        let on_view = r
            .statement("CREATE VIEW IF NOT EXISTS w AS SELECT * FROM v")
            .unwrap();
        assert_eq!(
            on_view,
            vec!["CREATE VIEW IF NOT EXISTS store.w ON CLUSTER rapport AS SELECT * FROM store.v"]
        );
        assert_eq!(
            r.statement("INSERT INTO b SELECT tenant_id, 'x' FROM a")
                .unwrap(),
            vec!["INSERT INTO store.b SELECT tenant_id, 'x' FROM store.a"]
        );
        assert_eq!(
            r.statement("DROP TABLE IF EXISTS b").unwrap(),
            vec![
                "DROP TABLE IF EXISTS store.b ON CLUSTER rapport",
                "DROP TABLE IF EXISTS store.b_local ON CLUSTER rapport"
            ]
        );
        assert_eq!(
            r.statement("DROP TABLE IF EXISTS w").unwrap(),
            vec!["DROP TABLE IF EXISTS store.w ON CLUSTER rapport"]
        );
    }

    #[test]
    fn a_column_is_added_to_the_local_table_and_the_distributed_one_made_again() {
        let mut r = Rewriter::new(LAYOUT);
        r.statement(
            "CREATE TABLE IF NOT EXISTS t (tenant_id String) ENGINE = MergeTree ORDER BY tenant_id",
        )
        .unwrap();
        assert_eq!(
            r.statement("ALTER TABLE t ADD COLUMN calendar String DEFAULT ''")
                .unwrap(),
            vec![
                "ALTER TABLE store.t_local ON CLUSTER rapport ADD COLUMN calendar String DEFAULT ''",
                "DROP TABLE IF EXISTS store.t ON CLUSTER rapport",
                "CREATE TABLE IF NOT EXISTS store.t ON CLUSTER rapport AS store.t_local \
                 ENGINE = Distributed(rapport, store, t_local, sipHash64(tenant_id))",
            ]
        );
    }

    #[test]
    fn shapes_the_rewrite_does_not_know_are_refused() {
        let mut r = Rewriter::new(LAYOUT);
        for (sql, reason) in [
            (
                "CREATE TABLE t (tenant_id String) ENGINE = MergeTree ORDER BY tenant_id",
                "only CREATE",
            ),
            (
                "CREATE TABLE IF NOT EXISTS t (id String) ENGINE = MergeTree ORDER BY id",
                "no tenant_id",
            ),
            (
                "CREATE TABLE IF NOT EXISTS t (tenant_id String) ENGINE = Memory",
                "engine Memory",
            ),
            (
                "CREATE TABLE IF NOT EXISTS db.t (tenant_id String) ENGINE = MergeTree ORDER BY tenant_id",
                "qualified",
            ),
            (
                "CREATE VIEW IF NOT EXISTS v AS SELECT * FROM nowhere",
                "reads nowhere",
            ),
            (
                "CREATE VIEW IF NOT EXISTS v AS SELECT extract(x FROM y) FROM nowhere",
                "reads y",
            ),
            (
                "CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT 1",
                "TO an explicit table",
            ),
            ("ALTER TABLE t DELETE WHERE 1", "only CREATE"),
            (
                "ALTER TABLE nowhere ADD COLUMN c String",
                "a column is added only to a table created before",
            ),
            (
                "CREATE VIEW IF NOT EXISTS v AS SELECT 'unterminated",
                "unterminated",
            ),
        ] {
            let error = r.statement(sql).unwrap_err();
            assert!(error.to_string().contains(reason), "{sql}: {error}");
        }
    }

    #[test]
    fn every_migration_has_a_cluster_form_and_every_table_is_sharded_by_tenant() {
        let all = rewrite_migrations(LAYOUT, MIGRATIONS).unwrap();
        assert_eq!(all.len(), MIGRATIONS.len());
        let text = all.concat().join(";\n");
        for statement in all.concat() {
            assert!(
                statement.contains(" ON CLUSTER rapport")
                    || statement.starts_with("INSERT INTO store."),
                "{statement}"
            );
        }
        for table in [
            "interactions",
            "interaction_log",
            "interaction_identities",
            "identity_links",
            "customers",
            "api_keys",
            "forgotten",
            "conversations",
            "replies",
            "resolutions",
            "waiting",
            "customer_identities",
            "email_messages",
            "email_links",
            "email_threads",
            "thread_conversations",
        ] {
            assert!(
                text.contains(&format!(
                    "ENGINE = Distributed(rapport, store, {table}_local, sipHash64(tenant_id))"
                )),
                "{table} has no Distributed table"
            );
            assert!(
                text.contains(&format!(
                    "'/clickhouse/tables/{{shard}}/store/{table}', '{{replica}}'"
                )),
                "{table} is not replicated"
            );
        }
        assert!(text.contains("TO store.interaction_identities_local AS SELECT"));
        assert!(text.contains("FROM store.interactions_local\nARRAY JOIN"));
        assert!(
            !text.contains("FROM interactions"),
            "an unqualified name is left"
        );
    }

    #[test]
    fn a_read_must_follow_the_write_before_it() {
        let layout = |v: &[(u32, u32, bool)]| -> BTreeMap<u32, (u32, bool)> {
            v.iter().map(|(s, n, l)| (*s, (*n, *l))).collect()
        };
        // Shards of one replica: fine without quorum.
        let two = layout(&[(1, 1, true), (2, 1, false)]);
        assert_eq!(problems("c", 0, false, &two), None);
        // One shard of two with a replica here, read here: fine without quorum.
        let one_here = layout(&[(1, 2, true)]);
        assert_eq!(problems("c", 0, true, &one_here), None);
        // Replicated shards read elsewhere: a read may reach either replica.
        for (prefer_local, replicated) in [
            (true, layout(&[(1, 2, false)])),
            (false, layout(&[(1, 2, true), (2, 2, false)])),
        ] {
            assert!(
                problems("c", 0, prefer_local, &replicated)
                    .unwrap()
                    .contains("set clickhouse.insert_quorum")
            );
            assert_eq!(problems("c", 2, prefer_local, &replicated), None);
            assert!(
                problems("c", 3, prefer_local, &replicated)
                    .unwrap()
                    .contains("has 2 replica(s)")
            );
        }
        assert!(
            problems("c", 0, false, &BTreeMap::new())
                .unwrap()
                .contains("not defined")
        );
    }

    #[test]
    fn how_shards_are_read_must_suit_their_number() {
        let two = [(1, (1, true)), (2, (1, false))].into_iter().collect();
        assert!(
            problems("c", 0, true, &two)
                .unwrap()
                .contains("set it to 0")
        );
        let one = [(1, (2, true))].into_iter().collect();
        assert!(
            problems("c", 2, false, &one)
                .unwrap()
                .contains("set it to 1")
        );
    }

    #[test]
    fn shards_count_replicas_and_whether_one_is_here() {
        let rows = [
            Replica {
                shard_num: 1,
                is_local: 1,
            },
            Replica {
                shard_num: 1,
                is_local: 0,
            },
            Replica {
                shard_num: 2,
                is_local: 0,
            },
        ];
        let s = shards(&rows);
        assert_eq!(s[&1], (2, true));
        assert_eq!(s[&2], (1, false));
    }
}
