//! The statements this Envoy sent each cluster since the health service last
//! read the cluster's load (`/ui/api/stats`), and when that was; shared by all
//! workers.
//!
//! Polled counts are up to one health interval old: placing a burst by them
//! alone would send the whole burst to the cluster that was least loaded at
//! the last poll. Each placement adds one here, and each poll that reads the
//! cluster's load starts its count again from zero (from then on the
//! coordinator counts those queries itself) and notes the time. A load not
//! read for a while (stats refused, no health service) is stale: the router
//! then ignores it rather than trust figures that no longer move.
//!
//! One key; per cluster table id, two little-endian u32: the count and the
//! time (worker clock, seconds) of the last load read. Any bytes decode: a
//! damaged value can only skew a placement, never route a request wrongly.

use super::config::MAX_CLUSTERS;
use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/v1/placed";
const SLOT: usize = 8;

/// One cluster's entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placed {
    /// Statements sent since the last load read.
    pub count: u32,
    /// When the load was last read (0: never).
    pub load_read_at: u32,
}

fn u32_at(value: &[u8], at: usize) -> u32 {
    value.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

fn entry_at(value: &[u8], table_id: u8) -> Placed {
    let at = usize::from(table_id) * SLOT;
    Placed { count: u32_at(value, at), load_read_at: u32_at(value, at + 4) }
}

fn with_entry(current: &[u8], table_id: u8, entry: Placed) -> Vec<u8> {
    let mut value = current.to_vec();
    value.resize((MAX_CLUSTERS + 1) * SLOT, 0);
    let at = usize::from(table_id) * SLOT;
    let bytes = [entry.count.to_le_bytes(), entry.load_read_at.to_le_bytes()].concat();
    if let Some(slot) = value.get_mut(at..at + SLOT) {
        slot.copy_from_slice(&bytes);
    }
    value
}

/// Entries by cluster table id.
pub fn read(store: &dyn SharedData) -> Result<Vec<Placed>, SharedDataError> {
    let (value, _) = store.get(KEY)?;
    let value = value.unwrap_or_default();
    Ok((0..=MAX_CLUSTERS as u8).map(|t| entry_at(&value, t)).collect())
}

/// One more statement sent to `table_id`.
pub fn add(store: &dyn SharedData, table_id: u8) -> Result<(), SharedDataError> {
    update(store, KEY, |current| {
        let entry = entry_at(current, table_id);
        Some((with_entry(current, table_id, Placed { count: entry.count.saturating_add(1), ..entry }), ()))
    })
    .map(|_| ())
}

/// The health service read `table_id`'s load at `now`: its count starts again.
pub fn reset(store: &dyn SharedData, table_id: u8, now: u32) -> Result<(), SharedDataError> {
    update(store, KEY, |current| {
        let fresh = Placed { count: 0, load_read_at: now };
        (entry_at(current, table_id) != fresh).then(|| (with_entry(current, table_id, fresh), ()))
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    #[test]
    fn counts_add_up_and_start_again_at_each_load_read() {
        let store = MemorySharedData::new();
        create_if_absent(&store, KEY).unwrap();
        assert_eq!(read(&store).unwrap()[3], Placed::default());
        for _ in 0..3 {
            add(&store, 3).unwrap();
        }
        add(&store, 5).unwrap();
        let entries = read(&store).unwrap();
        assert_eq!((entries[3].count, entries[5].count, entries[4].count), (3, 1, 0));
        reset(&store, 3, 77).unwrap();
        let entries = read(&store).unwrap();
        assert_eq!((entries[3], entries[5].count), (Placed { count: 0, load_read_at: 77 }, 1));
        // A damaged (short) value reads as entries, never fails.
        store.set(KEY, b"\x01\x00", None).unwrap();
        assert_eq!(read(&store).unwrap()[0], Placed::default());
        add(&store, 0).unwrap();
        assert_eq!(read(&store).unwrap()[0].count, 1);
    }
}
