//! Coordinator id → cluster, learned from the query ids each cluster hands out.
//!
//! Every query id ends with the id of the coordinator process that made it,
//! so once the gateway has seen one query from a cluster it can route any
//! query of that coordinator, even one it never recorded (evicted, or started
//! before this Envoy). One key, `trino_gateway/coordinators`, with at most
//! `CAPACITY` 10-byte records; a restart's new id replaces the oldest.

use super::query_id::{CoordinatorId, COORDINATOR_ID_LENGTH};
use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/coordinators";
pub const CAPACITY: usize = 64;
const RECORD_SIZE: usize = 10;
/// A known mapping is rewritten at most this often (to keep its age fresh).
const REFRESH_SECONDS: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    coordinator: CoordinatorId,
    cluster: u8,
    seen_at: u32,
}

fn entries(value: &[u8]) -> Vec<Entry> {
    value
        .chunks_exact(RECORD_SIZE)
        .filter_map(|chunk| {
            let coordinator = CoordinatorId::parse(std::str::from_utf8(chunk.get(..COORDINATOR_ID_LENGTH)?).ok()?)?;
            let cluster = *chunk.get(COORDINATOR_ID_LENGTH)?;
            let seen_at = u32::from_le_bytes(chunk.get(6..10)?.try_into().ok()?);
            Some(Entry { coordinator, cluster, seen_at })
        })
        .collect()
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * RECORD_SIZE);
    for e in entries {
        out.extend_from_slice(&e.coordinator.0);
        out.push(e.cluster);
        out.extend_from_slice(&e.seen_at.to_le_bytes());
    }
    out
}

pub fn lookup(store: &dyn SharedData, coordinator: &CoordinatorId) -> Result<Option<u8>, SharedDataError> {
    let (value, _) = store.get(KEY)?;
    Ok(value.and_then(|v| entries(&v).into_iter().find(|e| e.coordinator == *coordinator).map(|e| e.cluster)))
}

/// Remember that `coordinator` runs on `cluster`. Writes only when something changed
/// (or the entry is older than a minute), so the hot path mostly just reads.
pub fn learn(
    store: &dyn SharedData,
    coordinator: CoordinatorId,
    cluster: u8,
    now: u32,
) -> Result<bool, SharedDataError> {
    let written = update(store, KEY, |current| {
        let mut all = entries(current);
        if all.iter().any(|e| {
            e.coordinator == coordinator && e.cluster == cluster && now.saturating_sub(e.seen_at) < REFRESH_SECONDS
        }) {
            return None;
        }
        all.retain(|e| e.coordinator != coordinator);
        while all.len() >= CAPACITY {
            let oldest = all.iter().enumerate().min_by_key(|(_, e)| e.seen_at).map(|(i, _)| i).unwrap_or(0);
            all.remove(oldest);
        }
        all.push(Entry { coordinator, cluster, seen_at: now });
        Some((encode(&all), ()))
    })?;
    Ok(written.is_some())
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::MemorySharedData;
    use super::*;

    fn cid(s: &str) -> CoordinatorId {
        CoordinatorId::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn learns_moves_and_stays_bounded() {
        let store = MemorySharedData::new();
        assert_eq!(learn(&store, cid("abcde"), 0, 1000), Ok(true));
        assert_eq!(learn(&store, cid("abcde"), 0, 1010), Ok(false), "unchanged and fresh: no write");
        assert_eq!(lookup(&store, &cid("abcde")), Ok(Some(0)));
        assert_eq!(learn(&store, cid("abcde"), 1, 1020), Ok(true), "seen on another cluster: the newest wins");
        assert_eq!(lookup(&store, &cid("abcde")), Ok(Some(1)));
        assert_eq!(lookup(&store, &cid("zzzzz")), Ok(None));
        let alphabet = b"abcdefghijkmnpqrstuvwxyz23456789";
        for n in 0..200usize {
            let id: String =
                [alphabet[n % 32], alphabet[n / 32 % 32], b'a', b'a', b'a'].iter().map(|b| *b as char).collect();
            learn(&store, cid(&id), 2, 2000 + n as u32).unwrap_or_default();
        }
        assert!(store.bytes() <= KEY.len() + CAPACITY * RECORD_SIZE);
        assert_eq!(lookup(&store, &cid("abcde")), Ok(None), "the oldest was evicted");
    }
}
