//! Shared by the fuzz targets (`fuzz/`) and the property tests (`tests/properties.rs`): run
//! adapters on arbitrary bytes and panic only when a contract invariant breaks, which is exactly
//! the signal a fuzzer looks for.

use std::path::{Path, PathBuf};

use rapport_model::{Channel, Source, Timestamp, event_id};

use crate::{Context, Limits, TenantConfig};

/// The golden payload files of `source` (`tests/golden/<source>/`, expected outputs excluded), in
/// name order. Shared by the golden test, the property tests and the benchmark.
pub fn golden_cases(source: Source) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(source.as_str());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && !p.to_string_lossy().ends_with(".expected.json"));
    files.sort();
    files
}

/// Every golden payload with its source.
pub fn golden_payloads() -> Vec<(Source, Vec<u8>)> {
    Source::ALL
        .iter()
        .flat_map(|s| {
            golden_cases(*s)
                .into_iter()
                .map(move |p| (*s, std::fs::read(p).unwrap_or_default()))
        })
        .collect()
}

/// The sources of one channel family (`generic` is its own family).
pub fn family(channel: Option<Channel>) -> Vec<Source> {
    Source::ALL
        .iter()
        .copied()
        .filter(|s| s.channel() == channel)
        .collect()
}

/// Normalizes `data` as each of `sources` and checks what comes out.
pub fn exercise(sources: &[Source], data: &[u8]) {
    let tenant = TenantConfig {
        agent_domains: vec!["acme.com".into()],
        bot_ids: vec!["intercom:bot:1".into()],
        default_phone_region: Some("US".into()),
    };
    let limits = Limits {
        max_payload_bytes: 1 << 20,
        max_json_depth: 32,
    };
    let ctx = Context {
        tenant_id: "fuzz",
        received_at: Timestamp::from_millis(1_700_000_000_000),
        tenant: &tenant,
        limits: &limits,
        raw_ref: None,
    };
    for &source in sources {
        let Ok(outcome) = crate::read(source, data, &ctx) else {
            continue;
        };
        // Nothing vanishes: an outcome with nothing in it says why, and only then.
        assert_eq!(
            outcome.skipped.is_some(),
            outcome.interactions.is_empty() && outcome.rejected.is_empty(),
            "{source}: skip reason and content disagree"
        );
        assert!(
            outcome.rejected.windows(2).all(|w| w[0].index < w[1].index),
            "{source}: rejected items out of list order"
        );
        assert!(
            outcome.rejected.iter().all(|r| !r.payload.is_empty()),
            "{source}: a rejected item without its payload"
        );
        for i in outcome.interactions {
            assert_eq!(
                i.source, source,
                "adapter for {source} emitted source {}",
                i.source
            );
            assert_eq!(
                i.event_id,
                event_id("fuzz", source, &i.source_event_id),
                "event id not derived from its parts"
            );
            assert!(
                !i.source_event_id.is_empty(),
                "{source}: empty source_event_id"
            );
            assert!(
                !i.conversation_id.is_empty(),
                "{source}: empty conversation_id"
            );
            assert!(
                i.rating.is_none_or(|r| (1..=5).contains(&r)),
                "{source}: rating {:?}",
                i.rating
            );
            if let Some(channel) = source.channel() {
                assert_eq!(i.channel, channel, "{source}: wrong channel");
            }
            let mut sorted = i.identities.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted, i.identities,
                "{source}: identities not sorted and unique"
            );
        }
    }
    let _ = crate::detect(data);
}
