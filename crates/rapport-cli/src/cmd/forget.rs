//! `rapport forget`: erase one customer.
//!
//! 1. The customer's identifiers and conversations go on the forget list (`forgotten`, as
//!    SHA-256 digests): from then on the writer and the linker drop every record of theirs that
//!    arrives, in flight or replayed from the raw topics.
//! 2. The linker forgets the identifiers (admin API): they leave its graph, and each gets a
//!    tombstone on the identity topic. When the linker is not reachable, the tombstones are
//!    published from here; the linker then drops the identifiers from memory when it restarts
//!    (it restores from the store, which no longer has them).
//! 3. ClickHouse deletes every row selected through the forget list (one statement per table,
//!    whatever the number of events), and this waits until each delete is done, up to
//!    `--timeout`, naming a delete that fails or hangs.
//! 4. It checks that nothing is left (a record in flight may land after a delete was submitted)
//!    and deletes again if something is.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use rapport_clickhouse::{ClickHouseConfig, erase, state};
use rapport_kafka::{KafkaConfig, send_tombstone};
use rapport_model::Timestamp;
use rapport_responsiveness::Rules;
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use crate::config::CliConfig;
use crate::{progress, store};

#[derive(Debug, clap::Args)]
pub struct Args {
    customer: String,
    /// Tenant (default: the config's tenant_id).
    #[arg(long)]
    tenant: Option<String>,
    /// Really erase (irreversible).
    #[arg(long)]
    yes: bool,
    /// How long to wait for ClickHouse's deletes before failing with what each says.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    // Its deletes are mutations that would have to be submitted to every shard's local tables and
    // awaited on each, and its plan reads views inside queries over Distributed tables, which a
    // shard resolves in its own default database; both are written for one server
    // (docs/SCALING.md, "What cluster mode does not do").
    anyhow::ensure!(
        config.clickhouse.cluster.is_none(),
        "rapport forget does not run on a ClickHouse cluster yet (clickhouse.cluster is set); nothing was read or deleted"
    );
    let cancel = progress::ctrl_c();
    let tenant = args.tenant.unwrap_or_else(|| config.tenant_id.clone());
    let plan = plan(&config.clickhouse, &tenant, &args.customer).await?;
    let out = &mut std::io::stdout().lock();
    if !args.yes {
        describe(&plan, out)?;
        eprintln!("nothing was deleted; run again with --yes to erase");
        return Ok(PLAN_ONLY);
    }
    let linker = Linker {
        url: &config.linker_url,
        others: &config.linker_urls,
        token: config.linker_token.expose(),
        client: config.linker_client()?,
    };
    let rules = config.derivation_rules()?;
    execute(
        &config.clickhouse,
        &rules,
        &config.kafka,
        &config.topics.identity,
        linker,
        &plan,
        args.timeout,
        &cancel,
        out,
    )
    .await?;
    Ok(0)
}

/// What erasing one customer touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub tenant: String,
    pub customer_id: String,
    /// `type:value` identifiers of the customer.
    pub identities: Vec<String>,
    /// Conversations whose interactions without identifiers are the customer's.
    pub conversations: Vec<String>,
    /// Every conversation the customer took part in: their stored state is recomputed from what
    /// the erasure leaves of them.
    pub scope: Vec<String>,
    /// Interactions that would be deleted.
    pub interactions: u64,
}

/// Exit codes: 0 erased, 2 plan shown without `--yes`.
pub const PLAN_ONLY: u8 = 2;

/// How many rounds of deletes an erasure makes before it gives up on rows that keep arriving.
const ROUNDS: usize = 3;

pub async fn plan(config: &ClickHouseConfig, tenant: &str, customer: &str) -> anyhow::Result<Plan> {
    let client = store::client(config);
    let customer_id = store::resolve_customer(config, &client, tenant, customer)
        .await?
        .ok_or_else(|| store::unknown_customer(tenant, customer))?;
    let identities =
        store::bounded(config, erase::identities_of(&client, tenant, &customer_id)).await?;
    let conversations = store::bounded(
        config,
        erase::conversations_of(&client, tenant, &customer_id),
    )
    .await?;
    let interactions = store::bounded(
        config,
        erase::interactions_of(&client, tenant, &customer_id, &identities),
    )
    .await?;
    let scope = store::bounded(
        config,
        erase::scope_of(&client, tenant, &identities, &conversations),
    )
    .await?;
    Ok(Plan {
        tenant: tenant.to_owned(),
        customer_id,
        identities,
        conversations,
        scope,
        interactions,
    })
}

pub fn describe(plan: &Plan, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "customer {} of tenant {}: {} identifiers, {} interactions",
        plan.customer_id,
        plan.tenant,
        plan.identities.len(),
        plan.interactions
    )?;
    for identity in &plan.identities {
        writeln!(out, "  identifier {identity}")?;
    }
    writeln!(
        out,
        "would put {} identifiers and {} conversations on the forget list, delete from \
         interactions, interaction_identities, identity_links, customers, customer_identities and \
         the state of {} conversations (recomputed from what is left of them), and publish {} \
         tombstones on the identity topic",
        plan.identities.len(),
        plan.conversations.len(),
        plan.scope.len(),
        plan.identities.len()
    )
}

/// Where the linker's admin API is.
#[derive(Debug, Clone)]
pub struct Linker<'a> {
    pub url: &'a str,
    /// A sharded linker's other instances, asked in turn while one answers `not_owner`.
    pub others: &'a [String],
    pub token: &'a str,
    pub client: reqwest::Client,
}

/// Runs the erasure `plan` and reports each step to `out`.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    config: &ClickHouseConfig,
    rules: &Rules,
    kafka: &KafkaConfig,
    identity_topic: &str,
    linker: Linker<'_>,
    plan: &Plan,
    timeout: Duration,
    cancel: &CancellationToken,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = store::client(config);
    let rows = erase::forget_rows(
        &plan.tenant,
        &plan.customer_id,
        &plan.identities,
        &plan.conversations,
        &plan.scope,
        Timestamp::now().as_millis(),
    );
    store::bounded(
        config,
        rapport_clickhouse::insert_into(
            &client,
            rapport_clickhouse::forget::FORGOTTEN_TABLE,
            &rows,
            config.request_timeout(),
        ),
    )
    .await
    .context("cannot write the forget list")?;
    writeln!(
        out,
        "forget list: {} identifiers and {} conversations (the writer and the linker drop their records from now on)",
        plan.identities.len(),
        plan.conversations.len()
    )?;

    forget_in_linker(&linker, kafka, identity_topic, plan, out).await?;

    for round in 1..=ROUNDS {
        if cancel.is_cancelled() {
            anyhow::bail!("interrupted; run `rapport forget` again to finish");
        }
        let before = store::bounded(config, erase::mutations(&client, &config.database)).await?;
        let tables = store::bounded(
            config,
            erase::submit_deletes(&client, &plan.tenant, &plan.customer_id),
        )
        .await
        .context("cannot submit the deletes")?;
        writeln!(out, "deletes submitted: {}", tables.join(", "))?;
        let bar = progress::bar(tables.len() as u64, "waiting for ClickHouse's deletes");
        let wait = erase::wait_for_mutations(
            &client,
            &config.database,
            &tables,
            &before,
            timeout,
            |done, _| bar.set_position(done as u64),
        );
        tokio::select! {
            result = wait => result.context("the deletes did not finish")?,
            () = cancel.cancelled() => {
                bar.abandon();
                anyhow::bail!(
                    "interrupted while waiting; the deletes keep running in ClickHouse \
                     (system.mutations); run `rapport forget` again to check"
                );
            }
        }
        bar.finish_and_clear();
        // What is left of her conversations (other people's messages) gets its state again.
        let touched =
            state::Touched::from([(plan.tenant.clone(), plan.scope.iter().cloned().collect())]);
        let rows = store::bounded(
            config,
            state::recompute(&client, &touched, Timestamp::now().as_millis(), rules),
        )
        .await?;
        store::bounded(
            config,
            state::store(&client, &rows, config.request_timeout()),
        )
        .await?;
        let left: Vec<(&str, u64)> = store::bounded(
            config,
            erase::remaining(&client, &plan.tenant, &plan.customer_id),
        )
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
        if left.is_empty() {
            writeln!(
                out,
                "erased customer {} of tenant {}: {} interactions, {} identifiers; every delete is done and no row is left",
                plan.customer_id,
                plan.tenant,
                plan.interactions,
                plan.identities.len()
            )?;
            return Ok(());
        }
        writeln!(
            out,
            "round {round}: rows arrived while deleting ({left:?}); deleting again"
        )?;
    }
    anyhow::bail!(
        "rows of the customer kept arriving through {ROUNDS} rounds of deletes; is a writer running \
         without the forget list (an older version)?"
    )
}

/// Whether the linker at `url` answers that another instance owns the tenant (sharded mode),
/// asked with a lookup that changes nothing.
async fn misdirected(linker: &Linker<'_>, url: &str, plan: &Plan) -> bool {
    let probe = format!(
        "{}/v1/identity/owner/{}",
        url.trim_end_matches('/'),
        plan.tenant
    );
    matches!(
        linker.client.get(&probe).bearer_auth(linker.token).timeout(Duration::from_secs(10)).send().await,
        Ok(response) if response.status() == reqwest::StatusCode::MISDIRECTED_REQUEST
    )
}

/// Step 2: the linker's admin API, or the tombstones from here when the linker is not running.
async fn forget_in_linker(
    linker: &Linker<'_>,
    kafka: &KafkaConfig,
    identity_topic: &str,
    plan: &Plan,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut owner = linker.url;
    for other in linker.others {
        if !misdirected(linker, owner, plan).await {
            break;
        }
        owner = other;
    }
    let linker = &Linker {
        url: owner,
        others: &[],
        token: linker.token,
        client: linker.client.clone(),
    };
    let url = format!("{}/v1/identity/forget", linker.url.trim_end_matches('/'));
    let body = serde_json::json!({
        "tenant_id": plan.tenant,
        "customer_id": plan.customer_id,
        "identities": plan.identities,
    });
    let sent = linker
        .client
        .post(&url)
        .bearer_auth(linker.token)
        .timeout(Duration::from_secs(60))
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            writeln!(
                out,
                "linker: {} identifiers forgotten, tombstones published on {identity_topic}",
                plan.identities.len()
            )?;
            Ok(())
        }
        Ok(response) => {
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            anyhow::bail!(
                "rapport-linker at {} refused the erasure ({status}): {}",
                linker.url,
                answer["message"].as_str().unwrap_or("no reason given")
            )
        }
        Err(error) if error.is_connect() => {
            let producer: FutureProducer = kafka
                .producer_config()
                .create()
                .context("cannot create the Kafka producer")?;
            for identity in &plan.identities {
                let key = format!("{}/{identity}", plan.tenant);
                send_tombstone(&producer, identity_topic, key.as_bytes())
                    .await
                    .with_context(|| format!("cannot publish a tombstone on {identity_topic}"))?;
            }
            writeln!(
                out,
                "linker: not reachable at {}; {} tombstones published on {identity_topic} from here. \
                 A running linker keeps the identifiers in memory until it restarts, and never \
                 stores or links them again (forget list)",
                linker.url,
                plan.identities.len()
            )?;
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("rapport-linker at {}", linker.url)),
    }
}
