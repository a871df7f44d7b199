//! Which cluster of a routing group a new statement goes to, once the
//! clusters that cannot take it (down, draining, saturated, already failed
//! this statement) are left out. Pure functions; the router feeds them the
//! health records and the placed counts (round robin is `balancer`'s).

use super::hash::fnv1a;

/// A cluster that can take the statement, with what placement looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Configured cluster index.
    pub cluster: usize,
    pub weight: u32,
    /// Running + queued (polled) + placed by this Envoy since that poll.
    pub load: u64,
    /// FNV-1a of the cluster's name, for the user hash.
    pub name_hash: u64,
}

/// The least loaded per unit of weight; ties go round by `turn` (the
/// worker's own counter), so equal loads are spread, not piled.
pub fn least_loaded(candidates: &[Candidate], turn: usize) -> Option<usize> {
    // load_a / weight_a < load_b / weight_b without division.
    let ratio = |c: &Candidate| (u128::from(c.load), u128::from(c.weight.max(1)));
    let less = |a: &Candidate, b: &Candidate| {
        let ((la, wa), (lb, wb)) = (ratio(a), ratio(b));
        la * wb < lb * wa
    };
    let best = candidates.iter().reduce(|best, c| if less(c, best) { c } else { best })?;
    let ties: Vec<usize> = candidates.iter().filter(|c| !less(best, c)).map(|c| c.cluster).collect();
    ties.get(turn % ties.len().max(1)).copied()
}

/// splitmix64's finalizer: spreads the combined hashes over all 64 bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Weighted rendezvous hashing: each candidate scores `weight / -ln(u)` for
/// a uniform `u` drawn from (user, cluster); the highest wins. A user stays
/// on one cluster while it can take queries; when it cannot, only its users
/// move (each to its own next best), and they come back when it returns.
pub fn user_hash(candidates: &[Candidate], user: &str) -> Option<usize> {
    let user_hash = fnv1a(user.as_bytes());
    let score = |c: &Candidate| {
        let bits = mix(user_hash ^ c.name_hash.rotate_left(17)) >> 11; // 53 bits
        let u = (bits as f64 + 0.5) / (1u64 << 53) as f64; // in (0, 1)
        f64::from(c.weight.max(1)) / -u.ln()
    };
    candidates
        .iter()
        .map(|c| (score(c), c.cluster))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, cluster)| cluster)
}

/// A cluster at its configured limits: `running` and `queued` as polled,
/// `placed` since that poll (they are queued or running by now).
pub fn saturated(running: u32, queued: u32, placed: u32, max_running: Option<u32>, max_queued: Option<u32>) -> bool {
    max_running.is_some_and(|max| running >= max) || max_queued.is_some_and(|max| queued.saturating_add(placed) >= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(cluster: usize, weight: u32, load: u64) -> Candidate {
        Candidate { cluster, weight, load, name_hash: fnv1a(format!("coordinator-{cluster}").as_bytes()) }
    }

    #[test]
    fn least_loaded_per_weight_with_ties_taking_turns() {
        let table: &[(&[Candidate], usize, Option<usize>)] = &[
            (&[candidate(0, 1, 5), candidate(1, 1, 2), candidate(2, 1, 9)], 0, Some(1)),
            // Weight 3 with load 6 (2 per unit) beats weight 1 with load 3.
            (&[candidate(0, 1, 3), candidate(1, 3, 6)], 0, Some(1)),
            (&[candidate(0, 1, 2), candidate(1, 1, 2), candidate(2, 1, 3)], 0, Some(0)),
            (&[candidate(0, 1, 2), candidate(1, 1, 2), candidate(2, 1, 3)], 1, Some(1)),
            (&[candidate(0, 1, 2), candidate(1, 1, 2), candidate(2, 1, 3)], 2, Some(0)),
            (&[], 0, None),
        ];
        for (candidates, turn, expected) in table {
            assert_eq!(least_loaded(candidates, *turn), *expected, "{candidates:?} turn {turn}");
        }
    }

    #[test]
    fn a_user_stays_put_and_only_the_users_of_a_missing_cluster_move() {
        let all: Vec<Candidate> = (0..4).map(|c| candidate(c, 1, 0)).collect();
        let users: Vec<String> = (0..2000).map(|i| format!("user-{i}")).collect();
        let before: Vec<usize> = users.iter().map(|u| user_hash(&all, u).unwrap()).collect();
        // Spread: every cluster gets a fair share (2000 users / 4, ±20%).
        for c in 0..4 {
            let share = before.iter().filter(|b| **b == c).count();
            assert!((400..=600).contains(&share), "cluster {c}: {share} users");
        }
        // Same answer every time, whatever the candidates' order.
        let reversed: Vec<Candidate> = all.iter().rev().copied().collect();
        assert!(users.iter().zip(&before).all(|(u, b)| user_hash(&reversed, u) == Some(*b)));
        // Cluster 2 goes: its users move, nobody else does.
        let without: Vec<Candidate> = all.iter().filter(|c| c.cluster != 2).copied().collect();
        for (user, old) in users.iter().zip(&before) {
            let new = user_hash(&without, user).unwrap();
            if *old == 2 {
                assert_ne!(new, 2);
            } else {
                assert_eq!(new, *old, "{user} moved from {old}");
            }
        }
        // Weights: a weight-3 cluster gets about three times the users.
        let weighted = [candidate(0, 3, 0), candidate(1, 1, 0)];
        let heavy = users.iter().filter(|u| user_hash(&weighted, u) == Some(0)).count();
        assert!((1350..=1650).contains(&heavy), "{heavy} of 2000 on the weight-3 cluster");
    }

    #[test]
    fn saturation() {
        let table = [
            ((10, 0, 0, Some(10), None), true),
            ((9, 0, 0, Some(10), None), false),
            ((0, 3, 2, None, Some(5)), true),
            ((0, 3, 1, None, Some(5)), false),
            ((100, 100, 100, None, None), false),
        ];
        for ((running, queued, placed, max_running, max_queued), expected) in table {
            assert_eq!(saturated(running, queued, placed, max_running, max_queued), expected);
        }
    }
}
