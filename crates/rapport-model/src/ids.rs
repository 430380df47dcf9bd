use uuid::Uuid;

use crate::Source;

/// The root namespace of every Rapport UUID v5. Changing it would change every event id ever
/// published, so it is fixed forever.
const RAPPORT_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a9e_4b7d_5e10_9a3c_2d8e_7f41_b0c5);

/// The deterministic id of one interaction: UUID v5 of tenant, source and the source's own id.
///
/// A message delivered twice, or retried by a webhook days later, gets the same id, which is what
/// lets the history store collapse duplicates. The parts are joined with a NUL so that
/// `("a", "bc")` and `("ab", "c")` never collide.
pub fn event_id(tenant_id: &str, source: Source, source_event_id: &str) -> Uuid {
    namespaced_id(&[tenant_id, source.as_str(), source_event_id])
}

/// UUID v5 over NUL-joined parts, for any other id that must be stable across replays.
pub fn namespaced_id(parts: &[&str]) -> Uuid {
    let mut name = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            name.push(0);
        }
        name.extend_from_slice(part.as_bytes());
    }
    Uuid::new_v5(&RAPPORT_NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_give_same_id() {
        let a = event_id("acme", Source::Sendgrid, "<m1@example.com>");
        let b = event_id("acme", Source::Sendgrid, "<m1@example.com>");
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn tenant_and_source_separate_ids() {
        let base = event_id("acme", Source::Sendgrid, "m1");
        assert_ne!(base, event_id("globex", Source::Sendgrid, "m1"));
        assert_ne!(base, event_id("acme", Source::Mailgun, "m1"));
    }

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(namespaced_id(&["a", "bc"]), namespaced_id(&["ab", "c"]));
    }
}
