use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rapport_model::{Source, Timestamp};

use rapport_cli::config::CliConfig;
use rapport_cli::report::GroupBy;
use rapport_cli::{dlq, forget, generate, keys, normalize, progress, report, timeline};

/// Rapport's operator command line.
///
/// Settings come from built-in defaults, then the TOML file named by --config (or RAPPORT_CONFIG),
/// then RAPPORT_* environment variables with `__` between nested keys, e.g.
/// RAPPORT_KAFKA__BROKERS=kafka:9092.
#[derive(Debug, Parser)]
#[command(name = "rapport", version)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a realistic, reproducible day of omnichannel traffic and produce it to the raw topics.
    Generate {
        /// Same seed, same traffic, byte for byte.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// How many customers write in during the day.
        #[arg(long, default_value_t = 300)]
        customers: usize,
        /// The day the traffic happens on (UTC midnight, RFC 3339).
        #[arg(long, default_value = "2024-06-03T00:00:00Z", value_parser = parse_time)]
        day: Timestamp,
        /// Tenant written into the `rapport-tenant` header (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// The company's own email domain; agents write from it.
        #[arg(long, default_value = "acme.com")]
        agent_domain: String,
        /// Share of records deliberately broken, to exercise the dead-letter path.
        #[arg(long, default_value_t = 0.01)]
        invalid_rate: f64,
        /// Write the records as JSON lines to this file (`-` for stdout) instead of producing them.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Produce at this many records per second instead of as fast as the broker acknowledges.
        #[arg(long)]
        rate: Option<u32>,
        /// Keep producing for this long (`90s`, `10m`, `2h`): when one day of traffic is sent,
        /// the next day follows (seed + 1, the day after, and so on). Without it, one day is sent.
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "output")]
        duration: Option<std::time::Duration>,
    },
    /// Print what a topic holds, from the beginning until it is quiet for --idle-ms.
    ///
    /// Avro interactions are printed as the contract's JSON, one per line; any other record (raw
    /// payloads, dead letters) as `{topic, partition, offset, key, headers, payload_base64}`, the
    /// format `rapport normalize --records` reads. Never moves any consumer group's offsets.
    Consume {
        topic: String,
        /// Stop after this long without a new record.
        #[arg(long, default_value_t = 3000)]
        idle_ms: u64,
    },
    /// Create or upgrade the ClickHouse history store: applies every migration in
    /// schemas/clickhouse that the database has not recorded yet.
    ///
    /// Safe to run on every deploy and from several places at once. Refuses to continue when an
    /// applied migration's file changed. Connection: the [clickhouse] config section, e.g.
    /// RAPPORT_CLICKHOUSE__URL=http://clickhouse:8123 RAPPORT_CLICKHOUSE__DATABASE=rapport.
    Migrate,
    /// Look up and correct which identifiers belong to one customer (through rapport-linker).
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// Create, revoke and list the API keys of rapport-api.
    ///
    /// A key belongs to one tenant and reads only that tenant's data. Only a hash of it is stored
    /// (ClickHouse table api_keys, from the [clickhouse] config section), so it is shown once, at
    /// creation. Run `rapport migrate` first on a new database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print one customer's history across every channel, oldest first (the latest --limit).
    ///
    /// CUSTOMER is a customer id or one of its identifiers as type:value, e.g.
    /// email:maria@example.com, phone:+14155552671, intercom_contact:c-77 (emails and phones are
    /// normalized as the adapters do). Reads ClickHouse ([clickhouse] config section). Exits 1
    /// when the tenant has no such customer.
    Timeline {
        customer: String,
        /// Tenant (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// How many of the latest interactions to print.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only this channel (email, chat, review, support).
        #[arg(long)]
        channel: Option<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the responsiveness table: conversations, first response time, reply latency,
    /// resolution time and who waits for an answer now, per channel, team, agent or day.
    ///
    /// First responses and replies count in the window when the reply happened; conversations,
    /// resolution and unanswered when the conversation started (with --group-by agent, per agent
    /// who answered first). Percentiles are exact observed values. Definitions:
    /// docs/ANALYTICS.md.
    Report {
        /// Tenant (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// Start of the window, RFC 3339 (default: since the beginning).
        #[arg(long, value_parser = parse_time)]
        from: Option<Timestamp>,
        /// End of the window, exclusive, RFC 3339 (default: now and later).
        #[arg(long, value_parser = parse_time)]
        to: Option<Timestamp>,
        /// One line per channel, team, agent or UTC day.
        #[arg(long, value_enum, default_value_t = GroupBy::Channel)]
        group_by: GroupBy,
        /// One JSON object per line (durations in ms) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the dead-letter topic (topics.dlq) and send records back where they failed.
    ///
    /// Every command reads the topic from the beginning until it is quiet for --idle-ms, with a
    /// throw-away consumer group: it never moves any service's offsets. A dead letter is named
    /// by its offset (or partition:offset when the topic has several partitions).
    Dlq {
        /// Stop reading after this long without a new record.
        #[arg(long, global = true, default_value_t = 3000)]
        idle_ms: u64,
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Erase a customer: its interactions, identity index rows, identity links and identifiers in
    /// ClickHouse, plus a tombstone per identifier on the identity topic.
    ///
    /// CUSTOMER is a customer id or an identifier type:value. Interactions of other customers
    /// that carry one of its identifiers are erased too. Without --yes, prints what would be
    /// erased and exits 2. ClickHouse deletes asynchronously (mutations); the command waits until
    /// every one is done. Ctrl-C stops waiting, but the deletes already submitted still finish.
    Forget {
        customer: String,
        /// Tenant (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// Really erase (irreversible).
        #[arg(long)]
        yes: bool,
        /// How long to wait for ClickHouse's deletes before failing with what each says.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Manage Rapport's Kafka topics.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Normalize native payloads and print the interactions as JSON lines (dry run of the adapters).
    ///
    /// Reads one payload per FILE (stdin when none), or one per line with --jsonl. Prints one JSON
    /// object per interaction on stdout and one JSON error line per rejected payload on stderr.
    /// Exits 0 when every payload normalized and 2 when any was rejected.
    Normalize {
        /// The payload's source; detected from the content when omitted.
        #[arg(long, value_parser = parse_source)]
        source: Option<Source>,
        /// Tenant the payloads belong to (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
        /// Each input line is one payload.
        #[arg(long, conflicts_with = "records")]
        jsonl: bool,
        /// Each input line is a raw Kafka record as `rapport generate --output` writes it; its
        /// headers supply source, tenant and receive time.
        #[arg(long)]
        records: bool,
        /// Receive time to stamp (default: now), for reproducible output.
        #[arg(long, value_parser = parse_time)]
        received_at: Option<Timestamp>,
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Print the customer an identifier belongs to, all its identifiers, and the links (with the
    /// interaction that is their evidence) that join them.
    Show {
        /// `type:value`, e.g. email:maria@example.com or phone:+14155552671.
        identifier: String,
        /// Tenant (default: the config's tenant_id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Retract the direct link between two identifiers (or, with one, every link of it); the
    /// customer splits if nothing else joins them. Sticky: the same evidence never re-links them.
    Unlink {
        identifier: String,
        other: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
    },
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

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// One line per dead letter: offset, error code, origin topic/partition/offset, when it was
    /// dead-lettered, and the start of the error message.
    List {
        /// Only this error code, e.g. malformed_json.
        #[arg(long)]
        code: Option<String>,
        /// Print at most this many (the oldest first).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Every header of one dead letter and its payload (as text when UTF-8, else base64).
    Show {
        /// The offset from `dlq list`, or partition:offset.
        offset: String,
    },
    /// Send dead letters back to the topic they were read from (rapport-origin-topic), with
    /// their original bytes, key and headers, waiting for each acknowledgement.
    ///
    /// Use it once the cause is fixed (a new adapter version, ClickHouse back). Replaying twice
    /// sends twice; downstream deduplicates interactions by event id. Ctrl-C stops between two
    /// records.
    Replay {
        /// Only dead letters with this error code; repeat for several (default: all).
        #[arg(long)]
        code: Vec<String>,
        /// Print what would be replayed and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create every topic Rapport uses that does not exist yet (brokers such as Tansu never auto-create).
    Create,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| format!("not an RFC 3339 time: {text}"))
}

fn parse_source(text: &str) -> Result<Source, String> {
    Source::parse(text).map_err(|_| {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown source {text:?}; one of: {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("rapport: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let config: CliConfig = rapport_runtime::load(cli.config.as_deref())?;
    rapport_runtime::telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let uses_kafka = matches!(
        cli.command,
        Command::Generate { output: None, .. }
            | Command::Consume { .. }
            | Command::Topics { .. }
            | Command::Dlq { .. }
    );
    if uses_kafka {
        // A refused certificate or password stops here with the reason, instead of in a client
        // that retries until its own timeout.
        let connected = runtime.block_on(async {
            let patience = tokio::time::sleep(std::time::Duration::from_secs(30));
            rapport_kafka::check_connection(&config.kafka, patience).await
        })?;
        anyhow::ensure!(
            connected,
            "kafka at {} did not answer within 30 s",
            config.kafka.brokers
        );
    }
    match cli.command {
        Command::Generate {
            seed,
            customers,
            day,
            tenant,
            agent_domain,
            invalid_rate,
            output,
            rate,
            duration,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&invalid_rate),
                "--invalid-rate must be between 0 and 1"
            );
            if let Some(duration) = duration {
                let until = std::time::Instant::now() + duration;
                let tenant = tenant.unwrap_or_else(|| config.tenant_id.clone());
                let (mut sent, mut days) = (0usize, 0u64);
                runtime.block_on(async {
                    rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
                    while std::time::Instant::now() < until {
                        let records = generate::generate(&generate::Options {
                            seed: seed + days,
                            customers,
                            day: Timestamp::from_millis(day.as_millis() + days as i64 * 86_400_000),
                            tenant: tenant.clone(),
                            agent_domain: agent_domain.clone(),
                            invalid_rate,
                        });
                        let pace = generate::Pace {
                            rate,
                            until: Some(until),
                            stamp_now: false,
                        };
                        let counts =
                            generate::produce_paced(&records, &config.kafka, &config.topics, pace)
                                .await?;
                        sent += counts.values().sum::<usize>();
                        days += 1;
                    }
                    anyhow::Ok(())
                })?;
                eprintln!(
                    "produced {sent} records over {days} generated day(s) in {}",
                    humantime::format_duration(duration)
                );
                return Ok(0);
            }
            let options = generate::Options {
                seed,
                customers,
                day,
                tenant: tenant.unwrap_or_else(|| config.tenant_id.clone()),
                agent_domain,
                invalid_rate,
            };
            let records = generate::generate(&options);
            let invalid = records.iter().filter(|r| r.invalid).count();
            if let Some(path) = output {
                write_jsonl(&records, &config, &path)?;
            } else {
                let counts = runtime.block_on(async {
                    rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
                    let pace = generate::Pace {
                        rate,
                        until: None,
                        stamp_now: false,
                    };
                    generate::produce_paced(&records, &config.kafka, &config.topics, pace).await
                })?;
                for (topic, count) in counts {
                    eprintln!("{topic}: {count} records");
                }
            }
            eprintln!(
                "generated {} records for {customers} customers (seed {seed}, {invalid} deliberately invalid)",
                records.len()
            );
            Ok(0)
        }
        Command::Consume { topic, idle_ms } => {
            let printed = runtime.block_on(rapport_cli::consume::run(
                &config.kafka,
                &topic,
                std::time::Duration::from_millis(idle_ms),
                &mut std::io::stdout().lock(),
            ))?;
            eprintln!(
                "{topic}: {} interactions, {} other records",
                printed.interactions, printed.records
            );
            Ok(0)
        }
        Command::Migrate => {
            let report =
                runtime.block_on(rapport_clickhouse::migrations::migrate(&config.clickhouse))?;
            for version in &report.already_applied {
                eprintln!("migration {version:03}: already applied");
            }
            for version in &report.applied {
                eprintln!("migration {version:03}: applied");
            }
            runtime.block_on(rapport_clickhouse::check_interactions_table(
                &config.clickhouse,
            ))?;
            eprintln!(
                "database {} at {} is up to date",
                config.clickhouse.database, config.clickhouse.url
            );
            Ok(0)
        }
        Command::Identity { command } => {
            let (method, path, body, tenant) = match command {
                IdentityCommand::Show { identifier, tenant } => {
                    let tenant = tenant.unwrap_or_else(|| config.tenant_id.clone());
                    let path = format!("/v1/identity/{tenant}/{identifier}");
                    ("GET", path, None, tenant)
                }
                IdentityCommand::Unlink {
                    identifier,
                    other,
                    tenant,
                } => {
                    let tenant = tenant.unwrap_or_else(|| config.tenant_id.clone());
                    let body =
                        serde_json::json!({"tenant_id": tenant, "a": identifier, "b": other});
                    ("POST", "/v1/identity/unlink".to_owned(), Some(body), tenant)
                }
            };
            let url = format!("{}{path}", config.linker_url.trim_end_matches('/'));
            let (status, answer) = runtime.block_on(async {
                let mut client = reqwest::Client::builder();
                if config.linker_url.starts_with("https://") {
                    let tls =
                        rapport_runtime::tls::client_config(config.linker_ca_file.as_deref())?;
                    client = client.use_preconfigured_tls((*tls).clone());
                }
                let client = client.build()?;
                let request = match body {
                    Some(body) => client.post(&url).json(&body),
                    None => client.request(reqwest::Method::from_bytes(method.as_bytes())?, &url),
                }
                .bearer_auth(config.linker_token.expose());
                let response = request.send().await.with_context(|| {
                    format!("rapport-linker at {} did not answer", config.linker_url)
                })?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await.unwrap_or_default();
                anyhow::Ok((status, answer))
            })?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &answer)?;
            writeln!(out)?;
            if !status.is_success() {
                anyhow::bail!(
                    "tenant {tenant}: {}",
                    answer["message"].as_str().unwrap_or("request failed")
                );
            }
            Ok(0)
        }
        Command::Keys { command } => {
            let ch = &config.clickhouse;
            runtime.block_on(async {
                match command {
                    KeysCommand::Create { tenant, name } => {
                        keys::create(
                            ch,
                            &tenant,
                            &name,
                            &mut std::io::stdout().lock(),
                            &mut std::io::stderr().lock(),
                        )
                        .await
                    }
                    KeysCommand::Revoke { key } => {
                        keys::revoke(ch, &key, &mut std::io::stderr().lock()).await
                    }
                    KeysCommand::List { tenant, json } => {
                        keys::list(ch, tenant.as_deref(), json, &mut std::io::stdout().lock()).await
                    }
                }
            })?;
            Ok(0)
        }
        Command::Timeline {
            customer,
            tenant,
            limit,
            channel,
            json,
        } => {
            let args = timeline::Args {
                customer,
                tenant: tenant.unwrap_or_else(|| config.tenant_id.clone()),
                limit,
                channel,
                json,
            };
            runtime.block_on(timeline::run(
                &config.clickhouse,
                &args,
                &mut std::io::stdout().lock(),
            ))?;
            Ok(0)
        }
        Command::Report {
            tenant,
            from,
            to,
            group_by,
            json,
        } => {
            let args = report::Args {
                tenant: tenant.unwrap_or_else(|| config.tenant_id.clone()),
                from_ms: from.map(Timestamp::as_millis),
                to_ms: to.map(Timestamp::as_millis),
                group_by,
                json,
            };
            runtime.block_on(report::run(
                &config.clickhouse,
                &args,
                &mut std::io::stdout().lock(),
            ))?;
            Ok(0)
        }
        Command::Dlq { idle_ms, command } => runtime.block_on(async {
            let cancel = progress::ctrl_c();
            let topic = &config.topics.dlq;
            let idle = std::time::Duration::from_millis(idle_ms);
            let letters = dlq::read(&config.kafka, topic, idle, &cancel).await?;
            let out = &mut std::io::stdout().lock();
            match command {
                DlqCommand::List { code, limit } => {
                    let selected: Vec<&dlq::DeadLetter> = letters
                        .iter()
                        .filter(|l| code.as_deref().is_none_or(|c| l.code() == c))
                        .take(limit.unwrap_or(usize::MAX))
                        .collect();
                    dlq::list(&selected, out)?;
                    eprintln!(
                        "{topic}: {} of {} dead letters",
                        selected.len(),
                        letters.len()
                    );
                }
                DlqCommand::Show { offset } => dlq::show(dlq::find(&letters, &offset)?, out)?,
                DlqCommand::Replay { code, dry_run } => {
                    let selected: Vec<&dlq::DeadLetter> = letters
                        .iter()
                        .filter(|l| code.is_empty() || code.iter().any(|c| c == l.code()))
                        .collect();
                    let mut allowed: Vec<&str> = config.topics.raw().to_vec();
                    allowed.push(&config.topics.interactions);
                    allowed.extend(config.extra_raw_topics.iter().map(|t| t.topic.as_str()));
                    let done =
                        dlq::replay(&config.kafka, &allowed, &selected, dry_run, &cancel, out)
                            .await?;
                    let verb = if dry_run { "would replay" } else { "replayed" };
                    eprintln!(
                        "{topic}: {verb} {}, skipped {}, left alone {} (other codes)",
                        done.replayed,
                        done.skipped,
                        letters.len() - selected.len()
                    );
                }
            }
            anyhow::Ok(0)
        }),
        Command::Forget {
            customer,
            tenant,
            yes,
            timeout,
        } => runtime.block_on(async {
            let cancel = progress::ctrl_c();
            let tenant = tenant.unwrap_or_else(|| config.tenant_id.clone());
            let plan = forget::plan(&config.clickhouse, &tenant, &customer).await?;
            let out = &mut std::io::stdout().lock();
            if !yes {
                forget::describe(&plan, out)?;
                eprintln!("nothing was deleted; run again with --yes to erase");
                return Ok(forget::PLAN_ONLY);
            }
            let linker = forget::Linker {
                url: &config.linker_url,
                token: config.linker_token.expose(),
            };
            forget::execute(
                &config.clickhouse,
                &config.kafka,
                &config.topics.identity,
                linker,
                &plan,
                timeout,
                &cancel,
                out,
            )
            .await?;
            Ok(0)
        }),
        Command::Topics {
            command: TopicsCommand::Create,
        } => {
            let created = runtime.block_on(rapport_kafka::ensure_topics(
                &config.kafka,
                &config.topics.specs(),
            ))?;
            for spec in config.topics.specs() {
                let state = if created.contains(&spec.name) {
                    "created"
                } else {
                    "exists"
                };
                eprintln!("{}: {state}", spec.name);
            }
            Ok(0)
        }
        Command::Normalize {
            source,
            tenant,
            jsonl,
            records,
            received_at,
            files,
        } => {
            let args = normalize::Args {
                source,
                tenant,
                jsonl,
                records,
                received_at,
                files,
            };
            let code = normalize::run(
                args,
                &config,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )?;
            Ok(u8::try_from(code).unwrap_or(1))
        }
    }
}

fn write_jsonl(
    records: &[generate::RawRecord],
    config: &CliConfig,
    path: &PathBuf,
) -> anyhow::Result<()> {
    use base64::Engine;
    let mut out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ))
    };
    for r in records {
        let line = serde_json::json!({
            "topic": generate::topic_for(&config.topics, r.channel),
            "key": r.key,
            "headers": {"rapport-source": r.source.as_str(), "rapport-tenant": r.tenant, "rapport-received-at": r.received_at.to_string()},
            "payload_base64": base64::engine::general_purpose::STANDARD.encode(&r.payload),
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
