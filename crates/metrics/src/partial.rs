//! The partial state of an [`Analyzer`] as bytes: written in one process, read back in
//! another (with its own [`Strings`] table) and merged exactly (issue 13: the Python
//! module's `partial` / `merge` / `finish`, Spark's per-partition partials).
//!
//! ## Byte format (version 1)
//! ```text
//! magic    8 bytes  b"CSCOPEP\0"
//! version  2 bytes  u16 little-endian (this module reads exactly FORMAT_VERSION = 1)
//! config   CBOR     the Config: durations in ns, --by keys, high-BDC rule as an exact
//!                   fraction, quantile mode, exact limit, settings, ...
//! strings  CBOR     array of text: the partial's own key names (stream, symbol, venue,
//!                   strategy), in order of first use
//! state    CBOR     the aggregators; every key is an index into `strings`
//! ```
//! Nothing may follow the state. Keys are written as indexes into the partial's own
//! name list, so a reader re-interns them into any table ([`Analyzer::from_partial_bytes`]).
//! Hash maps are written sorted by their keys' encoding with names in place of indexes,
//! and state indexed by a key's table position is written as (key, value) pairs, so the
//! same state gives the same bytes whatever table its keys were interned in, and
//! reading then writing gives the bytes read. Lookup caches are not written; they are
//! rebuilt on reading.
//!
//! ## Untrusted bytes
//! Reading never panics. Declared lengths are not trusted for allocation (serde caps
//! pre-allocation; strings are read in chunks), nesting is capped by the CBOR reader's
//! recursion limit, and the decoded state is checked against what the aggregators rely
//! on: the configuration validates (SPEC §4) and every aggregator was built with it,
//! instants lie within ±2^62 ns (as [`Analyzer`] accepts them), sorted runs are sorted,
//! histogram totals equal their buckets, counters that are subtracted are ordered, group
//! keys match the configuration's grouping and are distinct, record counters are
//! below 2^48 (so merging up to 2^15 partials cannot overflow one) and one window's
//! count below 2^24 (256 partials). A failure is a
//! [`PartialError`] naming the section, byte offset or field.

use std::collections::HashMap;
use std::hash::Hash;

use coalescope_timeline::strings::{serde_by_name, serde_read, serde_write};
use coalescope_timeline::{Duration, Prob, Strings, Sym};
use serde::{Deserialize, Serialize};

use crate::analyzer::{Analyzer, Counts, GroupKey, GroupState, OrderKey};
use crate::branches::Branches;
use crate::config::{Config, ConfigError, GroupBy};
use crate::cost::Cte;
use crate::dbc::OrderWindows;
use crate::dccd::Dccd;
use crate::md::HighBdc;
use crate::quantile::QuantileMode;
use crate::seqset::SeqSet;
use crate::windows::WindowCounts;

/// The first 8 bytes of every partial.
pub const MAGIC: [u8; 8] = *b"CSCOPEP\0";

/// The format version written and read.
pub const FORMAT_VERSION: u16 = 1;

/// A (symbol, venue) key.
type SvKey = (Option<Sym>, Option<Sym>);

/// Largest |instant| a partial may hold (what [`Analyzer`] accepts).
const LIMIT: i64 = 1 << 62;

/// Largest record counter a partial may hold.
const MAX_COUNT: u64 = 1 << 48;

/// Largest count of one window (`u32` counters that merges add): 2^24 events in one
/// window of at most 500 µs is 3.4·10^10 events/s, beyond any feed, and leaves room to
/// merge 256 such partials without overflow.
const MAX_WINDOW_COUNT: u32 = 1 << 24;

/// Why bytes are not a partial [`Analyzer`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PartialError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a coalescope partial: the first 8 bytes are not the magic \"CSCOPEP\\0\"")]
    BadMagic,
    /// A format version this build does not read.
    #[error("partial format version {found}, this build reads version {FORMAT_VERSION}")]
    Version {
        /// The version in the bytes.
        found: u16,
    },
    /// The bytes end before the header is complete.
    #[error("partial truncated: {len} bytes, the header needs 10")]
    Truncated {
        /// Length of the input.
        len: usize,
    },
    /// A CBOR section does not decode.
    #[error("partial {section} section at byte {offset}: {message}")]
    Cbor {
        /// `config`, `strings` or `state`.
        section: &'static str,
        /// Byte offset in the whole input where the error was found (the section's start
        /// when the decoder gives no position).
        offset: usize,
        /// The decoder's message.
        message: String,
    },
    /// Bytes follow the state.
    #[error("partial has {extra} bytes after the state (at byte {offset})")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many.
        extra: usize,
    },
    /// The decoded configuration breaks a SPEC §4 constraint.
    #[error("partial config: {0}")]
    Config(#[from] ConfigError),
    /// The decoded state breaks an invariant the aggregators rely on.
    #[error("partial state field {field}: {message}")]
    Invariant {
        /// The field, e.g. `groups[3].mddr.app`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> PartialError {
    PartialError::Invariant {
        field: field.into(),
        message: message.into(),
    }
}

/// Serde helpers for hash maps: written as a sequence of `(key, value)` pairs sorted by
/// the key's CBOR encoding with names in place of key indexes (deterministic, table
/// independent); read back refusing a repeated key.
pub(crate) mod sorted_map {
    use super::*;
    use serde::de::Error as _;
    use serde::ser::{Error as _, SerializeSeq};

    /// Write `map` sorted (module docs).
    pub(crate) fn serialize<K, V, H, S>(map: &HashMap<K, V, H>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: serde::Serializer,
    {
        let mut keyed: Vec<(Vec<u8>, &K, &V)> = Vec::with_capacity(map.len());
        for (k, v) in map {
            let mut bytes = Vec::new();
            serde_by_name(|| ciborium::into_writer(k, &mut bytes))
                .map_err(|e| S::Error::custom(format!("map key: {e}")))?;
            keyed.push((bytes, k, v));
        }
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut seq = s.serialize_seq(Some(keyed.len()))?;
        for (_, k, v) in keyed {
            seq.serialize_element(&(k, v))?;
        }
        seq.end()
    }

    /// Read a map written by [`serialize`].
    pub(crate) fn deserialize<'de, K, V, H, D>(d: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        H: std::hash::BuildHasher + Default,
        D: serde::Deserializer<'de>,
    {
        let pairs: Vec<(K, V)> = Vec::deserialize(d)?;
        let mut map = HashMap::with_capacity_and_hasher(pairs.len(), H::default());
        for (k, v) in pairs {
            if map.insert(k, v).is_some() {
                return Err(D::Error::custom("a map key repeats"));
            }
        }
        Ok(map)
    }
}

/// [`HighBdc`] as written (a quantile as its exact fraction).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum HighBdcWire {
    Median,
    Quantile(u64, u64),
    Absolute(f64),
}

/// [`Config`] as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfigWire {
    window: Duration,
    interval: Duration,
    by: (bool, bool, bool),
    bucket: Option<Duration>,
    high_bdc: HighBdcWire,
    markout_horizons: Vec<Duration>,
    dccd_horizon: Duration,
    reorder_horizon: Option<Duration>,
    exact_limit: u64,
    quantiles: QuantileMode,
    compress_gap: Duration,
    markouts: bool,
    dccd: bool,
    settings: Vec<(String, String)>,
    branches: bool,
    delta_stale: Duration,
    catchup_window: Duration,
    catchup_x: f64,
}

impl ConfigWire {
    fn of(c: &Config) -> Self {
        ConfigWire {
            window: c.window,
            interval: c.interval,
            by: (c.by.stream, c.by.symbol, c.by.venue),
            bucket: c.bucket,
            high_bdc: match c.high_bdc {
                HighBdc::Median => HighBdcWire::Median,
                HighBdc::Quantile(p) => {
                    let (n, d) = p.parts();
                    HighBdcWire::Quantile(n, d)
                }
                HighBdc::Absolute(t) => HighBdcWire::Absolute(t),
            },
            markout_horizons: c.markout_horizons.clone(),
            dccd_horizon: c.dccd_horizon,
            reorder_horizon: c.reorder_horizon,
            exact_limit: c.exact_limit as u64,
            quantiles: c.quantiles,
            compress_gap: c.compress_gap,
            markouts: c.markouts,
            dccd: c.dccd,
            settings: c.settings.clone(),
            branches: c.branches,
            delta_stale: c.delta_stale,
            catchup_window: c.catchup_window,
            catchup_x: c.catchup_x,
        }
    }

    fn config(self) -> Result<Config, PartialError> {
        let high_bdc = match self.high_bdc {
            HighBdcWire::Median => HighBdc::Median,
            HighBdcWire::Quantile(n, d) => HighBdc::Quantile(
                Prob::checked(n, d).ok_or_else(|| bad("config.high_bdc", "not a probability"))?,
            ),
            HighBdcWire::Absolute(t) if t.is_finite() && (0.0..=1.0).contains(&t) => {
                HighBdc::Absolute(t)
            }
            HighBdcWire::Absolute(t) => {
                return Err(bad("config.high_bdc", format!("abs:{t} is not in [0, 1]")))
            }
        };
        let exact_limit = usize::try_from(self.exact_limit)
            .map_err(|_| bad("config.exact_limit", "beyond this machine's usize"))?;
        let cfg = Config {
            window: self.window,
            interval: self.interval,
            by: GroupBy {
                stream: self.by.0,
                symbol: self.by.1,
                venue: self.by.2,
            },
            bucket: self.bucket,
            high_bdc,
            markout_horizons: self.markout_horizons,
            dccd_horizon: self.dccd_horizon,
            reorder_horizon: self.reorder_horizon,
            exact_limit,
            quantiles: self.quantiles,
            compress_gap: self.compress_gap,
            markouts: self.markouts,
            dccd: self.dccd,
            settings: self.settings,
            branches: self.branches,
            delta_stale: self.delta_stale,
            catchup_window: self.catchup_window,
            catchup_x: self.catchup_x,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The state as written (borrowed).
#[derive(Serialize)]
struct StateRef<'a> {
    groups: &'a [GroupState],
    /// Duplicate detection per stream, as (stream, set) pairs in stream-name order.
    seqs: Vec<(Sym, &'a SeqSet)>,
    #[serde(serialize_with = "sorted_map_ref")]
    orders: &'a HashMap<OrderKey, OrderWindows>,
    cte: &'a Cte,
    branches: &'a Branches,
    dccd: &'a Dccd<GroupKey>,
    counts: Counts,
    last_emit: i64,
    non_monotonic_emit: u64,
    out_of_range: u64,
}

/// The state as read.
#[derive(Deserialize)]
struct State {
    groups: Vec<GroupState>,
    seqs: Vec<(Sym, SeqSet)>,
    #[serde(with = "sorted_map")]
    orders: HashMap<OrderKey, OrderWindows>,
    cte: Cte,
    branches: Branches,
    dccd: Dccd<GroupKey>,
    counts: Counts,
    last_emit: i64,
    non_monotonic_emit: u64,
    out_of_range: u64,
}

/// [`sorted_map::serialize`] of a borrowed map (serde passes `&&HashMap`).
fn sorted_map_ref<K: Serialize, V: Serialize, S: serde::Serializer>(
    m: &&HashMap<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    sorted_map::serialize(*m, s)
}

impl<'a> StateRef<'a> {
    fn of(a: &'a Analyzer, strings: &Strings) -> Self {
        let mut seqs: Vec<(Sym, &SeqSet)> = Vec::new();
        for (i, set) in a.seqs.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            match sym_at(strings, i) {
                Some(stream) => seqs.push((stream, set)),
                None => panic!("to_partial_bytes: stream {i} is not in the table given"),
            }
        }
        seqs.sort_by(|x, y| strings.get(x.0).cmp(&strings.get(y.0)));
        StateRef {
            groups: &a.groups,
            seqs,
            orders: &a.orders,
            cte: &a.cte,
            branches: &a.branches,
            dccd: &a.dccd,
            counts: a.counts,
            last_emit: a.last_emit,
            non_monotonic_emit: a.non_monotonic_emit,
            out_of_range: a.out_of_range,
        }
    }
}

/// The `Sym` at table position `i` (a `seqs` slot), if the table has one.
fn sym_at(strings: &Strings, i: usize) -> Option<Sym> {
    let name = strings.names_from(i).next()?;
    strings.lookup(name)
}

fn cbor<T: Serialize>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
    ciborium::into_writer(v, out).map_err(|e| e.to_string())
}

/// Decode one CBOR item from `input[*pos..]`, advancing `pos`.
fn read_item<T: serde::de::DeserializeOwned>(
    input: &[u8],
    pos: &mut usize,
    section: &'static str,
) -> Result<T, PartialError> {
    let start = *pos;
    let mut rest = &input[start..];
    let before = rest.len();
    let r = ciborium::from_reader::<T, _>(&mut rest);
    let used = before - rest.len();
    match r {
        Ok(v) => {
            *pos = start + used;
            Ok(v)
        }
        Err(e) => {
            use ciborium::de::Error as E;
            let (offset, message) = match e {
                E::Io(e) => (start + used, format!("input ends inside the section ({e})")),
                E::Syntax(o) => (start + o, "malformed CBOR".to_string()),
                E::Semantic(o, m) => (start + o.unwrap_or(used), m),
                E::RecursionLimitExceeded => (start + used, "nested too deep".to_string()),
            };
            Err(PartialError::Cbor {
                section,
                offset,
                message,
            })
        }
    }
}

impl Analyzer {
    /// The partial state as bytes (self-describing: magic, format version, config,
    /// state; the format is in [`crate::partial`]). `strings` is the table the records
    /// were interned in. The same state gives the same bytes whatever the table.
    ///
    /// # Panics
    /// When a key of the state is not in `strings` (the records were interned in another
    /// table): a caller bug that would otherwise write a silently wrong partial.
    pub fn to_partial_bytes(&self, strings: &Strings) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let mut state = Vec::new();
        let (written, names) =
            serde_write(strings, || cbor(&StateRef::of(self, strings), &mut state));
        // Serializing into a Vec fails only on a key from another table: a caller bug
        // that would make a silently wrong partial, so it is an invariant, not an input.
        if let Err(e) = written {
            panic!("to_partial_bytes: a key is not from the table given ({e})");
        }
        if let Err(e) = cbor(&ConfigWire::of(&self.cfg), &mut out) {
            panic!("to_partial_bytes: config does not encode ({e})");
        }
        if let Err(e) = cbor(&names, &mut out) {
            panic!("to_partial_bytes: names do not encode ({e})");
        }
        out.extend_from_slice(&state);
        out
    }

    /// A partial read back; its strings are interned into `strings` (any table: symbols
    /// are stored by name and re-interned). Errors name what is wrong (bad magic, version,
    /// CBOR offset/field, an invariant broken) and never panic on any input bytes.
    pub fn from_partial_bytes(
        bytes: &[u8],
        strings: &mut Strings,
    ) -> Result<Analyzer, PartialError> {
        let head = bytes.len().min(8);
        if bytes[..head] != MAGIC[..head] {
            return Err(PartialError::BadMagic);
        }
        if bytes.len() < 10 {
            return Err(PartialError::Truncated { len: bytes.len() });
        }
        if bytes[..8] != MAGIC {
            return Err(PartialError::BadMagic);
        }
        let found = u16::from_le_bytes([bytes[8], bytes[9]]);
        if found != FORMAT_VERSION {
            return Err(PartialError::Version { found });
        }
        let mut pos = 10;
        let cfg = read_item::<ConfigWire>(bytes, &mut pos, "config")?.config()?;
        let names: Vec<String> = read_item(bytes, &mut pos, "strings")?;
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        if let Some(n) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(bad("strings", format!("name {n:?} repeats")));
        }
        let state: State = serde_read(&names, strings, || read_item(bytes, &mut pos, "state"))?;
        if pos != bytes.len() {
            return Err(PartialError::TrailingBytes {
                offset: pos,
                extra: bytes.len() - pos,
            });
        }
        assemble(cfg, state)
    }
}

/// Check a decoded state against `cfg` and build the analyzer (caches rebuilt).
fn assemble(cfg: Config, s: State) -> Result<Analyzer, PartialError> {
    let mut a = Analyzer::build(cfg.clone());
    let limit = cfg.exact_limit();
    let window = cfg.window;
    let per_interval = cfg.interval.as_nanos() / window.as_nanos();
    let bucket = cfg.bucket.map(Duration::as_nanos);
    let ok = |t: i64| (-LIMIT..=LIMIT).contains(&t);
    let count = |field: &str, n: u64| {
        if n > MAX_COUNT {
            Err(bad(field, format!("{n} is beyond 2^48")))
        } else {
            Ok(())
        }
    };
    let c = s.counts;
    for (f, n) in [
        ("counts.md", c.md),
        ("counts.ctl", c.ctl),
        ("counts.orders", c.orders),
        ("counts.fills", c.fills),
        ("counts.parents", c.parents),
        ("non_monotonic_emit", s.non_monotonic_emit),
        ("out_of_range", s.out_of_range),
    ] {
        count(f, n)?;
    }
    if s.last_emit != i64::MIN && !ok(s.last_emit) {
        return Err(bad("last_emit", "out of range"));
    }
    let bucket_ok = |b: i64| match bucket {
        None => b == 0,
        Some(len) => ok(b.saturating_mul(len)),
    };
    let (mut n_md, mut n_ctl) = (0u64, 0u64);
    for (i, g) in s.groups.into_iter().enumerate() {
        let f = |x: &str| format!("groups[{i}].{x}");
        let k = g.key;
        if !bucket_ok(k.bucket)
            || (!cfg.by.stream && k.stream.is_some())
            || (!cfg.by.symbol && k.symbol.is_some())
            || (!cfg.by.venue && k.venue.is_some())
        {
            return Err(bad(f("key"), "does not match the configuration's grouping"));
        }
        count(&f("n_md"), g.n_md)?;
        count(&f("n_ctl"), g.n_ctl)?;
        if g.n_md_delivered > g.n_md {
            return Err(bad(f("n_md_delivered"), "above n_md"));
        }
        n_md += g.n_md;
        n_ctl += g.n_ctl;
        for (name, gs) in [("mddr.ingress", &g.mddr.ingress), ("mddr.app", &g.mddr.app)] {
            gs.check(cfg.reorder_horizon, limit, cfg.compress_gap, LIMIT)
                .map_err(|e| bad(f(name), e))?;
            count(&f(name), gs.count())?;
        }
        if g.mddr.ingress.count() != g.n_md || g.mddr.app.count() != g.n_md_delivered {
            return Err(bad(
                f("mddr"),
                "instant counts differ from n_md / n_md_delivered",
            ));
        }
        for (name, w) in [("bdc.app", &g.bdc.app), ("bdc.ingress", &g.bdc.ingress)] {
            check_windows(w, window, per_interval).map_err(|e| bad(f(name), e))?;
        }
        for (name, d) in [("delay", &g.delay), ("ctl_delay", &g.ctl_delay)] {
            d.delay.check(limit).map_err(|e| bad(f(name), e))?;
            if d.negative > d.delay.count() {
                return Err(bad(f(name), "more negative delays than delays"));
            }
        }
        if g.delay.delay.count() != g.n_md_delivered || g.ctl_delay.delay.count() > g.n_ctl {
            return Err(bad(
                f("delay"),
                "delay counts differ from the group's counts",
            ));
        }
        if !a.push_group(g) {
            return Err(bad(f("key"), "repeats an earlier group's key"));
        }
    }
    if (n_md, n_ctl) != (c.md, c.ctl) {
        return Err(bad("counts", "md/ctl counts differ from the groups' sums"));
    }
    let mut prev: Option<Sym> = None;
    for (stream, set) in s.seqs {
        if prev == Some(stream) {
            return Err(bad("seqs", "a stream repeats"));
        }
        prev = Some(stream);
        count("seqs.inserts", set.inserts())?;
        let i = stream.index();
        if i >= a.seqs.len() {
            a.seqs.resize_with(i + 1, SeqSet::default);
        }
        if !a.seqs[i].is_empty() {
            return Err(bad("seqs", "a stream repeats"));
        }
        a.seqs[i] = set;
    }
    for ((b, _, sy, ve), ow) in &s.orders {
        if !bucket_ok(*b) || (!cfg.by.symbol && sy.is_some()) || (!cfg.by.venue && ve.is_some()) {
            return Err(bad(
                "orders",
                "a key does not match the configuration's grouping",
            ));
        }
        check_order_windows(ow, window).map_err(|e| bad("orders", e))?;
    }
    a.orders = s.orders;
    check_cte(&s.cte, window, per_interval).map_err(|e| bad("cte", e))?;
    a.cte = s.cte;
    if !a.cte.reindex() {
        return Err(bad("cte.sv", "a (symbol, venue) repeats"));
    }
    let br = &s.branches;
    if br.delta_stale != cfg.delta_stale.as_nanos() {
        return Err(bad(
            "branches.delta_stale",
            "differs from the configuration's",
        ));
    }
    if br
        .parents
        .iter()
        .any(|p| !ok(p.t_start.as_nanos()) || !ok(p.t_deadline.as_nanos()))
    {
        return Err(bad("branches.parents", "an instant is out of range"));
    }
    if br.stale.iter().any(|&(_, t)| !ok(t)) {
        return Err(bad("branches.stale", "an instant is out of range"));
    }
    count("branches.parents", br.parents.len() as u64)?;
    a.branches = s.branches;
    check_dccd(&s.dccd, &cfg).map_err(|e| bad("dccd", e))?;
    a.dccd = s.dccd;
    a.counts = s.counts;
    a.last_emit = s.last_emit;
    a.non_monotonic_emit = s.non_monotonic_emit;
    a.out_of_range = s.out_of_range;
    Ok(a)
}

fn check_windows(w: &WindowCounts, window: Duration, per_interval: i64) -> Result<(), String> {
    if w.width != window.as_nanos()
        || w.per_interval != per_interval
        || w.interval_len != window.as_nanos() * per_interval
    {
        return Err("window or interval differs from the configuration's".into());
    }
    let n = per_interval as usize;
    if !w.cur.is_empty() && w.cur.len() != n {
        return Err("dense interval of the wrong length".into());
    }
    let interval_ok = |j: i64| {
        j.checked_mul(w.interval_len)
            .is_some_and(|s| (-LIMIT..=LIMIT).contains(&s))
    };
    let mut total: u64 = 0;
    if w.cur_live {
        if w.cur.len() != n || !interval_ok(w.cur_index) {
            return Err("live interval out of range".into());
        }
        if w.cur_start != w.cur_index * w.interval_len || w.cur_end != w.cur_start + w.interval_len
        {
            return Err("live interval bounds differ from its index".into());
        }
        if w.done.contains_key(&w.cur_index) {
            return Err("live interval also packed".into());
        }
        if w.cur.iter().any(|&c| c > MAX_WINDOW_COUNT) {
            return Err("a window count beyond 2^24".into());
        }
        total = w.cur.iter().map(|&c| u64::from(c)).sum();
    } else if w.cur.iter().any(|&c| c > 0) {
        return Err("counts in a dead dense interval".into());
    }
    for (&j, sparse) in &w.done {
        if !interval_ok(j) || sparse.is_empty() {
            return Err(format!("interval {j} out of range or empty"));
        }
        let mut prev: Option<u32> = None;
        for &(off, c) in sparse {
            if off as usize >= n || prev.is_some_and(|p| off <= p) || c == 0 || c > MAX_WINDOW_COUNT
            {
                return Err(format!(
                    "interval {j}: windows not sorted, in range and non-empty"
                ));
            }
            prev = Some(off);
            total += u64::from(c);
        }
    }
    if total != w.count {
        return Err("count differs from the sum of the window counts".into());
    }
    if w.count > MAX_COUNT {
        return Err("count beyond 2^48".into());
    }
    Ok(())
}

fn check_order_windows(ow: &OrderWindows, window: Duration) -> Result<(), String> {
    if ow.width != window.as_nanos() {
        return Err("window differs from the configuration's".into());
    }
    if ow.n == 0 || ow.n > MAX_COUNT {
        return Err("order count 0 or beyond 2^48".into());
    }
    let ok = |t: i64| (-LIMIT..=LIMIT).contains(&t);
    if !ok(ow.min) || !ok(ow.max) || ow.min > ow.max {
        return Err("emit range out of range".into());
    }
    let (k0, k1) = (ow.min.div_euclid(ow.width), ow.max.div_euclid(ow.width));
    let mut total = 0u64;
    for (&k, &c) in &ow.counts {
        if k < k0 || k > k1 || c == 0 || c > MAX_WINDOW_COUNT {
            return Err(format!(
                "window {k} outside the emit range, empty or beyond 2^24"
            ));
        }
        total += u64::from(c);
    }
    if total != ow.n {
        return Err("order count differs from the window counts".into());
    }
    Ok(())
}

fn check_cte(c: &Cte, window: Duration, per_interval: i64) -> Result<(), String> {
    if c.window != window || c.per_interval != per_interval {
        return Err("window or interval differs from the configuration's".into());
    }
    let ok = |t: i64| (-LIMIT..=LIMIT).contains(&t);
    for (i, (_, st)) in c.sv.iter().enumerate() {
        check_windows(&st.app, window, per_interval).map_err(|e| format!("sv[{i}].app: {e}"))?;
        if st
            .quotes
            .iter()
            .any(|q| !(ok(q.t) && q.mid.is_finite() && q.mid > 0.0))
        {
            return Err(format!(
                "sv[{i}].quotes: an instant out of range or a mid not positive"
            ));
        }
    }
    for (id, o) in &c.orders {
        if *id != o.child_id || !ok(o.t_emit.as_nanos()) {
            return Err(format!("orders[{id}]: child id or t_emit out of range"));
        }
    }
    if c.ties.iter().any(|t| !c.orders.contains_key(&t.child_id)) {
        return Err("ties: an order whose child_id is not kept".into());
    }
    if c.n_orders < (c.orders.len() + c.ties.len()) as u64 || c.n_orders > MAX_COUNT {
        return Err("n_orders below the distinct orders or beyond 2^48".into());
    }
    if c.fills.iter().any(|f| !ok(f.t_fill.as_nanos())) || c.fills.len() as u64 > MAX_COUNT {
        return Err("fills: an instant out of range".into());
    }
    if c.invalid_quotes > MAX_COUNT {
        return Err("invalid_quotes beyond 2^48".into());
    }
    Ok(())
}

fn check_dccd(d: &Dccd<GroupKey>, cfg: &Config) -> Result<(), String> {
    if d.horizon != cfg.dccd_horizon.as_nanos()
        || d.keep != cfg.reorder_horizon.map(Duration::as_nanos)
    {
        return Err("horizons differ from the configuration's".into());
    }
    let ok = |t: i64| (-LIMIT..=LIMIT).contains(&t);
    fn sorted<G>(
        map: &HashMap<SvKey, std::collections::VecDeque<crate::dccd::Item<G>>>,
        ok: impl Fn(i64) -> bool,
    ) -> bool {
        map.values().all(|dq| {
            dq.iter().all(|x| ok(x.t) && x.app.is_none_or(&ok))
                && dq.iter().zip(dq.iter().skip(1)).all(|(a, b)| a.t <= b.t)
        })
    }
    if !(sorted(&d.md, ok)
        && sorted(&d.head_md, ok)
        && sorted(&d.ctl, ok)
        && sorted(&d.head_ctl, ok))
    {
        return Err("items out of range or not sorted by t_ingress".into());
    }
    let pairs_ok = |v: &[(i64, i64)]| v.iter().all(|&(a, b)| ok(a) && ok(b) && a <= b);
    if !pairs_ok(&d.spans) || !d.evicted.iter().all(|&(a, b)| ok(a) && ok(b)) {
        return Err("spans or evicted ranges out of range".into());
    }
    let seen = d.max_seen >= d.min_seen;
    if seen && !(ok(d.min_seen) && ok(d.max_seen)) {
        return Err("first/last instant out of range".into());
    }
    if d.last_sweep != i64::MIN && !ok(d.last_sweep) {
        return Err("last sweep out of range".into());
    }
    for c in d.results.values() {
        if c.inverted > c.episodes || c.episodes > MAX_COUNT || c.excluded > MAX_COUNT {
            return Err("episode counts inconsistent or beyond 2^48".into());
        }
    }
    if d.late > MAX_COUNT || d.overlapping_merges > MAX_COUNT {
        return Err("counters beyond 2^48".into());
    }
    Ok(())
}

impl crate::md::Mddr {
    /// Check an MDDR partial read from untrusted bytes against the parameters it must have
    /// been built with (as a [`crate::Analyzer`] partial is checked): the reordering
    /// horizon, exact limit and `g`, instants within ±2^62, pieces sorted, counters
    /// consistent. Returns what is broken, naming the timeline.
    pub fn check(
        &self,
        horizon: Option<Duration>,
        exact_limit: usize,
        compress_gap: Duration,
    ) -> Result<(), String> {
        self.ingress
            .check(horizon, exact_limit, compress_gap, LIMIT)
            .map_err(|e| format!("ingress: {e}"))?;
        self.app
            .check(horizon, exact_limit, compress_gap, LIMIT)
            .map_err(|e| format!("app: {e}"))
    }
}

impl crate::md::DelayQuantiles {
    /// Check a delay partial read from untrusted bytes (exact limit, histogram totals).
    pub fn check(&self, exact_limit: usize) -> Result<(), String> {
        self.delay.check(exact_limit).map_err(str::to_string)
    }
}

impl crate::md::Bdc {
    /// Check a BDC partial read from untrusted bytes against its window `W` and windows
    /// per interval.
    pub fn check(&self, window: Duration, per_interval: i64) -> Result<(), String> {
        check_windows(&self.app, window, per_interval).map_err(|e| format!("app: {e}"))?;
        check_windows(&self.ingress, window, per_interval).map_err(|e| format!("ingress: {e}"))
    }
}
