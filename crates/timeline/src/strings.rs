//! String interning for the key columns (stream, symbol, venue, strategy).
//!
//! Records hold a 4-byte [`Sym`] instead of a `String`, so a record is `Copy`, hot loops
//! never touch the heap, and grouping/joins compare integers. One [`Strings`] table is
//! shared by all tables of a [`crate::Timeline`], so a symbol has the same `Sym` in the
//! events, orders and parents tables.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::record::{Event, Order, Parent};

/// An interned string: an index into a [`Strings`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(u32);

impl Sym {
    /// The index of this string in its table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// An append-only string interner.
#[derive(Debug, Clone, Default)]
pub struct Strings {
    values: Vec<Box<str>>,
    index: HashMap<Box<str>, Sym>,
}

impl Strings {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `Sym` of `s`, adding it if it is new.
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        // More than 4 billion distinct keys is not a realistic timeline; saturating would
        // alias keys silently, so treat it as the invariant it is.
        let sym = Sym(u32::try_from(self.values.len()).expect("fewer than 2^32 distinct keys"));
        self.values.push(s.into());
        self.index.insert(s.into(), sym);
        sym
    }

    /// The `Sym` of `s` if it was interned.
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        self.index.get(s).copied()
    }

    /// The string behind `sym`. Panics only if `sym` came from another table (a bug).
    pub fn resolve(&self, sym: Sym) -> &str {
        &self.values[sym.index()]
    }

    /// The string behind `sym`, or `None` if `sym` is not from this table. Writers use
    /// this so a key from a foreign table is an error instead of a panic.
    pub fn get(&self, sym: Sym) -> Option<&str> {
        self.values.get(sym.index()).map(|s| &**s)
    }

    /// The string behind an optional key; `None` stays `None`.
    pub fn resolve_opt(&self, sym: Option<Sym>) -> Option<&str> {
        sym.map(|s| self.resolve(s))
    }

    /// The strings interned after the first `from`, in interning order (what a reader
    /// on another thread learned since it last reported).
    pub(crate) fn since(&self, from: usize) -> impl Iterator<Item = &str> {
        self.values.iter().skip(from).map(|s| &**s)
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The strings interned from position `start` on (a `Sym` index), in interning order:
    /// what a table gained since it had `start` entries.
    pub fn names_from(&self, start: usize) -> impl Iterator<Item = &str> {
        self.values
            .get(start..)
            .unwrap_or_default()
            .iter()
            .map(|s| &**s)
    }

    /// Intern every string of `other` here and return the map `other`'s `Sym` -> ours,
    /// indexed by `Sym::index()`. Used to merge tables read with separate interners.
    pub fn absorb(&mut self, other: &Strings) -> Vec<Sym> {
        other.values.iter().map(|s| self.intern(s)).collect()
    }
}

/// Re-interns the `Sym`s of one file's own [`Strings`] table into a table shared by
/// several readers (one per file, on different threads), so records read from separate
/// files speak the same `Sym`s and can be grouped and merged together.
///
/// Each local `Sym` takes the shared lock once, on first sight; after that it is one
/// vector lookup, so the hot path never locks.
///
/// ```
/// use std::sync::Mutex;
/// use coalescope_timeline::{Remap, Strings};
/// let shared = Mutex::new(Strings::new());
/// shared.lock().unwrap().intern("feed-a");
/// let mut local = Strings::new();
/// let b = local.intern("feed-b");
/// let a = local.intern("feed-a");
/// let mut remap = Remap::new(&shared);
/// assert_eq!(remap.sym(&local, a).index(), 0);
/// assert_eq!(remap.sym(&local, b).index(), 1);
/// ```
#[derive(Debug)]
pub struct Remap<'a> {
    shared: &'a Mutex<Strings>,
    map: Vec<Option<Sym>>,
}

impl<'a> Remap<'a> {
    /// A remapper into `shared`, with nothing mapped yet.
    pub fn new(shared: &'a Mutex<Strings>) -> Self {
        Remap {
            shared,
            map: Vec::new(),
        }
    }

    /// The shared `Sym` of `sym`, a key of the `local` table.
    #[inline]
    pub fn sym(&mut self, local: &Strings, sym: Sym) -> Sym {
        match self.map.get(sym.index()) {
            Some(Some(shared)) => *shared,
            _ => self.first_sight(local, sym),
        }
    }

    #[cold]
    fn first_sight(&mut self, local: &Strings, sym: Sym) -> Sym {
        // A poisoned lock only means another reader panicked while interning; the table
        // itself is append-only and stays consistent, so keep using it.
        let shared = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .intern(local.resolve(sym));
        let i = sym.index();
        if self.map.len() <= i {
            self.map.resize(i + 1, None);
        }
        self.map[i] = Some(shared);
        shared
    }

    /// [`Remap::sym`] of an optional key; `None` stays `None`.
    #[inline]
    pub fn opt(&mut self, local: &Strings, sym: Option<Sym>) -> Option<Sym> {
        sym.map(|s| self.sym(local, s))
    }

    /// `e` with its keys in the shared table.
    #[inline]
    pub fn event(&mut self, local: &Strings, e: &Event) -> Event {
        Event {
            stream: self.sym(local, e.stream),
            symbol: self.opt(local, e.symbol),
            venue: self.opt(local, e.venue),
            ..*e
        }
    }

    /// `o` with its keys in the shared table.
    pub fn order(&mut self, local: &Strings, o: &Order) -> Order {
        Order {
            strategy: self.opt(local, o.strategy),
            symbol: self.opt(local, o.symbol),
            venue: self.opt(local, o.venue),
            ..*o
        }
    }

    /// `p` with its keys in the shared table.
    pub fn parent(&mut self, local: &Strings, p: &Parent) -> Parent {
        Parent {
            strategy: self.opt(local, p.strategy),
            symbol: self.opt(local, p.symbol),
            ..*p
        }
    }
}

/// How a [`Sym`] is serialized inside a [`serde_write`] scope.
enum SerdeCtx {
    /// Writing: a `Sym` becomes its index in a list local to the output (assigned on first
    /// sight), or its name while `by_name` is set (canonical sort keys).
    Write {
        names: Vec<Box<str>>,
        local: HashMap<u32, u32>,
        order: Vec<u32>,
        by_name: bool,
    },
    /// Reading: a local index becomes a `Sym` of the reader's table.
    Read { remap: Vec<Sym> },
}

thread_local! {
    static SERDE_CTX: RefCell<Option<SerdeCtx>> = const { RefCell::new(None) };
}

/// Puts the previous context back when a scope ends (also on panic).
struct CtxGuard(Option<SerdeCtx>);

impl CtxGuard {
    fn enter(ctx: SerdeCtx) -> Self {
        CtxGuard(SERDE_CTX.with(|c| c.replace(Some(ctx))))
    }
    fn exit(mut self) -> Option<SerdeCtx> {
        let prev = self.0.take();
        SERDE_CTX.with(|c| c.replace(prev))
    }
}

impl Drop for CtxGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            SERDE_CTX.with(|c| c.replace(Some(prev)));
        }
    }
}

/// Runs `f` (which serializes) so that every [`Sym`] it serializes is written as an index
/// into a list of names local to the output, independent of `strings`' interning order;
/// returns `f`'s result and that list (local index order = order of first sight).
/// Serializing a `Sym` outside such a scope is an error. Costs one copy of `strings`'
/// names (O(distinct keys)).
///
/// ```
/// use coalescope_timeline::{strings, Strings};
/// let mut a = Strings::new();
/// a.intern("unused");
/// let x = a.intern("X");
/// let (json, names) = strings::serde_write(&a, || serde_json::to_string(&[x, x]).unwrap());
/// // "X" is the partial's name 0, whatever its position in `a`.
/// assert_eq!((json.as_str(), &names[..]), ("[0,0]", &["X".to_string()][..]));
/// let mut b = Strings::new();
/// b.intern("other");
/// let back: Vec<coalescope_timeline::Sym> =
///     strings::serde_read(&names, &mut b, || serde_json::from_str(&json)).unwrap();
/// assert_eq!((back[0].index(), b.resolve(back[0])), (1, "X"));
/// ```
pub fn serde_write<R>(strings: &Strings, f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let guard = CtxGuard::enter(SerdeCtx::Write {
        names: strings.values.clone(),
        local: HashMap::new(),
        order: Vec::new(),
        by_name: false,
    });
    let r = f();
    let names = match guard.exit() {
        Some(SerdeCtx::Write { names, order, .. }) => order
            .iter()
            .map(|&i| {
                names
                    .get(i as usize)
                    .map_or_else(String::new, |s| s.to_string())
            })
            .collect(),
        _ => Vec::new(),
    };
    (r, names)
}

/// Inside a [`serde_write`] scope, runs `f` with every [`Sym`] serialized as its name
/// (for sort keys that must not depend on any table's interning order). Outside a write
/// scope it just runs `f`.
pub fn serde_by_name<R>(f: impl FnOnce() -> R) -> R {
    let set = |on: bool| {
        SERDE_CTX.with(|c| {
            if let Some(SerdeCtx::Write { by_name, .. }) = c.borrow_mut().as_mut() {
                let was = *by_name;
                *by_name = on;
                was
            } else {
                on
            }
        })
    };
    let was = set(true);
    let r = f();
    set(was);
    r
}

/// Runs `f` (which deserializes) so that every [`Sym`] read is a local index into `names`
/// (the list [`serde_write`] returned), re-interned into `strings`. An index beyond
/// `names` is a deserialization error; so is deserializing a `Sym` outside such a scope.
pub fn serde_read<R>(names: &[String], strings: &mut Strings, f: impl FnOnce() -> R) -> R {
    let remap = names.iter().map(|n| strings.intern(n)).collect();
    let guard = CtxGuard::enter(SerdeCtx::Read { remap });
    let r = f();
    drop(guard.exit());
    r
}

impl serde::Serialize for Sym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        enum Out {
            Index(u32),
            Name(Box<str>),
        }
        let out = SERDE_CTX.with(|c| match c.borrow_mut().as_mut() {
            Some(SerdeCtx::Write {
                names,
                local,
                order,
                by_name,
            }) => {
                let name = names.get(self.index());
                if *by_name {
                    return name.map(|n| Out::Name(n.clone()));
                }
                name?;
                let next = order.len() as u32;
                let i = *local.entry(self.0).or_insert_with(|| {
                    order.push(self.0);
                    next
                });
                Some(Out::Index(i))
            }
            _ => None,
        });
        match out {
            Some(Out::Index(i)) => s.serialize_u32(i),
            Some(Out::Name(n)) => s.serialize_str(&n),
            None => Err(serde::ser::Error::custom(
                "a Sym is serialized only inside strings::serde_write, with the table it is from",
            )),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Sym {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = u32::deserialize(d)?;
        SERDE_CTX.with(|c| match c.borrow().as_ref() {
            Some(SerdeCtx::Read { remap }) => remap.get(i as usize).copied().ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "symbol index {i} beyond the {} strings of the partial",
                    remap.len()
                ))
            }),
            _ => Err(serde::de::Error::custom(
                "a Sym is deserialized only inside strings::serde_read",
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_absorb_remaps() {
        let mut a = Strings::new();
        let x = a.intern("AAPL");
        let y = a.intern("MSFT");
        assert_eq!(a.intern("AAPL"), x);
        assert_ne!(x, y);
        assert_eq!(a.resolve(y), "MSFT");
        let mut b = Strings::new();
        let z = b.intern("MSFT");
        let w = b.intern("GOOG");
        let map = a.absorb(&b);
        assert_eq!(map[z.index()], y);
        assert_eq!(a.resolve(map[w.index()]), "GOOG");
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn remap_interns_once_and_keeps_nulls() {
        let shared = Mutex::new(Strings::new());
        let pre = shared.lock().unwrap().intern("MSFT");
        let mut local = Strings::new();
        let feed = local.intern("feed-a");
        let msft = local.intern("MSFT");
        let mut e = Event::md(feed, 7, crate::Instant(5));
        e.symbol = Some(msft);
        let mut remap = Remap::new(&shared);
        let g = remap.event(&local, &e);
        assert_eq!(g.symbol, Some(pre));
        assert_eq!(g.venue, None);
        assert_eq!(g.seq, 7);
        let table = shared.lock().unwrap();
        assert_eq!(table.resolve(g.stream), "feed-a");
        assert_eq!(table.len(), 2);
    }
}
