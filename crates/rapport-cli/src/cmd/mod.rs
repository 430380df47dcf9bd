//! The commands of `rapport`, one module each: its clap `Args` and its `run`, which returns the
//! process exit code. [`Command`] names them and their help; adding a command is a module here
//! and a variant below.

pub mod consume;
pub mod dlq;
pub mod forget;
pub mod generate;
pub mod identity;
pub mod keys;
pub mod migrate;
pub mod normalize;
pub mod recompute;
pub mod report;
pub mod sla;
pub mod timeline;
pub mod topics;

use clap::Subcommand;
use rapport_model::{Source, Timestamp};

use crate::config::CliConfig;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a realistic, reproducible day of omnichannel traffic and produce it to the raw topics.
    Generate(generate::Args),
    /// Print what a topic holds, from the beginning until it is quiet for --idle-ms.
    ///
    /// Avro interactions are printed as the contract's JSON, one per line, SLA announcements
    /// (rapport.sla.v1) as theirs (docs/ANALYTICS.md, "SLAs"); any other record (raw
    /// payloads, dead letters) as `{topic, partition, offset, key, headers, payload_base64}`, the
    /// format `rapport normalize --records` reads. Never moves any consumer group's offsets.
    Consume(consume::Args),
    /// Create or upgrade the ClickHouse history store: applies every migration in
    /// schemas/clickhouse that the database has not recorded yet.
    ///
    /// Safe to run on every deploy and from several places at once. Refuses to continue when an
    /// applied migration's file changed. Connection: the [clickhouse] config section, e.g.
    /// RAPPORT_CLICKHOUSE__URL=http://clickhouse:8123 RAPPORT_CLICKHOUSE__DATABASE=rapport.
    /// With clickhouse.cluster set, every table is created on every server of that cluster as a
    /// replicated table behind a Distributed one (docs/SCALING.md); --print shows the statements.
    Migrate(migrate::Args),
    /// Look up and correct which identifiers belong to one customer (through rapport-linker).
    Identity(identity::Args),
    /// Create, revoke and list the API keys of rapport-api.
    ///
    /// A key belongs to one tenant and reads only that tenant's data. Only a hash of it is stored
    /// (ClickHouse table api_keys, from the [clickhouse] config section), so it is shown once, at
    /// creation. Run `rapport migrate` first on a new database.
    Keys(keys::Args),
    /// Print one customer's history across every channel, oldest first (the latest --limit).
    ///
    /// CUSTOMER is a customer id or one of its identifiers as type:value, e.g.
    /// email:maria@example.com, phone:+14155552671, intercom_contact:c-77 (emails and phones are
    /// normalized as the adapters do). Reads ClickHouse ([clickhouse] config section). Exits 1
    /// when the tenant has no such customer.
    Timeline(timeline::Args),
    /// Print the responsiveness table: conversations, first response time, reply latency,
    /// resolution time and who waits for an answer now, per channel, team, agent or day.
    ///
    /// First responses and replies count in the window when the reply happened; conversations,
    /// resolution and unanswered when the conversation started (with --group-by agent, per agent
    /// who answered first). Percentiles are exact observed values. Definitions:
    /// docs/ANALYTICS.md.
    Report(report::Args),
    /// Print SLA outcomes per target: conversations that met it, breached it, are still running
    /// (and past their at-risk time) or paused, and the % met, overall or per channel, team,
    /// agent or week.
    ///
    /// A conversation counts in the window when its first cycle of the target started; an
    /// active target whose due time has passed counts as breached. The same numbers as
    /// GET /v1/metrics/sla and the sla_weekly view. Definitions: docs/ANALYTICS.md.
    Sla(sla::Args),
    /// Inspect the dead-letter topic (topics.dlq) and send records back where they failed.
    ///
    /// Every command reads the topic from the beginning until it is quiet for --idle-ms, with a
    /// throw-away consumer group: it never moves any service's offsets. A dead letter is named
    /// by its offset (or partition:offset when the topic has several partitions).
    Dlq(dlq::Args),
    /// Erase a customer: its interactions, identity index rows, identity links and identifiers in
    /// ClickHouse, plus a tombstone per identifier on the identity topic.
    ///
    /// CUSTOMER is a customer id or an identifier type:value. Interactions of other customers
    /// that carry one of its identifiers are erased too. Without --yes, prints what would be
    /// erased and exits 2. ClickHouse deletes asynchronously (mutations); the command waits until
    /// every one is done. Ctrl-C stops waiting, but the deletes already submitted still finish.
    Forget(forget::Args),
    /// Derive the stored metrics and SLA outcomes of a tenant's conversations again, after a
    /// change of [business_hours] or [sla] (use the writer's configuration), and write what
    /// changed.
    ///
    /// Covers every conversation with an event in [--from, --to), whose stored state spans into
    /// it, or created before --to and still waiting or unresolved. Idempotent: a conversation is
    /// written only when one of its rows differs from the stored one, and the command prints how
    /// many conversations and rows changed per table (a second run prints 0). --dry-run only
    /// counts.
    Recompute(recompute::Args),
    /// Manage Rapport's Kafka topics.
    Topics(topics::Args),
    /// Normalize native payloads and print the interactions as JSON lines (dry run of the adapters).
    ///
    /// Reads one payload per FILE (stdin when none), or one per line with --jsonl. Prints one JSON
    /// object per interaction on stdout and one JSON error line per rejected payload on stderr.
    /// Exits 0 when every payload normalized and 2 when any was rejected.
    Normalize(normalize::Args),
}

impl Command {
    /// Runs the command; returns the process exit code.
    pub async fn run(self, config: &CliConfig) -> anyhow::Result<u8> {
        let uses_kafka = matches!(
            &self,
            Self::Generate(generate::Args { output: None, .. })
                | Self::Consume(_)
                | Self::Topics(_)
                | Self::Dlq(_)
        );
        if uses_kafka {
            // A refused certificate or password stops here with the reason, instead of in a client
            // that retries until its own timeout.
            let patience = tokio::time::sleep(std::time::Duration::from_secs(30));
            let connected = rapport_kafka::check_connection(&config.kafka, patience).await?;
            anyhow::ensure!(
                connected,
                "kafka at {} did not answer within 30 s",
                config.kafka.brokers
            );
        }
        match self {
            Self::Generate(args) => generate::run(args, config).await,
            Self::Consume(args) => consume::run(args, config).await,
            Self::Migrate(args) => migrate::run(args, config).await,
            Self::Identity(args) => identity::run(args, config).await,
            Self::Keys(args) => keys::run(args, config).await,
            Self::Timeline(args) => timeline::run(args, config).await,
            Self::Report(args) => report::run(args, config).await,
            Self::Sla(args) => sla::run(args, config).await,
            Self::Dlq(args) => dlq::run(args, config).await,
            Self::Forget(args) => forget::run(args, config).await,
            Self::Recompute(args) => recompute::run(args, config).await,
            Self::Topics(args) => topics::run(args, config).await,
            Self::Normalize(args) => normalize::run(args, config),
        }
    }
}

/// `--day`, `--from`, `--to`, `--received-at`.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| format!("not an RFC 3339 time: {text}"))
}

/// `--source`.
pub(crate) fn parse_source(text: &str) -> Result<Source, String> {
    Source::parse(text).map_err(|_| {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown source {text:?}; one of: {}", names.join(", "))
    })
}
