//! Feeding timeline files to the metrics in parallel.
//!
//! Each input file is streamed batch by batch by its own rayon task into its own
//! [`Analyzer`] (memory bounded by the batch and the analyzer state, never by the file).
//! Keys are re-interned into one shared [`Strings`] table as they first appear, so every
//! partial speaks the same `Sym`s and the partials merge (the metrics crate requires one
//! table). Partials are merged in input order, so the result does not depend on thread
//! scheduling.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

use anyhow::Context;
use coalescope_metrics::{Analyzer, Config};
use coalescope_timeline::io::{read_events_with, read_fills, read_orders_with, read_parents_with};
use coalescope_timeline::{Event, Strings, Sym};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

/// The input files of one analysis, per table.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `events` files.
    pub events: Vec<PathBuf>,
    /// `orders` files.
    pub orders: Vec<PathBuf>,
    /// `fills` files.
    pub fills: Vec<PathBuf>,
    /// `parents` files.
    pub parents: Vec<PathBuf>,
}

/// Progress on stderr when it is a terminal; silent otherwise.
pub fn progress(label: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    // The template is a literal known to be valid.
    let style = ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})")
        .expect("valid progress template");
    bar.set_style(style);
    bar.set_message(label.to_string());
    Some(bar)
}

/// Maps one file's local `Sym`s to the shared table.
struct Remap<'a> {
    global: &'a Mutex<Strings>,
    map: Vec<Option<Sym>>,
}

impl<'a> Remap<'a> {
    fn new(global: &'a Mutex<Strings>) -> Self {
        Remap {
            global,
            map: Vec::new(),
        }
    }

    #[inline]
    fn sym(&mut self, local: &Strings, sym: Sym) -> Sym {
        if let Some(Some(g)) = self.map.get(sym.index()) {
            return *g;
        }
        self.slow(local, sym)
    }

    #[cold]
    fn slow(&mut self, local: &Strings, sym: Sym) -> Sym {
        // A poisoned lock means another reader panicked: a bug, not bad input.
        let g = self
            .global
            .lock()
            .expect("interner lock")
            .intern(local.resolve(sym));
        let i = sym.index();
        if self.map.len() <= i {
            self.map.resize(i + 1, None);
        }
        self.map[i] = Some(g);
        g
    }

    #[inline]
    fn opt(&mut self, local: &Strings, sym: Option<Sym>) -> Option<Sym> {
        sym.map(|s| self.sym(local, s))
    }
}

/// Decoded batches in flight between the reader and the metrics thread of one file.
const PIPELINE_DEPTH: usize = 4;

#[derive(Clone, Copy)]
enum Table {
    Events,
    Orders,
    Fills,
    Parents,
}

fn read_one(
    table: Table,
    path: &Path,
    cfg: &Config,
    global: &Mutex<Strings>,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<Analyzer> {
    let mut a = analyzer(cfg)?;
    let mut local = Strings::new();
    let mut remap = Remap::new(global);
    let tick = |n: usize| {
        if let Some(b) = bar {
            b.inc(n as u64);
        }
    };
    match table {
        Table::Events => {
            // The events table is the big one: decode (and re-intern) on this thread while
            // another runs the metrics, so one large file keeps two cores busy. Batch
            // buffers travel back to be reused, so the pipeline allocates a handful once.
            let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Event>>(PIPELINE_DEPTH);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<Event>>();
            return std::thread::scope(|scope| {
                let consumer = scope.spawn(move || {
                    for batch in full_rx {
                        for e in &batch {
                            a.update_event(e);
                        }
                        // The reader may be gone already (error): nothing to recycle for.
                        let _ = empty_tx.send(batch);
                    }
                    a
                });
                let read = read_events_with(path, &mut local, |batch, keys| {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    buf.extend(batch.iter().map(|e| Event {
                        stream: remap.sym(keys, e.stream),
                        symbol: remap.opt(keys, e.symbol),
                        venue: remap.opt(keys, e.venue),
                        ..*e
                    }));
                    tick(batch.len());
                    // Fails only if the consumer died, which join() reports below.
                    let _ = full_tx.send(buf);
                });
                drop(full_tx);
                // A panic in the metrics is a bug: let it surface as one.
                let a = consumer.join().expect("metrics thread");
                read.with_context(|| format!("reading events from {}", path.display()))?;
                Ok(a)
            });
        }
        Table::Orders => read_orders_with(path, &mut local, |batch, keys| {
            for o in batch {
                let mut o = *o;
                o.strategy = remap.opt(keys, o.strategy);
                o.symbol = remap.opt(keys, o.symbol);
                o.venue = remap.opt(keys, o.venue);
                a.update_order(&o);
            }
            tick(batch.len());
        })
        .with_context(|| format!("reading orders from {}", path.display()))?,
        Table::Fills => read_fills(path, |batch| {
            for f in batch {
                a.update_fill(f);
            }
            tick(batch.len());
        })
        .with_context(|| format!("reading fills from {}", path.display()))?,
        Table::Parents => read_parents_with(path, &mut local, |batch, keys| {
            for p in batch {
                let mut p = *p;
                p.strategy = remap.opt(keys, p.strategy);
                p.symbol = remap.opt(keys, p.symbol);
                a.update_parent(&p);
            }
            tick(batch.len());
        })
        .with_context(|| format!("reading parents from {}", path.display()))?,
    };
    Ok(a)
}

/// Stream every file of `inputs` (in parallel, one task per file) and merge the partials
/// into `analyzer`, whose keys live in `strings`.
pub fn feed(inputs: &Inputs, analyzer: &mut Analyzer, strings: &mut Strings) -> anyhow::Result<()> {
    let jobs: Vec<(Table, &PathBuf)> = [
        (Table::Events, &inputs.events),
        (Table::Orders, &inputs.orders),
        (Table::Fills, &inputs.fills),
        (Table::Parents, &inputs.parents),
    ]
    .into_iter()
    .flat_map(|(t, paths)| paths.iter().map(move |p| (t, p)))
    .collect();
    let bar = progress("reading");
    let global = Mutex::new(std::mem::take(strings));
    let cfg = analyzer.config().clone();
    let partials: Vec<anyhow::Result<Analyzer>> = jobs
        .par_iter()
        .map(|(t, p)| read_one(*t, p, &cfg, &global, bar.as_ref()))
        .collect();
    *strings = global.into_inner().expect("interner lock");
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for partial in partials {
        analyzer
            .merge(&partial?)
            .map_err(|e| anyhow::anyhow!("internal: merging partials: {e}"))?;
    }
    Ok(())
}

/// A fresh analyzer for `cfg`, with the config error as a usage error.
pub fn analyzer(cfg: &Config) -> anyhow::Result<Analyzer> {
    Analyzer::new(cfg.clone()).map_err(|e| anyhow::anyhow!("invalid analysis parameters: {e}"))
}
