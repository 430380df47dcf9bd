//! `rapport normalize`: the operator's dry run of the adapters, and the golden-file harness.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use rapport_channels::{Context, normalize_detected};
use rapport_model::{Source, Timestamp};
use serde_json::json;

use crate::config::CliConfig;

pub struct Args {
    pub source: Option<Source>,
    pub tenant: Option<String>,
    pub jsonl: bool,
    pub received_at: Option<Timestamp>,
    pub files: Vec<PathBuf>,
}

/// One input payload and where it came from, for error lines.
struct Input {
    file: String,
    line: Option<usize>,
    bytes: Vec<u8>,
}

/// Returns the process exit code: 0 when every payload normalized, 2 when any was rejected.
pub fn run(args: Args, config: &CliConfig, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<i32> {
    let tenant_id = args.tenant.as_deref().unwrap_or(&config.tenant_id);
    let ctx = Context {
        tenant_id,
        received_at: args.received_at.unwrap_or_else(Timestamp::now),
        tenant: &config.tenant,
        limits: &config.limits,
        raw_ref: None,
    };
    let mut rejected = 0usize;
    let mut handle = |input: Input| -> anyhow::Result<()> {
        match normalize_detected(args.source, &input.bytes, &ctx) {
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
            .map(|p| Ok((p.display().to_string(), Box::new(std::fs::File::open(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?) as Box<dyn Read>)))
            .collect::<anyhow::Result<_>>()?
    };
    for (file, mut reader) in sources {
        if args.jsonl {
            let reader = std::io::BufReader::new(reader);
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                handle(Input { file: file.clone(), line: Some(index + 1), bytes: line })?;
            }
        } else {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            handle(Input { file, line: None, bytes })?;
        }
    }
    out.flush()?;
    Ok(if rejected == 0 { 0 } else { 2 })
}
