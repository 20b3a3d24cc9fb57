//! Tick metrics of SPEC §6: per scope, at every tick `t = k T` (epoch-aligned), the
//! metrics of SPEC §4 over events with instants `< t`, in one streaming pass.
//!
//! Columns ([`TickRow`]): `bdc`, `bdc_ingress` (BDC of the interval `[t - T, t)` with
//! `I = T`), `bdc_excess`; `mddr`, `mddr_q99` (gap sets of md events with instants in
//! `[t - R, t)`: a gap counts when both of its events are in the window) and
//! `dbc_excess` (Pearson correlation over the `R / w` windows of `[t - R, t)`, empty
//! windows included); `dccd` over episodes whose md transition has `t_ingress` in
//! `[t - R, t)` and whose both events were delivered before `t`; `cte` at horizon τ over
//! fills with `t - R_cte <= t_fill` and `t_fill + τ < t`, each classed by the app BDC of
//! its order's emit interval in the scope, high if strictly above the nearest-rank
//! median of the scope's defined interval BDCs in `[t - R_cte, t)`, low otherwise,
//! skipped when that interval had no delivery. All quantiles are exact nearest-rank.
//!
//! ## Input contract (offline and live alike)
//! Records may be pushed in any order as long as every instant they carry (`t_ingress`,
//! `t_app`, `t_emit`, `t_fill`) is at or after the last emitted tick; a record with an
//! earlier instant is *late*: dropped whole and counted ([`TickCounts::late`]). A live
//! feeder pushes records as it observes them (md at `t_app`, or at `t_ingress` when never
//! delivered; orders at `t_emit`; fills at `t_fill`) and calls [`TickEngine::advance_to`]
//! with its clock; ticks are emitted once `t <= now - horizon` (the reordering horizon,
//! [`TickConfig::horizon`]), so with a horizon at least the largest delivery delay no md
//! event is late. The engine never reads a clock. Rows of the same tick are sorted by
//! scope name; a scope's first row is the first tick after its earliest instant, and it
//! then has a row at every tick until [`TickEngine::finish`], which emits every tick up
//! to the first one after the last instant (and after every pending fill's `t_fill + τ`).
//! Because every row depends only on the set of accepted records, any feeding order
//! that makes no record late gives the same rows.
//!
//! Orders carry no stream: an order goes to every scope whose symbol and venue parts
//! match (SPEC §4), kept per (symbol, venue) projection of the scope, so a scope that
//! appears later still sees earlier orders. A fill's markout uses the last quote of its
//! order's (symbol, venue), any stream, with `t_ingress <= t_fill + τ`, ties going to the
//! largest (stream name, seq), as in [`crate::cost`].
//!
//! ## Cost and memory
//! Per md event: one hash lookup (cached for runs of the same scope), two window-counter
//! increments and two pushes into reused instant buffers; per transition / ctl event a
//! scan of the items within `H` of it (the episodes it forms). Per tick and scope:
//! `O(T / w)` to fold the interval's windows, `O(gaps in R)` for the exact gap quantiles
//! (each gap is in `R / T` windows: `O(R / T)` amortized per event), and, while the scope
//! has matured fills in `[t - R_cte, t)`, `O(R_cte / T + fills)` for the median and CTE.
//! Memory per scope: the open intervals (`3 T / w` counters and their instants), `R / T`
//! finalized interval summaries, the gaps of the last `R`, `2 R_cte / T` interval BDCs and
//! the matured fills of the last `R_cte`; globally the ctl events and transitions of the
//! last `H` plus the horizon, the quotes since the oldest pending fill's horizon and the
//! orders of the last `2 R_cte` (an older order's fills are counted as `fills_no_order`).
//! Buffers are reused: no allocation per event after warm-up.
//!
//! `fill + τ < t` is strict: SPEC §6 writes `<=`, but a quote at exactly `t` is not
//! among the instants `< t` the tick covers.

use std::collections::VecDeque;

use coalescope_timeline::{Duration, Event, EventKind, Fill, Order, Strings, Sym};
use serde::Serialize;
use thiserror::Error;

use crate::fasthash::FastMap;
use crate::fifo_quantile::FifoQuantiles;
use crate::quantile::Prob;
use coalescope_timeline::quantile::nearest_rank;

/// Invalid tick configuration; `flag` names the cli flag.
#[derive(Debug, Error, PartialEq)]
#[error("{flag}: {reason}")]
pub struct TickError {
    /// The flag (`--tick`, `--window`, ...).
    pub flag: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Which keys make a scope: any subset of {stream, symbol, venue}; none = one desk-wide
/// scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TickScope {
    /// Scope by stream.
    pub stream: bool,
    /// Scope by symbol.
    pub symbol: bool,
    /// Scope by venue.
    pub venue: bool,
}

impl Default for TickScope {
    fn default() -> Self {
        TickScope {
            stream: false,
            symbol: true,
            venue: true,
        }
    }
}

impl std::str::FromStr for TickScope {
    type Err = TickError;
    /// `symbol,venue` (any subset of stream, symbol, venue) or `desk` for one scope.
    fn from_str(s: &str) -> Result<Self, TickError> {
        let mut out = TickScope {
            stream: false,
            symbol: false,
            venue: false,
        };
        if s.trim().eq_ignore_ascii_case("desk") {
            return Ok(out);
        }
        for part in s.split(',').map(str::trim) {
            match part {
                "stream" => out.stream = true,
                "symbol" => out.symbol = true,
                "venue" => out.venue = true,
                other => {
                    return Err(TickError {
                        flag: "--scope",
                        reason: format!(
                            "'{other}' is not one of stream, symbol, venue (or 'desk' alone)"
                        ),
                    })
                }
            }
        }
        Ok(out)
    }
}

/// Tick configuration (SPEC §6 defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickConfig {
    /// Tick period T (default 100 ms); the BDC interval is `[t - T, t)`.
    pub tick: Duration,
    /// Trailing window R of mddr, dbc_excess and dccd (default 1 s, a multiple of T).
    pub window: Duration,
    /// CTE window R_cte (default 60 s, a multiple of T).
    pub cte_window: Duration,
    /// Markout horizon τ (default 1 s).
    pub tau: Duration,
    /// BDC/DBC window w (default 250 µs, 100–500 µs, T a multiple of it).
    pub bucket: Duration,
    /// DCCD pairing horizon H (default 1 ms).
    pub dccd_horizon: Duration,
    /// Reordering horizon: `advance_to(now)` emits ticks `t <= now - horizon` (default 0).
    pub horizon: Duration,
    /// Scope keys (default symbol × venue).
    pub scope: TickScope,
}

impl Default for TickConfig {
    fn default() -> Self {
        TickConfig {
            tick: Duration::from_millis(100),
            window: Duration::from_secs(1),
            cte_window: Duration::from_secs(60),
            tau: Duration::from_secs(1),
            bucket: Duration::from_micros(250),
            dccd_horizon: Duration::from_millis(1),
            horizon: Duration(0),
            scope: TickScope::default(),
        }
    }
}

/// Largest `R / T` and `R_cte / T` (ring lengths) and `T / w` (windows per interval).
pub const MAX_RATIO: i64 = 1_000_000;

impl TickConfig {
    /// Check every parameter; the error names the flag.
    pub fn validate(&self) -> Result<(), TickError> {
        let err = |flag, reason: String| Err(TickError { flag, reason });
        let (t, w) = (self.tick.as_nanos(), self.bucket.as_nanos());
        if !(100_000..=500_000).contains(&w) {
            return err("--bucket", format!("{w} ns is outside 100–500 µs"));
        }
        if t <= 0 || t % w != 0 || t / w > MAX_RATIO {
            return err(
                "--tick",
                format!("{t} ns must be a positive multiple of the window w = {w} ns (at most {MAX_RATIO} windows)"),
            );
        }
        let r = self.window.as_nanos();
        if r <= 0 || r % t != 0 || r / t > MAX_RATIO {
            return err(
                "--window",
                format!("{r} ns must be a positive multiple of the tick {t} ns (at most {MAX_RATIO} ticks)"),
            );
        }
        let rc = self.cte_window.as_nanos();
        if rc <= 0 || rc % t != 0 || rc / t > MAX_RATIO {
            return err(
                "--cte-window",
                format!("{rc} ns must be a positive multiple of the tick {t} ns (at most {MAX_RATIO} ticks)"),
            );
        }
        if self.tau.as_nanos() <= 0 {
            return err(
                "--tau",
                format!("{} ns must be positive", self.tau.as_nanos()),
            );
        }
        if self.dccd_horizon.as_nanos() < 0 {
            return err(
                "--dccd-horizon",
                format!("{} ns must not be negative", self.dccd_horizon.as_nanos()),
            );
        }
        if self.horizon.as_nanos() < 0 {
            return err(
                "--horizon",
                format!("{} ns must not be negative", self.horizon.as_nanos()),
            );
        }
        Ok(())
    }
}

/// One row of the tick table (SPEC §6 columns; `None` = undefined, an empty CSV field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickRow {
    /// Scope name: `key=value` parts joined by `,` (`desk` for the desk-wide scope).
    pub scope: String,
    /// The tick instant `t = k T`.
    pub t_tick_ns: i64,
    /// App-timeline BDC of `[t - T, t)`.
    pub bdc: Option<f64>,
    /// Ingress-timeline BDC of `[t - T, t)`.
    pub bdc_ingress: Option<f64>,
    /// `bdc - bdc_ingress`.
    pub bdc_excess: Option<f64>,
    /// `Q95(app gaps) / Q95(ingress gaps)` over `[t - R, t)`.
    pub mddr: Option<f64>,
    /// `Q99(app gaps) / Q99(ingress gaps)` over `[t - R, t)`.
    pub mddr_q99: Option<f64>,
    /// `DBC - DBC_ingress` over the windows of `[t - R, t)`.
    pub dbc_excess: Option<f64>,
    /// Inverted / episodes over `[t - R, t)`.
    pub dccd: Option<f64>,
    /// CTE at τ (bps) over fills of `[t - R_cte, t)` matured by `t`.
    pub cte: Option<f64>,
}

impl TickRow {
    fn empty() -> Self {
        TickRow {
            scope: String::new(),
            t_tick_ns: 0,
            bdc: None,
            bdc_ingress: None,
            bdc_excess: None,
            mddr: None,
            mddr_q99: None,
            dbc_excess: None,
            dccd: None,
            cte: None,
        }
    }
}

/// Counters of what the engine skipped (never silently).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickCounts {
    /// Records dropped because an instant was before the last emitted tick.
    pub late: u64,
    /// DCCD episodes excluded because a side was never delivered.
    pub dccd_excluded: u64,
    /// Matured fills whose order is unknown (never pushed or older than `2 R_cte`).
    pub fills_no_order: u64,
    /// Matured fills without a quote (undefined markout).
    pub fills_no_quote: u64,
    /// (fill, scope) pairs skipped: the emit interval had no delivery in the scope, or is
    /// not a finalized interval within the last `2 R_cte`.
    pub fills_unclassified: u64,
    /// Orders whose (symbol, venue) matches no scope when their fills matured.
    pub orders_without_scope: u64,
}

type ScopeKey = [Option<Sym>; 3];
type SvKey = (Option<Sym>, Option<Sym>);

/// Accumulators of one not yet finalized interval of a scope.
#[derive(Debug, Clone, Default)]
struct Open {
    app: Vec<u32>,
    ing: Vec<u32>,
    app_t: Vec<i64>,
    ing_t: Vec<i64>,
}

/// Window sums of one finalized interval (for the sliding DBC).
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    xa: i128,
    xxa: i128,
    xi: i128,
    xxi: i128,
    y: i128,
    yy: i128,
    xya: i128,
    xyi: i128,
}

impl Sums {
    fn add(&mut self, o: &Sums, sign: i128) {
        self.xa += sign * o.xa;
        self.xxa += sign * o.xxa;
        self.xi += sign * o.xi;
        self.xxi += sign * o.xxi;
        self.y += sign * o.y;
        self.yy += sign * o.yy;
        self.xya += sign * o.xya;
        self.xyi += sign * o.xyi;
    }
}

#[derive(Debug, Clone)]
struct Scope {
    name: String,
    okey: usize,
    first_k: i64,
    open: VecDeque<Open>,
    /// Interval index of `open[0]`.
    open_base: i64,
    sums: VecDeque<Sums>,
    total: Sums,
    last_app: Option<(i64, i64)>,
    last_ing: Option<(i64, i64)>,
    /// `(interval of the first event, gap)` of the last `R`.
    gaps_app: FifoQuantiles,
    gaps_ing: FifoQuantiles,
    /// `(interval, app BDC)` of the last `2 R_cte / T` finalized intervals.
    bdc_hist: VecDeque<(i64, Option<f64>)>,
    /// Matured classified fills `(t_fill, emit BDC, markout)`.
    matured: VecDeque<(i64, f64, f64)>,
    /// DCCD difference counts `(episodes, inverted)` by tick index from `diff_base`.
    diff: VecDeque<(i64, i64)>,
    diff_base: i64,
    ep: i64,
    inv: i64,
    /// The row parts of the last finalized interval.
    cur: TickRow,
}

#[derive(Debug, Clone)]
struct OKey {
    scopes: Vec<usize>,
    /// Per-window emit counts of open intervals, from `open_base`.
    open: VecDeque<Vec<u32>>,
    open_base: i64,
}

#[derive(Debug, Clone, Copy)]
struct OrderRec {
    sv: SvKey,
    okey: usize,
    side: f64,
    t_emit: i64,
}

#[derive(Debug, Clone, Copy)]
struct Quote {
    t: i64,
    stream: Sym,
    seq: u64,
    mid: f64,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    t: i64,
    app: Option<i64>,
    sym: Option<Sym>,
    venue: Option<Sym>,
    scope: usize,
}

#[derive(Debug, Clone, Copy)]
struct PendingFill {
    t_fill: i64,
    child_id: u64,
    px: f64,
}

/// The streaming tick engine (module docs).
#[derive(Debug, Clone)]
pub struct TickEngine {
    cfg: TickConfig,
    t: i64,
    per: usize,
    r_ticks: i64,
    cte_ticks: i64,
    scopes: Vec<Scope>,
    /// Interval caches of ingress, app and emit instants.
    grid_i: Grid,
    grid_a: Grid,
    grid_o: Grid,
    order: Vec<usize>,
    index: FastMap<ScopeKey, usize>,
    /// `(stream, symbol, venue)` of an md event -> `(scope, quote book)`.
    route: FastMap<ScopeKey, (usize, usize)>,
    last_route: Option<(ScopeKey, (usize, usize))>,
    okeys: Vec<OKey>,
    okey_index: FastMap<SvKey, usize>,
    orders: FastMap<u64, OrderRec>,
    order_fifo: VecDeque<(i64, u64)>,
    quotes: Vec<VecDeque<Quote>>,
    quote_index: FastMap<SvKey, usize>,
    fills: VecDeque<PendingFill>,
    trans: VecDeque<Item>,
    ctl: VecDeque<Item>,
    /// Next interval to finalize (`None` before the first emitted tick).
    next_j: Option<i64>,
    min_t: i64,
    max_t: i64,
    counts: TickCounts,
    pool: Vec<Open>,
    ord_pool: Vec<Vec<u32>>,
    scratch_f: Vec<f64>,
    ord_now: Vec<Option<Vec<u32>>>,
}

/// Interval `j` and window of an instant: the last interval is cached (no division for a
/// run of instants in one interval) and the window found by a reciprocal multiply.
#[derive(Debug, Clone, Copy)]
struct Grid {
    t: i64,
    w: u64,
    /// `floor((2^64 - 1) / w)`: `d * inv_w >> 64` is `floor(d / w)` or one less.
    inv_w: u64,
    lo: i128,
    j: i64,
}

impl Grid {
    fn new(t: i64, w: i64) -> Self {
        let w = w.max(1) as u64;
        Grid {
            t,
            w,
            inv_w: u64::MAX / w,
            lo: 0,
            j: 0,
        }
    }

    #[inline]
    fn locate(&mut self, x: i64) -> (i64, usize) {
        let mut d = x as i128 - self.lo;
        if !(0..self.t as i128).contains(&d) {
            self.j = x.div_euclid(self.t);
            d = x.rem_euclid(self.t) as i128;
            self.lo = x as i128 - d;
        }
        let d = d as u64;
        let mut q = ((d as u128 * self.inv_w as u128) >> 64) as u64;
        if (q + 1) * self.w <= d {
            q += 1;
        }
        (self.j, q as usize)
    }
}

fn fdiv(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

impl TickEngine {
    /// A new engine; the configuration is validated.
    pub fn new(cfg: TickConfig) -> Result<Self, TickError> {
        cfg.validate()?;
        let t = cfg.tick.as_nanos();
        let w = cfg.bucket.as_nanos();
        Ok(TickEngine {
            cfg,
            t,
            per: (t / w) as usize,
            r_ticks: cfg.window.as_nanos() / t,
            cte_ticks: cfg.cte_window.as_nanos() / t,
            scopes: Vec::new(),
            grid_i: Grid::new(t, w),
            grid_a: Grid::new(t, w),
            grid_o: Grid::new(t, w),
            order: Vec::new(),
            index: FastMap::default(),
            route: FastMap::default(),
            last_route: None,
            okeys: Vec::new(),
            okey_index: FastMap::default(),
            orders: FastMap::default(),
            order_fifo: VecDeque::new(),
            quotes: Vec::new(),
            quote_index: FastMap::default(),
            fills: VecDeque::new(),
            trans: VecDeque::new(),
            ctl: VecDeque::new(),
            next_j: None,
            min_t: i64::MAX,
            max_t: i64::MIN,
            counts: TickCounts::default(),
            pool: Vec::new(),
            ord_pool: Vec::new(),
            scratch_f: Vec::new(),
            ord_now: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TickConfig {
        &self.cfg
    }

    /// What was skipped so far.
    pub fn counts(&self) -> TickCounts {
        self.counts
    }

    /// True when `t` is at or after the last emitted tick (else the record is late).
    #[inline]
    fn accepts(&self, t: i64) -> bool {
        match self.next_j {
            Some(j) => t >= j * self.t,
            None => true,
        }
    }

    #[inline]
    fn seen(&mut self, t: i64) {
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
    }

    fn okey_of(&mut self, sv: SvKey) -> usize {
        if let Some(&i) = self.okey_index.get(&sv) {
            return i;
        }
        let i = self.okeys.len();
        self.okeys.push(OKey {
            scopes: Vec::new(),
            open: VecDeque::new(),
            open_base: 0,
        });
        self.okey_index.insert(sv, i);
        i
    }

    /// Scope and quote book of an md event (one hash lookup, none for a run of the same
    /// key).
    fn route_of(&mut self, e: &Event, strings: &Strings) -> (usize, usize) {
        let key: ScopeKey = [Some(e.stream), e.symbol, e.venue];
        if let Some((k, r)) = self.last_route {
            if k == key {
                return r;
            }
        }
        let r = match self.route.get(&key) {
            Some(&r) => r,
            None => self.new_route(key, strings),
        };
        self.last_route = Some((key, r));
        r
    }

    #[cold]
    fn new_route(&mut self, key: ScopeKey, strings: &Strings) -> (usize, usize) {
        let sc = self.cfg.scope;
        let skey: ScopeKey = [
            if sc.stream { key[0] } else { None },
            if sc.symbol { key[1] } else { None },
            if sc.venue { key[2] } else { None },
        ];
        let s = match self.index.get(&skey) {
            Some(&i) => i,
            None => self.new_scope(skey, strings),
        };
        let q = self.quote_book((key[1], key[2]));
        self.route.insert(key, (s, q));
        (s, q)
    }

    fn quote_book(&mut self, sv: SvKey) -> usize {
        if let Some(&i) = self.quote_index.get(&sv) {
            return i;
        }
        self.quotes.push(VecDeque::new());
        self.quote_index.insert(sv, self.quotes.len() - 1);
        self.quotes.len() - 1
    }

    #[cold]
    fn new_scope(&mut self, key: ScopeKey, strings: &Strings) -> usize {
        let sc = self.cfg.scope;
        let mut parts = Vec::new();
        for (on, name, v) in [
            (sc.stream, "stream", key[0]),
            (sc.symbol, "symbol", key[1]),
            (sc.venue, "venue", key[2]),
        ] {
            if on {
                parts.push(format!("{name}={}", strings.resolve_opt(v).unwrap_or("")));
            }
        }
        let name = if parts.is_empty() {
            "desk".to_string()
        } else {
            parts.join(",")
        };
        let okey = self.okey_of((key[1], key[2]));
        let i = self.scopes.len();
        self.okeys[okey].scopes.push(i);
        self.scopes.push(Scope {
            name,
            okey,
            first_k: i64::MAX,
            open: VecDeque::new(),
            open_base: 0,
            sums: VecDeque::new(),
            total: Sums::default(),
            last_app: None,
            last_ing: None,
            gaps_app: FifoQuantiles::new(),
            gaps_ing: FifoQuantiles::new(),
            bdc_hist: VecDeque::new(),
            matured: VecDeque::new(),
            diff: VecDeque::new(),
            diff_base: 0,
            ep: 0,
            inv: 0,
            cur: TickRow::empty(),
        });
        self.index.insert(key, i);
        let pos = self
            .order
            .partition_point(|&o| self.scopes[o].name < self.scopes[i].name);
        self.order.insert(pos, i);
        i
    }

    #[inline]
    fn open_slot<'a>(
        open: &'a mut VecDeque<Open>,
        base: &mut i64,
        pool: &mut Vec<Open>,
        per: usize,
        j: i64,
    ) -> &'a mut Open {
        if let Some(idx) = j.checked_sub(*base) {
            if (idx as u64) < open.len() as u64 {
                return &mut open[idx as usize];
            }
        }
        if open.is_empty() {
            *base = j;
        }
        while j < *base {
            open.push_front(Self::fresh(pool, per));
            *base -= 1;
        }
        let idx = (j - *base) as usize;
        while open.len() <= idx {
            open.push_back(Self::fresh(pool, per));
        }
        &mut open[idx]
    }

    fn fresh(pool: &mut Vec<Open>, per: usize) -> Open {
        pool.pop().unwrap_or_else(|| Open {
            app: vec![0; per],
            ing: vec![0; per],
            app_t: Vec::new(),
            ing_t: Vec::new(),
        })
    }

    /// One md or ctl event (pushed when observed; module docs).
    pub fn push_event(&mut self, e: &Event, strings: &Strings) {
        let ti = e.t_ingress.as_nanos();
        let ta = e.t_app.map(|a| a.as_nanos());
        if !self.accepts(ti) || ta.is_some_and(|a| !self.accepts(a)) {
            self.counts.late += 1;
            return;
        }
        self.seen(ti);
        if let Some(a) = ta {
            self.seen(a);
        }
        let is_md = e.kind == EventKind::Md;
        let (s, qb) = if is_md {
            self.route_of(e, strings)
        } else {
            (usize::MAX, usize::MAX)
        };
        if is_md {
            let per = self.per;
            let sc = &mut self.scopes[s];
            let (j, x) = self.grid_i.locate(ti);
            let mut first_j = j;
            let slot = Self::open_slot(&mut sc.open, &mut sc.open_base, &mut self.pool, per, j);
            slot.ing[x] += 1;
            slot.ing_t.push(ti);
            if let Some(a) = ta {
                let (j, x) = self.grid_a.locate(a);
                first_j = first_j.min(j);
                let slot = Self::open_slot(&mut sc.open, &mut sc.open_base, &mut self.pool, per, j);
                slot.app[x] += 1;
                slot.app_t.push(a);
            }
            sc.first_k = sc.first_k.min(first_j + 1);
            if let (Some(b), Some(k)) = (e.bid, e.ask) {
                let mid = (b + k) / 2.0;
                if mid.is_finite() && mid > 0.0 {
                    self.push_quote(qb, e, ti, mid, strings);
                }
            }
            if e.transition == Some(true) {
                self.push_item(
                    true,
                    Item {
                        t: ti,
                        app: ta,
                        sym: e.symbol,
                        venue: e.venue,
                        scope: s,
                    },
                );
            }
        } else if e.kind == EventKind::Ctl {
            self.push_item(
                false,
                Item {
                    t: ti,
                    app: ta,
                    sym: e.symbol,
                    venue: e.venue,
                    scope: usize::MAX,
                },
            );
        }
    }

    fn push_quote(&mut self, qb: usize, e: &Event, ti: i64, mid: f64, strings: &Strings) {
        let q = Quote {
            t: ti,
            stream: e.stream,
            seq: e.seq,
            mid,
        };
        let dq = &mut self.quotes[qb];
        let before = |a: &Quote, b: &Quote| {
            a.t < b.t
                || (a.t == b.t
                    && (strings.resolve(a.stream), a.seq) <= (strings.resolve(b.stream), b.seq))
        };
        let mut pos = dq.len();
        while pos > 0 && !before(&dq[pos - 1], &q) {
            pos -= 1;
        }
        if pos == dq.len() {
            dq.push_back(q);
        } else {
            dq.insert(pos, q);
        }
    }

    fn push_item(&mut self, is_md: bool, it: Item) {
        let h = self.cfg.dccd_horizon.as_nanos();
        let (t, r) = (self.t, self.r_ticks);
        let others = if is_md { &self.ctl } else { &self.trans };
        let lo = others.partition_point(|o| o.t < it.t - h);
        for o in others.range(lo..) {
            if o.t > it.t + h {
                break;
            }
            let (m, c) = if is_md { (&it, o) } else { (o, &it) };
            if !(c.sym.is_none() || c.sym == m.sym) || !(c.venue.is_none() || c.venue == m.venue) {
                continue;
            }
            let (Some(ma), Some(ca)) = (m.app, c.app) else {
                self.counts.dccd_excluded += 1;
                continue;
            };
            let inverted = (c.t < m.t && ca > ma) || (c.t > m.t && ca < ma);
            let k_start = fdiv(ma.max(ca), t).max(fdiv(m.t, t)) + 1;
            let k_end = fdiv(m.t, t) + r + 1;
            if k_start >= k_end {
                continue;
            }
            let sc = &mut self.scopes[m.scope];
            for (k, d) in [(k_start, 1i64), (k_end, -1)] {
                if sc.diff.is_empty() {
                    sc.diff_base = k;
                }
                while k < sc.diff_base {
                    sc.diff.push_front((0, 0));
                    sc.diff_base -= 1;
                }
                let idx = (k - sc.diff_base) as usize;
                while sc.diff.len() <= idx {
                    sc.diff.push_back((0, 0));
                }
                sc.diff[idx].0 += d;
                if inverted {
                    sc.diff[idx].1 += d;
                }
            }
        }
        let mine = if is_md {
            &mut self.trans
        } else {
            &mut self.ctl
        };
        let mut pos = mine.len();
        while pos > 0 && mine[pos - 1].t > it.t {
            pos -= 1;
        }
        mine.insert(pos, it);
    }

    /// One child-order emit.
    pub fn push_order(&mut self, o: &Order, _strings: &Strings) {
        let te = o.t_emit.as_nanos();
        if !self.accepts(te) {
            self.counts.late += 1;
            return;
        }
        self.seen(te);
        let sc = self.cfg.scope;
        let proj = (
            if sc.symbol { o.symbol } else { None },
            if sc.venue { o.venue } else { None },
        );
        let ok = self.okey_of(proj);
        let per = self.per;
        let (j, x) = self.grid_o.locate(te);
        let k = &mut self.okeys[ok];
        if k.open.is_empty() {
            k.open_base = j;
        }
        while j < k.open_base {
            k.open
                .push_front(self.ord_pool.pop().unwrap_or_else(|| vec![0; per]));
            k.open_base -= 1;
        }
        let idx = (j - k.open_base) as usize;
        while k.open.len() <= idx {
            k.open
                .push_back(self.ord_pool.pop().unwrap_or_else(|| vec![0; per]));
        }
        k.open[idx][x] += 1;
        self.orders.insert(
            o.child_id,
            OrderRec {
                sv: (o.symbol, o.venue),
                okey: ok,
                side: o.side.sign(),
                t_emit: te,
            },
        );
        self.order_fifo.push_back((te, o.child_id));
    }

    /// One fill (its markout is taken when it matures, `t_fill + τ < t`).
    pub fn push_fill(&mut self, f: &Fill) {
        let tf = f.t_fill.as_nanos();
        if !self.accepts(tf) {
            self.counts.late += 1;
            return;
        }
        self.seen(tf);
        self.max_t = self.max_t.max(tf.saturating_add(self.cfg.tau.as_nanos()));
        let p = PendingFill {
            t_fill: tf,
            child_id: f.child_id,
            px: f.fill_px,
        };
        let mut pos = self.fills.len();
        let key = |f: &PendingFill| (f.t_fill, f.child_id, f.px.to_bits());
        while pos > 0 && key(&self.fills[pos - 1]) > key(&p) {
            pos -= 1;
        }
        self.fills.insert(pos, p);
    }

    /// Emit every tick `t <= now - horizon` not yet emitted into `out` (appended).
    pub fn advance_to(&mut self, now: i64, out: &mut Vec<TickRow>) {
        self.advance_until(now.saturating_sub(self.cfg.horizon.as_nanos()), out);
    }

    /// Emit every remaining tick up to the first one after the last instant (and after
    /// every pending fill's `t_fill + τ`).
    pub fn finish(&mut self, out: &mut Vec<TickRow>) {
        if self.max_t == i64::MIN {
            return;
        }
        let last = (fdiv(self.max_t, self.t) + 1).saturating_mul(self.t);
        self.advance_until(last, out);
    }

    fn advance_until(&mut self, until: i64, out: &mut Vec<TickRow>) {
        if self.min_t == i64::MAX {
            return;
        }
        let mut j = match self.next_j {
            Some(j) => j,
            None => fdiv(self.min_t, self.t),
        };
        while (j + 1).saturating_mul(self.t) <= until {
            self.next_j = Some(j);
            self.finalize(j, out);
            j += 1;
            self.next_j = Some(j);
        }
    }

    /// Finalize interval `j` and emit the rows of tick `(j + 1) T`.
    fn finalize(&mut self, j: i64, out: &mut Vec<TickRow>) {
        let (t, per) = (self.t, self.per);
        let tick = (j + 1) * t;
        let k = j + 1;
        let mut ord_now = std::mem::take(&mut self.ord_now);
        ord_now.clear();
        for o in &mut self.okeys {
            if !o.open.is_empty() && o.open_base == j {
                ord_now.push(o.open.pop_front());
                o.open_base = j + 1;
            } else {
                ord_now.push(None);
            }
        }
        for s in 0..self.scopes.len() {
            let sc = &mut self.scopes[s];
            let ord = ord_now[sc.okey].as_ref();
            let slot = if !sc.open.is_empty() && sc.open_base == j {
                sc.open.pop_front()
            } else {
                None
            };
            if slot.is_some() {
                sc.open_base = j + 1;
            }
            let mut sums = Sums::default();
            let (mut max_a, mut sum_a, mut max_i, mut sum_i) = (0u32, 0u64, 0u32, 0u64);
            for x in 0..per {
                let (ca, ci) = slot.as_ref().map_or((0, 0), |sl| (sl.app[x], sl.ing[x]));
                let (a, i) = (ca as i128, ci as i128);
                let y = ord.map_or(0, |o| o[x]) as i128;
                max_a = max_a.max(ca);
                max_i = max_i.max(ci);
                sum_a += ca as u64;
                sum_i += ci as u64;
                sums.xa += a;
                sums.xxa += a * a;
                sums.xi += i;
                sums.xxi += i * i;
                sums.y += y;
                sums.yy += y * y;
                sums.xya += a * y;
                sums.xyi += i * y;
            }
            sc.total.add(&sums, 1);
            sc.sums.push_back(sums);
            if sc.sums.len() as i64 > self.r_ticks {
                if let Some(old) = sc.sums.pop_front() {
                    sc.total.add(&old, -1);
                }
            }
            let bdc = (sum_a > 0).then(|| max_a as f64 / sum_a as f64);
            let bdc_ingress = (sum_i > 0).then(|| max_i as f64 / sum_i as f64);
            sc.bdc_hist.push_back((j, bdc));
            if sc.bdc_hist.len() as i64 > 2 * self.cte_ticks {
                sc.bdc_hist.pop_front();
            }
            // Gaps, tagged with the interval of their first event.
            if let Some(mut sl) = slot {
                for (ts, last, gaps) in [
                    (&mut sl.app_t, &mut sc.last_app, &mut sc.gaps_app),
                    (&mut sl.ing_t, &mut sc.last_ing, &mut sc.gaps_ing),
                ] {
                    if !ts.is_sorted() {
                        ts.sort_unstable();
                    }
                    for &x in ts.iter() {
                        if let Some((pj, p)) = *last {
                            gaps.push(pj, x - p);
                        }
                        *last = Some((j, x));
                    }
                    ts.clear();
                }
                sl.app.iter_mut().for_each(|c| *c = 0);
                sl.ing.iter_mut().for_each(|c| *c = 0);
                self.pool.push(sl);
            }
            let win_lo = k - self.r_ticks;
            sc.gaps_app.evict_before(win_lo);
            sc.gaps_ing.evict_before(win_lo);
            // DCCD: apply the difference counts of tick k.
            while !sc.diff.is_empty() && sc.diff_base <= k {
                if let Some((de, di)) = sc.diff.pop_front() {
                    sc.ep += de;
                    sc.inv += di;
                }
                sc.diff_base += 1;
            }
            let n = (self.r_ticks * per as i64) as i128;
            let tot = sc.total;
            let dbc_a = pearson_sums(n, tot.xa, tot.xxa, tot.y, tot.yy, tot.xya);
            let dbc_i = pearson_sums(n, tot.xi, tot.xxi, tot.y, tot.yy, tot.xyi);
            sc.cur = TickRow {
                scope: String::new(),
                t_tick_ns: tick,
                bdc,
                bdc_ingress,
                bdc_excess: bdc.zip(bdc_ingress).map(|(a, b)| a - b),
                mddr: None,
                mddr_q99: None,
                dbc_excess: dbc_a.zip(dbc_i).map(|(a, b)| a - b),
                dccd: (sc.ep > 0).then(|| sc.inv as f64 / sc.ep as f64),
                cte: None,
            };
        }
        for (o, slot) in self.okeys.iter().zip(ord_now.iter_mut()) {
            let _ = o;
            if let Some(mut v) = slot.take() {
                v.iter_mut().for_each(|c| *c = 0);
                self.ord_pool.push(v);
            }
        }
        self.ord_now = ord_now;
        self.mature(tick);
        self.evict(tick);
        let mut order = std::mem::take(&mut self.order);
        for &s in &order {
            if k < self.scopes[s].first_k {
                continue;
            }
            let row = self.row(s, tick);
            out.push(row);
        }
        std::mem::swap(&mut self.order, &mut order);
    }

    /// Mature the fills with `t_fill + τ < tick`.
    fn mature(&mut self, tick: i64) {
        let tau = self.cfg.tau.as_nanos();
        while self
            .fills
            .front()
            .is_some_and(|f| f.t_fill.saturating_add(tau) < tick)
        {
            let Some(f) = self.fills.pop_front() else {
                break;
            };
            let Some(o) = self.orders.get(&f.child_id).copied() else {
                self.counts.fills_no_order += 1;
                continue;
            };
            let target = f.t_fill + tau;
            let mid = self.quote_index.get(&o.sv).and_then(|&qi| {
                let dq = &self.quotes[qi];
                let n = dq.partition_point(|q| q.t <= target);
                n.checked_sub(1).map(|i| dq[i].mid)
            });
            let Some(mid) = mid else {
                self.counts.fills_no_quote += 1;
                continue;
            };
            let m = o.side * (f.px - mid) / mid * 1e4;
            let je = fdiv(o.t_emit, self.t);
            if self.okeys[o.okey].scopes.is_empty() {
                self.counts.orders_without_scope += 1;
            }
            for &s in &self.okeys[o.okey].scopes {
                let sc = &mut self.scopes[s];
                let b = sc.bdc_hist.back().and_then(|&(jb, _)| {
                    let back = jb.checked_sub(je)?;
                    let idx = (sc.bdc_hist.len() as i64 - 1).checked_sub(back)?;
                    (back >= 0 && idx >= 0).then(|| sc.bdc_hist[idx as usize].1)?
                });
                match b {
                    Some(b) => sc.matured.push_back((f.t_fill, b, m)),
                    None => self.counts.fills_unclassified += 1,
                }
            }
        }
    }

    /// Drop what no future tick or record can use.
    fn evict(&mut self, tick: i64) {
        for dq in self.quotes.iter_mut() {
            while dq.len() >= 2 && dq[1].t < tick {
                dq.pop_front();
            }
        }
        let h = self.cfg.dccd_horizon.as_nanos();
        for dq in [&mut self.trans, &mut self.ctl] {
            while dq.front().is_some_and(|i| i.t < tick - h) {
                dq.pop_front();
            }
        }
        let keep = tick - 2 * self.cfg.cte_window.as_nanos();
        while self.order_fifo.front().is_some_and(|&(te, _)| te < keep) {
            if let Some((te, id)) = self.order_fifo.pop_front() {
                if self.orders.get(&id).is_some_and(|o| o.t_emit == te) {
                    self.orders.remove(&id);
                }
            }
        }
    }

    /// The row of scope `s` at `tick` (after [`Self::finalize`] filled its parts).
    fn row(&mut self, s: usize, tick: i64) -> TickRow {
        let sc = &mut self.scopes[s];
        let mut row = sc.cur.clone();
        row.scope.clone_from(&sc.name);
        let q = |gaps: &mut FifoQuantiles| -> Option<(i64, i64)> {
            if gaps.len() < 2 {
                return None;
            }
            Some((gaps.quantile(Prob::P95)?, gaps.quantile(Prob::P99)?))
        };
        if let (Some((a95, a99)), Some((i95, i99))) = (q(&mut sc.gaps_app), q(&mut sc.gaps_ing)) {
            row.mddr = (i95 != 0).then(|| a95 as f64 / i95 as f64);
            row.mddr_q99 = (i99 != 0).then(|| a99 as f64 / i99 as f64);
        }
        let lo = tick - self.cfg.cte_window.as_nanos();
        while sc.matured.front().is_some_and(|&(tf, _, _)| tf < lo) {
            sc.matured.pop_front();
        }
        if !sc.matured.is_empty() {
            self.scratch_f.clear();
            let skip = sc.bdc_hist.len().saturating_sub(self.cte_ticks as usize);
            self.scratch_f
                .extend(sc.bdc_hist.iter().skip(skip).filter_map(|&(_, b)| b));
            self.scratch_f.sort_unstable_by(f64::total_cmp);
            if let Some(thr) = nearest_rank(&self.scratch_f, Prob::P50) {
                let (mut sh, mut nh, mut sl, mut nl) = (0.0, 0u64, 0.0, 0u64);
                for &(_, b, m) in &sc.matured {
                    if b > thr {
                        sh += m;
                        nh += 1;
                    } else {
                        sl += m;
                        nl += 1;
                    }
                }
                if nh > 0 && nl > 0 {
                    row.cte = Some(sh / nh as f64 - sl / nl as f64);
                }
            }
        }
        row
    }
}

/// Pearson correlation from integer sums over `n` windows (the formula of
/// [`crate::dbc::pearson`]); `None` when a series is constant.
fn pearson_sums(n: i128, sx: i128, sxx: i128, sy: i128, syy: i128, sxy: i128) -> Option<f64> {
    let var_x = n * sxx - sx * sx;
    let var_y = n * syy - sy * sy;
    if var_x == 0 || var_y == 0 {
        return None;
    }
    let cov = n * sxy - sx * sy;
    Some(cov as f64 / ((var_x as f64).sqrt() * (var_y as f64).sqrt()))
}

/// The whole tick table of in-memory tables: records are fed in observation order (md at
/// `t_app`, or `t_ingress` when undelivered; orders at `t_emit`; fills at `t_fill`) with
/// `advance_to` before each, the reordering horizon raised to the largest lag between a
/// record's observation time and its earliest instant so that nothing is late. Memory:
/// the engine's, plus one index per record. Returns the skip counters.
pub fn run_tables(
    mut cfg: TickConfig,
    strings: &Strings,
    events: &[Event],
    orders: &[Order],
    fills: &[Fill],
    out: &mut Vec<TickRow>,
) -> Result<TickCounts, TickError> {
    let obs_e = |e: &Event| {
        let ti = e.t_ingress.as_nanos();
        let ta = e.t_app.map_or(ti, |a| a.as_nanos());
        (ta, ta - ti.min(ta))
    };
    let lag = events.iter().map(|e| obs_e(e).1).max().unwrap_or(0);
    cfg.horizon = Duration(cfg.horizon.as_nanos().max(lag));
    let mut eng = TickEngine::new(cfg)?;
    // (observation time, table 0/1/2, index)
    let mut idx: Vec<(i64, u8, usize)> =
        Vec::with_capacity(events.len() + orders.len() + fills.len());
    idx.extend(events.iter().enumerate().map(|(i, e)| (obs_e(e).0, 0, i)));
    idx.extend(
        orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.t_emit.as_nanos(), 1, i)),
    );
    idx.extend(
        fills
            .iter()
            .enumerate()
            .map(|(i, f)| (f.t_fill.as_nanos(), 2, i)),
    );
    idx.sort_unstable();
    for &(t, table, i) in &idx {
        eng.advance_to(t, out);
        match table {
            0 => eng.push_event(&events[i], strings),
            1 => eng.push_order(&orders[i], strings),
            _ => eng.push_fill(&fills[i]),
        }
    }
    eng.finish(out);
    Ok(eng.counts())
}

#[cfg(test)]
mod tests {
    use super::Grid;
    use proptest::prelude::*;

    proptest! {
        /// The cached interval and reciprocal window equal `div_euclid` on any instant,
        /// in any order, extremes included.
        #[test]
        fn grid_equals_division(
            t in 1i64..2_000_000_000,
            per in 1i64..5000,
            xs in prop::collection::vec(prop_oneof![
                any::<i64>(),
                -5_000_000_000i64..5_000_000_000,
                Just(i64::MIN),
                Just(i64::MAX),
            ], 1..64),
        ) {
            let w = (t / per).max(1);
            let mut g = Grid::new(t, w);
            for x in xs {
                let j = x.div_euclid(t);
                let d = x.rem_euclid(t);
                prop_assert_eq!(g.locate(x), (j, (d / w) as usize), "x {}", x);
            }
        }
    }
}
