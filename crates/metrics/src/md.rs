//! Aggregators over the market-data events of one group: MDDR, BDC / BDC_ingress and
//! delivery-delay quantiles (SPEC §4).

use serde::{Deserialize, Serialize};

use crate::gaps::GapSeries;
use coalescope_timeline::quantile::nearest_rank;
use coalescope_timeline::{Duration, Instant};

use crate::quantile::{Prob, QuantileSummary, Quantiles};
use crate::windows::{IntervalStat, WindowCounts};

/// MDDR = Q95(app gaps) / Q95(ingress gaps): ingress gaps over all md events sorted by
/// `t_ingress`, app gaps over delivered md events sorted by `t_app`; and its gap profile
/// (`mddr_q50`, `mddr_q99`, `gap_compression`) over the same two gap sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mddr {
    /// Ingress timeline (all md events).
    pub ingress: GapSeries,
    /// App timeline (delivered md events).
    pub app: GapSeries,
}

/// The value of MDDR and of its gap profile, or why they are undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MddrResult {
    /// The ratio; `None` when undefined.
    pub mddr: Option<f64>,
    /// Why `mddr` (and the whole gap profile) is null.
    pub reason: Option<String>,
    /// Q95 of app gaps (ns).
    pub q95_app_gap_ns: Option<i64>,
    /// Q95 of ingress gaps (ns).
    pub q95_ingress_gap_ns: Option<i64>,
    /// Q50(app gaps) / Q50(ingress gaps); `None` when MDDR is undefined or Q50 of the
    /// ingress gaps is 0.
    pub mddr_q50: Option<f64>,
    /// Q99(app gaps) / Q99(ingress gaps); `None` when MDDR is undefined.
    pub mddr_q99: Option<f64>,
    /// Share of app gaps `<= g` minus share of ingress gaps `<= g`; `None` when MDDR is
    /// undefined.
    pub gap_compression: Option<f64>,
    /// Q50 of app gaps (ns).
    pub q50_app_gap_ns: Option<i64>,
    /// Q50 of ingress gaps (ns).
    pub q50_ingress_gap_ns: Option<i64>,
    /// Q99 of app gaps (ns).
    pub q99_app_gap_ns: Option<i64>,
    /// Q99 of ingress gaps (ns).
    pub q99_ingress_gap_ns: Option<i64>,
    /// Share of app gaps `<= g` (exact in either quantile mode).
    pub app_gap_share_le_g: Option<f64>,
    /// Share of ingress gaps `<= g` (exact in either quantile mode).
    pub ingress_gap_share_le_g: Option<f64>,
    /// Every quantile above is exact nearest-rank.
    pub exact: bool,
}

/// `a / i` as a ratio of gap quantiles; `None` unless both exist and `i > 0`.
fn gap_ratio(a: Option<i64>, i: Option<i64>) -> Option<f64> {
    match (a, i) {
        (Some(a), Some(i)) if i > 0 => Some(a as f64 / i as f64),
        _ => None,
    }
}

/// `part / whole`; `None` for an empty series.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Mddr {
    /// Empty state: `horizon` is the reordering horizon (`None` = exact), `compress_gap`
    /// the threshold `g` of `gap_compression`.
    pub fn new(horizon: Option<Duration>, exact_limit: usize, compress_gap: Duration) -> Self {
        Mddr {
            ingress: GapSeries::new(horizon, exact_limit, compress_gap),
            app: GapSeries::new(horizon, exact_limit, compress_gap),
        }
    }

    /// One md event: `t_app = None` when never delivered.
    #[inline]
    pub fn update(&mut self, t_ingress: Instant, t_app: Option<Instant>) {
        self.ingress.update(t_ingress);
        if let Some(a) = t_app {
            self.app.update(a);
        }
    }

    /// Bytes held on the heap (for an engine's memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.ingress.heap_bytes() + self.app.heap_bytes()
    }

    /// Merge a partial (exactness: see [`GapSeries`]).
    pub fn merge(&mut self, other: &Mddr) {
        self.ingress.merge(&other.ingress);
        self.app.merge(&other.app);
    }

    /// MDDR and its gap profile, or null with the SPEC reason.
    pub fn finish(&self) -> MddrResult {
        let ing = self.ingress.finish();
        let app = self.app.finish();
        let ps = [Prob::P50, Prob::P95, Prob::P99];
        let (qi, qa) = (ing.quantiles(&ps), app.quantiles(&ps));
        let mut r = MddrResult {
            mddr: None,
            reason: None,
            q95_app_gap_ns: qa[1],
            q95_ingress_gap_ns: qi[1],
            mddr_q50: None,
            mddr_q99: None,
            gap_compression: None,
            q50_app_gap_ns: qa[0],
            q50_ingress_gap_ns: qi[0],
            q99_app_gap_ns: qa[2],
            q99_ingress_gap_ns: qi[2],
            app_gap_share_le_g: share(self.app.compressed(), app.count()),
            ingress_gap_share_le_g: share(self.ingress.compressed(), ing.count()),
            exact: ing.is_exact() && app.is_exact(),
        };
        r.reason = if !self.ingress.is_reliable() || !self.app.is_reliable() {
            let late = self.ingress.late() + self.app.late();
            let over = self.ingress.overlapping_merges() + self.app.overlapping_merges();
            Some(format!(
                "gaps unreliable: {late} instants arrived beyond the reordering horizon and \
                 {over} partials overlapped in time; raise the reordering horizon or use exact mode"
            ))
        } else if ing.count() < 2 {
            Some(format!("ingress timeline has {} gaps (< 2)", ing.count()))
        } else if app.count() < 2 {
            Some(format!("app timeline has {} gaps (< 2)", app.count()))
        } else if gap_ratio(qa[1], qi[1]).is_none() {
            Some("Q95 of ingress gaps is 0".to_string())
        } else {
            None
        };
        if r.reason.is_none() {
            r.mddr = gap_ratio(qa[1], qi[1]);
            r.mddr_q50 = gap_ratio(qa[0], qi[0]);
            r.mddr_q99 = gap_ratio(qa[2], qi[2]);
            r.gap_compression = r
                .app_gap_share_le_g
                .zip(r.ingress_gap_share_le_g)
                .map(|(a, i)| a - i);
        }
        r
    }
}

/// BDC on the app timeline (delivered md by `t_app`) and BDC_ingress (all md by
/// `t_ingress`), per interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
        nearest_rank(&v, p)
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
    /// Empty state for windows of `window` and `per_interval` windows per interval.
    pub fn new(window: Duration, per_interval: i64) -> Self {
        Bdc {
            app: WindowCounts::new(window, per_interval),
            ingress: WindowCounts::new(window, per_interval),
        }
    }

    /// One md event.
    #[inline]
    pub fn update(&mut self, t_ingress: Instant, t_app: Option<Instant>) {
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

    /// Heap bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.app.heap_bytes() + self.ingress.heap_bytes()
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub fn update(&mut self, t_ingress: Instant, t_app: Instant) {
        let d = (t_app - t_ingress).as_nanos();
        self.negative += (d < 0) as u64;
        self.delay.update(d);
    }

    /// Bytes held on the heap (for an engine's memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.delay.heap_bytes()
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
        let mut m = Mddr::new(None, 100, Duration(0));
        for (i, a) in [
            (0, Some(100)),
            (10, Some(100)),
            (20, None),
            (30, Some(100)),
            (40, Some(140)),
        ] {
            m.update(Instant(i), a.map(Instant));
        }
        let r = m.finish();
        assert_eq!(r.mddr, Some(4.0));
        assert_eq!(r.q95_app_gap_ns, Some(40));
        assert!(r.exact);
    }

    #[test]
    fn mddr_undefined_cases() {
        let mut few = Mddr::new(None, 100, Duration(0));
        few.update(Instant(0), Some(Instant(5)));
        few.update(Instant(10), Some(Instant(15)));
        let r = few.finish();
        assert_eq!(r.mddr, None);
        assert!(r.reason.unwrap().contains("ingress timeline has 1 gaps"));

        let mut app_few = Mddr::new(None, 100, Duration(0));
        for t in [0, 10, 20, 30] {
            app_few.update(Instant(t), (t < 20).then_some(Instant(t + 1)));
        }
        assert!(app_few
            .finish()
            .reason
            .unwrap()
            .contains("app timeline has 1 gaps"));

        // ingress all at the same instant: Q95(ingress gaps) = 0.
        let mut zero = Mddr::new(None, 100, Duration(0));
        for (i, t) in [7, 7, 7, 7].into_iter().enumerate() {
            zero.update(Instant(t), Some(Instant(t + i as i64 * 10)));
        }
        let r = zero.finish();
        assert_eq!(r.mddr, None);
        assert_eq!(r.reason.as_deref(), Some("Q95 of ingress gaps is 0"));
    }

    #[test]
    fn gap_profile_shows_compression_and_dilation_where_mddr_drops() {
        // 40 md events 10 ns apart on the wire (39 gaps of 10); delivered in two batches of
        // 20, at 200 and at 1000. App gaps: 38 x 0 and one 800 (n = 39).
        // Q95 rank ceil(37.05) = 38 -> 0: MDDR = 0 / 10 = 0, "below 1".
        // Q50 rank 20 -> 0: mddr_q50 = 0. Q99 rank ceil(38.61) = 39 -> 800: mddr_q99 = 80.
        // g = 1: 38 of 39 app gaps <= 1, no ingress gap: gap_compression = 38/39.
        let mut m = Mddr::new(None, 1000, Duration(1));
        for i in 0..40 {
            let app = if i < 20 { 200 } else { 1000 };
            m.update(Instant(i * 10), Some(Instant(app)));
        }
        let r = m.finish();
        assert_eq!(r.mddr, Some(0.0));
        assert_eq!(r.mddr_q50, Some(0.0));
        assert_eq!(r.mddr_q99, Some(80.0));
        assert_eq!(r.q99_app_gap_ns, Some(800));
        assert_eq!(r.gap_compression, Some(38.0 / 39.0));
        assert_eq!(r.app_gap_share_le_g, Some(38.0 / 39.0));
        assert_eq!(r.ingress_gap_share_le_g, Some(0.0));

        // The same with g = 10: every ingress gap is <= g as well: 38/39 - 1.
        let mut wide = Mddr::new(None, 1000, Duration(10));
        for i in 0..40 {
            wide.update(
                Instant(i * 10),
                Some(Instant(if i < 20 { 200 } else { 1000 })),
            );
        }
        assert_eq!(wide.finish().gap_compression, Some(38.0 / 39.0 - 1.0));
    }

    #[test]
    fn gap_profile_shares_mddr_undefined_cases() {
        // One ingress gap: everything null.
        let mut few = Mddr::new(None, 100, Duration(1));
        few.update(Instant(0), Some(Instant(5)));
        few.update(Instant(10), Some(Instant(15)));
        let r = few.finish();
        assert_eq!(
            (r.mddr_q50, r.mddr_q99, r.gap_compression),
            (None, None, None)
        );
        // Ingress 0,0,0,10,20 -> gaps 0,0,10,10: Q95 = 10 but Q50 (rank 2) = 0, so MDDR
        // and mddr_q99 exist and mddr_q50 alone is null. App 0,1,2,3,40 -> gaps 1,1,1,37.
        let mut half = Mddr::new(None, 100, Duration(1));
        for (i, a) in [(0, 0), (0, 1), (0, 2), (10, 3), (20, 40)] {
            half.update(Instant(i), Some(Instant(a)));
        }
        let r = half.finish();
        assert_eq!(r.mddr, Some(3.7));
        assert_eq!(r.mddr_q50, None);
        assert_eq!(r.mddr_q99, Some(3.7));
        // app gaps <= 1: 3 of 4; ingress gaps <= 1: 2 of 4.
        assert_eq!(r.gap_compression, Some(0.75 - 0.5));
    }

    #[test]
    fn bdc_by_hand() {
        // w = 10, I = 40. App instants: interval 0 gets windows {0: 3, 2: 1} -> 3/4;
        // interval 1 (40..80) gets {4: 1, 5: 1} -> 1/2; interval 2 gets {8: 2} -> 1.
        // Median of [0.5, 0.75, 1.0] (rank 2) = 0.75; strictly greater: only 1.0.
        let mut b = Bdc::new(Duration(10), 4);
        for a in [1, 2, 3, 25, 41, 55, 80, 89] {
            b.update(Instant(a - 1), Some(Instant(a)));
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
            d.update(Instant(i), Instant(a));
        }
        let s = d.finish();
        assert_eq!(d.negative, 1);
        assert_eq!(s.p50, Some(10)); // sorted -5, 10, 30, 100 -> rank 2
        assert_eq!(s.max, Some(100));
    }
}
