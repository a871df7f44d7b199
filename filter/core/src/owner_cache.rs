//! A worker's own memory of query owners: query id → cluster table id, in a
//! fixed array indexed by the id's hash (a new entry replaces whatever shared
//! its slot). A follow-up request whose query this worker placed, or looked up
//! before, needs no shared-data read. Clients keep their connection, and Envoy
//! keeps a connection on one worker, so that is nearly every follow-up.
//!
//! Always right: a query's owner never changes (query ids are unique and name
//! the coordinator process that made them), and a new configuration builds a
//! new worker, so an entry can never point at a cluster that moved. Fixed size:
//! `SLOTS` × 28 bytes per worker, whatever the traffic.

use crate::query_id::QueryId;
use std::cell::RefCell;

pub const SLOTS: usize = 4096;

pub struct OwnerCache {
    slots: RefCell<Vec<Option<(QueryId, u8)>>>,
}

impl Default for OwnerCache {
    fn default() -> Self {
        OwnerCache { slots: RefCell::new(vec![None; SLOTS]) }
    }
}

impl OwnerCache {
    pub fn get(&self, query_id: &QueryId) -> Option<u8> {
        match self.slots.borrow().get(query_id.bucket(SLOTS)) {
            Some(Some((id, cluster))) if id == query_id => Some(*cluster),
            _ => None,
        }
    }

    pub fn put(&self, query_id: QueryId, cluster: u8) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(query_id.bucket(SLOTS)) {
            *slot = Some((query_id, cluster));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_query_of_each_slot_only() {
        let cache = OwnerCache::default();
        let ids: Vec<QueryId> = (0..3 * SLOTS as u32)
            .filter_map(|n| QueryId::parse(&format!("20261125_101305_{:05}_abcde", n % 100_000)))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            cache.put(*id, (n % 7) as u8);
        }
        let last = ids.last().copied().unwrap();
        assert_eq!(cache.get(&last), Some(((ids.len() - 1) % 7) as u8));
        let remembered = ids.iter().filter(|id| cache.get(id).is_some()).count();
        assert!(remembered <= SLOTS, "{remembered}");
        let unknown = QueryId::parse("20261125_101305_00001_zzzzz").unwrap();
        assert_eq!(cache.get(&unknown), None);
    }
}
