//! `rapport generate`: a reproducible day of omnichannel traffic (`rapport-traffic`), to the raw
//! topics or to a file, once or at a steady rate for a while.

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
