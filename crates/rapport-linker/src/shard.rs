//! Which partition of the linker's topic, and so which instance, holds a tenant.

use std::collections::{BTreeSet, HashSet};

use sha2::{Digest, Sha256};

/// The partition of `tenant_id` among `partitions`. The routing step chooses it explicitly, so
/// every instance computes a tenant's owner the same way whatever the producer's partitioner.
/// The first 8 bytes of SHA-256: stable across versions and platforms, unlike `std`'s hasher.
pub fn partition_of(tenant_id: &str, partitions: i32) -> i32 {
    let digest = Sha256::digest(tenant_id.as_bytes());
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    let n = u64::try_from(partitions.max(1)).unwrap_or(1);
    i32::try_from(u64::from_be_bytes(prefix) % n).unwrap_or(0)
}

/// What one sharded instance owns now.
#[derive(Debug)]
pub struct Shard {
    pub partitions: i32,
    /// Partitions of the linker's topic assigned to this instance.
    pub owned: BTreeSet<i32>,
    /// Tenants whose graph is in memory (read from the store on their first interaction here).
    pub loaded: HashSet<String>,
}

impl Shard {
    pub fn new(partitions: i32) -> Self {
        Self {
            partitions,
            owned: BTreeSet::new(),
            loaded: HashSet::new(),
        }
    }

    pub fn owns(&self, tenant_id: &str) -> bool {
        self.owned
            .contains(&partition_of(tenant_id, self.partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_always_maps_to_the_same_partition_in_range() {
        for n in [1, 2, 3, 12, 64] {
            for tenant in ["acme", "globex", "", "tenant-0042"] {
                let p = partition_of(tenant, n);
                assert!((0..n).contains(&p));
                assert_eq!(p, partition_of(tenant, n));
            }
        }
        // Pinned: a change of the function would move every tenant between running instances.
        // Computed independently: python3 -c "import hashlib; print(int.from_bytes(
        // hashlib.sha256(b'acme').digest()[:8], 'big') % 12)" gives 0, and 7 for globex.
        assert_eq!(partition_of("acme", 12), 0);
        assert_eq!(partition_of("globex", 12), 7);
        let spread: BTreeSet<i32> = (0..200)
            .map(|i| partition_of(&format!("tenant-{i}"), 8))
            .collect();
        assert_eq!(
            spread.len(),
            8,
            "200 tenants reach every one of 8 partitions"
        );
    }
}
