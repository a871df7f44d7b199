//! Weighted round robin over the configured clusters, shared by all workers.
//!
//! The order is nginx's smooth weighted round robin (weights 5,1,1 give
//! a a b a c a a, not a a a a a b c), computed once per configuration. The
//! position in it is one counter in shared data, advanced with CAS, so N
//! workers together still hand out the exact weighted sequence.

use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/round_robin";

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

/// Advance the shared counter and return the schedule slot it lands on.
pub fn next(store: &dyn SharedData, schedule: &[usize]) -> Result<Option<usize>, SharedDataError> {
    if schedule.is_empty() {
        return Ok(None);
    }
    let taken = update(store, KEY, |current| {
        let n = current.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        Some((n.wrapping_add(1).to_le_bytes().to_vec(), n))
    })?;
    Ok(taken.and_then(|n| schedule.get((n % schedule.len() as u64) as usize).copied()))
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
    fn workers_share_one_sequence() {
        let store = MemorySharedData::new();
        let order = schedule(&[2, 1]);
        // Two "workers" interleaving still produce the exact weighted sequence.
        let picks: Vec<usize> = (0..9).map(|_| next(&store, &order).ok().flatten().unwrap_or(99)).collect();
        assert_eq!(picks, vec![0, 1, 0, 0, 1, 0, 0, 1, 0]);
    }
}
