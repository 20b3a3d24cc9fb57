//! Aggregators over the market-data events of one group: MDDR, BDC / BDC_ingress and
//! delivery-delay quantiles (SPEC §4).

use serde::Serialize;

use crate::gaps::GapSeries;
use crate::quantile::{nearest_rank_sorted_f64, Prob, QuantileSummary, Quantiles};
use crate::windows::{IntervalStat, WindowCounts};

/// MDDR = Q95(app gaps) / Q95(ingress gaps): ingress gaps over all md events sorted by
/// `t_ingress`, app gaps over delivered md events sorted by `t_app`.
#[derive(Debug, Clone)]
pub struct Mddr {
    /// Ingress timeline (all md events).
    pub ingress: GapSeries,
    /// App timeline (delivered md events).
    pub app: GapSeries,
}

/// The value of MDDR or why it is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MddrResult {
    /// The ratio; `None` when undefined.
    pub mddr: Option<f64>,
    /// Why `mddr` is null.
    pub reason: Option<String>,
    /// Q95 of app gaps (ns).
    pub q95_app_gap_ns: Option<i64>,
    /// Q95 of ingress gaps (ns).
    pub q95_ingress_gap_ns: Option<i64>,
    /// Both Q95 are exact nearest-rank.
    pub exact: bool,
}

impl Mddr {
    /// Empty state; `horizon` is the reordering horizon in ns (`None` = exact).
    pub fn new(horizon: Option<i64>, exact_limit: usize) -> Self {
        Mddr {
            ingress: GapSeries::new(horizon, exact_limit),
            app: GapSeries::new(horizon, exact_limit),
        }
    }

    /// One md event: `t_app = None` when never delivered.
    #[inline]
    pub fn update(&mut self, t_ingress: i64, t_app: Option<i64>) {
        self.ingress.update(t_ingress);
        if let Some(a) = t_app {
            self.app.update(a);
        }
    }

    /// Merge a partial (exactness: see [`GapSeries`]).
    pub fn merge(&mut self, other: &Mddr) {
        self.ingress.merge(&other.ingress);
        self.app.merge(&other.app);
    }

    /// The ratio, or null with the SPEC reason.
    pub fn finish(&self) -> MddrResult {
        let ing = self.ingress.finish();
        let app = self.app.finish();
        let qi = ing.quantile(Prob::P95);
        let qa = app.quantile(Prob::P95);
        let exact = ing.is_exact() && app.is_exact();
        let undefined = |reason: String| MddrResult {
            mddr: None,
            reason: Some(reason),
            q95_app_gap_ns: qa,
            q95_ingress_gap_ns: qi,
            exact,
        };
        if !self.ingress.is_reliable() || !self.app.is_reliable() {
            let late = self.ingress.late() + self.app.late();
            let over = self.ingress.overlapping_merges() + self.app.overlapping_merges();
            return undefined(format!(
                "gaps unreliable: {late} instants arrived beyond the reordering horizon and \
                 {over} partials overlapped in time; raise the reordering horizon or use exact mode"
            ));
        }
        if ing.count() < 2 {
            return undefined(format!("ingress timeline has {} gaps (< 2)", ing.count()));
        }
        if app.count() < 2 {
            return undefined(format!("app timeline has {} gaps (< 2)", app.count()));
        }
        match (qa, qi) {
            (Some(a), Some(i)) if i > 0 => MddrResult {
                mddr: Some(a as f64 / i as f64),
                reason: None,
                q95_app_gap_ns: qa,
                q95_ingress_gap_ns: qi,
                exact,
            },
            _ => undefined("Q95 of ingress gaps is 0".to_string()),
        }
    }
}

/// BDC on the app timeline (delivered md by `t_app`) and BDC_ingress (all md by
/// `t_ingress`), per interval.
#[derive(Debug, Clone)]
pub struct Bdc {
    /// Window counts on `t_app` of delivered md events.
    pub app: WindowCounts,
    /// Window counts on `t_ingress` of all md events.
    pub ingress: WindowCounts,
}

/// How the high-BDC threshold is chosen (`--high-bdc median | q:0.75 | abs:0.05`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HighBdc {
    /// Nearest-rank median of the group's interval BDCs (the default).
    Median,
    /// Nearest-rank quantile of the group's interval BDCs.
    Quantile(Prob),
    /// A fixed threshold.
    Absolute(f64),
}

impl HighBdc {
    /// The threshold for a group whose interval BDCs are `bdcs` (any order); `None` when
    /// a quantile is asked of no intervals.
    pub fn threshold(&self, bdcs: &[f64]) -> Option<f64> {
        let p = match self {
            HighBdc::Absolute(t) => return Some(*t),
            HighBdc::Median => Prob::P50,
            HighBdc::Quantile(p) => *p,
        };
        let mut v = bdcs.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        nearest_rank_sorted_f64(&v, p)
    }

    /// The flag value: `median`, `q:0.75`, `abs:0.05`.
    pub fn label(&self) -> String {
        match self {
            HighBdc::Median => "median".to_string(),
            HighBdc::Quantile(p) => format!("q:{}", p.as_f64()),
            HighBdc::Absolute(t) => format!("abs:{t}"),
        }
    }
}

impl std::str::FromStr for HighBdc {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("median") {
            return Ok(HighBdc::Median);
        }
        if let Some(q) = t.strip_prefix("q:") {
            return Prob::parse(q).map(HighBdc::Quantile).ok_or_else(|| {
                format!("high-BDC threshold '{s}': '{q}' is not a probability in [0, 1]")
            });
        }
        if let Some(a) = t.strip_prefix("abs:") {
            return match a.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(HighBdc::Absolute(v)),
                _ => Err(format!(
                    "high-BDC threshold '{s}': '{a}' is not a number in [0, 1]"
                )),
            };
        }
        Err(format!(
            "high-BDC threshold '{s}': use median, q:<p> or abs:<bdc>"
        ))
    }
}

/// BDC per interval of one group, and its high-BDC classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BdcResult {
    /// Intervals existing on the app timeline.
    pub intervals: usize,
    /// The high-BDC threshold; `None` when there are no intervals.
    pub threshold: Option<f64>,
    /// Intervals whose BDC is strictly greater than the threshold.
    pub high_intervals: usize,
    /// Largest interval BDC.
    pub max: Option<f64>,
    /// Nearest-rank median of interval BDCs on the app timeline.
    pub median: Option<f64>,
    /// Intervals existing on the ingress timeline.
    pub ingress_intervals: usize,
    /// Nearest-rank median of interval BDC_ingress.
    pub ingress_median: Option<f64>,
}

impl Bdc {
    /// Empty state for windows of `window` ns and `per_interval` windows per interval.
    pub fn new(window: i64, per_interval: i64) -> Self {
        Bdc {
            app: WindowCounts::new(window, per_interval),
            ingress: WindowCounts::new(window, per_interval),
        }
    }

    /// One md event.
    #[inline]
    pub fn update(&mut self, t_ingress: i64, t_app: Option<i64>) {
        self.ingress.update(t_ingress);
        if let Some(a) = t_app {
            self.app.update(a);
        }
    }

    /// Merge a partial (exact).
    pub fn merge(&mut self, other: &Bdc) {
        self.app.merge(&other.app);
        self.ingress.merge(&other.ingress);
    }

    /// Interval statistics of the app timeline.
    pub fn app_intervals(&self) -> Vec<IntervalStat> {
        self.app.interval_stats()
    }

    /// Interval statistics of the ingress timeline.
    pub fn ingress_intervals(&self) -> Vec<IntervalStat> {
        self.ingress.interval_stats()
    }

    /// Summary with the threshold chosen by `mode`.
    pub fn finish(&self, mode: HighBdc) -> BdcResult {
        let app: Vec<f64> = self.app_intervals().iter().map(IntervalStat::bdc).collect();
        let ing: Vec<f64> = self
            .ingress_intervals()
            .iter()
            .map(IntervalStat::bdc)
            .collect();
        let threshold = if app.is_empty() {
            None
        } else {
            mode.threshold(&app)
        };
        BdcResult {
            intervals: app.len(),
            threshold,
            high_intervals: threshold.map_or(0, |t| app.iter().filter(|&&b| b > t).count()),
            max: app.iter().copied().max_by(f64::total_cmp),
            median: HighBdc::Median.threshold(&app),
            ingress_intervals: ing.len(),
            ingress_median: HighBdc::Median.threshold(&ing),
        }
    }
}

/// Delivery delay `t_app - t_ingress` of delivered events; negative delays are kept in
/// the series (never clamped) and counted.
#[derive(Debug, Clone)]
pub struct DelayQuantiles {
    /// The delays (ns).
    pub delay: Quantiles,
    /// Delays below zero (a clock problem).
    pub negative: u64,
}

impl DelayQuantiles {
    /// Empty state.
    pub fn new(exact_limit: usize) -> Self {
        DelayQuantiles {
            delay: Quantiles::new(exact_limit),
            negative: 0,
        }
    }

    /// One delivered event.
    #[inline]
    pub fn update(&mut self, t_ingress: i64, t_app: i64) {
        let d = t_app - t_ingress;
        self.negative += (d < 0) as u64;
        self.delay.update(d);
    }

    /// Merge a partial.
    pub fn merge(&mut self, other: &DelayQuantiles) {
        self.delay.merge(&other.delay);
        self.negative += other.negative;
    }

    /// p50/p90/p95/p99/p99.9/max.
    pub fn finish(&self) -> QuantileSummary {
        QuantileSummary::of(&self.delay)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mddr_by_hand() {
        // ingress 0,10,20,30,40 -> gaps 10,10,10,10: Q95 = 10.
        // app (delivered 4 of 5) 100,100,100,140 -> gaps 0,0,40: Q95 = rank ceil(2.85)=3 -> 40.
        let mut m = Mddr::new(None, 100);
        for (i, a) in [
            (0, Some(100)),
            (10, Some(100)),
            (20, None),
            (30, Some(100)),
            (40, Some(140)),
        ] {
            m.update(i, a);
        }
        let r = m.finish();
        assert_eq!(r.mddr, Some(4.0));
        assert_eq!(r.q95_app_gap_ns, Some(40));
        assert!(r.exact);
    }

    #[test]
    fn mddr_undefined_cases() {
        let mut few = Mddr::new(None, 100);
        few.update(0, Some(5));
        few.update(10, Some(15));
        let r = few.finish();
        assert_eq!(r.mddr, None);
        assert!(r.reason.unwrap().contains("ingress timeline has 1 gaps"));

        let mut app_few = Mddr::new(None, 100);
        for t in [0, 10, 20, 30] {
            app_few.update(t, (t < 20).then_some(t + 1));
        }
        assert!(app_few
            .finish()
            .reason
            .unwrap()
            .contains("app timeline has 1 gaps"));

        // ingress all at the same instant: Q95(ingress gaps) = 0.
        let mut zero = Mddr::new(None, 100);
        for (i, t) in [7, 7, 7, 7].into_iter().enumerate() {
            zero.update(t, Some(t + i as i64 * 10));
        }
        let r = zero.finish();
        assert_eq!(r.mddr, None);
        assert_eq!(r.reason.as_deref(), Some("Q95 of ingress gaps is 0"));
    }

    #[test]
    fn bdc_by_hand() {
        // w = 10, I = 40. App instants: interval 0 gets windows {0: 3, 2: 1} -> 3/4;
        // interval 1 (40..80) gets {4: 1, 5: 1} -> 1/2; interval 2 gets {8: 2} -> 1.
        // Median of [0.5, 0.75, 1.0] (rank 2) = 0.75; strictly greater: only 1.0.
        let mut b = Bdc::new(10, 4);
        for a in [1, 2, 3, 25, 41, 55, 80, 89] {
            b.update(a - 1, Some(a));
        }
        let r = b.finish(HighBdc::Median);
        assert_eq!(r.intervals, 3);
        assert_eq!(r.threshold, Some(0.75));
        assert_eq!(r.high_intervals, 1);
        assert_eq!(r.max, Some(1.0));
        let abs = b.finish(HighBdc::Absolute(0.5));
        assert_eq!(abs.high_intervals, 2);
        let q = b.finish("q:0.34".parse().unwrap());
        // rank ceil(0.34 * 3) = 2 -> 0.75
        assert_eq!(q.threshold, Some(0.75));
    }

    #[test]
    fn threshold_parsing() {
        assert_eq!("median".parse::<HighBdc>(), Ok(HighBdc::Median));
        assert_eq!("abs:0.05".parse::<HighBdc>(), Ok(HighBdc::Absolute(0.05)));
        assert!("q:1.2".parse::<HighBdc>().is_err());
        assert!("mean".parse::<HighBdc>().is_err());
    }

    #[test]
    fn delay_keeps_negative_values() {
        let mut d = DelayQuantiles::new(100);
        for (i, a) in [(10, 5), (10, 20), (10, 40), (0, 100)] {
            d.update(i, a);
        }
        let s = d.finish();
        assert_eq!(d.negative, 1);
        assert_eq!(s.p50, Some(10)); // sorted -5, 10, 30, 100 -> rank 2
        assert_eq!(s.max, Some(100));
    }
}
