//! String interning for the key columns (stream, symbol, venue, strategy).
//!
//! Records hold a 4-byte [`Sym`] instead of a `String`, so a record is `Copy`, hot loops
//! never touch the heap, and grouping/joins compare integers. One [`Strings`] table is
//! shared by all tables of a [`crate::Timeline`], so a symbol has the same `Sym` in the
//! events, orders and parents tables.

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
