//! Who polls the coordinators. Istio's `WasmPlugin` adds HTTP filters only —
//! no bootstrap singleton — so the workers' root contexts can poll too: one
//! at a time, the holder of a lease in shared data, renewed while it runs and
//! taken over by another worker once it lapses (that worker stopped). The
//! bootstrap health service, when there is one, always polls and keeps the
//! lease, so no worker polls besides it.

use super::checksum;
use super::shared_data::{SharedData, SharedDataError};
use std::hash::{BuildHasher, Hasher};

pub const KEY: &str = "trino_gateway/v2/health_lease";
/// holder (u32 LE), expires_at (s, u32 LE), 1 check byte.
const RECORD_SIZE: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    holder: u32,
    expires_at: u32,
}

impl Lease {
    fn encode(self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        let (holder, rest) = out.split_at_mut(4);
        holder.copy_from_slice(&self.holder.to_le_bytes());
        if let Some(expires) = rest.get_mut(..4) {
            expires.copy_from_slice(&self.expires_at.to_le_bytes());
        }
        checksum::seal(&mut out);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Lease> {
        if bytes.len() != RECORD_SIZE || !checksum::is_intact(bytes) {
            return None;
        }
        let holder = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        let expires_at = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
        Some(Lease { holder, expires_at })
    }
}

/// A random holder id for one root context (its VM's random source: WASI's
/// `random_get` under Envoy), so that workers tell their leases apart.
pub fn random_holder_id() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 16) as u32 | 1
}

/// Whether `me` holds the lease now, taking or renewing it when free, lapsed
/// or its own (renewed once half its time is gone). `always` (the bootstrap
/// service) takes it whoever holds it. A lost race is "not held": the next
/// tick tries again.
pub fn hold(store: &dyn SharedData, me: u32, now: u32, seconds: u32, always: bool) -> Result<bool, SharedDataError> {
    let (value, cas) = store.get(KEY)?;
    let current = value.as_deref().and_then(Lease::decode);
    let held_by_other = current.is_some_and(|l| l.holder != me && l.expires_at > now);
    if held_by_other && !always {
        return Ok(false);
    }
    let fresh = current.is_some_and(|l| l.holder == me && l.expires_at.saturating_sub(now) > seconds / 2);
    if fresh {
        return Ok(true);
    }
    let lease = Lease { holder: me, expires_at: now.saturating_add(seconds) };
    match store.set(KEY, &lease.encode(), cas) {
        Ok(()) => Ok(true),
        Err(SharedDataError::CasMismatch) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_lease_passes_on_when_it_lapses() {
        let store = MemorySharedData::new();
        create_if_absent(&store, KEY).unwrap_or_default();
        let (a, b) = (11, 22);
        assert_eq!(hold(&store, a, 100, 4, false), Ok(true), "free: taken");
        assert_eq!(hold(&store, b, 101, 4, false), Ok(false), "held by a");
        assert_eq!(hold(&store, a, 101, 4, false), Ok(true), "a keeps it");
        assert_eq!(hold(&store, a, 103, 4, false), Ok(true), "a renews it (half gone)");
        assert_eq!(hold(&store, b, 106, 4, false), Ok(false), "renewed until 107");
        // a stopped: nobody renews; once it lapses b takes over.
        assert_eq!(hold(&store, b, 108, 4, false), Ok(true));
        assert_eq!(hold(&store, a, 109, 4, false), Ok(false), "a is back: b holds it now");
        // The bootstrap service always polls and keeps workers out.
        assert_eq!(hold(&store, 33, 109, 4, true), Ok(true));
        assert_eq!(hold(&store, b, 110, 4, false), Ok(false));
        // Garbage in the key is a free lease.
        store.set(KEY, b"garbage", None).unwrap_or_default();
        assert_eq!(hold(&store, b, 110, 4, false), Ok(true));
        assert_ne!(random_holder_id(), 0);
    }
}
