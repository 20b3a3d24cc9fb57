//! DBC, DBC_ingress and DBC_excess (SPEC §4): Pearson correlation of per-window delivered
//! md counts and per-window child-order emits, over every window from the first to the
//! last instant among the group's md `t_ingress`, md `t_app` and the orders' `t_emit`,
//! empty windows included.
//!
//! Empty windows contribute only to `n`, so the sums run over non-empty windows and are
//! kept in integers (`i128`): the correlation is exact up to the final division.

use std::collections::HashMap;

use coalescope_timeline::{Duration, Instant, Sym};
use serde::Serialize;

use crate::windows::WindowCounts;

/// Per-window emit counts of one strategy's orders matched to a group.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OrderWindows {
    pub(crate) width: i64,
    #[serde(with = "crate::partial::sorted_map")]
    pub(crate) counts: HashMap<i64, u32>,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) n: u64,
}

impl OrderWindows {
    /// Empty counts for windows of `width`.
    pub fn new(width: Duration) -> Self {
        OrderWindows {
            width: width.as_nanos(),
            counts: HashMap::new(),
            min: i64::MAX,
            max: i64::MIN,
            n: 0,
        }
    }

    /// One emit at `t_emit`.
    pub fn update(&mut self, t_emit: Instant) {
        let t_emit = t_emit.as_nanos();
        *self
            .counts
            .entry(t_emit.div_euclid(self.width))
            .or_insert(0) += 1;
        self.min = self.min.min(t_emit);
        self.max = self.max.max(t_emit);
        self.n += 1;
    }

    /// Merge a partial (exact).
    pub fn merge(&mut self, other: &OrderWindows) {
        for (&k, &c) in &other.counts {
            *self.counts.entry(k).or_insert(0) += c;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.n += other.n;
    }

    /// Orders counted.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// `(first, last)` emit instant.
    pub fn range(&self) -> Option<(Instant, Instant)> {
        (self.n > 0).then_some((Instant(self.min), Instant(self.max)))
    }

    /// Non-empty windows `(k, count)` sorted by `k`.
    pub fn windows(&self) -> Vec<(i64, u32)> {
        let mut v: Vec<(i64, u32)> = self.counts.iter().map(|(&k, &c)| (k, c)).collect();
        v.sort_unstable();
        v
    }
}

/// Pearson correlation of two sparse window series over windows `k_first..=k_last`
/// (absent windows are 0). `Err` names the constant series.
pub fn pearson(
    x: &[(i64, u32)],
    y: &[(i64, u32)],
    k_first: i64,
    k_last: i64,
) -> Result<f64, &'static str> {
    let n = (k_last - k_first + 1) as i128;
    let in_range = |k: i64| k >= k_first && k <= k_last;
    let (mut sx, mut sxx, mut sy, mut syy, mut sxy) = (0i128, 0i128, 0i128, 0i128, 0i128);
    for &(_, c) in x.iter().filter(|(k, _)| in_range(*k)) {
        sx += c as i128;
        sxx += c as i128 * c as i128;
    }
    for &(_, c) in y.iter().filter(|(k, _)| in_range(*k)) {
        sy += c as i128;
        syy += c as i128 * c as i128;
    }
    let (mut i, mut k) = (0, 0);
    while i < x.len() && k < y.len() {
        match x[i].0.cmp(&y[k].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => k += 1,
            std::cmp::Ordering::Equal => {
                if in_range(x[i].0) {
                    sxy += x[i].1 as i128 * y[k].1 as i128;
                }
                i += 1;
                k += 1;
            }
        }
    }
    let var_x = n * sxx - sx * sx;
    let var_y = n * syy - sy * sy;
    if var_x == 0 {
        return Err("the md window series is constant");
    }
    if var_y == 0 {
        return Err("the order window series is constant");
    }
    let cov = n * sxy - sx * sy;
    Ok(cov as f64 / ((var_x as f64).sqrt() * (var_y as f64).sqrt()))
}

/// DBC of one (md group, strategy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbcResult {
    /// Correlation on the app timeline; null when a series is constant.
    pub dbc: Option<f64>,
    /// Correlation with md counted on `t_ingress`.
    pub dbc_ingress: Option<f64>,
    /// `dbc - dbc_ingress`; null when either is.
    pub dbc_excess: Option<f64>,
    /// Windows from the first to the last instant.
    pub n_windows: u64,
    /// Orders of the strategy matched to the group.
    pub n_orders: u64,
    /// Why `dbc` (or `dbc_ingress`) is null.
    pub reason: Option<String>,
}

/// DBC of a group's md window counts against one strategy's order windows. `md_range`
/// is `(first, last)` over the group's md `t_ingress` and `t_app`.
pub fn dbc(
    app: &WindowCounts,
    ingress: &WindowCounts,
    md_range: Option<(Instant, Instant)>,
    orders: &OrderWindows,
    width: Duration,
) -> DbcResult {
    let width = width.as_nanos();
    let (first, last) = match (md_range, orders.range()) {
        (Some((a, b)), Some((c, d))) => (a.min(c).as_nanos(), b.max(d).as_nanos()),
        (Some((a, b)), None) | (None, Some((a, b))) => (a.as_nanos(), b.as_nanos()),
        (None, None) => (0, -1),
    };
    if last < first {
        return DbcResult {
            dbc: None,
            dbc_ingress: None,
            dbc_excess: None,
            n_windows: 0,
            n_orders: orders.count(),
            reason: Some("no md events and no orders".to_string()),
        };
    }
    let (k_first, k_last) = (first.div_euclid(width), last.div_euclid(width));
    let e = orders.windows();
    let on_app = pearson(&app.windows(), &e, k_first, k_last);
    let on_ingress = pearson(&ingress.windows(), &e, k_first, k_last);
    let reason = match (&on_app, &on_ingress) {
        (Err(r), _) => Some(format!("app timeline: {r}")),
        (_, Err(r)) => Some(format!("ingress timeline: {r}")),
        _ => None,
    };
    let (d, di) = (on_app.ok(), on_ingress.ok());
    DbcResult {
        dbc: d,
        dbc_ingress: di,
        dbc_excess: d.zip(di).map(|(a, b)| a - b),
        n_windows: (k_last - k_first + 1) as u64,
        n_orders: orders.count(),
        reason,
    }
}

/// A stand-alone DBC aggregator for one md group: its md windows and, per strategy, the
/// windows of the orders matched to it.
#[derive(Debug, Clone)]
pub struct Dbc {
    width: Duration,
    app: WindowCounts,
    ingress: WindowCounts,
    md_range: Option<(Instant, Instant)>,
    orders: HashMap<Option<Sym>, OrderWindows>,
}

impl Dbc {
    /// Empty state for windows of `width` in intervals of `per_interval` windows.
    pub fn new(width: Duration, per_interval: i64) -> Self {
        Dbc {
            width,
            app: WindowCounts::new(width, per_interval),
            ingress: WindowCounts::new(width, per_interval),
            md_range: None,
            orders: HashMap::new(),
        }
    }

    /// One md event of the group.
    pub fn update_md(&mut self, t_ingress: Instant, t_app: Option<Instant>) {
        self.ingress.update(t_ingress);
        let (lo, hi) = match t_app {
            Some(a) => {
                self.app.update(a);
                (t_ingress.min(a), t_ingress.max(a))
            }
            None => (t_ingress, t_ingress),
        };
        self.md_range = Some(match self.md_range {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }

    /// One order matched to the group (same symbol and venue).
    pub fn update_order(&mut self, strategy: Option<Sym>, t_emit: Instant) {
        let width = self.width;
        self.orders
            .entry(strategy)
            .or_insert_with(|| OrderWindows::new(width))
            .update(t_emit);
    }

    /// Merge a partial (exact).
    pub fn merge(&mut self, other: &Dbc) {
        self.app.merge(&other.app);
        self.ingress.merge(&other.ingress);
        self.md_range = match (self.md_range, other.md_range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) => x,
            (None, y) => y,
        };
        for (s, ow) in &other.orders {
            self.orders
                .entry(*s)
                .or_insert_with(|| OrderWindows::new(self.width))
                .merge(ow);
        }
    }

    /// DBC per strategy (unsorted).
    pub fn finish(&self) -> Vec<(Option<Sym>, DbcResult)> {
        self.orders
            .iter()
            .map(|(s, ow)| {
                (
                    *s,
                    dbc(&self.app, &self.ingress, self.md_range, ow, self.width),
                )
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pearson_by_hand() {
        // Windows 0..=3: x = [2, 0, 1, 1], y = [1, 0, 0, 1].
        // n=4, sx=4, sxx=6, sy=2, syy=2, sxy=3: cov = 12-8 = 4, var_x = 24-16 = 8,
        // var_y = 8-4 = 4 -> r = 4 / sqrt(32) = 0.70710678...
        let x = [(0, 2), (2, 1), (3, 1)];
        let y = [(0, 1), (3, 1)];
        let r = pearson(&x, &y, 0, 3).unwrap();
        assert!((r - 0.5f64.sqrt()).abs() < 1e-12);
        assert!(pearson(&[(0, 1), (1, 1)], &y, 0, 1).is_err());
        // one empty window makes the same x non-constant.
        assert!(pearson(&[(0, 1), (1, 1)], &[(0, 1)], 0, 2).is_ok());
    }

    #[test]
    fn dbc_range_includes_orders_and_app_instants() {
        // w = 10. md ingress 0, 10; app 5, 25; orders at 25 and 45 -> windows 0..=4.
        let mut d = Dbc::new(Duration(10), 4);
        d.update_md(Instant(0), Some(Instant(5)));
        d.update_md(Instant(10), Some(Instant(25)));
        d.update_order(None, Instant(25));
        d.update_order(None, Instant(45));
        let r = &d.finish()[0].1;
        assert_eq!(r.n_windows, 5);
        // app x = [1,0,1,0,0], y = [0,0,1,0,1]: n=5 sx=2 sxx=2 sy=2 syy=2 sxy=1
        // cov = 5-4 = 1, var = 10-4 = 6 each -> 1/6.
        assert!((r.dbc.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        // ingress x = [1,1,0,0,0]: sxy = 0 -> cov = -4 -> -4/6.
        assert!((r.dbc_ingress.unwrap() + 4.0 / 6.0).abs() < 1e-12);
        assert!((r.dbc_excess.unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn dbc_constant_series_is_undefined() {
        // one window only: every series is constant.
        let mut d = Dbc::new(Duration(10), 4);
        d.update_md(Instant(1), Some(Instant(2)));
        d.update_order(None, Instant(3));
        let r = &d.finish()[0].1;
        assert_eq!(r.dbc, None);
        assert_eq!(r.n_windows, 1);
        assert!(r.reason.as_deref().unwrap().contains("constant"));
    }
}
