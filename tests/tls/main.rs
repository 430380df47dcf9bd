//! TLS and authentication end to end, with the configurations of `docs/DEPLOY.md`: Kafka over
//! TLS (stunnel in front of Tansu) with SCRAM, PLAIN, OAUTHBEARER and client certificates,
//! ClickHouse over its own HTTPS port with a password, a Schema Registry stand-in over HTTPS with
//! Basic authentication; every refusal stops a service at once, saying what is wrong; no secret
//! reaches a log, `/metrics` or `--help`.

mod doc;
mod standins;
mod world;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_clickhouse::{ClickHouseConfig, ClickHouseError};
use rapport_kafka::{
    KafkaConfig, KafkaError, RegistryConfig, RegistryError, SchemaRegistry, Topics,
};
use rapport_runtime::{HttpConfig, Secret};
use rapport_testkit::{
    ScratchDir, Service, ServiceOptions, binary, free_addr, query_in, unique_name,
};

use doc::Block;
use world::{World, secret};

/// How long a refusal may take to stop a service: it must be a reaction, not a timeout.
const FAST: Duration = Duration::from_secs(15);

fn toml_string(table: &toml::Table) -> String {
    toml::to_string(table).expect("config serializes")
}

/// A `[kafka]` block with its brokers at `address` and its Secret files the test's.
fn kafka_block(name: &str, address: &str, world: &World) -> (Block, toml::Table) {
    let block = doc::block("kafka", name);
    let mut table = block.table();
    let brokers = doc::brokers_replaced(&table, address);
    doc::replace(&mut table, "kafka.brokers", brokers);
    doc::replace_secret_paths(&mut table, world.files());
    (block, table)
}

/// What a block's `[kafka]` section is in-process, with its secrets filled in and this world's
/// CA named (in-process clients cannot be given `SSL_CERT_FILE`).
fn kafka_config(table: &toml::Table, world: &World) -> KafkaConfig {
    let mut kafka: KafkaConfig = table["kafka"]
        .clone()
        .try_into()
        .expect("a [kafka] section");
    if kafka.security.sasl_mechanism.is_some() {
        kafka.security.sasl_password = Secret::new(secret("kafka-password"));
    }
    kafka.security.ca_file = Some(world.pki.ca_file());
    kafka
}

fn topics_table(topics: &Topics) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert(
        "topics".into(),
        toml::Value::try_from(topics).expect("topics serialize"),
    );
    table
}

/// Runs `rapport <args>` with `config` and `env`; (success, stdout, stderr), within a deadline.
fn rapport(config: &Path, env: &[(String, String)], args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary("rapport"))
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .expect("rapport runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits until `service` exits, at most `FAST`; its log.
async fn exits_quickly(service: &mut Service, log: &Path) -> String {
    let deadline = Instant::now() + FAST;
    loop {
        if let Some(status) = service.exited() {
            assert!(!status.success(), "a refusal is a failure exit");
            return std::fs::read_to_string(log).unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "still running {FAST:?} after start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The files of `deploy/k8s/configmap.yaml` (`  name.toml: |` and the lines indented under it).
fn configmap_files() -> std::collections::BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s/configmap.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut files = std::collections::BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(": |")) {
            files.extend(current.take());
            current = Some((name.to_owned(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            if line.is_empty() || line.starts_with("    ") {
                body.push_str(line.get(4..).unwrap_or(""));
                body.push('\n');
            } else {
                files.extend(current.take());
            }
        }
    }
    files.extend(current);
    files
}

#[test]
fn deploy_files_use_confluent_framing_through_a_registry() {
    use rapport_runtime::Validate;
    let files = configmap_files();
    let load = |name: &str| -> toml::Table {
        toml::from_str(&files[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let normalizer: rapport_normalizer::NormalizerConfig =
        load("normalizer.toml").try_into().unwrap();
    let writer: rapport_writer::WriterConfig = load("writer.toml").try_into().unwrap();
    let linker: rapport_linker::LinkerConfig = load("linker.toml").try_into().unwrap();
    let api: rapport_api::ApiConfig = load("api.toml").try_into().unwrap();
    let cli: rapport_cli::config::CliConfig = load("cli.toml").try_into().unwrap();
    let sla: rapport_sla::SlaServiceConfig = load("sla.toml").try_into().unwrap();
    for (name, problems) in [
        ("normalizer.toml", normalizer.validate()),
        ("writer.toml", writer.validate()),
        ("linker.toml", linker.validate()),
        ("api.toml", api.validate()),
        ("cli.toml", cli.validate()),
        ("sla.toml", sla.validate()),
    ] {
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
    // rapport-sla announces what the writer stores: the same rules, the topic the job creates.
    assert_eq!(sla.business_hours, writer.business_hours);
    assert_eq!(sla.sla, writer.sla);
    assert_eq!(
        sla.topics, cli.topics,
        "sla.toml names the topics cli.toml creates"
    );
    assert!(
        cli.topics.specs().iter().any(|s| s.name == sla.topics.sla),
        "the topics job creates rapport-sla's topic"
    );
    for (name, registry) in [
        ("normalizer.toml", &normalizer.registry),
        ("writer.toml", &writer.registry),
        ("linker.toml", &linker.registry),
        ("sla.toml", &sla.registry),
    ] {
        assert!(
            !registry.url.is_empty(),
            "{name} has no registry: single-object framing"
        );
    }
    assert_eq!(normalizer.registry.url, writer.registry.url);
    assert_eq!(normalizer.registry.url, linker.registry.url);

    let compose = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose.yaml"),
    )
    .unwrap();
    assert!(
        compose.contains("\n  schema-registry:\n"),
        "compose runs a registry"
    );
    assert!(compose.contains("RAPPORT_REGISTRY__URL: http://schema-registry:8081"));
    // Service blocks: a line `  <name>:` and the lines indented deeper under it.
    let mut services: std::collections::BTreeMap<&str, String> = Default::default();
    let mut current = None;
    for line in compose.lines() {
        let header = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|name| !name.starts_with([' ', '#']) && !name.contains(' '));
        if let Some(name) = header {
            current = Some(name);
        } else if !line.starts_with(' ') && !line.is_empty() {
            current = None;
        } else if let Some(name) = current {
            services.entry(name).or_default().push_str(line);
        }
    }
    for service in ["normalizer", "writer", "linker", "sla"] {
        let block = services.get(service).expect(service);
        assert!(
            block.contains("*registry-env"),
            "compose {service} gets the registry"
        );
    }
    // Compose's writer and rapport-sla read one rules file, which both accept and validate.
    let rules = std::fs::read_to_string(deploy().join("sla.toml")).unwrap();
    let compose_writer: rapport_writer::WriterConfig = toml::from_str(&rules).unwrap();
    let compose_sla: rapport_sla::SlaServiceConfig = toml::from_str(&rules).unwrap();
    assert!(compose_writer.validate().is_empty() && compose_sla.validate().is_empty());
    assert!(
        !compose_sla.sla.policies.is_empty(),
        "deploy/sla.toml has a policy, so compose shows announcements"
    );
    for service in ["writer", "sla"] {
        let block = &services[service];
        assert!(
            block.contains("RAPPORT_CONFIG: /etc/rapport/sla.toml")
                && block.contains("./sla.toml:/etc/rapport/sla.toml:ro"),
            "compose {service} reads deploy/sla.toml"
        );
    }
}

fn deploy() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every service binary of the workspace (a crate with a `main.rs`, the CLI aside) is built into
/// the image, run by compose and by a Kubernetes Deployment of the kustomization, and scraped by
/// compose's Prometheus: a new service cannot be left out of deploy/ unnoticed.
#[test]
fn every_service_binary_is_built_run_and_scraped_by_deploy() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut services: Vec<String> = std::fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "rapport-cli" && crates.join(name).join("src/main.rs").exists())
        .collect();
    services.sort();
    assert!(services.len() >= 6, "{services:?}");
    assert!(services.iter().any(|s| s == "rapport-sla"));
    let read = |path: &str| std::fs::read_to_string(deploy().join(path)).unwrap();
    let dockerfile = read("Dockerfile");
    let compose = read("compose.yaml");
    let prometheus = read("prometheus/prometheus.yml");
    let kustomization = read("k8s/kustomization.yaml");
    let manifests: String = kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| read(&format!("k8s/{f}")))
        .collect();
    for service in &services {
        assert!(
            dockerfile.contains(&format!("-p {service} "))
                && dockerfile.contains(&format!("target/release/{service} ")),
            "deploy/Dockerfile does not build and copy {service}"
        );
        let command = format!("command: [\"{service}\"]");
        assert!(compose.contains(&command), "compose runs no {service}");
        assert!(
            manifests.contains(&command),
            "no Deployment of deploy/k8s/kustomization.yaml runs {service}"
        );
        assert!(
            prometheus.contains(&format!("job_name: {service}\n")),
            "compose's Prometheus does not scrape {service}"
        );
    }
}

#[test]
fn every_block_of_deploy_md_is_a_valid_config() {
    let world = World::new("tls-doc");
    let blocks = doc::blocks();
    let sections: BTreeSet<&str> = blocks.iter().map(|b| b.section.as_str()).collect();
    assert_eq!(
        sections,
        BTreeSet::from(["clickhouse", "http", "kafka", "registry"]),
        "every section has a block"
    );
    for block in &blocks {
        let mut table = block.table();
        doc::replace_secret_paths(&mut table, world.files());
        let section = table[&block.section].clone();
        let problems = match block.section.as_str() {
            "kafka" => {
                let mut kafka: KafkaConfig = section.try_into().expect("kafka section");
                match kafka.security.sasl_mechanism {
                    Some(rapport_kafka::SaslMechanism::OauthBearer) => {
                        kafka.security.oauthbearer.client_secret = Secret::new("y")
                    }
                    Some(_) => kafka.security.sasl_password = Secret::new("x"),
                    None => {}
                }
                kafka.validate()
            }
            "registry" => {
                let mut registry: RegistryConfig = section.try_into().expect("registry section");
                registry.password = Secret::new("x");
                registry.validate()
            }
            "clickhouse" => {
                let clickhouse: ClickHouseConfig = section.try_into().expect("clickhouse section");
                clickhouse.validate()
            }
            "http" => {
                let http: HttpConfig = section.try_into().expect("http section");
                http.validate("http")
            }
            other => panic!("unknown section {other}"),
        };
        assert!(
            problems.is_empty(),
            "DEPLOY.md block {} {}: {problems:?}",
            block.section,
            block.name
        );
        // Every secret a block names is one the test provides, so every path is exercised.
        for (variable, path) in block.secret_variables() {
            assert!(variable.starts_with("RAPPORT_"), "{variable}");
            doc::local_file(&path, world.files());
        }
    }
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_over_tls_with_authentication_everywhere() {
    let world = World::new("tls-pipeline");
    let kafka = world.sasl_kafka("tls-pipeline-broker");
    let (clickhouse, https_port) = world.clickhouse("tls-pipeline-ch");

    let (kafka_doc, kafka_table) = kafka_block("msk-scram", &kafka.address, &world);
    let clickhouse_doc = doc::block("clickhouse", "cloud");
    let mut clickhouse_table = clickhouse_doc.table();
    let url = clickhouse_table["clickhouse"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    doc::replace(
        &mut clickhouse_table,
        "clickhouse.url",
        doc::url_with_authority(&url, &format!("localhost:{https_port}")),
    );
    let registry_doc = doc::block("registry", "confluent-cloud");
    let mut registry_table = registry_doc.table();
    let username = registry_table["registry"]["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let (registry, registry_log) =
        standins::registry(&world.server, &username, secret("registry-password")).await;
    doc::replace(&mut registry_table, "registry.url", registry.url.clone());

    let prefix = unique_name("tls");
    let topics = Topics::prefixed(&prefix);
    let dir = ScratchDir::new(&prefix);
    let write = |name: &str, own: &str, sections: &[&toml::Table]| {
        let mut table: toml::Table = toml::from_str(own).unwrap();
        for section in sections {
            doc::merge(&mut table, (*section).clone());
        }
        doc::merge(&mut table, topics_table(&topics));
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml_string(&table)).unwrap();
        path
    };
    let cli = write("cli", "tenant_id = \"acme\"", &[&kafka_table]);
    let normalizer = write(
        "normalizer",
        "group_id = \"tls-normalizer\"\ntenant_id = \"acme\"\n[tenant]\nagent_domains = [\"acme.com\"]\ndefault_phone_region = \"US\"\n[default_sources]\nemail = \"rfc822\"",
        &[&kafka_table, &registry_table],
    );
    let writer = write(
        "writer",
        "group_id = \"tls-writer\"\n[batch]\nmax_delay_ms = 300\nidle_ms = 100",
        &[&kafka_table, &clickhouse_table, &registry_table],
    );
    let env_kafka = world.env_for(&[&kafka_doc]);
    let env_normalizer = world.env_for(&[&kafka_doc, &registry_doc]);
    let env_writer = world.env_for(&[&kafka_doc, &clickhouse_doc, &registry_doc]);

    let (created, _, stderr) = rapport(&cli, &env_kafka, &["topics", "create"]);
    assert!(created, "rapport topics create over SASL_SSL: {stderr}");

    let log = |name: &str| dir.join(format!("{name}.log"));
    let start = |name: &'static str, config: std::path::PathBuf, env: &Vec<(String, String)>| {
        let options = ServiceOptions {
            env: env.clone(),
            log_file: Some(log(name)),
        };
        async move {
            Service::start_with(
                binary(&format!("rapport-{name}")).to_str().unwrap(),
                &config,
                free_addr(),
                "debug",
                &options,
            )
            .await
        }
    };
    let mut normalizer = start("normalizer", normalizer, &env_normalizer).await;
    let mut writer = start("writer", writer, &env_writer).await;

    let records = rapport_traffic::generate(&rapport_traffic::Options {
        seed: 7,
        customers: 20,
        day: rapport_model::Timestamp::from_millis(1_717_372_800_000),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.0,
        mix: rapport_traffic::Mix::default(),
    });
    let tenant = rapport_channels::TenantConfig {
        agent_domains: vec!["acme.com".into()],
        default_phone_region: Some("US".into()),
        ..rapport_channels::TenantConfig::default()
    };
    let (expected, _) = rapport_traffic::expected(&records, &tenant);
    let expected: BTreeSet<String> = expected.iter().map(ToString::to_string).collect();
    assert!(!expected.is_empty());
    rapport_traffic::produce(&records, &kafka_config(&kafka_table, &world), &topics)
        .await
        .expect("raw records produced over SASL_SSL");

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = BTreeSet::new();
    while Instant::now() < deadline {
        if let Some(body) = query_in(
            &clickhouse.url(),
            "rapport",
            "SELECT event_id FROM timeline FORMAT TSV",
        )
        .await
        {
            stored = body.lines().map(str::to_owned).collect();
            if stored == expected {
                break;
            }
        }
        assert!(
            normalizer.exited().is_none(),
            "normalizer stopped: {}",
            std::fs::read_to_string(log("normalizer")).unwrap_or_default()
        );
        assert!(
            writer.exited().is_none(),
            "writer stopped: {}",
            std::fs::read_to_string(log("writer")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        stored, expected,
        "every interaction stored, through https, exactly once"
    );
    {
        let log = registry_log.lock().unwrap();
        assert_eq!(
            log.registered.len(),
            1,
            "the normalizer registered the schema"
        );
        assert!(
            log.fetched.contains(&1),
            "the writer fetched schema 1: records were Confluent-framed"
        );
        assert_eq!(log.refused, 0);
    }

    // No secret in /metrics, in the logs of the whole run (at debug level), or in --help.
    let mut seen = String::new();
    for service in [&normalizer, &writer] {
        let (status, metrics) = service.get("/metrics").await;
        assert_eq!(status, 200);
        seen.push_str(&metrics);
    }
    normalizer.signal("TERM");
    writer.signal("TERM");
    for name in ["normalizer", "writer"] {
        let text = std::fs::read_to_string(log(name)).unwrap();
        assert!(text.contains("connected to kafka"), "{name} log: {text}");
        seen.push_str(&text);
    }
    for program in [
        "rapport",
        "rapport-normalizer",
        "rapport-writer",
        "rapport-linker",
        "rapport-api",
    ] {
        // Every secret as a plain variable too, where a help text showing env values would
        // pick it up.
        let help = Command::new(binary(program))
            .arg("--help")
            .envs(env_writer.iter().map(|(k, v)| (k, v)))
            .env(
                "RAPPORT_KAFKA__SECURITY__SASL_PASSWORD",
                secret("kafka-password"),
            )
            .env(
                "RAPPORT_CLICKHOUSE__PASSWORD",
                secret("clickhouse-password"),
            )
            .env("RAPPORT_REGISTRY__PASSWORD", secret("registry-password"))
            .env(
                "RAPPORT_KAFKA__SECURITY__OAUTHBEARER__CLIENT_SECRET",
                secret("oauth-client-secret"),
            )
            .env(
                "RAPPORT_KAFKA__SECURITY__KEY_PASSWORD",
                secret("kafka-key-password"),
            )
            .env("RAPPORT_ADMIN__TOKEN", secret("admin-token"))
            .env("RAPPORT_LINKER_TOKEN", secret("admin-token"))
            .output()
            .expect("--help runs");
        seen.push_str(&String::from_utf8_lossy(&help.stdout));
        seen.push_str(&String::from_utf8_lossy(&help.stderr));
    }
    for (name, value) in world::SECRETS {
        assert!(!seen.contains(value), "the {name} secret leaked");
    }
    assert!(
        seen.len() > 10_000,
        "the logs were read: {} bytes",
        seen.len()
    );
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kafka_block_connects_for_real() {
    let world = World::new("tls-blocks");
    let sasl = world.sasl_kafka("tls-blocks-sasl");
    let mtls = world.mtls_kafka("tls-blocks-mtls");
    // Not `confluent-cloud`: it is SASL/PLAIN, which Tansu 0.6 does not offer (its SASL is
    // built with SCRAM and OAUTHBEARER only), so nothing here can accept it.
    for (name, address) in [
        ("aiven", &sasl.address),
        ("redpanda-cloud", &sasl.address),
        ("self-hosted-mtls", &mtls.address),
    ] {
        let (block, kafka_table) = kafka_block(name, address, &world);
        let prefix = unique_name(&format!("tls-{name}"));
        let topics = Topics::prefixed(&prefix);
        let dir = ScratchDir::new(&prefix);
        let mut table: toml::Table = toml::from_str("tenant_id = \"acme\"").unwrap();
        doc::merge(&mut table, kafka_table);
        doc::merge(&mut table, topics_table(&topics));
        let config = dir.join("cli.toml");
        std::fs::write(&config, toml_string(&table)).unwrap();
        let env = world.env_for(&[&block]);

        let (ok, _, stderr) = rapport(&config, &env, &["topics", "create"]);
        assert!(ok, "{name}: topics create: {stderr}");
        let (ok, _, stderr) = rapport(
            &config,
            &env,
            &["generate", "--customers", "3", "--seed", "5"],
        );
        assert!(ok, "{name}: generate: {stderr}");
        // `<topic>: <n> records` per raw topic written to; the busiest is read back whole.
        let (topic, produced) = stderr
            .lines()
            .filter_map(|l| {
                let (topic, count) = l.strip_suffix(" records")?.rsplit_once(": ")?;
                Some((topic.to_owned(), count.parse::<usize>().ok()?))
            })
            .max_by_key(|(_, count)| *count)
            .unwrap_or_else(|| panic!("{name}: generate said {stderr}"));
        assert!(produced > 0, "{name}: generate said {stderr}");
        // The idle time starts before the group is joined, so it covers the join as well.
        let (ok, stdout, stderr) =
            rapport(&config, &env, &["consume", &topic, "--idle-ms", "4000"]);
        assert!(ok, "{name}: consume {topic}: {stderr}");
        assert_eq!(
            stdout.lines().count(),
            produced,
            "{name}: every record produced through the block is read back through it"
        );
    }
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_refusals_stop_at_once_with_the_reason() {
    let world = World::new("tls-kafka-refusals");
    let sasl = world.sasl_kafka("tls-refusals-sasl");
    let mtls = world.mtls_kafka("tls-refusals-mtls");
    let (_, msk) = kafka_block("msk-scram", &sasl.address, &world);
    let good = kafka_config(&msk, &world);
    let check = |config: KafkaConfig| async move {
        let started = Instant::now();
        let result =
            rapport_kafka::check_connection(&config, tokio::time::sleep(Duration::from_secs(60)))
                .await;
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
        match result {
            Err(KafkaError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    assert!(
        rapport_kafka::check_connection(&good, std::future::pending())
            .await
            .unwrap()
    );

    let mut untrusted = good.clone();
    untrusted.security.ca_file = Some(world.stranger.cert_file.clone());
    let reason = check(untrusted).await;
    assert!(reason.contains("not signed by a trusted CA"), "{reason}");

    let mut wrong_host = good.clone();
    wrong_host.brokers = sasl.address.replace("localhost", "127.0.0.1");
    let reason = check(wrong_host).await;
    assert!(
        reason.contains("not valid for the host name 127.0.0.1") && reason.contains("localhost"),
        "{reason}"
    );

    let mut wrong_password = good.clone();
    wrong_password.security.sasl_password = Secret::new("not-the-password");
    let reason = check(wrong_password).await;
    assert!(reason.contains("refused the SASL credentials"), "{reason}");
    assert!(!reason.contains("not-the-password"), "{reason}");

    let (_, mtls_table) = kafka_block("self-hosted-mtls", &mtls.address, &world);
    let mut no_client_certificate = kafka_config(&mtls_table, &world);
    no_client_certificate.security.cert_file = None;
    no_client_certificate.security.key_file = None;
    let reason = check(no_client_certificate).await;
    assert!(reason.contains("client certificate"), "{reason}");

    // A service stops the same way, and says so in its log.
    let dir = ScratchDir::new("tls-refusals-service");
    let mut table: toml::Table = toml::from_str("tenant_id = \"acme\"").unwrap();
    doc::merge(&mut table, msk);
    doc::merge(
        &mut table,
        topics_table(&Topics::prefixed(&unique_name("tls-refusals"))),
    );
    let config = dir.join("normalizer.toml");
    std::fs::write(&config, toml_string(&table)).unwrap();
    let log = dir.join("normalizer.log");
    let wrong = dir.join("wrong-password");
    std::fs::write(&wrong, "wrong-password-1234\n").unwrap();
    let mut env = world.env_for(&[&doc::block("kafka", "msk-scram")]);
    env.retain(|(k, _)| k != "RAPPORT_KAFKA__SECURITY__SASL_PASSWORD_FILE");
    env.push((
        "RAPPORT_KAFKA__SECURITY__SASL_PASSWORD_FILE".into(),
        wrong.display().to_string(),
    ));
    let mut normalizer = Service::launch(
        binary("rapport-normalizer").to_str().unwrap(),
        &config,
        free_addr(),
        "info",
        &ServiceOptions {
            env,
            log_file: Some(log.clone()),
        },
    );
    let text = exits_quickly(&mut normalizer, &log).await;
    assert!(text.contains("refused the SASL credentials"), "{text}");
    assert!(!text.contains("wrong-password-1234"), "{text}");
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_over_https_with_a_ca_file_and_a_password() {
    let world = World::new("tls-clickhouse");
    let (clickhouse, https_port) = world.clickhouse("tls-clickhouse-ch");
    let block = doc::block("clickhouse", "self-hosted");
    let mut table = block.table();
    let url = table["clickhouse"]["url"].as_str().unwrap().to_owned();
    let https = doc::url_with_authority(&url, &format!("localhost:{https_port}"));
    doc::replace(&mut table, "clickhouse.url", https.clone());
    doc::replace_secret_paths(&mut table, world.files());
    let mut config: ClickHouseConfig = table["clickhouse"].clone().try_into().unwrap();
    config.password = Secret::new(secret("clickhouse-password"));
    assert!(config.validate().is_empty(), "{:?}", config.validate());

    let prepare = |config: ClickHouseConfig| async move {
        let started = Instant::now();
        let result = rapport_clickhouse::prepare(
            &config,
            true,
            Duration::from_millis(100),
            Duration::from_secs(1),
            tokio::time::sleep(Duration::from_secs(60)),
        )
        .await;
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
        result
    };
    assert!(prepare(config.clone()).await.expect("migrated over https"));
    let tables = query_in(&clickhouse.url(), "rapport", "EXISTS TABLE interaction_log").await;
    assert_eq!(tables.as_deref().map(str::trim), Some("1"));

    let mut untrusted = config.clone();
    untrusted.ca_file = Some(world.stranger.cert_file.clone());
    match prepare(untrusted).await {
        Err(ClickHouseError::Tls(reason)) => {
            assert!(reason.contains("not signed by a trusted CA"), "{reason}")
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
    let mut wrong_host = config.clone();
    wrong_host.url = https.replace("localhost", "127.0.0.1");
    match prepare(wrong_host).await {
        Err(ClickHouseError::Tls(reason)) => {
            assert!(
                reason.contains("not valid for the host name 127.0.0.1"),
                "{reason}"
            )
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
    let mut wrong_password = config.clone();
    wrong_password.password = Secret::new("not-the-password");
    let error = prepare(wrong_password).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Wrong password for user rapport")
            && !error.is_retryable()
            && !error.to_string().contains("not-the-password"),
        "{error}"
    );

    // The writer stops at start with the reason, instead of retrying a certificate it distrusts.
    let dir = ScratchDir::new("tls-clickhouse-writer");
    let mut writer_table = table.clone();
    // Kafka comes first at start; the local stack's broker answers, so ClickHouse is what fails.
    doc::merge(
        &mut writer_table,
        toml::from_str(&format!(
            "[kafka]\nbrokers = \"{}\"",
            rapport_testkit::Stack::from_env().kafka.brokers
        ))
        .unwrap(),
    );
    doc::replace(
        &mut writer_table,
        "clickhouse.ca_file",
        world.stranger.cert_file.display().to_string(),
    );
    let config_file = dir.join("writer.toml");
    std::fs::write(&config_file, toml_string(&writer_table)).unwrap();
    let log = dir.join("writer.log");
    let mut writer = Service::launch(
        binary("rapport-writer").to_str().unwrap(),
        &config_file,
        free_addr(),
        "info",
        &ServiceOptions {
            env: world.env_for(&[&block]),
            log_file: Some(log.clone()),
        },
    );
    let text = exits_quickly(&mut writer, &log).await;
    assert!(text.contains("not signed by a trusted CA"), "{text}");
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_over_https_with_a_ca_file_and_basic_auth() {
    let world = World::new("tls-registry");
    let block = doc::block("registry", "self-hosted");
    let mut table = block.table();
    let username = table["registry"]["username"].as_str().unwrap().to_owned();
    let (registry, log) =
        standins::registry(&world.server, &username, secret("registry-password")).await;
    doc::replace(&mut table, "registry.url", registry.url.clone());
    doc::replace_secret_paths(&mut table, world.files());
    let mut config: RegistryConfig = table["registry"].clone().try_into().unwrap();
    config.password = Secret::new(secret("registry-password"));
    assert!(config.validate().is_empty(), "{:?}", config.validate());

    let client = SchemaRegistry::new(&config).unwrap();
    let id = client
        .register("t-value", "{\"type\":\"string\"}")
        .await
        .unwrap();
    assert_eq!(id, 1);
    let fresh = SchemaRegistry::new(&config).unwrap();
    assert_eq!(fresh.schema(id).await.unwrap(), "{\"type\":\"string\"}");
    assert_eq!(log.lock().unwrap().fetched, vec![1]);

    let mut untrusted = config.clone();
    untrusted.ca_file = Some(world.stranger.cert_file.clone());
    match SchemaRegistry::new(&untrusted).unwrap().schema(1).await {
        Err(error @ RegistryError::Tls { .. }) => {
            assert!(
                error.to_string().contains("not signed by a trusted CA"),
                "{error}"
            );
            assert!(!error.is_retryable());
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
    let mut wrong_password = config.clone();
    wrong_password.password = Secret::new("not-the-password");
    match SchemaRegistry::new(&wrong_password)
        .unwrap()
        .schema(1)
        .await
    {
        Err(error @ RegistryError::Unauthorized { .. }) => {
            assert!(error.is_misconfiguration() && !error.is_retryable());
            assert!(!error.to_string().contains("not-the-password"), "{error}");
        }
        other => panic!("expected a refusal of the credentials, got {other:?}"),
    }

    // A bearer token instead of Basic (OAuth in front of the registry).
    let token = "registry-token-3e5a71c2";
    let (bearer_registry, bearer_log) = standins::registry_with_token(&world.server, token).await;
    let bearer = RegistryConfig {
        url: bearer_registry.url.clone(),
        bearer_token: Secret::new(token),
        ca_file: Some(world.pki.ca_file()),
        ..RegistryConfig::default()
    };
    assert!(bearer.validate().is_empty(), "{:?}", bearer.validate());
    assert_eq!(
        SchemaRegistry::new(&bearer)
            .unwrap()
            .register("t-value", "\"int\"")
            .await
            .unwrap(),
        1
    );
    let wrong_token = RegistryConfig {
        bearer_token: Secret::new("another-token"),
        ..bearer.clone()
    };
    assert!(matches!(
        SchemaRegistry::new(&wrong_token).unwrap().schema(1).await,
        Err(RegistryError::Unauthorized { .. })
    ));
    assert_eq!(bearer_log.lock().unwrap().refused, 1);

    // The normalizer registers at start: bad credentials stop it there, with the reason. Its
    // Kafka is the SASL broker, so the registry is what it fails on.
    let kafka = world.sasl_kafka("tls-registry-broker");
    let (kafka_doc, kafka_table) = kafka_block("msk-scram", &kafka.address, &world);
    let dir = ScratchDir::new("tls-registry-normalizer");
    let mut normalizer_table: toml::Table = toml::from_str("tenant_id = \"acme\"").unwrap();
    doc::merge(&mut normalizer_table, kafka_table);
    doc::merge(&mut normalizer_table, table.clone());
    doc::merge(
        &mut normalizer_table,
        topics_table(&Topics::prefixed(&unique_name("tls-registry"))),
    );
    let config_file = dir.join("normalizer.toml");
    std::fs::write(&config_file, toml_string(&normalizer_table)).unwrap();
    let wrong = dir.join("wrong-registry-password");
    std::fs::write(&wrong, "wrong-registry-5678\n").unwrap();
    let mut env = world.env_for(&[&kafka_doc, &block]);
    env.retain(|(k, _)| k != "RAPPORT_REGISTRY__PASSWORD_FILE");
    env.push((
        "RAPPORT_REGISTRY__PASSWORD_FILE".into(),
        wrong.display().to_string(),
    ));
    let service_log = dir.join("normalizer.log");
    let mut normalizer = Service::launch(
        binary("rapport-normalizer").to_str().unwrap(),
        &config_file,
        free_addr(),
        "info",
        &ServiceOptions {
            env,
            log_file: Some(service_log.clone()),
        },
    );
    let text = exits_quickly(&mut normalizer, &service_log).await;
    assert!(
        text.contains("refused our credentials (HTTP 401)"),
        "{text}"
    );
    assert!(!text.contains("wrong-registry-5678"), "{text}");
}

// The stand-ins run on this runtime while the test waits on processes: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthbearer_fetches_a_token_with_the_client_credentials() {
    let world = World::new("tls-oauth");
    let kafka = world.sasl_kafka("tls-oauth-broker");
    let (block, mut table) = kafka_block("confluent-cloud-oauth", &kafka.address, &world);
    let client_id = table["kafka"]["security"]["oauthbearer"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let scope = table["kafka"]["security"]["oauthbearer"]["scope"]
        .as_str()
        .unwrap()
        .to_owned();
    let (endpoint, requests) = standins::token_endpoint(&world.server, &client_id).await;
    let doc_url = table["kafka"]["security"]["oauthbearer"]["token_endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let authority = endpoint.url.trim_start_matches("https://").to_owned();
    doc::replace(
        &mut table,
        "kafka.security.oauthbearer.token_endpoint_url",
        doc::url_with_authority(&doc_url, &authority),
    );
    let dir = ScratchDir::new("tls-oauth");
    let mut cli: toml::Table = toml::from_str("tenant_id = \"acme\"").unwrap();
    doc::merge(&mut cli, table);
    doc::merge(
        &mut cli,
        topics_table(&Topics::prefixed(&unique_name("tls-oauth"))),
    );
    let config = dir.join("cli.toml");
    std::fs::write(&config, toml_string(&cli)).unwrap();

    let started = Instant::now();
    let (ok, _, stderr) = rapport(&config, &world.env_for(&[&block]), &["topics", "create"]);
    assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
    // Tansu does not accept OAUTHBEARER: the broker's refusal, named, is the expected end.
    assert!(
        !ok && stderr.contains("refused the SASL credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret("oauth-client-secret")), "{stderr}");

    let requests = requests.lock().unwrap();
    let first = requests
        .first()
        .expect("librdkafka asked the token endpoint");
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{client_id}:{}", secret("oauth-client-secret"))
        )
    );
    assert_eq!(first.authorization, expected, "client id and secret, Basic");
    let form: std::collections::BTreeMap<_, _> = first.form.iter().cloned().collect();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(form.get("scope"), Some(&scope));
}
