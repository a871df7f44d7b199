//! The bounded query → cluster map, in Envoy shared data.
//!
//! Shared data has no delete, so one key per query would grow without end.
//! Instead a fixed set of bucket keys (`trino_gateway/q/{n}`, n < buckets) each
//! holds up to `SLOTS_PER_BUCKET` fixed-size records; a query hashes to one
//! bucket, and a full bucket overwrites its oldest record. Memory is therefore
//! bounded by `max_tracked_queries × RECORD_SIZE` plus the bucket keys,
//! whatever the traffic. An evicted query is still routed by its coordinator
//! id (see `coordinator_map`); only a coordinator-id collision could misroute it.

use super::checksum;
use super::config::SLOTS_PER_BUCKET;
use super::query_id::{QueryId, QUERY_ID_LENGTH};
use super::shared_data::{update, SharedData, SharedDataError};

/// 27 bytes of query id, 1 byte cluster table id (and a flag), 4 bytes time (s, LE), 1 check byte.
pub const RECORD_SIZE: usize = 33;
const CLUSTER_AT: usize = QUERY_ID_LENGTH;
const TIME_AT: usize = 28;
const CHECK_AT: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub query_id: QueryId,
    pub cluster: u8,
    pub seen_at: u32,
}

impl Record {
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[..QUERY_ID_LENGTH].copy_from_slice(self.query_id.as_bytes());
        out[CLUSTER_AT] = self.cluster;
        out[TIME_AT..CHECK_AT].copy_from_slice(&self.seen_at.to_le_bytes());
        checksum::seal(&mut out);
        out
    }

    /// None for anything but an intact record (see `checksum`).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != RECORD_SIZE || !checksum::is_intact(bytes) {
            return None;
        }
        let query_id = QueryId::from_bytes(bytes.get(..QUERY_ID_LENGTH)?)?;
        let cluster = *bytes.get(CLUSTER_AT)?;
        let seen_at = u32::from_le_bytes(bytes.get(TIME_AT..CHECK_AT)?.try_into().ok()?);
        Some(Record { query_id, cluster, seen_at })
    }
}

/// The top bit of a record's cluster byte: the query is a `START TRANSACTION`,
/// so its answers name the transaction it starts (see `transaction`). Its
/// follow-ups read that header; no other query's do.
pub const LEARN_TRANSACTION: u8 = 0x80;
/// The next bit: the query's results are spooled, so its data pages name
/// segments only its coordinator serves (see `segment_map`). Its follow-ups
/// read their answers' bodies as they pass; no other query's do.
pub const LEARN_SEGMENTS: u8 = 0x40;
/// The cluster table id in a record's cluster byte.
pub const CLUSTER_MASK: u8 = 0x3f;

pub const BUCKET_PREFIX: &str = "trino_gateway/v2/q/";

pub fn bucket_key(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket}")
}

/// Records of one bucket value; garbage (a truncated or foreign value) is skipped.
pub fn records(bucket: &[u8]) -> impl Iterator<Item = Record> + '_ {
    bucket.chunks_exact(RECORD_SIZE).filter_map(Record::decode)
}

/// The bucket value with `record` in it: replacing the same query's record,
/// else appending, else overwriting the oldest when the bucket is full.
pub fn insert(bucket: &[u8], record: Record, slots: usize) -> Vec<u8> {
    let mut kept: Vec<Record> = records(bucket).filter(|r| r.query_id != record.query_id).collect();
    while kept.len() >= slots.max(1) {
        let oldest = kept.iter().enumerate().min_by_key(|(_, r)| r.seen_at).map(|(i, _)| i).unwrap_or(0);
        kept.remove(oldest);
    }
    kept.push(record);
    kept.iter().flat_map(|r| r.encode()).collect()
}

pub struct QueryMap {
    pub buckets: usize,
}

impl QueryMap {
    /// The hot path of every follow-up request: one shared-data read and a
    /// byte comparison per record; only the matching record is checked.
    pub fn lookup(&self, store: &dyn SharedData, query_id: &QueryId) -> Result<Option<u8>, SharedDataError> {
        let (value, _) = store.get(&bucket_key(query_id.bucket(self.buckets)))?;
        let wanted = query_id.as_bytes().as_slice();
        Ok(value.and_then(|v| {
            v.chunks_exact(RECORD_SIZE)
                .find(|r| r.get(..QUERY_ID_LENGTH) == Some(wanted) && checksum::is_intact(r))
                .and_then(|r| r.get(CLUSTER_AT).copied())
        }))
    }

    pub fn record(
        &self,
        store: &dyn SharedData,
        query_id: QueryId,
        cluster: u8,
        now: u32,
    ) -> Result<(), SharedDataError> {
        let record = Record { query_id, cluster, seen_at: now };
        update(store, &bucket_key(query_id.bucket(self.buckets)), |current| {
            Some((insert(current, record, SLOTS_PER_BUCKET), ()))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::MemorySharedData;
    use super::*;

    fn id(n: u32) -> QueryId {
        QueryId::parse(&format!("20261125_101305_{n:05}_abcde")).unwrap_or_else(|| panic!("{n}"))
    }

    #[test]
    fn records_round_trip_and_garbage_is_ignored() {
        let record = Record { query_id: id(1), cluster: 7, seen_at: 1_764_000_000 };
        assert_eq!(Record::decode(&record.encode()), Some(record));
        let mut value = insert(&[], record, 4);
        value.extend_from_slice(b"not a record at all, 33 bytes!!!!");
        value.extend_from_slice(b"tail");
        assert_eq!(records(&value).collect::<Vec<_>>(), vec![record]);
    }

    #[test]
    fn a_full_bucket_evicts_its_oldest_record() {
        let mut bucket = Vec::new();
        for n in 0..4 {
            bucket = insert(&bucket, Record { query_id: id(n), cluster: 0, seen_at: 100 + n }, 4);
        }
        // Refreshing query 0 makes query 1 the oldest.
        bucket = insert(&bucket, Record { query_id: id(0), cluster: 1, seen_at: 200 }, 4);
        bucket = insert(&bucket, Record { query_id: id(9), cluster: 0, seen_at: 201 }, 4);
        let ids: Vec<QueryId> = records(&bucket).map(|r| r.query_id).collect();
        assert_eq!(ids, vec![id(2), id(3), id(0), id(9)]);
        assert_eq!(bucket.len(), 4 * RECORD_SIZE);
    }

    #[test]
    fn memory_is_bounded_whatever_the_traffic() {
        let store = MemorySharedData::new();
        let map = QueryMap { buckets: 8 };
        for bucket in 0..8 {
            crate::shared_data::create_if_absent(&store, &bucket_key(bucket)).unwrap();
        }
        for n in 0..5_000 {
            map.record(&store, id(n % 100_000), (n % 3) as u8, n).unwrap_or_else(|e| panic!("{e:?}"));
        }
        assert_eq!(store.keys(), 8);
        assert!(store.bytes() <= 8 * (SLOTS_PER_BUCKET * RECORD_SIZE + 20), "{}", store.bytes());
        // The newest mappings are all there.
        for n in 4_990..5_000 {
            assert_eq!(map.lookup(&store, &id(n)), Ok(Some((n % 3) as u8)), "{n}");
        }
        // Long-evicted ones are not.
        assert_eq!(map.lookup(&store, &id(0)), Ok(None));
    }
}
