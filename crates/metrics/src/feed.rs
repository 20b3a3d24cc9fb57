//! Feeding timeline files to an [`Analyzer`] in parallel.
//!
//! Each input file is streamed batch by batch by its own rayon task into its own
//! [`Analyzer`] (memory bounded by the batch and the analyzer state, never by the file).
//! An `events` file, the big table, gets more threads:
//! - Parquet: its row groups are decoded by as many threads as the current rayon pool
//!   has ([`read_events_parallel`]) while the task's own thread runs the metrics on the
//!   batches in file order. The analyzer sees exactly the sequence of a one-thread read,
//!   so the result is identical for any thread count. (Partial analyzers per row-group
//!   range merged in order would not be: input-order counters such as
//!   `non_monotonic_app` are summed over partials and miss the step across each
//!   boundary, and an instant late beyond the horizon in one pass becomes an overlapping
//!   merge in a split one.) Memory: at most `3 x threads + 1` decoded batches of
//!   [`BATCH_ROWS`](coalescope_timeline::io::BATCH_ROWS) records wait for their turn,
//!   whatever the file's size.
//! - CSV: one thread decodes (and re-interns) while another runs the metrics, with
//!   decoded batches travelling over a bounded channel and their buffers travelling back
//!   to be reused.
//!
//! Keys are re-interned into one shared
//! [`Strings`] table as they first appear ([`Remap`]), so every partial speaks the same
//! `Sym`s and the partials merge. Partials are merged in input order, so the result does
//! not depend on thread scheduling.
//!
//! The only I/O here is through timeline's readers.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, PoisonError};

use coalescope_timeline::io::{
    read_events_parallel, read_events_with, read_fills, read_orders_with, read_parents_with, Format,
};
use coalescope_timeline::{Event, Remap, Strings, TimelineError};
use rayon::prelude::*;

use crate::analyzer::Analyzer;
use crate::config::ConfigError;

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

/// Why feeding files failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A file could not be read (the source names the column, line or row).
    #[error("reading {table} from {}", path.display())]
    Read {
        /// Which table the file holds.
        table: Table,
        /// The file.
        path: PathBuf,
        /// What the reader found (boxed: it is large and errors are rare).
        source: Box<TimelineError>,
    },
    /// The partials could not be merged (a bug: they share one configuration).
    #[error("merging partial analyses")]
    Merge(#[from] ConfigError),
}

/// The four timeline tables an analysis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `events`.
    Events,
    /// `orders`.
    Orders,
    /// `fills`.
    Fills,
    /// `parents`.
    Parents,
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Table::Events => "events",
            Table::Orders => "orders",
            Table::Fills => "fills",
            Table::Parents => "parents",
        })
    }
}

/// Decoded batches in flight between the reader and the metrics thread of one file.
const PIPELINE_DEPTH: usize = 4;

/// Stream every file of `inputs` (in parallel, one task per file) and merge the partials
/// into `analyzer` in input order; `strings` is the table `analyzer`'s keys live in and
/// receives every new key. `progress` is called with the number of rows of each batch
/// read (from several threads).
pub fn feed(
    inputs: &Inputs,
    analyzer: &mut Analyzer,
    strings: &mut Strings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), FeedError> {
    let jobs: Vec<(Table, &PathBuf)> = [
        (Table::Events, &inputs.events),
        (Table::Orders, &inputs.orders),
        (Table::Fills, &inputs.fills),
        (Table::Parents, &inputs.parents),
    ]
    .into_iter()
    .flat_map(|(t, paths)| paths.iter().map(move |p| (t, p)))
    .collect();
    let shared = Mutex::new(std::mem::take(strings));
    let fresh = analyzer.empty_partial();
    let partials: Vec<Result<Analyzer, FeedError>> = jobs
        .par_iter()
        .map(|&(table, path)| {
            read_one(table, path, fresh.clone(), &shared, progress).map_err(|source| {
                FeedError::Read {
                    table,
                    path: path.clone(),
                    source: Box::new(source),
                }
            })
        })
        .collect();
    // The table is append-only: a reader that panicked left it consistent.
    *strings = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    for partial in partials {
        analyzer.merge(&partial?)?;
    }
    Ok(())
}

fn read_one(
    table: Table,
    path: &Path,
    mut a: Analyzer,
    shared: &Mutex<Strings>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Analyzer, TimelineError> {
    let mut local = Strings::new();
    let mut remap = Remap::new(shared);
    match table {
        Table::Events if Format::from_path(path)? == Format::Parquet => read_events_parallel(
            path,
            &mut local,
            rayon::current_num_threads(),
            |batch, keys| {
                for e in batch {
                    a.update_event(&remap.event(keys, e));
                }
                progress(batch.len() as u64);
            },
        )?,
        Table::Events => return read_events_pipelined(path, a, &mut local, remap, progress),
        Table::Orders => read_orders_with(path, &mut local, |batch, keys| {
            for o in batch {
                a.update_order(&remap.order(keys, o));
            }
            progress(batch.len() as u64);
        })?,
        Table::Fills => read_fills(path, |batch| {
            for f in batch {
                a.update_fill(f);
            }
            progress(batch.len() as u64);
        })?,
        Table::Parents => read_parents_with(path, &mut local, |batch, keys| {
            for p in batch {
                a.update_parent(&remap.parent(keys, p));
            }
            progress(batch.len() as u64);
        })?,
    };
    Ok(a)
}

/// The events table is the big one: decode (and re-intern) on this thread while another
/// runs the metrics, so one large file keeps two cores busy. Batch buffers travel back to
/// be reused, so the pipeline allocates a handful once.
fn read_events_pipelined(
    path: &Path,
    mut a: Analyzer,
    local: &mut Strings,
    mut remap: Remap<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Analyzer, TimelineError> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Event>>(PIPELINE_DEPTH);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<Event>>();
    std::thread::scope(|scope| {
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
        let read = read_events_with(path, local, |batch, keys| {
            let mut buf = empty_rx.try_recv().unwrap_or_default();
            buf.clear();
            buf.extend(batch.iter().map(|e| remap.event(keys, e)));
            progress(batch.len() as u64);
            // Fails only if the consumer died, which join() reports below.
            let _ = full_tx.send(buf);
        });
        drop(full_tx);
        // A panic in the metrics is a bug, not bad input: let it surface as one.
        let a = match consumer.join() {
            Ok(a) => a,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        read?;
        Ok(a)
    })
}
