//! Coordinator id → cluster, learned from the query ids each cluster hands out.
//!
//! Every query id ends with the id of the coordinator process that made it,
//! so once the gateway has seen one query from a cluster it can route any
//! query of that coordinator, even one it never recorded (evicted, or started
//! before this Envoy). One key, `trino_gateway/coordinators`, with at most
//! `CAPACITY` 10-byte records; a restart's new id replaces the oldest.

use super::checksum;
use super::query_id::{CoordinatorId, COORDINATOR_ID_LENGTH};
use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/v2/coordinators";
pub const CAPACITY: usize = 64;
/// 5 bytes coordinator id, 1 byte cluster table id, 4 bytes time (s, LE), 1 check byte.
const RECORD_SIZE: usize = 11;
/// A known mapping is rewritten at most this often (to keep its age fresh).
const REFRESH_SECONDS: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub coordinator: CoordinatorId,
    pub cluster: u8,
    pub seen_at: u32,
}

/// Entries of a stored value; records that do not decode are skipped.
pub fn entries(value: &[u8]) -> Vec<Entry> {
    value
        .chunks_exact(RECORD_SIZE)
        .filter(|chunk| checksum::is_intact(chunk))
        .filter_map(|chunk| {
            let coordinator = CoordinatorId::parse(std::str::from_utf8(chunk.get(..COORDINATOR_ID_LENGTH)?).ok()?)?;
            let cluster = *chunk.get(COORDINATOR_ID_LENGTH)?;
            let seen_at = u32::from_le_bytes(chunk.get(6..10)?.try_into().ok()?);
            Some(Entry { coordinator, cluster, seen_at })
        })
        .collect()
}

pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * RECORD_SIZE);
    for e in entries {
        let mut record = [0u8; RECORD_SIZE];
        let (id, rest) = record.split_at_mut(COORDINATOR_ID_LENGTH);
        id.copy_from_slice(&e.coordinator.0);
        if let Some((cluster, rest)) = rest.split_first_mut() {
            *cluster = e.cluster;
            if let Some(time) = rest.get_mut(..4) {
                time.copy_from_slice(&e.seen_at.to_le_bytes());
            }
        }
        checksum::seal(&mut record);
        out.extend_from_slice(&record);
    }
    out
}

/// Every entry, for a worker's snapshot.
pub fn read(store: &dyn SharedData) -> Result<Vec<Entry>, SharedDataError> {
    Ok(store.get(KEY)?.0.map(|v| entries(&v)).unwrap_or_default())
}

/// Whether `entries` already say `coordinator` runs on `cluster`, recently
/// enough that `learn` would not write: then learning needs no host call.
pub fn is_fresh(entries: &[Entry], coordinator: CoordinatorId, cluster: u8, now: u32) -> bool {
    entries.iter().any(|e| {
        e.coordinator == coordinator && e.cluster == cluster && now.saturating_sub(e.seen_at) < REFRESH_SECONDS
    })
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
        if is_fresh(&all, coordinator, cluster, now) {
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
        crate::shared_data::create_if_absent(&store, KEY).unwrap();
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
