//! What the read and erase commands share: a ClickHouse client set up for 18.16, and turning
//! what an operator types (a customer id or an identifier `type:value`) into a customer id.

use anyhow::Context as _;
use rapport_clickhouse::ClickHouseConfig;
use rapport_model::{IdentityType, normalize_email, normalize_phone};

/// A client for `config`'s database. `wait_end_of_query` makes the server report an error that
/// happens mid-query as an error instead of a truncated body (18.16 streams otherwise).
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    config.client().with_setting("wait_end_of_query", "1")
}

/// Bounds `request` by the configured request timeout and names the server when it fails.
pub async fn bounded<T, E>(
    config: &ClickHouseConfig,
    request: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(config.request_timeout(), request)
        .await
        .with_context(|| {
            format!(
                "ClickHouse at {} did not answer within {} ms",
                config.url, config.request_timeout_ms
            )
        })?
        .with_context(|| {
            format!(
                "ClickHouse at {} (database {})",
                config.url, config.database
            )
        })
}

/// An identifier as the adapters store it (`email:` lower-cased, `phone:` in E.164), or an error
/// that lists the known types.
pub fn identifier(kind: &str, value: &str) -> anyhow::Result<String> {
    let Some(kind) = IdentityType::parse(kind) else {
        let names: Vec<&str> = IdentityType::ALL.iter().map(|t| t.as_str()).collect();
        anyhow::bail!(
            "unknown identifier type {kind:?}; one of {}",
            names.join(", ")
        );
    };
    let value = match kind {
        IdentityType::Email => normalize_email(value),
        IdentityType::Phone => normalize_phone(value, None),
        _ => Ok(value.trim().to_owned()),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(!value.is_empty(), "the identifier's value is empty");
    Ok(format!("{kind}:{value}"))
}

/// The tenant's customer id for `customer` (a customer id, or an identifier `type:value`), or
/// `None` when the tenant has no such customer: the API's resolution
/// (`rapport_clickhouse::read::resolve_customer`, by key prefix).
pub async fn resolve_customer(
    config: &ClickHouseConfig,
    client: &clickhouse::Client,
    tenant: &str,
    customer: &str,
) -> anyhow::Result<Option<String>> {
    bounded(
        config,
        rapport_clickhouse::read::resolve_customer(client, tenant, customer),
    )
    .await
}

/// The error for a customer that [`resolve_customer`] did not find.
pub fn unknown_customer(tenant: &str, customer: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "tenant {tenant} has no customer {customer:?} (give a customer id, or an identifier such as \
         email:maria@example.com; `rapport identity show` lists a customer's identifiers)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_normalized_like_the_adapters_do() {
        assert_eq!(
            identifier("email", " Maria@Example.COM ").unwrap(),
            "email:maria@example.com"
        );
        assert_eq!(
            identifier("phone", "+1 415 555 2671").unwrap(),
            "phone:+14155552671"
        );
        assert!(
            identifier("fax", "1")
                .unwrap_err()
                .to_string()
                .contains("email")
        );
        assert!(identifier("zendesk_user", " ").is_err());
    }
}
