//! `rapport identity show|unlink`: one customer's identifiers and links, through rapport-linker's
//! admin API.

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IdentityCommand,
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

/// Prints the linker's answer as pretty JSON; a refusal is an error naming the tenant.
pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let (method, path, body, tenant) = match args.command {
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
            let body = serde_json::json!({"tenant_id": tenant, "a": identifier, "b": other});
            ("POST", "/v1/identity/unlink".to_owned(), Some(body), tenant)
        }
    };
    let client = config.linker_client()?;
    // A sharded linker's instances each change only their own tenants' graphs; the others
    // answer 421 `not_owner`, and the next one is asked.
    let mut answered = None;
    for linker in config.linkers() {
        let url = format!("{}{path}", linker.trim_end_matches('/'));
        let request = match &body {
            Some(body) => client.post(&url).json(body),
            None => client.request(reqwest::Method::from_bytes(method.as_bytes())?, &url),
        }
        .bearer_auth(config.linker_token.expose());
        let response = request
            .send()
            .await
            .with_context(|| format!("rapport-linker at {linker} did not answer"))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        let misdirected = status == reqwest::StatusCode::MISDIRECTED_REQUEST;
        answered = Some((status, answer));
        if !misdirected {
            break;
        }
    }
    let Some((status, answer)) = answered else {
        anyhow::bail!("no linker_url is configured");
    };
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
