//! Reading and writing the SPEC §1 tables as CSV or Parquet.
//!
//! The format comes from the file extension ([`Format::from_path`]). Readers stream:
//! records reach the caller's closure in batches of at most [`BATCH_ROWS`], so memory
//! is bounded by the batch, not the file; `load_*` collect everything for callers that
//! want a `Vec`. A Parquet file is read row group by row group (each batch lies within
//! one row group), only the table's columns decoded; [`read_events_parallel`] decodes
//! row groups on several threads and still delivers batches in file order. Writers take records and the [`Strings`] table their keys point into;
//! the `*Writer` types append incrementally for producers that flush as they go.
//!
//! # Conventions shared by both formats
//! - Column names and types are those of SPEC §1; column order is free; extra columns
//!   are ignored and listed in [`ReadStats::ignored_columns`]; a missing required column
//!   is an error naming it; a missing nullable column reads as all null.
//! - Null is an empty CSV field / a Parquet null. An empty string key is null too, in
//!   both formats, so a timeline reads the same whichever format it was stored in.
//! - Integers must fit their column: a negative `u64`, a side other than ±1, an unknown
//!   `kind` are errors naming the file, column, 1-based line (CSV) or row (Parquet),
//!   value and expected type.
//! - Non-finite numbers: `NaN` in a nullable float column (`bid`, `ask`, `px`) is read
//!   as null and counted in [`ReadStats::nan_as_null`] (pandas' missing value); `NaN`
//!   in a required float column is a missing value (error); ±infinity is an error
//!   anywhere. Writers refuse non-finite values, so every written file reads back.
//! - Integer columns accept integral floats (Float64 in Parquet, `12.0` or `1.7e+18`
//!   in CSV) because pandas stores nullable integers that way; those beyond 2^53 may
//!   have been rounded by the writer and are counted in [`ReadStats::imprecise_integers`].
//! - Floats are written so they read back bit-exact (CSV uses the shortest round-trip
//!   decimal form).
//! - Malformed input never panics: every failure is a [`TimelineError`].

mod compression;
mod csv;
mod guard;
mod parquet;
mod rows;
mod table;

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatchReader;

pub use self::compression::{Compression, UnknownCompression};
pub use self::parquet::ROW_GROUP_ROWS;
pub use self::rows::{rows_to_batches, write_rows, RowWriter};
use self::table::Table;
use crate::error::TimelineError;
use crate::record::{Event, Fill, Order, Parent, Timeline};
use crate::strings::Strings;

/// Records per batch handed to a reader's closure.
pub const BATCH_ROWS: usize = 65_536;

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format named by the extension: `.csv`, or `.parquet` / `.pq` (any letter case).
    pub fn from_path(path: &Path) -> Result<Format, TimelineError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(TimelineError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

impl Format {
    /// The canonical file extension, without the dot: `csv` or `parquet`.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// What a read saw besides the records. More counters may be added, so construct it
/// only through the readers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// The format read.
    pub format: Format,
    /// Records delivered.
    pub rows: u64,
    /// Columns present in the file but not part of the table, in file order.
    pub ignored_columns: Vec<String>,
    /// `NaN` values in nullable float columns that were read as null.
    pub nan_as_null: u64,
    /// Integers read from a float form (a Float64 column, or `1.7e+18` text) whose
    /// magnitude exceeds 2^53, so the writer may already have rounded them to a
    /// multiple of up to 256 ns: pandas stores nullable integer columns as float64.
    pub imprecise_integers: u64,
}

fn read_table<T: Table>(
    path: &Path,
    strings: &mut Strings,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<ReadStats, TimelineError> {
    read_table_with(path, strings, 1, on_batch)
}

fn read_table_with<T: Table>(
    path: &Path,
    strings: &mut Strings,
    decoders: usize,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<ReadStats, TimelineError> {
    match Format::from_path(path)? {
        Format::Csv => csv::read(path, strings, on_batch),
        Format::Parquet => parquet::read(path, strings, decoders, on_batch),
    }
}

fn load_table<T: Table>(path: &Path, strings: &mut Strings) -> Result<Vec<T>, TimelineError> {
    let mut all = Vec::new();
    read_table(path, strings, &mut |batch: &[T], _: &Strings| {
        all.extend_from_slice(batch)
    })?;
    Ok(all)
}

/// Stream the `events` table of `path` to `on_batch`; keys are interned in `strings`.
pub fn read_events(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Event]),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut |batch: &[Event], _: &Strings| {
        on_batch(batch)
    })
}

/// Like [`read_events`], and the callback also sees the key table, so it can resolve
/// (or re-intern elsewhere) the keys of each batch while the file is being read.
pub fn read_events_with(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Event], &Strings),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut on_batch)
}

/// Like [`read_events_with`], with a Parquet file's row groups decoded by `decoders`
/// threads (0 or 1: on the calling thread) while the calling thread runs `on_batch` on
/// the batches in file order. Records, keys (interned into `strings` in the same order),
/// batches, counters and the first error are those of a one-thread read; memory holds at
/// most `3 x decoders + 1` batches of [`BATCH_ROWS`] records whatever the file's size. A CSV
/// file is read on the calling thread.
pub fn read_events_parallel(
    path: &Path,
    strings: &mut Strings,
    decoders: usize,
    mut on_batch: impl FnMut(&[Event], &Strings),
) -> Result<ReadStats, TimelineError> {
    read_table_with(path, strings, decoders, &mut on_batch)
}

/// Stream the `orders` table of `path` to `on_batch`; keys are interned in `strings`.
pub fn read_orders(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Order]),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut |batch: &[Order], _: &Strings| {
        on_batch(batch)
    })
}

/// Like [`read_orders`], and the callback also sees the key table, so it can resolve
/// (or re-intern elsewhere) the keys of each batch while the file is being read.
pub fn read_orders_with(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Order], &Strings),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut on_batch)
}

/// Stream the `fills` table of `path` to `on_batch` (fills have no string keys).
pub fn read_fills(
    path: &Path,
    mut on_batch: impl FnMut(&[Fill]),
) -> Result<ReadStats, TimelineError> {
    read_table(
        path,
        &mut Strings::new(),
        &mut |batch: &[Fill], _: &Strings| on_batch(batch),
    )
}

/// Stream the `parents` table of `path` to `on_batch`; keys are interned in `strings`.
pub fn read_parents(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Parent]),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut |batch: &[Parent], _: &Strings| {
        on_batch(batch)
    })
}

/// Like [`read_parents`], and the callback also sees the key table, so it can resolve
/// (or re-intern elsewhere) the keys of each batch while the file is being read.
pub fn read_parents_with(
    path: &Path,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Parent], &Strings),
) -> Result<ReadStats, TimelineError> {
    read_table(path, strings, &mut on_batch)
}

/// Stream an in-memory Arrow record-batch stream holding an `events` table to
/// `on_batch`, with the column rules of a Parquet file (see the module docs); `source`
/// names the input in errors where a file's path would (e.g. `events`). Keys are interned
/// in `strings`; batches of the stream are cut into slices of at most [`BATCH_ROWS`] rows
/// without copying.
pub fn read_events_arrow(
    source: &Path,
    reader: &mut dyn RecordBatchReader,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Event], &Strings),
) -> Result<ReadStats, TimelineError> {
    parquet::read_batches(source, reader, strings, &mut on_batch)
}

/// Like [`read_events_arrow`], for an `orders` table.
pub fn read_orders_arrow(
    source: &Path,
    reader: &mut dyn RecordBatchReader,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Order], &Strings),
) -> Result<ReadStats, TimelineError> {
    parquet::read_batches(source, reader, strings, &mut on_batch)
}

/// Like [`read_events_arrow`], for a `fills` table (fills have no string keys).
pub fn read_fills_arrow(
    source: &Path,
    reader: &mut dyn RecordBatchReader,
    mut on_batch: impl FnMut(&[Fill]),
) -> Result<ReadStats, TimelineError> {
    parquet::read_batches(
        source,
        reader,
        &mut Strings::new(),
        &mut |batch: &[Fill], _: &Strings| on_batch(batch),
    )
}

/// Like [`read_events_arrow`], for a `parents` table.
pub fn read_parents_arrow(
    source: &Path,
    reader: &mut dyn RecordBatchReader,
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Parent], &Strings),
) -> Result<ReadStats, TimelineError> {
    parquet::read_batches(source, reader, strings, &mut on_batch)
}

/// `events` as Arrow record batches with the `events` table's Parquet schema (SPEC §1),
/// keys resolved in `strings`: what [`EventWriter`] would write to a Parquet file.
pub fn events_to_batches(
    events: &[Event],
    strings: &Strings,
) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), TimelineError> {
    parquet::to_batches(Path::new("events"), events, strings)
}

/// The whole `events` table of `path`.
pub fn load_events(path: &Path, strings: &mut Strings) -> Result<Vec<Event>, TimelineError> {
    load_table(path, strings)
}

/// The whole `orders` table of `path`.
pub fn load_orders(path: &Path, strings: &mut Strings) -> Result<Vec<Order>, TimelineError> {
    load_table(path, strings)
}

/// The whole `fills` table of `path`.
pub fn load_fills(path: &Path) -> Result<Vec<Fill>, TimelineError> {
    load_table(path, &mut Strings::new())
}

/// The whole `parents` table of `path`.
pub fn load_parents(path: &Path, strings: &mut Strings) -> Result<Vec<Parent>, TimelineError> {
    load_table(path, strings)
}

/// The format-specific half of a writer.
enum Sink {
    Csv(csv::CsvWriter),
    Parquet(parquet::ParquetWriter),
}

/// A streaming writer of one table, format chosen by the extension.
struct TableWriter {
    sink: Sink,
}

impl TableWriter {
    fn create<T: Table>(path: &Path, compression: Compression) -> Result<Self, TimelineError> {
        let format = Format::from_path(path)?;
        let file = File::create(path).map_err(|source| TimelineError::Io {
            path: path.to_path_buf(),
            action: "create",
            source,
        })?;
        let sink = match format {
            Format::Csv => Sink::Csv(csv::CsvWriter::create::<T>(path, file)?),
            Format::Parquet => Sink::Parquet(parquet::ParquetWriter::create::<T>(
                path,
                file,
                compression,
            )?),
        };
        Ok(TableWriter { sink })
    }

    fn write<T: Table>(&mut self, strings: &Strings, batch: &[T]) -> Result<(), TimelineError> {
        match &mut self.sink {
            Sink::Csv(w) => w.write(strings, batch),
            Sink::Parquet(w) => w.write(strings, batch),
        }
    }

    fn finish(self) -> Result<u64, TimelineError> {
        match self.sink {
            Sink::Csv(w) => w.finish(),
            Sink::Parquet(w) => w.finish(),
        }
    }
}

macro_rules! table_writer {
    ($(#[$doc:meta])* $name:ident, $record:ty) => {
        $(#[$doc])*
        ///
        /// Call [`Self::finish`] at the end: dropping the writer without it leaves a CSV
        /// file possibly short of its last records and a Parquet file without a footer.
        pub struct $name {
            inner: TableWriter,
        }

        impl $name {
            /// Create (truncate) `path`, format from its extension, and write the header
            /// / schema; Parquet pages use the default [`Compression`] (zstd).
            pub fn create(path: &Path) -> Result<Self, TimelineError> {
                Self::create_with(path, Compression::default())
            }

            /// Like `create`, with the Parquet page compression chosen (CSV ignores it).
            pub fn create_with(path: &Path, compression: Compression) -> Result<Self, TimelineError> {
                Ok(Self { inner: TableWriter::create::<$record>(path, compression)? })
            }

            /// Append `batch`; its keys resolve in `strings`.
            pub fn write(&mut self, strings: &Strings, batch: &[$record]) -> Result<(), TimelineError> {
                self.inner.write(strings, batch)
            }

            /// Flush and close the file; returns the number of records written.
            pub fn finish(self) -> Result<u64, TimelineError> {
                self.inner.finish()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

table_writer!(
    /// Streaming writer of the `events` table (live probe, simulator).
    EventWriter,
    Event
);
table_writer!(
    /// Streaming writer of the `orders` table.
    OrderWriter,
    Order
);
table_writer!(
    /// Streaming writer of the `fills` table. Fills have no keys; pass any `Strings`.
    FillWriter,
    Fill
);
table_writer!(
    /// Streaming writer of the `parents` table.
    ParentWriter,
    Parent
);

/// Write the `events` table to `path` (format from the extension).
pub fn write_events(path: &Path, strings: &Strings, events: &[Event]) -> Result<(), TimelineError> {
    let mut w = EventWriter::create(path)?;
    w.write(strings, events)?;
    w.finish().map(drop)
}

/// Write the `orders` table to `path` (format from the extension).
pub fn write_orders(path: &Path, strings: &Strings, orders: &[Order]) -> Result<(), TimelineError> {
    let mut w = OrderWriter::create(path)?;
    w.write(strings, orders)?;
    w.finish().map(drop)
}

/// Write the `fills` table to `path` (format from the extension).
pub fn write_fills(path: &Path, fills: &[Fill]) -> Result<(), TimelineError> {
    let mut w = FillWriter::create(path)?;
    w.write(&Strings::new(), fills)?;
    w.finish().map(drop)
}

/// Write the `parents` table to `path` (format from the extension).
pub fn write_parents(
    path: &Path,
    strings: &Strings,
    parents: &[Parent],
) -> Result<(), TimelineError> {
    let mut w = ParentWriter::create(path)?;
    w.write(strings, parents)?;
    w.finish().map(drop)
}

/// The file of table `name` in `dir` for `format`: `<dir>/<name>.<ext>`.
pub fn table_path(dir: &Path, name: &str, format: Format) -> std::path::PathBuf {
    dir.join(format!("{name}.{}", format.extension()))
}

/// Write all four tables of `timeline` into `dir` (created if missing) as
/// `events.<ext>`, `orders.<ext>`, `fills.<ext>`, `parents.<ext>`; empty tables are
/// written too, so a reader always finds every table.
pub fn write_timeline(
    dir: &Path,
    format: Format,
    timeline: &Timeline,
) -> Result<(), TimelineError> {
    std::fs::create_dir_all(dir).map_err(|source| TimelineError::Io {
        path: dir.to_path_buf(),
        action: "create",
        source,
    })?;
    let s = &timeline.strings;
    write_events(&table_path(dir, "events", format), s, &timeline.events)?;
    write_orders(&table_path(dir, "orders", format), s, &timeline.orders)?;
    write_fills(&table_path(dir, "fills", format), &timeline.fills)?;
    write_parents(&table_path(dir, "parents", format), s, &timeline.parents)
}

/// The one file of table `name` in `dir` (`.parquet`, `.pq` or `.csv`), `None` if
/// there is none; two candidates are an error because which one is meant is unclear.
fn find_table(dir: &Path, name: &'static str) -> Result<Option<std::path::PathBuf>, TimelineError> {
    let found: Vec<_> = ["parquet", "pq", "csv"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(TimelineError::AmbiguousTable {
            dir: dir.to_path_buf(),
            table: name,
            count: found.len(),
            names: found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Load a timeline directory as written by [`write_timeline`] (CSV and Parquet files
/// may be mixed). `events` must exist; a missing `orders`, `fills` or `parents` file
/// is an empty table, so a pure market-data capture loads too.
pub fn load_timeline(dir: &Path) -> Result<Timeline, TimelineError> {
    let mut t = Timeline::default();
    let events = find_table(dir, "events")?.ok_or_else(|| TimelineError::MissingTable {
        dir: dir.to_path_buf(),
        table: "events",
    })?;
    t.events = load_events(&events, &mut t.strings)?;
    if let Some(p) = find_table(dir, "orders")? {
        t.orders = load_orders(&p, &mut t.strings)?;
    }
    if let Some(p) = find_table(dir, "fills")? {
        t.fills = load_fills(&p)?;
    }
    if let Some(p) = find_table(dir, "parents")? {
        t.parents = load_parents(&p, &mut t.strings)?;
    }
    Ok(t)
}
