//! CSV codec for the SPEC §1 tables (RFC 4180 quoting via the `csv` crate).
//!
//! Reading: the header row names the columns, in any order; unknown columns are
//! ignored and reported; empty field = null. Writing: SPEC column order, null = empty
//! field, `f64` in Rust's shortest round-trip form so values read back bit-exact.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use super::table::{Column, Table};
use super::{ReadStats, BATCH_ROWS};
use crate::error::{shorten, Location, TimelineError};
use crate::record::{EventKind, Side};
use crate::strings::{Strings, Sym};

/// Parse an integer written as digits (optionally signed). An integral decimal such
/// as `12.0` is accepted too; any non-zero fraction is refused.
pub(crate) fn parse_int_exact(text: &str) -> Option<i128> {
    let digits = integral_digits(text.trim())?;
    let body = digits
        .strip_prefix('-')
        .or_else(|| digits.strip_prefix('+'))
        .unwrap_or(digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Largest integer magnitude every `f64` at or below it represents exactly.
pub(crate) const F64_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// An integral, finite float as an integer, and whether it lies beyond 2^53, where the
/// float may already have been rounded by its writer (pandas stores nullable integer
/// columns as float64, and epoch nanoseconds are far beyond 2^53).
pub(crate) fn integral_float(v: f64) -> Option<(i128, bool)> {
    // 2^64: every u64 and i64 fits below it.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if !v.is_finite() || v.fract() != 0.0 || v.abs() >= LIMIT {
        return None;
    }
    // Exact: v is integral and |v| < 2^64 fits i128.
    Some((v as i128, v.abs() > F64_EXACT))
}

/// `text` without a `.000` tail; `None` if the fraction is not all zeros.
fn integral_digits(text: &str) -> Option<&str> {
    match text.split_once('.') {
        None => Some(text),
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => Some(int),
        Some(_) => None,
    }
}

/// Parse a number; `NaN` and infinities parse and are judged by the caller.
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

/// Parse a boolean: `true`/`false` in any letter case, or `1`/`0`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Some(false)
    } else {
        None
    }
}

/// Parse a side: `1`, `+1` or `-1` (integral decimals like `-1.0` too).
pub(crate) fn parse_side(text: &str) -> Option<Side> {
    parse_int_exact(text)
        .and_then(|v| i8::try_from(v).ok())
        .and_then(Side::from_i8)
}

/// One CSV data row being decoded into a record.
pub(crate) struct CsvRow<'a> {
    path: &'a Path,
    table: &'static str,
    columns: &'static [Column],
    /// Field position of each table column, `None` when the header lacks it.
    map: &'a [Option<usize>],
    record: &'a csv::ByteRecord,
    line: u64,
    strings: &'a mut Strings,
    /// Last (text, sym) per column: keys repeat in runs, and this skips the hash lookup.
    last: &'a mut [Option<(String, Sym)>],
    stats: &'a mut ReadStats,
}

impl<'a> CsvRow<'a> {
    fn invalid(&self, col: usize, value: &[u8]) -> TimelineError {
        let c = self.columns[col];
        TimelineError::InvalidValue {
            path: self.path.to_path_buf(),
            table: self.table,
            column: c.name,
            location: Location::Line(self.line),
            value: shorten(&String::from_utf8_lossy(value)),
            expected: c.ty.expected(),
        }
    }

    fn missing(&self, col: usize) -> TimelineError {
        let c = self.columns[col];
        TimelineError::MissingValue {
            path: self.path.to_path_buf(),
            table: self.table,
            column: c.name,
            location: Location::Line(self.line),
            expected: c.ty.expected(),
        }
    }

    /// The field's text, `None` when the column is absent or the field empty.
    fn text(&self, col: usize) -> Result<Option<&'a str>, TimelineError> {
        let record: &'a csv::ByteRecord = self.record;
        let Some(bytes) = self.map[col].and_then(|i| record.get(i)) else {
            return Ok(None);
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s)),
            Err(_) => Err(self.invalid(col, bytes)),
        }
    }

    fn opt_parsed<T>(
        &self,
        col: usize,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, TimelineError> {
        match self.text(col)? {
            None => Ok(None),
            Some(t) => parse(t)
                .map(Some)
                .ok_or_else(|| self.invalid(col, t.as_bytes())),
        }
    }

    fn parsed<T>(&self, col: usize, parse: impl Fn(&str) -> Option<T>) -> Result<T, TimelineError> {
        self.opt_parsed(col, parse)?
            .ok_or_else(|| self.missing(col))
    }

    /// A nullable integer column: digits, or a float form (`1.7e+18`, as pandas writes
    /// nullable integers) that is integral; the latter beyond 2^53 is counted in
    /// [`ReadStats::imprecise_integers`].
    fn integer<T: TryFrom<i128>>(&mut self, col: usize) -> Result<Option<T>, TimelineError> {
        let Some(text) = self.text(col)? else {
            return Ok(None);
        };
        let value = match parse_int_exact(text) {
            Some(v) => Some(v),
            None => match parse_f64(text).and_then(integral_float) {
                Some((v, imprecise)) => {
                    self.stats.imprecise_integers += u64::from(imprecise);
                    Some(v)
                }
                None => None,
            },
        };
        match value.and_then(|v| T::try_from(v).ok()) {
            Some(v) => Ok(Some(v)),
            None => Err(self.invalid(col, text.as_bytes())),
        }
    }

    /// Required `u64`.
    pub(crate) fn u64(&mut self, col: usize) -> Result<u64, TimelineError> {
        self.integer(col)?.ok_or_else(|| self.missing(col))
    }
    /// Nullable `u64`.
    pub(crate) fn opt_u64(&mut self, col: usize) -> Result<Option<u64>, TimelineError> {
        self.integer(col)
    }
    /// Required instant.
    pub(crate) fn instant(&mut self, col: usize) -> Result<crate::Instant, TimelineError> {
        let v: Option<i64> = self.integer(col)?;
        v.map(crate::Instant).ok_or_else(|| self.missing(col))
    }
    /// Nullable instant.
    pub(crate) fn opt_instant(
        &mut self,
        col: usize,
    ) -> Result<Option<crate::Instant>, TimelineError> {
        Ok(self.integer::<i64>(col)?.map(crate::Instant))
    }
    /// Required finite `f64`.
    pub(crate) fn f64(&self, col: usize) -> Result<f64, TimelineError> {
        self.parsed(col, |t| parse_f64(t).filter(|v| v.is_finite()))
    }
    /// Nullable `f64`: `NaN` is null (pandas' missing value) and counted; infinities
    /// are errors.
    pub(crate) fn opt_f64(&mut self, col: usize) -> Result<Option<f64>, TimelineError> {
        match self.opt_parsed(col, parse_f64)? {
            Some(v) if v.is_nan() => {
                self.stats.nan_as_null += 1;
                Ok(None)
            }
            Some(v) if v.is_infinite() => Err(self.invalid(col, v.to_string().as_bytes())),
            other => Ok(other),
        }
    }
    /// Nullable boolean.
    pub(crate) fn opt_bool(&self, col: usize) -> Result<Option<bool>, TimelineError> {
        self.opt_parsed(col, parse_bool)
    }
    /// Required event kind.
    pub(crate) fn kind(&self, col: usize) -> Result<EventKind, TimelineError> {
        self.parsed(col, |t| EventKind::parse(t.trim()))
    }
    /// Required side.
    pub(crate) fn side(&self, col: usize) -> Result<Side, TimelineError> {
        self.parsed(col, parse_side)
    }
    /// Nullable interned key.
    pub(crate) fn opt_sym(&mut self, col: usize) -> Result<Option<Sym>, TimelineError> {
        let Some(text) = self.text(col)? else {
            return Ok(None);
        };
        if let Some((prev, sym)) = &self.last[col] {
            if prev == text {
                return Ok(Some(*sym));
            }
        }
        let sym = self.strings.intern(text);
        self.last[col] = Some((text.to_owned(), sym));
        Ok(Some(sym))
    }
    /// Required interned key.
    pub(crate) fn sym(&mut self, col: usize) -> Result<Sym, TimelineError> {
        self.opt_sym(col)?.ok_or_else(|| self.missing(col))
    }
}

fn csv_error(path: &Path, table: &'static str, err: csv::Error) -> TimelineError {
    if let csv::ErrorKind::UnequalLengths {
        expected_len,
        len,
        pos,
    } = err.kind()
    {
        return TimelineError::Malformed {
            path: path.to_path_buf(),
            table,
            location: Location::Line(pos.as_ref().map_or(0, |p| p.line())),
            message: format!("the row has {len} fields but the header has {expected_len}"),
        };
    }
    io_or_csv(path, "read", err)
}

/// An I/O failure inside the `csv` crate is reported as such; anything else keeps the
/// crate's message.
fn io_or_csv(path: &Path, action: &'static str, err: csv::Error) -> TimelineError {
    let message = err.to_string();
    match err.into_kind() {
        csv::ErrorKind::Io(source) => TimelineError::Io {
            path: path.to_path_buf(),
            action,
            source,
        },
        _ => TimelineError::Csv {
            path: path.to_path_buf(),
            message,
        },
    }
}

/// Match header names to table columns.
fn bind_header<T: Table>(
    path: &Path,
    header: &csv::ByteRecord,
) -> Result<(Vec<Option<usize>>, Vec<String>), TimelineError> {
    let mut map = vec![None; T::COLUMNS.len()];
    let mut ignored = Vec::new();
    for (pos, raw) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        // Excel and PowerShell start UTF-8 files with a byte-order mark; it is not part
        // of the first column's name.
        let name = name.trim_start_matches('\u{feff}').trim();
        match T::COLUMNS.iter().position(|c| c.name == name) {
            Some(col) if map[col].is_some() => {
                return Err(TimelineError::DuplicateColumn {
                    path: path.to_path_buf(),
                    table: T::NAME,
                    column: T::COLUMNS[col].name,
                })
            }
            Some(col) => map[col] = Some(pos),
            None => ignored.push(name.to_owned()),
        }
    }
    if let Some(c) = T::COLUMNS
        .iter()
        .zip(&map)
        .find(|(c, m)| !c.nullable && m.is_none())
    {
        return Err(TimelineError::MissingColumn {
            path: path.to_path_buf(),
            table: T::NAME,
            column: c.0.name,
        });
    }
    Ok((map, ignored))
}

/// Stream a CSV table in batches of [`BATCH_ROWS`] records.
pub(crate) fn read<T: Table>(
    path: &Path,
    strings: &mut Strings,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<ReadStats, TimelineError> {
    let file = File::open(path).map_err(|source| TimelineError::Io {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, T::NAME, e))?
        .clone();
    let (map, ignored_columns) = bind_header::<T>(path, &header)?;
    let mut stats = ReadStats {
        format: super::Format::Csv,
        rows: 0,
        ignored_columns,
        nan_as_null: 0,
        imprecise_integers: 0,
    };
    let mut last = vec![None; T::COLUMNS.len()];
    let mut batch = Vec::with_capacity(BATCH_ROWS.min(4096));
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, T::NAME, e))?;
        if !more {
            break;
        }
        let mut row = CsvRow {
            path,
            table: T::NAME,
            columns: T::COLUMNS,
            map: &map,
            record: &record,
            line: record.position().map_or(0, |p| p.line()),
            strings,
            last: &mut last,
            stats: &mut stats,
        };
        batch.push(T::from_csv(&mut row)?);
        if batch.len() == BATCH_ROWS {
            stats.rows += batch.len() as u64;
            on_batch(&batch, strings);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        stats.rows += batch.len() as u64;
        on_batch(&batch, strings);
    }
    Ok(stats)
}

/// Fields of one record being encoded.
pub(crate) struct CsvOut<'a> {
    path: &'a Path,
    table: &'static str,
    columns: &'static [Column],
    row: u64,
    strings: &'a Strings,
    record: &'a mut csv::ByteRecord,
    scratch: &'a mut String,
}

impl CsvOut<'_> {
    fn unwritable(&self, col: usize, reason: String) -> TimelineError {
        TimelineError::Unwritable {
            path: self.path.to_path_buf(),
            table: self.table,
            column: self.columns[col].name,
            row: self.row,
            reason,
        }
    }

    fn display(&mut self, value: impl std::fmt::Display) {
        self.scratch.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.scratch, "{value}");
        self.record.push_field(self.scratch.as_bytes());
    }

    /// A `u64` field.
    pub(crate) fn u64(&mut self, v: u64) {
        self.display(v);
    }
    /// A nullable `u64` field.
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.display(v),
            None => self.record.push_field(b""),
        }
    }
    /// An `i64` field.
    pub(crate) fn i64(&mut self, v: i64) {
        self.display(v);
    }
    /// A nullable `i64` field.
    pub(crate) fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.display(v),
            None => self.record.push_field(b""),
        }
    }
    /// A literal text field.
    pub(crate) fn text(&mut self, v: &str) {
        self.record.push_field(v.as_bytes());
    }
    /// A finite `f64` field.
    pub(crate) fn f64(&mut self, col: usize, v: f64) -> Result<(), TimelineError> {
        if !v.is_finite() {
            return Err(self.unwritable(col, format!("{v} is not a finite number")));
        }
        self.scratch.clear();
        // Debug is Rust's shortest round-trip form (with an exponent for extremes), so
        // the value reads back bit-exact. Writing into a String cannot fail.
        let _ = write!(self.scratch, "{v:?}");
        self.record.push_field(self.scratch.as_bytes());
        Ok(())
    }
    /// A nullable finite `f64` field.
    pub(crate) fn opt_f64(&mut self, col: usize, v: Option<f64>) -> Result<(), TimelineError> {
        match v {
            Some(v) => self.f64(col, v),
            None => {
                self.record.push_field(b"");
                Ok(())
            }
        }
    }
    /// A nullable boolean field.
    pub(crate) fn opt_bool(&mut self, v: Option<bool>) {
        self.record.push_field(match v {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"",
        });
    }
    /// A required key: must resolve in the string table and be non-empty.
    pub(crate) fn sym(&mut self, col: usize, sym: Sym) -> Result<(), TimelineError> {
        let strings = self.strings;
        match strings.get(sym) {
            None => Err(self.unwritable(
                col,
                format!("key #{} is not in this string table", sym.index()),
            )),
            Some("") => {
                Err(self.unwritable(col, "the key is empty, which reads back as null".into()))
            }
            Some(s) => {
                self.record.push_field(s.as_bytes());
                Ok(())
            }
        }
    }
    /// A nullable key (an empty string is written as, and reads back as, null).
    pub(crate) fn opt_sym(&mut self, col: usize, sym: Option<Sym>) -> Result<(), TimelineError> {
        let Some(sym) = sym else {
            self.record.push_field(b"");
            return Ok(());
        };
        let strings = self.strings;
        match strings.get(sym) {
            None => Err(self.unwritable(
                col,
                format!("key #{} is not in this string table", sym.index()),
            )),
            Some(s) => {
                self.record.push_field(s.as_bytes());
                Ok(())
            }
        }
    }
}

/// Streaming CSV writer for one table.
pub(crate) struct CsvWriter {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    record: csv::ByteRecord,
    scratch: String,
    rows: u64,
}

impl CsvWriter {
    /// Create the file and write the header.
    pub(crate) fn create<T: Table>(path: &Path, file: File) -> Result<Self, TimelineError> {
        let mut writer =
            csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 16, file));
        writer
            .write_record(T::COLUMNS.iter().map(|c| c.name))
            .map_err(|e| write_error(path, e))?;
        Ok(CsvWriter {
            path: path.to_path_buf(),
            writer,
            record: csv::ByteRecord::new(),
            scratch: String::new(),
            rows: 0,
        })
    }

    /// Append records.
    pub(crate) fn write<T: Table>(
        &mut self,
        strings: &Strings,
        batch: &[T],
    ) -> Result<(), TimelineError> {
        for r in batch {
            self.record.clear();
            let mut out = CsvOut {
                path: &self.path,
                table: T::NAME,
                columns: T::COLUMNS,
                row: self.rows + 1,
                strings,
                record: &mut self.record,
                scratch: &mut self.scratch,
            };
            r.to_csv(&mut out)?;
            self.writer
                .write_byte_record(&self.record)
                .map_err(|e| write_error(&self.path, e))?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Flush everything to the file; returns the number of records written.
    pub(crate) fn finish(self) -> Result<u64, TimelineError> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(|e| TimelineError::Io {
            path: path.clone(),
            action: "write",
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        let file = buffered.into_inner().map_err(|e| TimelineError::Io {
            path: path.clone(),
            action: "write",
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        let mut file = file;
        file.flush().map_err(|source| TimelineError::Io {
            path,
            action: "write",
            source,
        })?;
        Ok(self.rows)
    }
}

fn write_error(path: &Path, err: csv::Error) -> TimelineError {
    io_or_csv(path, "write", err)
}
