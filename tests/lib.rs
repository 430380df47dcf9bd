//! Whole-pipeline tests live in `tests/*.rs` beside this file, the load harness in `benches/`; this
//! library holds what both need.

use std::collections::BTreeSet;

use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_cli::generate::RawRecord;

/// The event ids the records normalize to, and the payloads of those that do not, with the tenant
/// settings every whole-pipeline run gives its normalizer (agent domain acme.com, phones in the US).
pub fn expected(records: &[RawRecord]) -> (BTreeSet<String>, BTreeSet<Vec<u8>>) {
    let tenant = TenantConfig {
        agent_domains: vec!["acme.com".into()],
        default_phone_region: Some("US".into()),
        ..TenantConfig::default()
    };
    let limits = Limits::default();
    let (mut ids, mut invalid) = (BTreeSet::new(), BTreeSet::new());
    for r in records {
        let ctx = Context {
            tenant_id: &r.tenant,
            received_at: r.received_at,
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        match normalize(r.source, &r.payload, &ctx) {
            Ok(interactions) => ids.extend(interactions.iter().map(|i| i.event_id.to_string())),
            Err(_) => {
                invalid.insert(r.payload.clone());
            }
        }
    }
    (ids, invalid)
}
