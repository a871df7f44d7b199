//! The statements this Envoy sent each cluster since the health service last
//! read the cluster's load (`/ui/api/stats`), shared by all workers.
//!
//! Polled counts are up to one health interval old: placing a burst by them
//! alone would send the whole burst to the cluster that was least loaded at
//! the last poll. Each placement adds one here, and each poll that reads the
//! cluster's load starts its count again from zero (from then on the
//! coordinator counts those queries itself).
//!
//! One key, one little-endian u32 per cluster table id. Any bytes decode to
//! counts: a damaged value can only skew one placement decision, not route
//! a request wrongly.

use super::config::MAX_CLUSTERS;
use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/v1/placed";

fn count_at(value: &[u8], table_id: u8) -> u32 {
    let at = usize::from(table_id) * 4;
    value.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

fn with_count(current: &[u8], table_id: u8, count: u32) -> Vec<u8> {
    let mut value = current.to_vec();
    value.resize((MAX_CLUSTERS + 1) * 4, 0);
    let at = usize::from(table_id) * 4;
    if let Some(slot) = value.get_mut(at..at + 4) {
        slot.copy_from_slice(&count.to_le_bytes());
    }
    value
}

/// Counts by cluster table id (0 for a cluster never placed).
pub fn read(store: &dyn SharedData) -> Result<Vec<u32>, SharedDataError> {
    let (value, _) = store.get(KEY)?;
    let value = value.unwrap_or_default();
    Ok((0..=MAX_CLUSTERS as u8).map(|t| count_at(&value, t)).collect())
}

/// One more statement sent to `table_id`.
pub fn add(store: &dyn SharedData, table_id: u8) -> Result<(), SharedDataError> {
    update(store, KEY, |current| {
        Some((with_count(current, table_id, count_at(current, table_id).saturating_add(1)), ()))
    })
    .map(|_| ())
}

/// The health service read `table_id`'s load: its count starts again.
pub fn reset(store: &dyn SharedData, table_id: u8) -> Result<(), SharedDataError> {
    update(store, KEY, |current| (count_at(current, table_id) != 0).then(|| (with_count(current, table_id, 0), ())))
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::{create_if_absent, MemorySharedData};
    use super::*;

    #[test]
    fn counts_add_up_and_start_again() {
        let store = MemorySharedData::new();
        create_if_absent(&store, KEY).unwrap();
        assert_eq!(read(&store).unwrap()[3], 0);
        for _ in 0..3 {
            add(&store, 3).unwrap();
        }
        add(&store, 5).unwrap();
        let counts = read(&store).unwrap();
        assert_eq!((counts[3], counts[5], counts[4]), (3, 1, 0));
        reset(&store, 3).unwrap();
        let counts = read(&store).unwrap();
        assert_eq!((counts[3], counts[5]), (0, 1));
        // A damaged (short) value reads as counts, never fails.
        store.set(KEY, b"\x01\x00", None).unwrap();
        assert_eq!(read(&store).unwrap()[0], 0);
        add(&store, 0).unwrap();
        assert_eq!(read(&store).unwrap()[0], 1);
    }
}
