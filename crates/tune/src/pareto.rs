//! Pareto frontiers over points to minimize in every coordinate.
//!
//! A point `a` dominates `b` when `a` is no worse in every coordinate and better in at
//! least one. The frontier is the set of points no other point dominates; equal points
//! do not dominate each other, so duplicates are all on it. `+inf` stands for "no value"
//! (e.g. a p99 of a run that delivered nothing): such a point can be dominated but never
//! dominates one that has the value.

use std::cmp::Ordering;

/// True when `a` dominates `b` (no worse everywhere, strictly better somewhere; every
/// coordinate minimized).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Greater => return false,
            Ordering::Less => better = true,
            Ordering::Equal => {}
        }
    }
    better
}

/// For each point, whether it is on the Pareto frontier (non-dominated). Every point must
/// have the same number of coordinates; NaN sorts above `+inf` (as `f64::total_cmp`).
///
/// The points are visited in lexicographic order: a point can only be dominated by one
/// before it, and if it is dominated at all it is dominated by a frontier point before it
/// (domination is transitive), so each point is checked against the frontier found so
/// far: `O(n log n + n · f · d)` for a frontier of `f` points.
pub fn frontier(points: &[Vec<f64>]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| lexicographic(&points[a], &points[b]).then(a.cmp(&b)));
    let mut on = vec![false; points.len()];
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if !kept.iter().any(|&k| dominates(&points[k], &points[i])) {
            on[i] = true;
            kept.push(i);
        }
    }
    on
}

fn lexicographic(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_frontier() {
        // (delay, cpu): (1,5) (2,3) (3,3) (2,4) (4,1) (4,1) (5,5)
        let pts = vec![
            vec![1.0, 5.0],
            vec![2.0, 3.0],
            vec![3.0, 3.0],
            vec![2.0, 4.0],
            vec![4.0, 1.0],
            vec![4.0, 1.0],
            vec![5.0, 5.0],
        ];
        assert_eq!(
            frontier(&pts),
            vec![true, true, false, false, true, true, false]
        );
        assert!(dominates(&[2.0, 3.0], &[3.0, 3.0]));
        assert!(!dominates(&[2.0, 3.0], &[2.0, 3.0]));
        assert!(!dominates(&[1.0, 5.0], &[2.0, 3.0]));
        // No value (+inf) never beats a value.
        let pts = vec![vec![f64::INFINITY, 0.0], vec![1.0, 0.0]];
        assert_eq!(frontier(&pts), vec![false, true]);
        assert!(frontier(&[]).is_empty());
    }

    fn brute_force(points: &[Vec<f64>]) -> Vec<bool> {
        (0..points.len())
            .map(|i| {
                !(0..points.len()).any(|j| {
                    j != i
                        && points[j].iter().zip(&points[i]).all(|(a, b)| a <= b)
                        && points[j].iter().zip(&points[i]).any(|(a, b)| a < b)
                })
            })
            .collect()
    }

    fn points() -> impl Strategy<Value = Vec<Vec<f64>>> {
        (1usize..=4).prop_flat_map(|d| {
            // Small integer coordinates make ties and duplicates common; +inf stands in
            // for a missing value.
            let coord = prop_oneof![
                8 => (0u8..6).prop_map(f64::from),
                1 => Just(f64::INFINITY),
            ];
            prop::collection::vec(prop::collection::vec(coord, d), 0..40)
        })
    }

    proptest! {
        #[test]
        fn frontier_is_exactly_the_non_dominated_set(pts in points()) {
            prop_assert_eq!(frontier(&pts), brute_force(&pts));
        }

        #[test]
        fn frontier_is_non_empty_and_every_point_off_it_is_dominated_by_one_on_it(
            pts in points()
        ) {
            let on = frontier(&pts);
            prop_assert_eq!(pts.is_empty(), !on.contains(&true));
            for (i, p) in pts.iter().enumerate() {
                if !on[i] {
                    prop_assert!((0..pts.len()).any(|j| on[j] && dominates(&pts[j], p)));
                }
            }
        }
    }
}
