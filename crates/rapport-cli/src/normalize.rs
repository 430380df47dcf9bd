//! `rapport normalize`: the operator's dry run of the adapters, and the golden-file harness.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use rapport_channels::{Context, normalize_detected};
use rapport_model::{Source, Timestamp};
use serde_json::json;

use crate::config::CliConfig;

#[derive(Debug)]
pub struct Args {
    pub source: Option<Source>,
    pub tenant: Option<String>,
    pub jsonl: bool,
    /// Each line is a raw Kafka record as `rapport generate --output` writes it.
    pub records: bool,
    pub received_at: Option<Timestamp>,
    pub files: Vec<PathBuf>,
}

/// One input payload and where it came from, for error lines. Records dumped from Kafka carry
/// their own source, tenant and receive time in headers.
#[derive(Default)]
struct Input {
    file: String,
    line: Option<usize>,
    bytes: Vec<u8>,
    source: Option<Source>,
    tenant: Option<String>,
    received_at: Option<Timestamp>,
}

/// Reads one line of `rapport generate --output`: `{topic, key, headers, payload_base64}`.
fn record_input(file: &str, line: usize, text: &[u8]) -> anyhow::Result<Input> {
    use base64::Engine;
    let record: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| anyhow::anyhow!("{file}:{line}: not a record line: {e}"))?;
    let header = |name: &str| record["headers"][name].as_str().map(str::to_owned);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["payload_base64"].as_str().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("{file}:{line}: payload_base64: {e}"))?;
    Ok(Input {
        file: file.to_owned(),
        line: Some(line),
        bytes,
        source: header("rapport-source").and_then(|s| Source::parse(&s).ok()),
        tenant: header("rapport-tenant"),
        received_at: header("rapport-received-at").and_then(|t| Timestamp::parse_rfc3339(&t)),
    })
}

/// Returns the process exit code: 0 when every payload normalized, 2 when any was rejected.
pub fn run(
    args: Args,
    config: &CliConfig,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<i32> {
    let default_tenant = args.tenant.as_deref().unwrap_or(&config.tenant_id);
    let now = Timestamp::now();
    let mut rejected = 0usize;
    let mut handle = |input: Input| -> anyhow::Result<()> {
        let ctx = Context {
            tenant_id: input.tenant.as_deref().unwrap_or(default_tenant),
            received_at: args.received_at.or(input.received_at).unwrap_or(now),
            tenant: &config.tenant,
            limits: &config.limits,
            raw_ref: None,
        };
        match normalize_detected(args.source.or(input.source), &input.bytes, &ctx) {
            Ok(interactions) => {
                for interaction in interactions {
                    serde_json::to_writer(&mut *out, &interaction)?;
                    out.write_all(b"\n")?;
                }
            }
            Err(error) => {
                rejected += 1;
                let mut line = json!({"file": input.file, "code": error.code().to_string(), "message": error.to_string()});
                if let Some(n) = input.line {
                    line["line"] = json!(n);
                }
                writeln!(err, "{line}")?;
            }
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
