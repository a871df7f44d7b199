//! The bounded transaction → cluster map, in Envoy shared data; built like
//! the query map (see `query_map`): a fixed set of bucket keys
//! (`trino_gateway/v2/tx/{n}`), each holding up to `SLOTS_PER_BUCKET`
//! fixed-size records, a full bucket overwriting its least recently used
//! record. Unlike queries, a transaction ends: its record is removed when its
//! COMMIT or ROLLBACK is accepted, and one unused for longer than the idle
//! bound no longer routes.

use super::checksum;
use super::config::SLOTS_PER_BUCKET;
use super::shared_data::{update, SharedData, SharedDataError};
use super::transaction::TransactionId;

/// 16 bytes of transaction id, 1 byte cluster table id, 4 bytes last use (s, LE), 1 check byte.
pub const RECORD_SIZE: usize = 22;
const CLUSTER_AT: usize = 16;
const USED_AT: usize = 17;
const CHECK_AT: usize = 21;

/// A statement of a transaction refreshes its record only when the record is
/// older than this: most statements of a busy transaction then write nothing.
pub const REFRESH_SECONDS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub id: TransactionId,
    pub cluster: u8,
    pub used_at: u32,
}

impl Record {
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[..CLUSTER_AT].copy_from_slice(&self.id.0);
        out[CLUSTER_AT] = self.cluster;
        out[USED_AT..CHECK_AT].copy_from_slice(&self.used_at.to_le_bytes());
        checksum::seal(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != RECORD_SIZE || !checksum::is_intact(bytes) {
            return None;
        }
        let id = TransactionId(bytes.get(..CLUSTER_AT)?.try_into().ok()?);
        let cluster = *bytes.get(CLUSTER_AT)?;
        let used_at = u32::from_le_bytes(bytes.get(USED_AT..CHECK_AT)?.try_into().ok()?);
        Some(Record { id, cluster, used_at })
    }
}

pub const BUCKET_PREFIX: &str = "trino_gateway/v2/tx/";

pub fn bucket_key(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket}")
}

pub fn records(bucket: &[u8]) -> impl Iterator<Item = Record> + '_ {
    bucket.chunks_exact(RECORD_SIZE).filter_map(Record::decode)
}

fn encode_all(records: &[Record]) -> Vec<u8> {
    records.iter().flat_map(|r| r.encode()).collect()
}

pub struct TransactionMap {
    pub buckets: usize,
    /// A record unused for longer than this no longer routes.
    pub idle_seconds: u32,
}

impl TransactionMap {
    /// The live record of `id`, if any.
    pub fn lookup(
        &self,
        store: &dyn SharedData,
        id: &TransactionId,
        now: u32,
    ) -> Result<Option<Record>, SharedDataError> {
        let (value, _) = store.get(&bucket_key(id.bucket(self.buckets)))?;
        Ok(value.and_then(|v| {
            records(&v).find(|r| r.id == *id).filter(|r| now.saturating_sub(r.used_at) <= self.idle_seconds)
        }))
    }

    /// Records (or refreshes) `id` on `cluster`; a full bucket loses its least recently used record.
    pub fn record(
        &self,
        store: &dyn SharedData,
        id: TransactionId,
        cluster: u8,
        now: u32,
    ) -> Result<(), SharedDataError> {
        let record = Record { id, cluster, used_at: now };
        update(store, &bucket_key(id.bucket(self.buckets)), |current| {
            let mut kept: Vec<Record> = records(current).filter(|r| r.id != id).collect();
            while kept.len() >= SLOTS_PER_BUCKET {
                let oldest = kept.iter().enumerate().min_by_key(|(_, r)| r.used_at).map(|(i, _)| i).unwrap_or(0);
                kept.remove(oldest);
            }
            kept.push(record);
            Some((encode_all(&kept), ()))
        })?;
        Ok(())
    }

    /// Removes `id` (nothing is written when it is not there).
    pub fn forget(&self, store: &dyn SharedData, id: &TransactionId) -> Result<(), SharedDataError> {
        update(store, &bucket_key(id.bucket(self.buckets)), |current| {
            let kept: Vec<Record> = records(current).collect();
            let remaining: Vec<Record> = kept.iter().copied().filter(|r| r.id != *id).collect();
            (remaining.len() != kept.len()).then(|| (encode_all(&remaining), ()))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    fn id(n: u32) -> TransactionId {
        let mut bytes = [0x5a; 16];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        TransactionId(bytes)
    }

    fn map(store: &MemorySharedData, buckets: usize) -> TransactionMap {
        for bucket in 0..buckets {
            create_if_absent(store, &bucket_key(bucket)).unwrap_or_else(|e| panic!("{e:?}"));
        }
        TransactionMap { buckets, idle_seconds: 100 }
    }

    #[test]
    fn recorded_until_forgotten_or_idle() {
        let store = MemorySharedData::new();
        let map = map(&store, 4);
        map.record(&store, id(1), 3, 1000).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &id(1), 1100).map(|r| r.map(|r| r.cluster)), Ok(Some(3)));
        assert_eq!(map.lookup(&store, &id(1), 1101), Ok(None), "idle for longer than the bound");
        map.record(&store, id(1), 3, 1101).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(map.lookup(&store, &id(1), 1150).is_ok_and(|r| r.is_some()));
        map.forget(&store, &id(1)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &id(1), 1150), Ok(None));
        assert_eq!(map.lookup(&store, &id(2), 1150), Ok(None));
    }

    #[test]
    fn memory_is_bounded_whatever_the_traffic() {
        let store = MemorySharedData::new();
        let map = map(&store, 8);
        for n in 0..5_000 {
            map.record(&store, id(n), (n % 3) as u8, n).unwrap_or_else(|e| panic!("{e:?}"));
        }
        assert_eq!(store.keys(), 8);
        assert!(store.bytes() <= 8 * (SLOTS_PER_BUCKET * RECORD_SIZE + bucket_key(7).len()), "{}", store.bytes());
        for n in 4_990..5_000 {
            assert_eq!(map.lookup(&store, &id(n), 5_000).map(|r| r.map(|r| r.cluster)), Ok(Some((n % 3) as u8)));
        }
        assert_eq!(map.lookup(&store, &id(0), 5_000), Ok(None));
    }

    #[test]
    fn garbage_is_ignored() {
        let record = Record { id: id(7), cluster: 1, used_at: 5 };
        assert_eq!(Record::decode(&record.encode()), Some(record));
        let mut value = record.encode().to_vec();
        value.extend_from_slice(&[0xff; RECORD_SIZE]);
        assert_eq!(records(&value).collect::<Vec<_>>(), vec![record]);
    }
}
