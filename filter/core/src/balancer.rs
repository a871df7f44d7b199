//! Weighted round robin over the configured clusters, shared by all workers.
//!
//! The order is nginx's smooth weighted round robin (weights 5,1,1 give
//! a a b a c a a, not a a a a a b c), computed once per configuration. The
//! position in it is one counter in shared data, advanced with CAS, so N
//! workers together still hand out the exact weighted sequence.

use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/v2/round_robin";

/// The counter of routing group `group` (the first group's is `KEY`, the
/// counter of the one implicit group before routing groups existed).
pub fn key(group: usize) -> String {
    if group == 0 {
        KEY.to_string()
    } else {
        format!("{KEY}/{group}")
    }
}

/// One full cycle of the smooth weighted round robin, as config indices.
pub fn schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let Some((best, _)) = current.iter().enumerate().max_by_key(|(i, c)| (**c, -(*i as i64))) else {
            break;
        };
        if let Some(c) = current.get_mut(best) {
            *c -= total;
        }
        out.push(best);
    }
    out
}

/// Advance the shared counter `key`; returns the position it was at.
pub fn next_turn(store: &dyn SharedData, key: &str) -> Result<u64, SharedDataError> {
    let taken = update(store, key, |current| {
        let n = current.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        Some((n.wrapping_add(1).to_le_bytes().to_vec(), n))
    })?;
    Ok(taken.unwrap_or(0))
}

/// The cluster for `turn`: its slot in the schedule, or the next slot whose
/// cluster is `eligible` (so clusters out of rotation are skipped without
/// changing the others' order). `None` when no cluster is eligible.
pub fn pick(schedule: &[usize], turn: u64, eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let len = schedule.len();
    (0..len)
        .map(|step| (turn as usize).wrapping_add(step) % len.max(1))
        .filter_map(|slot| schedule.get(slot).copied())
        .find(|c| eligible(*c))
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::MemorySharedData;
    use super::*;

    #[test]
    fn smooth_weighted_order() {
        assert_eq!(schedule(&[1, 1]), vec![0, 1]);
        assert_eq!(schedule(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(schedule(&[2, 3]), vec![1, 0, 1, 0, 1]);
        assert_eq!(schedule(&[]), Vec::<usize>::new());
    }

    #[test]
    fn ineligible_clusters_are_skipped() {
        let order = schedule(&[1, 1, 1]);
        let picks: Vec<Option<usize>> = (0..6).map(|turn| pick(&order, turn, |c| c != 1)).collect();
        assert_eq!(picks, vec![Some(0), Some(2), Some(2), Some(0), Some(2), Some(2)]);
        assert_eq!(pick(&order, 7, |_| false), None);
        assert_eq!(pick(&[], 0, |_| true), None);
    }

    #[test]
    fn workers_share_one_sequence() {
        let store = MemorySharedData::new();
        crate::shared_data::create_if_absent(&store, KEY).unwrap();
        let order = schedule(&[2, 1]);
        // Two "workers" interleaving still produce the exact weighted sequence.
        let picks: Vec<usize> = (0..9)
            .map(|_| next_turn(&store, KEY).ok().and_then(|turn| pick(&order, turn, |_| true)).unwrap_or(99))
            .collect();
        assert_eq!(picks, vec![0, 1, 0, 0, 1, 0, 0, 1, 0]);
    }
}
