//! The order of launches: rounds of one fresh instance of every
//! environment, shuffled with the seed (interleaved), or every repetition
//! of one environment after the other (blocked).

use isobench_environments::EnvKind;
use isobench_results::Order;

/// The environments of one interleaved round, in launch order: every
/// environment once, shuffled with a generator seeded by the experiment's
/// seed and the round.
pub fn round_order(kinds: &[EnvKind], round: u32, seed: u64) -> Vec<EnvKind> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x0DE5_1A7E_0000_0000 ^ u64::from(round));
    let mut order = kinds.to_vec();
    order.shuffle(&mut rng);
    order
}

/// The launch schedule of `rounds` rounds: `(round, environment)` in launch
/// order, rounds numbered from 1. Interleaved: each round holds every
/// environment once ([`round_order`]); blocked: every round of the first
/// environment, then the next.
pub fn schedule(order: Order, kinds: &[EnvKind], rounds: u32, seed: u64) -> Vec<(u32, EnvKind)> {
    match order {
        Order::Blocked => kinds
            .iter()
            .flat_map(|&kind| (1..=rounds).map(move |round| (round, kind)))
            .collect(),
        Order::Interleaved => (1..=rounds)
            .flat_map(|round| {
                round_order(kinds, round, seed)
                    .into_iter()
                    .map(move |kind| (round, kind))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [EnvKind; 3] = [EnvKind::Native, EnvKind::Docker, EnvKind::Gvisor];

    #[test]
    fn interleaved_rounds_hold_every_environment_once_in_a_seeded_order() {
        let plan = schedule(Order::Interleaved, &KINDS, 6, 7);
        assert_eq!(plan.len(), 18);
        for round in 1..=6 {
            let mut in_round: Vec<EnvKind> = plan
                .iter()
                .filter(|(r, _)| *r == round)
                .map(|(_, k)| *k)
                .collect();
            in_round.sort();
            assert_eq!(in_round, KINDS.to_vec(), "round {round}");
        }
        // The rounds are contiguous and in order.
        let rounds: Vec<u32> = plan.iter().map(|(r, _)| *r).collect();
        assert!(rounds.windows(2).all(|w| w[0] <= w[1]));
        // Same seed, same plan; the order differs between rounds for some seed.
        assert_eq!(plan, schedule(Order::Interleaved, &KINDS, 6, 7));
        let orders: std::collections::BTreeSet<Vec<EnvKind>> = (1..=6)
            .map(|round| {
                plan.iter()
                    .filter(|(r, _)| *r == round)
                    .map(|(_, k)| *k)
                    .collect()
            })
            .collect();
        assert!(
            orders.len() > 1,
            "every round in the same order: {orders:?}"
        );
    }

    #[test]
    fn blocked_runs_every_repetition_of_one_environment_first() {
        let plan = schedule(Order::Blocked, &KINDS, 2, 7);
        assert_eq!(
            plan,
            vec![
                (1, EnvKind::Native),
                (2, EnvKind::Native),
                (1, EnvKind::Docker),
                (2, EnvKind::Docker),
                (1, EnvKind::Gvisor),
                (2, EnvKind::Gvisor),
            ]
        );
    }
}
