//! String interning for the key columns (stream, symbol, venue, strategy).
//!
//! Records hold a 4-byte [`Sym`] instead of a `String`, so a record is `Copy`, hot loops
//! never touch the heap, and grouping/joins compare integers. One [`Strings`] table is
//! shared by all tables of a [`crate::Timeline`], so a symbol has the same `Sym` in the
//! events, orders and parents tables.

use std::collections::HashMap;

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

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Intern every string of `other` here and return the map `other`'s `Sym` -> ours,
    /// indexed by `Sym::index()`. Used to merge tables read with separate interners.
    pub fn absorb(&mut self, other: &Strings) -> Vec<Sym> {
        other.values.iter().map(|s| self.intern(s)).collect()
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
}
