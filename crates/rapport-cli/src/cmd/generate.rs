//! `rapport generate`: a reproducible day of omnichannel traffic (`rapport-traffic`), to the raw
//! topics, through `rapport-gateway` as each provider sends it ([`gateway`]), or to a file, once
//! or at a steady rate for a while.

pub mod gateway;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use rapport_model::Timestamp;
use rapport_traffic::{Mix, Options, Pace, RawRecord};

use crate::cmd::parse_time;
use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
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
    /// Which sources the conversations come from: `native` (a realistic mix of every source),
    /// `classic` (raw mail and generic JSON) or shares such as `sendgrid=2,zendesk=1`.
    ///
    /// Sources: rfc822, sendgrid, mailgun, ses, intercom, chatwoot, google, yelp, trustpilot,
    /// zendesk, freshdesk, generic. Each conversation draws its source by these shares and is
    /// rendered as that system sends it; generic carries the channels no other source of the
    /// mix covers. `classic` is rfc822=35,generic=65: email as raw RFC 5322 mail, the other
    /// channels as generic JSON.
    #[arg(long, default_value = "native")]
    mix: Mix,
    /// Write the records as JSON lines to this file (`-` for stdout) instead of producing them.
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
    /// Produce at this many records per second instead of as fast as the broker acknowledges.
    #[arg(long)]
    rate: Option<u32>,
    /// Keep producing for this long (`90s`, `10m`, `2h`): when one day of traffic is sent,
    /// the next day follows (seed + 1, the day after, and so on). Without it, one day is sent.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "output")]
    duration: Option<std::time::Duration>,
    /// Where `--gateway` sends (boxed: the options are rarely given).
    #[command(flatten)]
    via: Box<GatewayArgs>,
}

/// `rapport generate --gateway`'s options.
#[derive(Debug, clap::Args)]
struct GatewayArgs {
    /// Send the records to rapport-gateway at this base URL (`http://127.0.0.1:19480`), each
    /// signed as its provider signs it, instead of producing them (which stays the mode for
    /// load tests). Each record must be answered 2xx; 503 and 429 are retried after
    /// Retry-After. Raw RFC 5322 mail has no webhook and is still produced directly, as are
    /// deliberately broken SES and Google payloads no provider could send; the summary says so.
    #[arg(
        long,
        requires = "gateway_config",
        conflicts_with_all = ["output", "duration", "rate"]
    )]
    gateway: Option<String>,
    /// The gateway's config file: the endpoint of each source for the tenant, and its secrets
    /// (`value`, `env` or `file`), are read from its `[[endpoints]]`.
    #[arg(long, requires = "gateway")]
    gateway_config: Option<PathBuf>,
    /// PEM RSA private key standing in for AWS's SNS signing key and Google's token key (demo
    /// and tests: the gateway is given its certificate and, through the stand-in, its JWKS).
    /// Needed when the config has `ses` or `google` endpoints.
    #[arg(long, requires = "gateway")]
    signing_key: Option<PathBuf>,
    /// Serve Google's JWKS and the Business Profile reviews the gateway fetches on this
    /// address while sending (demo and tests; the gateway's `outbound.test_only_reroute`
    /// sends www.googleapis.com and mybusiness.googleapis.com here).
    #[arg(long, requires = "signing_key")]
    google_stand_in: Option<std::net::SocketAddr>,
    /// Requests in flight at once through the gateway (a conversation's records stay in order).
    #[arg(long, default_value_t = 8, requires = "gateway")]
    lanes: usize,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.invalid_rate),
        "--invalid-rate must be between 0 and 1"
    );
    let options = |days: u64| Options {
        seed: args.seed + days,
        customers: args.customers,
        day: Timestamp::from_millis(args.day.as_millis() + days as i64 * 86_400_000),
        tenant: args
            .tenant
            .clone()
            .unwrap_or_else(|| config.tenant_id.clone()),
        agent_domain: args.agent_domain.clone(),
        invalid_rate: args.invalid_rate,
        mix: args.mix.clone(),
    };
    if let Some(duration) = args.duration {
        let until = std::time::Instant::now() + duration;
        let (mut sent, mut days) = (0usize, 0u64);
        rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
        while std::time::Instant::now() < until {
            let records = rapport_traffic::generate(&options(days));
            let pace = Pace {
                rate: args.rate,
                until: Some(until),
                stamp_now: false,
            };
            let counts =
                rapport_traffic::produce_paced(&records, &config.kafka, &config.topics, pace)
                    .await?;
            sent += counts.values().sum::<usize>();
            days += 1;
        }
        eprintln!(
            "produced {sent} records over {days} generated day(s) in {}",
            humantime::format_duration(duration)
        );
        return Ok(0);
    }
    let records = rapport_traffic::generate(&options(0));
    let invalid = records.iter().filter(|r| r.invalid).count();
    if let Some(path) = &args.output {
        write_jsonl(&records, config, path)?;
    } else if let (Some(url), Some(gateway_config)) = (&args.via.gateway, &args.via.gateway_config)
    {
        let target = gateway::Target::new(gateway::TargetOptions {
            url,
            config: gateway_config,
            signing_key: args.via.signing_key.as_deref(),
            stand_in: args.via.google_stand_in,
            lanes: args.via.lanes,
        })
        .await?;
        let outcome = gateway::send(&records, std::sync::Arc::new(target)).await?;
        let through: usize = outcome.through_gateway.values().sum();
        eprintln!(
            "through the gateway at {url}: {through} records, each answered 2xx ({} tries retried after 503/429)",
            outcome.retries
        );
        for (source, count) in &outcome.through_gateway {
            eprintln!("  {source}: {count}");
        }
        if !outcome.direct.is_empty() {
            eprintln!(
                "straight to the raw topics (no webhook to go through): {} records",
                outcome.direct.len()
            );
            for line in outcome.direct_summary() {
                eprintln!("  {line}");
            }
            let direct: Vec<RawRecord> = outcome.direct.into_iter().map(|(r, _)| r).collect();
            rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
            rapport_traffic::produce(&direct, &config.kafka, &config.topics).await?;
        }
    } else {
        rapport_kafka::ensure_topics(&config.kafka, &config.topics.specs()).await?;
        let pace = Pace {
            rate: args.rate,
            until: None,
            stamp_now: false,
        };
        let counts =
            rapport_traffic::produce_paced(&records, &config.kafka, &config.topics, pace).await?;
        for (topic, count) in counts {
            eprintln!("{topic}: {count} records");
        }
    }
    eprintln!(
        "generated {} records for {} customers (seed {}, {invalid} deliberately invalid)",
        records.len(),
        args.customers,
        args.seed
    );
    Ok(0)
}

fn write_jsonl(records: &[RawRecord], config: &CliConfig, path: &PathBuf) -> anyhow::Result<()> {
    let mut out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ))
    };
    for record in records {
        serde_json::to_writer(
            &mut out,
            &rapport_traffic::record_line(record, &config.topics),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
