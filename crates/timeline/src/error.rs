//! The one error type of the timeline crate.
//!
//! Every variant carries the file it is about and, where one exists, the table, the
//! column, the 1-based line (CSV) or row (Parquet), the offending value and what was
//! expected, so a message read alone tells the user where to look.

use std::fmt;
use std::path::PathBuf;

/// Where in a file a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a text file, counting the header line (what an editor shows).
    Line(u64),
    /// 1-based data row of a columnar file (the first record is row 1).
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Errors reading or writing timeline tables and LOBSTER files.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The operating system refused an operation on the file.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted (`open`, `create`, `read`, `write`).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file name does not say which format it is.
    #[error(
        "cannot tell the table format of {path}: expected the extension .csv, .parquet or .pq"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not well-formed CSV (or not the shape a headerless format requires).
    #[error("{path}: malformed {table} file at {location}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The table or file kind being read.
        table: &'static str,
        /// Where the problem is.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A required column is absent from the header / schema.
    #[error("{path}: the {table} table has no column `{column}`, which is required")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// A known column appears twice, so which one to use is ambiguous.
    #[error("{path}: the {table} table has the column `{column}` more than once")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The repeated column.
        column: &'static str,
    },
    /// A value does not parse as, or does not fit, the column's type.
    #[error("{path}: {table}.{column} at {location}: `{value}` is not {expected}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Where the value is.
        location: Location,
        /// The offending value as text (shortened when very long).
        value: String,
        /// What the column holds, e.g. `an unsigned 64-bit integer`.
        expected: &'static str,
    },
    /// A required column holds an empty field / null.
    #[error(
        "{path}: {table}.{column} at {location} is empty, but the column is required ({expected})"
    )]
    MissingValue {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Where the value is.
        location: Location,
        /// What the column holds.
        expected: &'static str,
    },
    /// A record whose values parse but contradict each other (a parent whose deadline is
    /// not after its start).
    #[error("{path}: {table} at {location}: {message}")]
    InvalidRecord {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// Where the record is.
        location: Location,
        /// What is wrong, naming the record.
        message: String,
    },
    /// A Parquet column has an Arrow type this reader cannot convert to the SPEC type.
    #[error(
        "{path}: column `{column}` of the {table} table has type {found}, expected {expected}"
    )]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The Arrow type found.
        found: String,
        /// The accepted types.
        expected: &'static str,
    },
    /// A record cannot be written (non-finite number, a key from another string table).
    #[error("{path}: cannot write {table}.{column} of record {row} (1-based): {reason}")]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// The table being written.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// 1-based index of the record in the written sequence.
        row: u64,
        /// Why, with the value.
        reason: String,
    },
    /// A result row cannot be written (not a flat record, a late new column, a value
    /// that does not fit the column's type fixed by earlier rows).
    #[error("{path}: cannot write row {row} (1-based): {reason}")]
    UnwritableRow {
        /// The file.
        path: PathBuf,
        /// 1-based index of the row in the written sequence.
        row: u64,
        /// Why, naming the column where there is one.
        reason: String,
    },
    /// Writing a result table failed in the CSV or Parquet library (I/O, encoding).
    #[error("{path}: cannot write the table: {message}")]
    RowTable {
        /// The file.
        path: PathBuf,
        /// The underlying error's message.
        message: String,
    },
    /// A time column's value does not fit `i64` nanoseconds once converted from its unit.
    #[error(
        "{path}: {table}.{column} at {location}: {value} {unit} overflows the signed 64-bit \
         nanoseconds a time is stored as (about years 1677..2262)"
    )]
    TimeOverflow {
        /// The file.
        path: PathBuf,
        /// The table being read.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Where the value is.
        location: Location,
        /// The value in the column's own unit.
        value: i64,
        /// The column's unit (`s`, `ms`, `us`).
        unit: &'static str,
    },
    /// A timeline directory lacks a table it must have.
    #[error("{dir}: no {table} table (looked for {table}.parquet, {table}.pq and {table}.csv)")]
    MissingTable {
        /// The directory searched.
        dir: PathBuf,
        /// The table.
        table: &'static str,
    },
    /// A timeline directory holds one table in several files.
    #[error("{dir}: the {table} table is in {count} files ({names}); keep one")]
    AmbiguousTable {
        /// The directory searched.
        dir: PathBuf,
        /// The table.
        table: &'static str,
        /// How many candidate files.
        count: usize,
        /// Their file names, comma-separated.
        names: String,
    },
    /// The CSV library failed in a way not covered above (e.g. an I/O error mid-file).
    #[error("{path}: CSV error: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The underlying error's message.
        message: String,
    },
    /// The Parquet library failed (corrupt file, unsupported encoding, I/O).
    #[error("{path}: Parquet error: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The underlying error's message.
        message: String,
    },
}

/// Shorten a value for an error message so a huge field cannot flood a terminal.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &value[..end], value.len())
}
