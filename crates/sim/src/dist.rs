//! Host costs as distributions (`scenarios/README.md`, `[host]`): a fixed number of ns,
//! an exponential with a mean, or a measured quantile table sampled by inverting its
//! piecewise-linear CDF. Each cost draws from its own seeded RNG, so adding a
//! distribution never changes the arrivals, and a fixed cost draws nothing (outputs of
//! scenarios with integer costs are unchanged).

use coalescope_timeline::Duration;
use rand::RngExt;
use rand_distr::{Distribution, Exp1};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::arrival::SimRng;

/// Most points a quantile table may have.
pub const MAX_QUANTILE_POINTS: usize = 1024;
/// Largest accepted cost value (fixed ns, exponential mean, or quantile point), in ns.
pub const MAX_COST_NS: i64 = 1_000_000_000;

/// A host cost as written in `[host]`: an integer (fixed ns) or an inline table.
#[derive(Debug, Clone, PartialEq)]
pub enum CostSpec {
    /// `key = 2000`: fixed, in ns.
    Ns(i64),
    /// `key = { dist = "...", ... }`.
    Dist(DistSpec),
}

/// The inline-table forms of a host cost.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum DistSpec {
    /// `{ dist = "fixed", ns = N }`.
    Fixed {
        /// The cost, ns.
        ns: i64,
    },
    /// `{ dist = "exponential", mean_ns = M }`.
    #[serde(alias = "exp")]
    Exponential {
        /// Mean, ns.
        mean_ns: i64,
    },
    /// `{ dist = "quantiles", p = [...], ns = [...] }`.
    Quantiles {
        /// Cumulative probabilities, strictly increasing from 0.0 to 1.0.
        p: Vec<f64>,
        /// The cost at each probability, ns, non-decreasing.
        ns: Vec<i64>,
    },
}

impl Serialize for CostSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CostSpec::Ns(v) => s.serialize_i64(*v),
            CostSpec::Dist(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CostSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CostSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an integer number of ns or a table { dist = \"fixed\" | \"exponential\" | \"quantiles\", ... }",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CostSpec, E> {
                Ok(CostSpec::Ns(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CostSpec, E> {
                i64::try_from(v)
                    .map(CostSpec::Ns)
                    .map_err(|_| E::custom(format!("{v} ns is too large")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CostSpec, A::Error> {
                DistSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(CostSpec::Dist)
            }
        }
        d.deserialize_any(V)
    }
}

/// A validated quantile table: `p` strictly increasing from exactly 0 to exactly 1,
/// `ns` non-decreasing in `0..=MAX_COST_NS`, 2..=[`MAX_QUANTILE_POINTS`] points.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileTable {
    p: Vec<f64>,
    ns: Vec<i64>,
}

/// Why a quantile table was rejected: `array[index]` (or the whole array when `index`
/// is `None`) holds `value`, but `expected`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{array}{} = {value}: expected {expected}", index.map(|i| format!("[{i}]")).unwrap_or_default())]
pub struct QuantileError {
    /// `p` or `ns`.
    pub array: &'static str,
    /// The offending point, if one.
    pub index: Option<usize>,
    /// The value as written.
    pub value: String,
    /// What is accepted.
    pub expected: String,
}

impl QuantileTable {
    /// Checks and builds a table.
    pub fn new(p: Vec<f64>, ns: Vec<i64>) -> Result<Self, QuantileError> {
        let err = |array, index, value: String, expected: &str| QuantileError {
            array,
            index,
            value,
            expected: expected.to_string(),
        };
        if p.len() < 2 || p.len() > MAX_QUANTILE_POINTS {
            return Err(err(
                "p",
                None,
                format!("{} points", p.len()),
                &format!("2..={MAX_QUANTILE_POINTS} points"),
            ));
        }
        if ns.len() != p.len() {
            return Err(err(
                "ns",
                None,
                format!("{} points", ns.len()),
                &format!("as many points as p ({})", p.len()),
            ));
        }
        for (i, &x) in p.iter().enumerate() {
            if i == 0 && x != 0.0 {
                return Err(err("p", Some(0), x.to_string(), "exactly 0.0"));
            }
            if i == p.len() - 1 && x != 1.0 {
                return Err(err("p", Some(i), x.to_string(), "exactly 1.0"));
            }
            if i > 0 && !(x > p[i - 1] && x <= 1.0) {
                return Err(err(
                    "p",
                    Some(i),
                    x.to_string(),
                    &format!("a probability > p[{}] = {} and <= 1.0", i - 1, p[i - 1]),
                ));
            }
        }
        for (i, &v) in ns.iter().enumerate() {
            if !(0..=MAX_COST_NS).contains(&v) {
                return Err(err(
                    "ns",
                    Some(i),
                    v.to_string(),
                    &format!("an integer in 0..={MAX_COST_NS}"),
                ));
            }
            if i > 0 && v < ns[i - 1] {
                return Err(err(
                    "ns",
                    Some(i),
                    v.to_string(),
                    &format!("a value >= ns[{}] = {} (non-decreasing)", i - 1, ns[i - 1]),
                ));
            }
        }
        Ok(QuantileTable { p, ns })
    }

    /// The cumulative probabilities.
    pub fn p(&self) -> &[f64] {
        &self.p
    }

    /// The cost at each probability, ns.
    pub fn ns(&self) -> &[i64] {
        &self.ns
    }

    /// The inverse of the piecewise-linear CDF through the points at `u` in [0, 1]:
    /// linear interpolation between the two points whose `p` bracket `u`.
    pub fn inverse(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        // First knot with p > u; u < 1 keeps it in 1..len, u = 1 lands on the last knot.
        let j = self.p.partition_point(|&x| x <= u);
        if j >= self.p.len() {
            return self.ns[self.ns.len() - 1] as f64;
        }
        let i = j - 1;
        let (p0, p1) = (self.p[i], self.p[j]);
        let (x0, x1) = (self.ns[i] as f64, self.ns[j] as f64);
        x0 + (u - p0) / (p1 - p0) * (x1 - x0)
    }

    /// The mean of the piecewise-linear distribution (each segment uniform), ns.
    pub fn mean_ns(&self) -> f64 {
        self.p
            .windows(2)
            .zip(self.ns.windows(2))
            .map(|(p, x)| (p[1] - p[0]) * (x[0] + x[1]) as f64 / 2.0)
            .sum()
    }
}

/// A validated host cost.
#[derive(Debug, Clone, PartialEq)]
pub enum CostDist {
    /// Always this many ns (draws no random numbers).
    Fixed(Duration),
    /// Exponential with this mean, rounded to whole ns (mean 0 = always 0).
    Exponential(Duration),
    /// Sampled from a quantile table.
    Quantiles(QuantileTable),
}

impl CostDist {
    /// Zero, fixed.
    pub const ZERO: CostDist = CostDist::Fixed(Duration::ZERO);

    /// A fixed cost of `ns`.
    pub const fn fixed(ns: i64) -> CostDist {
        CostDist::Fixed(Duration::from_nanos(ns))
    }

    /// The distribution's mean, ns.
    pub fn mean_ns(&self) -> f64 {
        match self {
            CostDist::Fixed(d) | CostDist::Exponential(d) => d.as_nanos() as f64,
            CostDist::Quantiles(q) => q.mean_ns(),
        }
    }

    /// The fixed value, if the cost is fixed.
    pub fn as_fixed(&self) -> Option<Duration> {
        match self {
            CostDist::Fixed(d) => Some(*d),
            _ => None,
        }
    }

    /// Validates a cost as written; errors name `field` (and the point of a table).
    pub(crate) fn from_spec(
        field: &str,
        spec: &CostSpec,
    ) -> Result<CostDist, crate::scenario::ScenarioError> {
        let ns = |f: String, v: i64| {
            if (0..=MAX_COST_NS).contains(&v) {
                Ok(Duration(v))
            } else {
                Err(crate::scenario::ScenarioError::OutOfRange {
                    field: f,
                    value: v.to_string(),
                    expected: format!("an integer in 0..={MAX_COST_NS}"),
                })
            }
        };
        Ok(match spec {
            CostSpec::Ns(v) => CostDist::Fixed(ns(field.to_string(), *v)?),
            CostSpec::Dist(DistSpec::Fixed { ns: v }) => {
                CostDist::Fixed(ns(format!("{field}.ns"), *v)?)
            }
            CostSpec::Dist(DistSpec::Exponential { mean_ns }) => {
                CostDist::Exponential(ns(format!("{field}.mean_ns"), *mean_ns)?)
            }
            CostSpec::Dist(DistSpec::Quantiles { p, ns }) => {
                CostDist::Quantiles(QuantileTable::new(p.clone(), ns.clone()).map_err(|e| {
                    crate::scenario::ScenarioError::OutOfRange {
                        field: format!(
                            "{field}.{}{}",
                            e.array,
                            e.index.map(|i| format!("[{i}]")).unwrap_or_default()
                        ),
                        value: e.value,
                        expected: e.expected,
                    }
                })?)
            }
        })
    }

    /// A sampler drawing from `rng`.
    pub(crate) fn sampler(&self, rng: SimRng) -> CostSampler {
        CostSampler {
            dist: self.clone(),
            rng,
        }
    }
}

/// Serialized like the TOML it came from: an integer when fixed, else the inline table.
impl Serialize for CostDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CostDist::Fixed(d) => s.serialize_i64(d.as_nanos()),
            CostDist::Exponential(d) => {
                let mut st = s.serialize_struct("CostDist", 2)?;
                st.serialize_field("dist", "exponential")?;
                st.serialize_field("mean_ns", &d.as_nanos())?;
                st.end()
            }
            CostDist::Quantiles(q) => {
                let mut st = s.serialize_struct("CostDist", 3)?;
                st.serialize_field("dist", "quantiles")?;
                st.serialize_field("p", &q.p)?;
                st.serialize_field("ns", &q.ns)?;
                st.end()
            }
        }
    }
}

/// Draws one cost after another from its own RNG.
#[derive(Debug)]
pub(crate) struct CostSampler {
    dist: CostDist,
    rng: SimRng,
}

impl CostSampler {
    /// The next cost, ns (>= 0).
    #[inline(always)]
    pub(crate) fn sample(&mut self) -> i64 {
        if let CostDist::Fixed(d) = &self.dist {
            return d.as_nanos();
        }
        self.sample_random()
    }

    /// A draw of a random distribution.
    #[inline(never)]
    fn sample_random(&mut self) -> i64 {
        match &self.dist {
            CostDist::Fixed(d) => d.as_nanos(),
            CostDist::Exponential(mean) => {
                if mean.as_nanos() == 0 {
                    return 0;
                }
                let e: f64 = Exp1.sample(&mut self.rng);
                (e * mean.as_nanos() as f64).round() as i64
            }
            CostDist::Quantiles(q) => {
                let u: f64 = self.rng.random();
                q.inverse(u).round() as i64
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table() -> QuantileTable {
        QuantileTable::new(
            vec![0.0, 0.5, 0.9, 0.99, 0.999, 1.0],
            vec![1500, 2400, 3100, 7000, 15000, 30000],
        )
        .unwrap()
    }

    #[test]
    fn inverse_is_exact_at_the_knots_and_linear_between() {
        let q = table();
        // At each knot the inverse is the knot's ns.
        for (&p, &x) in q.p().iter().zip(q.ns()) {
            assert_eq!(q.inverse(p), x as f64, "p = {p}");
        }
        // Hand-computed: u = 0.25 is halfway from (0, 1500) to (0.5, 2400): 1950.
        assert_eq!(q.inverse(0.25), 1950.0);
        // u = 0.7: halfway from (0.5, 2400) to (0.9, 3100): 2750.
        assert!((q.inverse(0.7) - 2750.0).abs() < 1e-9);
        // u = 0.945: halfway from (0.9, 3100) to (0.99, 7000): 5050.
        assert!((q.inverse(0.945) - 5050.0).abs() < 1e-6);
        // u = 0.9995: halfway from (0.999, 15000) to (1, 30000): 22500.
        assert!((q.inverse(0.9995) - 22500.0).abs() < 1e-3);
        // Mean: 0.5·1950 + 0.4·2750 + 0.09·5050 + 0.009·11000 + 0.001·22500.
        let mean = 0.5 * 1950.0 + 0.4 * 2750.0 + 0.09 * 5050.0 + 0.009 * 11000.0 + 0.001 * 22500.0;
        assert!((q.mean_ns() - mean).abs() < 1e-6, "{}", q.mean_ns());
    }

    #[test]
    fn empirical_quantiles_match_the_table() {
        // 200 000 draws; the empirical CDF at a knot p has standard error
        // sqrt(p (1 - p) / n) <= 0.0011; allow 4.5 standard errors in probability,
        // mapped through the table's slope on each side of the knot.
        let q = table();
        let mut s = CostDist::Quantiles(q.clone()).sampler(crate::arrival::derived_rng(3, "t"));
        let n = 200_000usize;
        let mut xs: Vec<i64> = (0..n).map(|_| s.sample()).collect();
        xs.sort_unstable();
        for &p in &q.p()[1..q.p().len() - 1] {
            let se = (p * (1.0 - p) / n as f64).sqrt();
            let lo = q.inverse(p - 4.5 * se).floor() as i64 - 1;
            let hi = q.inverse(p + 4.5 * se).ceil() as i64 + 1;
            // Nearest-rank empirical quantile.
            let k = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            let emp = xs[k];
            assert!(lo <= emp && emp <= hi, "p {p}: {emp} not in [{lo}, {hi}]");
        }
        assert!(xs[0] >= 1500 && xs[n - 1] <= 30000);
    }

    #[test]
    fn fixed_draws_nothing_and_exponential_zero_draws_nothing() {
        use rand::Rng;
        let mut s = CostDist::fixed(700).sampler(crate::arrival::derived_rng(1, "x"));
        for _ in 0..10 {
            assert_eq!(s.sample(), 700);
        }
        assert_eq!(
            s.rng.next_u64(),
            crate::arrival::derived_rng(1, "x").next_u64()
        );
        let mut e =
            CostDist::Exponential(Duration::ZERO).sampler(crate::arrival::derived_rng(1, "x"));
        assert_eq!(e.sample(), 0);
        assert_eq!(
            e.rng.next_u64(),
            crate::arrival::derived_rng(1, "x").next_u64()
        );
    }

    #[test]
    fn invalid_tables_name_the_array_and_index() {
        let bad = |p: Vec<f64>, ns: Vec<i64>| QuantileTable::new(p, ns).unwrap_err().to_string();
        assert_eq!(
            bad(vec![0.1, 1.0], vec![1, 2]),
            "p[0] = 0.1: expected exactly 0.0"
        );
        assert_eq!(
            bad(vec![0.0, 0.9], vec![1, 2]),
            "p[1] = 0.9: expected exactly 1.0"
        );
        assert_eq!(
            bad(vec![0.0, 0.5, 0.5, 1.0], vec![1, 2, 3, 4]),
            "p[2] = 0.5: expected a probability > p[1] = 0.5 and <= 1.0"
        );
        assert_eq!(
            bad(vec![0.0, 0.5, 1.0], vec![1, 5, 3]),
            "ns[2] = 3: expected a value >= ns[1] = 5 (non-decreasing)"
        );
        assert_eq!(
            bad(vec![0.0, 1.0], vec![-1, 3]),
            "ns[0] = -1: expected an integer in 0..=1000000000"
        );
        assert_eq!(
            bad(vec![0.0, 1.0], vec![1]),
            "ns = 1 points: expected as many points as p (2)"
        );
        assert_eq!(
            bad(vec![0.0], vec![1]),
            "p = 1 points: expected 2..=1024 points"
        );
        assert!(bad(vec![0.0, f64::NAN, 1.0], vec![1, 2, 3]).starts_with("p[1] = NaN"));
        let many = (0..=1024)
            .map(|i| f64::from(i) / 1024.0)
            .collect::<Vec<_>>();
        assert!(bad(many, vec![0; 1025]).contains("2..=1024 points"));
    }
}
