//! The bounded transaction → cluster map, in Envoy shared data (a
//! `bucket_map` under `trino_gateway/v2/tx/`: 16-byte transaction ids, 22-byte
//! records). Unlike a query, a transaction ends: its record is removed when its
//! COMMIT or ROLLBACK is accepted, and one unused for longer than the idle
//! bound no longer routes.

use super::bucket_map::{BucketMap, Record};
use super::shared_data::{SharedData, SharedDataError};
use super::transaction::TransactionId;

pub const BUCKET_PREFIX: &str = "trino_gateway/v2/tx/";
pub const RECORD_SIZE: usize = Record::<16>::SIZE;

/// A statement of a transaction refreshes its record only when the record is
/// older than this: most statements of a busy transaction then write nothing.
pub const REFRESH_SECONDS: u32 = 10;

pub fn bucket_key(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket}")
}

pub struct TransactionMap {
    map: BucketMap<16>,
    /// A record unused for longer than this no longer routes.
    idle_seconds: u32,
}

impl TransactionMap {
    pub fn new(buckets: usize, idle_seconds: u32) -> TransactionMap {
        TransactionMap { map: BucketMap { prefix: BUCKET_PREFIX, buckets }, idle_seconds }
    }

    /// The live record of `id`, if any.
    pub fn lookup(
        &self,
        store: &dyn SharedData,
        id: &TransactionId,
        now: u32,
    ) -> Result<Option<Record<16>>, SharedDataError> {
        Ok(self.map.lookup(store, &id.0)?.filter(|r| now.saturating_sub(r.used_at) <= self.idle_seconds))
    }

    /// Records (or refreshes) `id` on `cluster`.
    pub fn record(
        &self,
        store: &dyn SharedData,
        id: TransactionId,
        cluster: u8,
        now: u32,
    ) -> Result<(), SharedDataError> {
        self.map.record(store, id.0, cluster, now)
    }

    pub fn forget(&self, store: &dyn SharedData, id: &TransactionId) -> Result<(), SharedDataError> {
        self.map.forget(store, &id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    #[test]
    fn recorded_until_forgotten_or_idle() {
        let store = MemorySharedData::new();
        for bucket in 0..4 {
            create_if_absent(&store, &bucket_key(bucket)).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let map = TransactionMap::new(4, 100);
        let id = TransactionId([7; 16]);
        map.record(&store, id, 3, 1000).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &id, 1100).map(|r| r.map(|r| r.cluster)), Ok(Some(3)));
        assert_eq!(map.lookup(&store, &id, 1101), Ok(None), "idle for longer than the bound");
        map.record(&store, id, 3, 1101).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(map.lookup(&store, &id, 1150).is_ok_and(|r| r.is_some()));
        map.forget(&store, &id).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &id, 1150), Ok(None));
        assert_eq!(store.bytes(), (0..4).map(|b| bucket_key(b).len()).sum::<usize>(), "nothing left");
    }
}
