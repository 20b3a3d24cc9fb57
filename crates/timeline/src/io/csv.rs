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

/// Digits with an optional leading `-` whose magnitude fits `u64`: the value. `None` for
/// anything else (signs, spaces, decimals, exponents, larger numbers), which the general
/// parser handles.
#[inline]
fn plain_int(bytes: &[u8]) -> Option<i128> {
    let (neg, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    if digits.len() <= 19 {
        // At most 19 digits: below 10^19 < 2^64, no overflow possible.
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
    } else {
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
    }
    let v = i128::from(v);
    Some(if neg { -v } else { v })
}

/// A direct-mapped cache of recently seen keys of one column: 64 slots indexed by a hash
/// of the text, each slot's buffer reused. A miss costs one interner lookup, so any input
/// (however many keys, however they collide) is read at most that much slower.
#[derive(Clone)]
pub(crate) struct KeyCache(Vec<(Vec<u8>, Option<Sym>)>);

impl KeyCache {
    const SLOTS: usize = 64;

    fn new() -> Self {
        KeyCache(vec![(Vec::new(), None); Self::SLOTS])
    }

    /// FNV-1a of the text: good enough to spread a few dozen keys over 64 slots.
    #[inline]
    fn slot(bytes: &[u8]) -> usize {
        let mut h: u32 = 0x811c_9dc5;
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        (h ^ (h >> 16)) as usize % Self::SLOTS
    }
}

/// One CSV data row being decoded into a record.
pub(crate) struct CsvRow<'a> {
    path: &'a Path,
    table: &'static str,
    columns: &'static [Column],
    /// Field position of each table column, `None` when the header lacks it.
    map: &'a [Option<usize>],
    /// The bytes the fields live in and each field's range in them.
    base: &'a [u8],
    fields: &'a [(usize, usize)],
    line: u64,
    strings: &'a mut Strings,
    /// Recent (text, sym) pairs per column: a table has few distinct keys, and this
    /// skips the interner's hash lookup.
    last: &'a mut [KeyCache],
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

    /// A record of this row that is inconsistent as a whole (`message` names it).
    pub(crate) fn reject(&self, message: String) -> TimelineError {
        TimelineError::InvalidRecord {
            path: self.path.to_path_buf(),
            table: self.table,
            location: Location::Line(self.line),
            message,
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

    /// The field's bytes, `None` when the column is absent.
    #[inline]
    fn bytes(&self, col: usize) -> Option<&'a [u8]> {
        let base: &'a [u8] = self.base;
        let fields: &'a [(usize, usize)] = self.fields;
        self.map[col]
            .and_then(|i| fields.get(i))
            .map(|&(a, b)| &base[a..b])
    }

    /// The field's text, `None` when the column is absent or the field empty.
    fn text(&self, col: usize) -> Result<Option<&'a str>, TimelineError> {
        let Some(bytes) = self.bytes(col) else {
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
    #[inline]
    fn integer<T: TryFrom<i128>>(&mut self, col: usize) -> Result<Option<T>, TimelineError> {
        // Plain digits (the common case) convert without the general parser; anything
        // else, out-of-range values included, takes the general path and its errors.
        if let Some(v) = self.bytes(col).and_then(plain_int) {
            if let Ok(v) = T::try_from(v) {
                return Ok(Some(v));
            }
        }
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
        match self.bytes(col) {
            Some(b"true") => Ok(Some(true)),
            Some(b"false") => Ok(Some(false)),
            _ => self.opt_parsed(col, parse_bool),
        }
    }
    /// Required event kind.
    pub(crate) fn kind(&self, col: usize) -> Result<EventKind, TimelineError> {
        match self.bytes(col) {
            Some(b"md") => Ok(EventKind::Md),
            Some(b"ctl") => Ok(EventKind::Ctl),
            _ => self.parsed(col, |t| EventKind::parse(t.trim())),
        }
    }
    /// Required side.
    pub(crate) fn side(&self, col: usize) -> Result<Side, TimelineError> {
        self.parsed(col, parse_side)
    }
    /// Nullable interned key.
    pub(crate) fn opt_sym(&mut self, col: usize) -> Result<Option<Sym>, TimelineError> {
        let Some(bytes) = self.bytes(col).filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let slot = KeyCache::slot(bytes);
        if let (prev, Some(sym)) = &self.last[col].0[slot] {
            if prev.as_slice() == bytes {
                return Ok(Some(*sym));
            }
        }
        let Some(text) = self.text(col)? else {
            return Ok(None);
        };
        let sym = self.strings.intern(text);
        let (prev, last) = &mut self.last[col].0[slot];
        prev.clear();
        prev.extend_from_slice(bytes);
        *last = Some(sym);
        Ok(Some(sym))
    }
    /// Required interned key.
    pub(crate) fn sym(&mut self, col: usize) -> Result<Sym, TimelineError> {
        self.opt_sym(col)?.ok_or_else(|| self.missing(col))
    }
}

#[cfg(test)]
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
fn bind_header<'h, T: Table>(
    path: &Path,
    header: impl Iterator<Item = &'h [u8]>,
) -> Result<(Vec<Option<usize>>, Vec<String>), TimelineError> {
    let mut map = vec![None; T::COLUMNS.len()];
    let mut ignored = Vec::new();
    for (pos, raw) in header.enumerate() {
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
///
/// The text is split by [`Records`], which accepts exactly what the `csv` crate's reader
/// with its default dialect accepts (RFC 4180 quoting with doubled quotes, `\n`, `\r\n`
/// or `\r` line ends, blank lines skipped, a UTF-8 byte-order mark dropped) and reports
/// the same lines, without a per-record allocation.
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
    let io_error = |source| TimelineError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    };
    let mut records = Records::new(file);
    let header_len = match records.next_record().map_err(io_error)? {
        Some(_) => records.fields.len(),
        None => 0,
    };
    let (map, ignored_columns) = {
        let base = records.base();
        bind_header::<T>(path, records.fields.iter().map(|&(a, b)| &base[a..b]))?
    };
    let mut stats = ReadStats {
        format: super::Format::Csv,
        rows: 0,
        ignored_columns,
        nan_as_null: 0,
        imprecise_integers: 0,
    };
    // csv's rule: every record has as many fields as the first (the header); an empty
    // file has no header and no records.
    let mut expected = (header_len > 0 || records.saw_header).then_some(header_len);
    let mut last = vec![KeyCache::new(); T::COLUMNS.len()];
    let mut batch = Vec::with_capacity(BATCH_ROWS.min(4096));
    while let Some(line) = records.next_record().map_err(io_error)? {
        let len = records.fields.len();
        match expected {
            None => expected = Some(len),
            Some(e) if e != len => {
                return Err(TimelineError::Malformed {
                    path: path.to_path_buf(),
                    table: T::NAME,
                    location: Location::Line(line),
                    message: format!("the row has {len} fields but the header has {e}"),
                })
            }
            Some(_) => {}
        }
        let mut row = CsvRow {
            path,
            table: T::NAME,
            columns: T::COLUMNS,
            map: &map,
            base: records.base(),
            fields: &records.fields,
            line,
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

/// Bytes read from the file at a time (the buffer grows only for a longer record).
const CHUNK: usize = 1 << 20;

/// A byte-level CSV record splitter with the `csv` crate's default dialect.
///
/// A line without `"` or a stray `\r` (nearly every line of a machine-written table) is
/// split on `,` in place, fields pointing into the read buffer. Any other record is
/// handed to `csv_core`, the parser inside the `csv` crate, from the same point, so quoted
/// fields, escaped quotes, line breaks inside quotes and odd cases such as `a"b` or
/// `"a"b` parse exactly as before. Line numbers follow `csv`'s positions: the line a
/// record's read starts on, counting the `\n` bytes consumed by earlier records (after a
/// `\r\n` record the `\n` belongs to the next read, as in `csv`).
struct Records<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// `csv_core`'s line counter: 1 + the `\n` bytes consumed so far.
    line: u64,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The last record came from `csv_core` (fields in `out`), not from `buf`.
    slow: bool,
    /// The header (first) record was read, even if it had no field.
    saw_header: bool,
    /// The start of the file was looked at for a byte-order mark.
    bom_checked: bool,
    /// Field ranges of the last record, in `buf` or `out`.
    fields: Vec<(usize, usize)>,
}

impl<R: std::io::Read> Records<R> {
    fn new(src: R) -> Self {
        let mut core = csv_core::Reader::new();
        // csv_core drops a byte-order mark at the start of its first input; it sees input
        // only mid-file here (the mark at the file's start is handled in `fill`), so let
        // it see a blank line first, which leaves it at the start of a record.
        let _ = core.read_record(b"\n", &mut [0u8; 1], &mut [0usize; 1]);
        Records {
            src,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            line: 1,
            core,
            out: vec![0; 1024],
            ends: vec![0; 64],
            slow: false,
            saw_header: false,
            bom_checked: false,
            fields: Vec::new(),
        }
    }

    /// The bytes the last record's field ranges point into.
    fn base(&self) -> &[u8] {
        if self.slow {
            &self.out
        } else {
            &self.buf
        }
    }

    /// Read more input after `end` (moving unread bytes to the front, growing the buffer
    /// when a record fills it); false at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        let before = self.end;
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(self.end > before);
                }
                Ok(n) => {
                    self.end += n;
                    if !self.bom_checked {
                        // csv_core drops a UTF-8 byte-order mark when its first input
                        // holds at least 3 bytes; read on until there are 3 to decide.
                        if self.end < 3 {
                            continue;
                        }
                        self.bom_checked = true;
                        if self.buf[..3] == [0xef, 0xbb, 0xbf] {
                            self.start = 3;
                        }
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next record's fields into `self.fields`; its line (see the type docs), or
    /// `None` at the end.
    fn next_record(&mut self) -> std::io::Result<Option<u64>> {
        let at = self.line;
        let had_header = self.saw_header;
        self.saw_header = true;
        // Blank lines and the `\n` of a `\r\n` are skipped before a record.
        loop {
            if self.start == self.end {
                if !self.fill()? {
                    if !had_header {
                        // An empty file: csv's header record is empty too.
                        self.fields.clear();
                        self.slow = false;
                        self.saw_header = false;
                    }
                    return Ok(None);
                }
                continue;
            }
            match self.buf[self.start] {
                b'\n' => {
                    self.line += 1;
                    self.start += 1;
                }
                b'\r' => self.start += 1,
                _ => break,
            }
        }
        // The record's line: up to the next `\n` (reading more input as needed).
        let mut scanned = self.start;
        let nl = loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[scanned..self.end]) {
                break Some(scanned + i);
            }
            let before = self.start;
            scanned = self.end;
            if !self.fill()? {
                break None;
            }
            scanned -= before - self.start;
        };
        let (content_end, next, newline) = match nl {
            Some(i) if i > self.start && self.buf[i - 1] == b'\r' => (i - 1, i, false),
            Some(i) => (i, i + 1, true),
            None => (self.end, self.end, false),
        };
        // One pass: split on `,`; a `"` or a stray `\r` sends the record to csv_core.
        self.fields.clear();
        let mut field = self.start;
        for (i, &b) in self.buf[self.start..content_end].iter().enumerate() {
            if b == b',' {
                self.fields.push((field, self.start + i));
                field = self.start + i + 1;
            } else if b == b'"' || b == b'\r' {
                return self.slow_record().map(|()| Some(at));
            }
        }
        self.slow = false;
        self.fields.push((field, content_end));
        self.start = next;
        self.line += u64::from(newline);
        Ok(Some(at))
    }

    /// Parse one record with `csv_core` from `start`.
    #[cold]
    fn slow_record(&mut self) -> std::io::Result<()> {
        use csv_core::ReadRecordResult as R;
        self.core.set_line(self.line);
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            let input = &self.buf[self.start..self.end];
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            self.start += nin;
            outlen += nout;
            endlen += nend;
            match res {
                R::InputEmpty => {
                    // At the end of the file, csv_core is called with empty input to
                    // finish the record.
                    if self.start == self.end {
                        self.fill()?;
                    }
                }
                R::OutputFull => {
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                }
                R::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                R::Record | R::End => break,
            }
        }
        self.line = self.core.line();
        self.slow = true;
        self.fields.clear();
        let mut from = 0;
        for &e in &self.ends[..endlen] {
            self.fields.push((from, e));
            from = e;
        }
        Ok(())
    }
}

/// The reader this module had before [`Records`]: the `csv` crate's, kept to check that
/// the new one reads every input the same.
#[cfg(test)]
pub(crate) fn read_reference<T: Table>(
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
    let (map, ignored_columns) = bind_header::<T>(path, header.iter())?;
    let mut stats = ReadStats {
        format: super::Format::Csv,
        rows: 0,
        ignored_columns,
        nan_as_null: 0,
        imprecise_integers: 0,
    };
    let mut last = vec![KeyCache::new(); T::COLUMNS.len()];
    let mut fields = Vec::new();
    let mut batch = Vec::with_capacity(BATCH_ROWS.min(4096));
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, T::NAME, e))?;
        if !more {
            break;
        }
        fields.clear();
        let mut from = 0;
        for f in record.iter() {
            fields.push((from, from + f.len()));
            from += f.len();
        }
        let mut row = CsvRow {
            path,
            table: T::NAME,
            columns: T::COLUMNS,
            map: &map,
            base: record.as_slice(),
            fields: &fields,
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

#[cfg(test)]
mod tests {
    //! The byte-level reader against the `csv`-crate reader it replaced: same records,
    //! keys, counters and errors on every CSV fixture and on generated text.
    #![allow(clippy::unwrap_used)]

    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::{read, read_reference};
    use crate::io::table::Table;
    use crate::record::{Event, Fill, Order, Parent};
    use crate::strings::Strings;

    type Reader<T> = fn(
        &Path,
        &mut Strings,
        &mut dyn FnMut(&[T], &Strings),
    ) -> Result<super::ReadStats, crate::TimelineError>;
    type Outcome<T> = Result<(Vec<T>, Vec<String>, Vec<usize>, super::ReadStats), String>;

    fn run<T: Table>(path: &Path, reader: Reader<T>) -> Outcome<T> {
        let mut strings = Strings::new();
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        let stats = reader(path, &mut strings, &mut |b: &[T], _: &Strings| {
            sizes.push(b.len());
            all.extend_from_slice(b);
        })
        .map_err(|e| e.to_string())?;
        let keys = strings.since(0).map(str::to_owned).collect();
        Ok((all, keys, sizes, stats))
    }

    fn same<T: Table + PartialEq + std::fmt::Debug>(path: &Path) -> (bool, String) {
        let new = run::<T>(path, read::<T>);
        let old = run::<T>(path, read_reference::<T>);
        (
            new == old,
            format!("{}: new {new:?}\nold {old:?}", path.display()),
        )
    }

    fn check_all_tables(path: &Path) {
        for (ok, msg) in [
            same::<Event>(path),
            same::<Order>(path),
            same::<Fill>(path),
            same::<Parent>(path),
        ] {
            assert!(ok, "{msg}");
        }
    }

    fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                csv_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "csv") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_csv_fixture_reads_as_before() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut files = Vec::new();
        csv_files(&root, &mut files);
        assert!(files.len() >= 60, "{} CSV fixtures", files.len());
        for f in &files {
            check_all_tables(f);
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coalescope-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn hand_picked_dialect_cases_read_as_before() {
        let cases: &[&[u8]] = &[
            b"",
            b"\xef\xbb",
            b"\xef\xbb\xbfseq,stream,kind,t_ingress_ns\n1,a,md,5\n",
            b"seq,stream,kind,t_ingress_ns\r\n1,a,md,5\r\n2,b,md,6\r\n3,c,md\r\n",
            b"seq,stream,kind,t_ingress_ns\r1,a,md,5\r2,b,md,x\r",
            b"seq,stream,kind,t_ingress_ns\n\n\n1,\"a\nb\",md,5\n\n2,\"q\"\"q\",md,6\n3,x,md,7,8\n",
            b"seq,stream,kind,t_ingress_ns\n1,a\"b,md,5\n2,\"a\"b,md,6\n3,\"open,md,7\n",
            b"seq,stream,kind,t_ingress_ns\n1,a,md,5",
            b"seq,stream,kind,t_ingress_ns\n1,a,md,5\r",
            b"seq,stream,kind,t_ingress_ns\n-1,a,md,5\n",
            b"seq,stream,kind,t_ingress_ns\n 7,a,md,+5\n8,a,md,1.7e+18\n9,a,md,99999999999999999999\n",
            b"seq,stream,kind,t_ingress_ns,bid\n1,a,md,5,NaN\n2,a,md,5,inf\n",
            b"seq,stream,kind,t_ingress_ns\n1,\xff,md,5\n",
            b"seq,stream,kind,t_ingress_ns\n1,a,md,\n",
            b"seq,seq,stream,kind,t_ingress_ns\n",
            b"stream,kind,t_ingress_ns\n",
        ];
        for (i, c) in cases.iter().enumerate() {
            let p = temp(&format!("case{i}.csv"));
            std::fs::write(&p, c).unwrap();
            check_all_tables(&p);
        }
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-9]{1,20}".prop_map(|s| s),
            2 => "-?[0-9]{1,4}(\\.[0-9]{1,3})?(e[+-]?[0-9])?".prop_map(|s| s),
            3 => prop::sample::select(vec!["md", "ctl", "feed-a", "feed-b", "SYM", "true", "0", "NaN", "", " 5", "+1", "-1"]).prop_map(str::to_owned),
            1 => "[a-z\",\\r\\n ]{0,6}".prop_map(|s| s),
            1 => "[a-z,\\n ]{0,5}".prop_map(|s| format!("\"{}\"", s)),
            1 => "[a-z]{0,3}".prop_map(|s| format!("\"{s}\"\"{s}\"")),
        ]
    }

    fn csv_text() -> impl Strategy<Value = (Vec<u8>, bool)> {
        let header = prop::sample::subsequence(
            vec![
                "seq",
                "stream",
                "kind",
                "symbol",
                "t_ingress_ns",
                "t_app_ns",
                "bid",
                "transition",
                "note",
            ],
            4..=9,
        )
        .prop_shuffle();
        (
            header,
            prop::collection::vec(prop::collection::vec(field(), 3..=10), 0..12),
            prop::sample::select(vec!["\n", "\r\n", "\r"]),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(header, rows, eol, trailing, bom, blank)| {
                let mut text = String::new();
                if bom {
                    text.push('\u{feff}');
                }
                text.push_str(&header.join(","));
                for (i, r) in rows.iter().enumerate() {
                    text.push_str(eol);
                    if blank && i % 3 == 1 {
                        text.push_str(eol);
                    }
                    // Most rows get the header's width, so records reach the decoder.
                    let width = if i % 4 == 3 { r.len() } else { header.len() };
                    let cells: Vec<String> = (0..width)
                        .map(|j| r.get(j).cloned().unwrap_or_default())
                        .collect();
                    text.push_str(&cells.join(","));
                }
                if trailing {
                    text.push_str(eol);
                }
                (text.into_bytes(), trailing)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn generated_csv_reads_as_before((text, _) in csv_text()) {
            let p = temp("generated.csv");
            std::fs::write(&p, &text).unwrap();
            for (ok, msg) in [same::<Event>(&p), same::<Order>(&p)] {
                prop_assert!(ok, "{}\ntext {:?}", msg, String::from_utf8_lossy(&text));
            }
        }
    }
}
