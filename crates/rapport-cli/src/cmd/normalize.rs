//! `rapport normalize`: the operator's dry run of the adapters, and the golden-file harness.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use base64::Engine as _;
use rapport_channels::RawRecord;
use rapport_channels::envelope::{HEADER_RECEIVED_AT, HEADER_SOURCE, HEADER_TENANT};
use rapport_model::{Source, Timestamp};
use serde_json::json;

use crate::cmd::{parse_source, parse_time};
use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The payload's source; detected from the content when omitted.
    #[arg(long, value_parser = parse_source)]
    pub source: Option<Source>,
    /// Tenant the payloads belong to (default: the config's tenant_id).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Each input line is one payload.
    #[arg(long, conflicts_with = "records")]
    pub jsonl: bool,
    /// Each input line is a raw Kafka record as `rapport generate --output` writes it; its
    /// headers supply source, tenant and receive time, and its optional `timestamp_ms` (the
    /// record's Kafka timestamp) the receive time when no header does, as in the normalizer.
    #[arg(long)]
    pub records: bool,
    /// Receive time to stamp (default: now), for reproducible output.
    #[arg(long, value_parser = parse_time)]
    pub received_at: Option<Timestamp>,
    pub files: Vec<PathBuf>,
}

/// Normalizes to stdout, rejections to stderr; the exit code is 0 or 2 (see [`normalize`]).
pub fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    normalize(
        args,
        config,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// One input payload, the topic and headers it is read with, and where it came from (for error
/// lines). A record dumped from Kafka carries its own topic and headers; a plain payload gets
/// headers from the command's flags and no topic.
#[derive(Default)]
struct Input {
    file: String,
    line: Option<usize>,
    topic: String,
    bytes: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp_ms: Option<i64>,
}

impl Input {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Reads one line of `rapport generate --output`: `{topic, key, headers, payload_base64}`, with
/// an optional `timestamp_ms`.
fn record_input(file: &str, line: usize, text: &[u8]) -> anyhow::Result<Input> {
    use base64::Engine;
    let record: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| anyhow::anyhow!("{file}:{line}: not a record line: {e}"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["payload_base64"].as_str().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("{file}:{line}: payload_base64: {e}"))?;
    let headers = record["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.as_bytes().to_vec())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Input {
        file: file.to_owned(),
        line: Some(line),
        topic: record["topic"].as_str().unwrap_or_default().to_owned(),
        bytes,
        headers,
        timestamp_ms: record["timestamp_ms"].as_i64(),
    })
}

/// Returns the process exit code: 0 when every payload normalized, 2 when any was rejected.
///
/// What the normalizer would dead-letter is a rejection here too, one stderr line each: a whole
/// payload (`code`), one item of a list payload (`code`, `item`, its index, and `item_base64`,
/// the bytes its dead letter would carry; the list's other items still print), and a payload
/// that gives nothing for a reason its adapter does not document (`ignored:<reason>`). A
/// documented skip prints nothing and is no rejection.
///
/// Every input goes through the same envelope rules and adapters as in `rapport-normalizer`
/// ([`rapport_channels::RecordRules::read`]); a record's headers decide as they would there.
pub fn normalize(
    args: Args,
    config: &CliConfig,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let now = Timestamp::now();
    let rules = config.rules();
    let flags: Vec<(String, Vec<u8>)> = [
        (HEADER_SOURCE, args.source.map(|s| s.as_str().to_owned())),
        (HEADER_TENANT, args.tenant.clone()),
        (
            HEADER_RECEIVED_AT,
            args.received_at.map(|t| t.as_millis().to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?.into_bytes())))
    .collect();
    let mut rejected = 0usize;
    let mut handle = |mut input: Input| -> anyhow::Result<()> {
        if !args.records {
            input.headers = flags.clone();
        }
        let record = RawRecord {
            topic: &input.topic,
            payload: &input.bytes,
            timestamp_ms: input.timestamp_ms,
            raw_ref: None,
        };
        let mut reject = |code: String, message: String, item: Option<(usize, &[u8])>| {
            rejected += 1;
            let mut line = json!({"file": input.file, "code": code, "message": message});
            if let Some(n) = input.line {
                line["line"] = json!(n);
            }
            if let Some((index, payload)) = item {
                line["item"] = json!(index);
                line["item_base64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(payload));
            }
            writeln!(err, "{line}")
        };
        match rules.read(&record, |name| input.header(name), now) {
            Ok(outcome) => {
                for interaction in &outcome.interactions {
                    serde_json::to_writer(&mut *out, interaction)?;
                    out.write_all(b"\n")?;
                }
                for item in &outcome.rejected {
                    reject(
                        item.error.code().to_string(),
                        item.error.to_string(),
                        Some((item.index, &item.payload)),
                    )?;
                }
                if let Some(skip) = outcome.skipped.filter(|s| !s.documented) {
                    reject(skip.code(), "the payload gives no interaction".into(), None)?;
                }
            }
            Err(error) => reject(error.code().to_string(), error.to_string(), None)?,
        }
        Ok(())
    };
    let sources: Vec<(String, Box<dyn Read>)> = if args.files.is_empty() {
        vec![("-".to_owned(), Box::new(std::io::stdin()))]
    } else {
        args.files
            .iter()
            .map(|p| {
                Ok((
                    p.display().to_string(),
                    Box::new(
                        std::fs::File::open(p)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
                    ) as Box<dyn Read>,
                ))
            })
            .collect::<anyhow::Result<_>>()?
    };
    for (file, mut reader) in sources {
        if args.jsonl || args.records {
            let reader = std::io::BufReader::new(reader);
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let input = if args.records {
                    record_input(&file, index + 1, &line)?
                } else {
                    Input {
                        file: file.clone(),
                        line: Some(index + 1),
                        bytes: line,
                        ..Input::default()
                    }
                };
                handle(input)?;
            }
        } else {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            handle(Input {
                file,
                bytes,
                ..Input::default()
            })?;
        }
    }
    out.flush()?;
    Ok(if rejected == 0 { 0 } else { 2 })
}
