//! A bounded key → cluster map in Envoy shared data, for keys of `K` bytes:
//! a fixed set of bucket keys (`{prefix}{n}`), each holding up to
//! `SLOTS_PER_BUCKET` fixed-size records; a full bucket overwrites its least
//! recently used record. Shared data has no delete, so memory is bounded by
//! the bucket count whatever the traffic. The transaction and segment maps
//! are built on it; the query map has its own layout (its lookup is the hot
//! path of every follow-up request).

use super::checksum;
use super::config::SLOTS_PER_BUCKET;
use super::shared_data::{update, SharedData, SharedDataError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<const K: usize> {
    pub key: [u8; K],
    pub cluster: u8,
    pub used_at: u32,
}

impl<const K: usize> Record<K> {
    /// `K` key bytes, 1 cluster table id, 4 bytes last use (s, LE), 1 check byte.
    pub const SIZE: usize = K + 6;

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::SIZE);
        out.extend_from_slice(&self.key);
        out.push(self.cluster);
        out.extend_from_slice(&self.used_at.to_le_bytes());
        out.push(0);
        checksum::seal(&mut out);
        out
    }

    /// None for anything but an intact record (see `checksum`).
    pub fn decode(bytes: &[u8]) -> Option<Record<K>> {
        if bytes.len() != Self::SIZE || !checksum::is_intact(bytes) {
            return None;
        }
        let key = bytes.get(..K)?.try_into().ok()?;
        let cluster = *bytes.get(K)?;
        let used_at = u32::from_le_bytes(bytes.get(K + 1..K + 5)?.try_into().ok()?);
        Some(Record { key, cluster, used_at })
    }
}

pub fn records<const K: usize>(bucket: &[u8]) -> impl Iterator<Item = Record<K>> + '_ {
    bucket.chunks_exact(Record::<K>::SIZE).filter_map(Record::decode)
}

fn encode_all<const K: usize>(records: &[Record<K>]) -> Vec<u8> {
    records.iter().flat_map(|r| r.encode()).collect()
}

pub struct BucketMap<const K: usize> {
    pub prefix: &'static str,
    pub buckets: usize,
}

impl<const K: usize> BucketMap<K> {
    pub fn bucket_key(&self, bucket: usize) -> String {
        format!("{}{bucket}", self.prefix)
    }

    fn key_of(&self, key: &[u8; K]) -> String {
        self.bucket_key(super::hash::bucket_of(key, self.buckets))
    }

    pub fn lookup(&self, store: &dyn SharedData, key: &[u8; K]) -> Result<Option<Record<K>>, SharedDataError> {
        let (value, _) = store.get(&self.key_of(key))?;
        Ok(value.and_then(|v| records::<K>(&v).find(|r| r.key == *key)))
    }

    /// Records (or refreshes) `key` on `cluster`.
    pub fn record(&self, store: &dyn SharedData, key: [u8; K], cluster: u8, now: u32) -> Result<(), SharedDataError> {
        let record = Record { key, cluster, used_at: now };
        update(store, &self.key_of(&key), |current| {
            let mut kept: Vec<Record<K>> = records::<K>(current).filter(|r| r.key != key).collect();
            while kept.len() >= SLOTS_PER_BUCKET {
                let oldest = kept.iter().enumerate().min_by_key(|(_, r)| r.used_at).map(|(i, _)| i).unwrap_or(0);
                kept.remove(oldest);
            }
            kept.push(record);
            Some((encode_all(&kept), ()))
        })?;
        Ok(())
    }

    /// Removes `key` (nothing is written when it is not there).
    pub fn forget(&self, store: &dyn SharedData, key: &[u8; K]) -> Result<(), SharedDataError> {
        update(store, &self.key_of(key), |current| {
            let all: Vec<Record<K>> = records::<K>(current).collect();
            let remaining: Vec<Record<K>> = all.iter().copied().filter(|r| r.key != *key).collect();
            (remaining.len() != all.len()).then(|| (encode_all(&remaining), ()))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    fn key(n: u32) -> [u8; 8] {
        let mut bytes = [0x5a; 8];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        bytes
    }

    fn map(store: &MemorySharedData, buckets: usize) -> BucketMap<8> {
        let map = BucketMap { prefix: "test/", buckets };
        for bucket in 0..buckets {
            create_if_absent(store, &map.bucket_key(bucket)).unwrap_or_else(|e| panic!("{e:?}"));
        }
        map
    }

    #[test]
    fn recorded_until_forgotten() {
        let store = MemorySharedData::new();
        let map = map(&store, 4);
        map.record(&store, key(1), 3, 1000).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &key(1)).map(|r| r.map(|r| (r.cluster, r.used_at))), Ok(Some((3, 1000))));
        map.forget(&store, &key(1)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(map.lookup(&store, &key(1)), Ok(None));
        assert_eq!(map.lookup(&store, &key(2)), Ok(None));
    }

    #[test]
    fn memory_is_bounded_whatever_the_traffic() {
        let store = MemorySharedData::new();
        let map = map(&store, 8);
        for n in 0..5_000 {
            map.record(&store, key(n), (n % 3) as u8, n).unwrap_or_else(|e| panic!("{e:?}"));
        }
        assert_eq!(store.keys(), 8);
        assert!(
            store.bytes() <= 8 * (SLOTS_PER_BUCKET * Record::<8>::SIZE + map.bucket_key(7).len()),
            "{}",
            store.bytes()
        );
        for n in 4_990..5_000 {
            assert_eq!(map.lookup(&store, &key(n)).map(|r| r.map(|r| r.cluster)), Ok(Some((n % 3) as u8)));
        }
        assert_eq!(map.lookup(&store, &key(0)), Ok(None));
    }

    #[test]
    fn garbage_is_ignored() {
        let record = Record { key: key(7), cluster: 1, used_at: 5 };
        assert_eq!(Record::decode(&record.encode()), Some(record));
        let mut value = record.encode();
        value.extend_from_slice(&[0xff; Record::<8>::SIZE]);
        value.extend_from_slice(b"tail");
        assert_eq!(records::<8>(&value).collect::<Vec<_>>(), vec![record]);
    }
}
