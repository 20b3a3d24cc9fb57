//! Parquet codec for the SPEC §1 tables.
//!
//! Writing uses exactly the SPEC types (UInt64, Utf8, Int64, Float64, Boolean, Int8),
//! nullable per SPEC, pages compressed as the caller chose ([`super::Compression`],
//! zstd by default) and row groups of [`ROW_GROUP_ROWS`] rows.
//!
//! Reading is liberal in what it accepts, because files come from pandas, pyarrow,
//! polars and Spark as often as from us: any integer type (or an integral Float64, which
//! is how pandas stores a nullable integer column) for integer columns, `Timestamp` of
//! any unit for instants, Float32 or exactly representable integers for floats, every
//! Arrow string layout (Utf8, LargeUtf8, Utf8View, Dictionary of those) for keys, and
//! an all-null `Null` column for nullable columns. Each batch is converted column by
//! column: the Arrow type is matched once per column per batch and the loop inside is
//! monomorphic, so no per-cell dynamic dispatch happens. Only the table's own columns
//! are decoded (projection), and string columns are read dictionary-encoded where the
//! file allows, so each distinct key is interned once per batch, not once per row.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, Int8Array, PrimitiveArray,
    RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;

use super::csv::integral_float;
use super::table::{Column, ColumnType, Table};
use super::{Format, ReadStats, BATCH_ROWS};
use crate::error::{shorten, Location, TimelineError};
use crate::record::{EventKind, Side};
use crate::strings::{Strings, Sym};

/// Rows per Parquet row group written: large enough for good compression and few
/// metadata entries, small enough that a writer buffers a bounded amount.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// A nullable column decoded from one batch.
pub(crate) enum OptCol<T> {
    /// The file has no such column: every value is null.
    AllNull,
    /// One value per row.
    Values(Vec<Option<T>>),
}

impl<T: Copy> OptCol<T> {
    /// The value of row `i` of the batch.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T> {
        match self {
            OptCol::AllNull => None,
            OptCol::Values(v) => v[i],
        }
    }
}

/// How a cell converts: a value, a null (NaN in a float column), or not convertible.
type Conv<T> = Result<Option<T>, ()>;

/// The columns of one Arrow batch being decoded into records.
pub(crate) struct ArrowCols<'a> {
    path: &'a Path,
    table: &'static str,
    columns: &'static [Column],
    arrays: Vec<Option<ArrayRef>>,
    rows: usize,
    /// Rows of the file before this batch, for 1-based row numbers in errors.
    first_row: u64,
    strings: &'a mut Strings,
    stats: &'a mut ReadStats,
}

const EXPECT_INT: &str = "an integer type (Int8..Int64, UInt8..UInt64), Decimal128 of scale 0 (how Spark reads unsigned 64-bit columns) or integral Float64";
const EXPECT_TIME: &str =
    "Int64 nanoseconds, another integer type, Timestamp(s|ms|us|ns, any time zone) or integral Float64";
const EXPECT_FLOAT: &str = "Float64, Float32 or an exactly representable integer type";
const EXPECT_STR: &str = "Utf8, LargeUtf8, Utf8View or a Dictionary of those";
const EXPECT_BOOL: &str = "Boolean, or an integer type or Float64 holding 0/1";
const EXPECT_SIDE: &str = "a signed integer type (Int8..Int64) holding +1/-1";

/// Largest integer magnitude every integer type converts to Float64 exactly.
const F64_EXACT: u64 = 1 << 53;

/// A Float64 cell of an integer column: NaN is null (pandas), integral values convert.
fn float_int(v: f64) -> Conv<i128> {
    if v.is_nan() {
        Ok(None)
    } else {
        integral_float(v).map(|(x, _)| Some(x)).ok_or(())
    }
}

/// Convert a Float64 cell of an integer column to `T`.
fn float_to<T: TryFrom<i128>>(v: f64) -> Conv<T> {
    match float_int(v)? {
        Some(x) => T::try_from(x).map(Some).map_err(|_| ()),
        None => Ok(None),
    }
}

/// Any integer to `u64`; generic so one body serves every Arrow integer type.
fn to_u64<N>(v: N) -> Conv<u64>
where
    u64: TryFrom<N>,
{
    u64::try_from(v).map(Some).map_err(|_| ())
}

/// Any integer to `i64`.
fn to_i64<N>(v: N) -> Conv<i64>
where
    i64: TryFrom<N>,
{
    i64::try_from(v).map(Some).map_err(|_| ())
}

fn finite(v: f64) -> Conv<f64> {
    if v.is_nan() {
        Ok(None)
    } else if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(())
    }
}

/// Dispatch an integer-typed array to `$body` with `$arr` bound to the typed array.
macro_rules! with_int_array {
    ($array:expr, $arr:ident => $body:expr, else $other:expr) => {
        match $array.data_type() {
            DataType::Int8 => {
                let $arr = $array.as_primitive::<Int8Type>();
                $body
            }
            DataType::Int16 => {
                let $arr = $array.as_primitive::<Int16Type>();
                $body
            }
            DataType::Int32 => {
                let $arr = $array.as_primitive::<Int32Type>();
                $body
            }
            DataType::Int64 => {
                let $arr = $array.as_primitive::<Int64Type>();
                $body
            }
            DataType::UInt8 => {
                let $arr = $array.as_primitive::<UInt8Type>();
                $body
            }
            DataType::UInt16 => {
                let $arr = $array.as_primitive::<UInt16Type>();
                $body
            }
            DataType::UInt32 => {
                let $arr = $array.as_primitive::<UInt32Type>();
                $body
            }
            DataType::UInt64 => {
                let $arr = $array.as_primitive::<UInt64Type>();
                $body
            }
            _ => $other,
        }
    };
}

impl<'a> ArrowCols<'a> {
    /// Rows in this batch.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    fn location(&self, i: usize) -> Location {
        Location::Row(self.first_row + i as u64 + 1)
    }

    /// Record `i` of this batch is inconsistent as a whole (`message` names it).
    pub(crate) fn reject(&self, i: usize, message: String) -> TimelineError {
        TimelineError::InvalidRecord {
            path: self.path.to_path_buf(),
            table: self.table,
            location: self.location(i),
            message,
        }
    }

    fn invalid(&self, col: usize, i: usize, value: String) -> TimelineError {
        let c = self.columns[col];
        TimelineError::InvalidValue {
            path: self.path.to_path_buf(),
            table: self.table,
            column: c.name,
            location: self.location(i),
            value: shorten(&value),
            expected: c.ty.expected(),
        }
    }

    fn missing(&self, col: usize, i: usize) -> TimelineError {
        let c = self.columns[col];
        TimelineError::MissingValue {
            path: self.path.to_path_buf(),
            table: self.table,
            column: c.name,
            location: self.location(i),
            expected: c.ty.expected(),
        }
    }

    fn wrong_type(&self, col: usize, found: &DataType, expected: &'static str) -> TimelineError {
        TimelineError::ColumnType {
            path: self.path.to_path_buf(),
            table: self.table,
            column: self.columns[col].name,
            found: found.to_string(),
            expected,
        }
    }

    /// The column's array, `None` if the file lacks it (only nullable columns can be
    /// absent: required ones were checked against the schema).
    fn array(&self, col: usize) -> Option<ArrayRef> {
        self.arrays[col].clone()
    }

    /// Convert a primitive array cell by cell with a monomorphic `conv`.
    fn prim<A, T>(
        &self,
        col: usize,
        arr: &PrimitiveArray<A>,
        conv: impl Fn(A::Native) -> Conv<T>,
    ) -> Result<Vec<Option<T>>, TimelineError>
    where
        A: ArrowPrimitiveType,
    {
        let values = arr.values();
        let mut out = Vec::with_capacity(values.len());
        match arr.nulls().filter(|n| n.null_count() > 0) {
            None => {
                for (i, &v) in values.iter().enumerate() {
                    match conv(v) {
                        Ok(x) => out.push(x),
                        Err(()) => return Err(self.invalid(col, i, format!("{v:?}"))),
                    }
                }
            }
            Some(nulls) => {
                for (i, &v) in values.iter().enumerate() {
                    if nulls.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    match conv(v) {
                        Ok(x) => out.push(x),
                        Err(()) => return Err(self.invalid(col, i, format!("{v:?}"))),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Convert a timestamp array of a coarser unit to nanoseconds exactly; a value whose
    /// nanoseconds overflow `i64` is an error naming the column, row, value and unit.
    fn scaled<A>(
        &self,
        col: usize,
        arr: &PrimitiveArray<A>,
        scale: i64,
        unit: &'static str,
    ) -> Result<Vec<Option<i64>>, TimelineError>
    where
        A: ArrowPrimitiveType<Native = i64>,
    {
        let mut out = Vec::with_capacity(arr.len());
        let nulls = arr.nulls().filter(|n| n.null_count() > 0);
        for (i, &v) in arr.values().iter().enumerate() {
            if nulls.is_some_and(|n| n.is_null(i)) {
                out.push(None);
                continue;
            }
            match v.checked_mul(scale) {
                Some(ns) => out.push(Some(ns)),
                None => {
                    return Err(TimelineError::TimeOverflow {
                        path: self.path.to_path_buf(),
                        table: self.table,
                        column: self.columns[col].name,
                        location: self.location(i),
                        value: v,
                        unit,
                    })
                }
            }
        }
        Ok(out)
    }

    /// Count the valid cells of a Float64 integer column beyond 2^53.
    fn count_imprecise(&mut self, a: &ArrayRef) {
        let arr = a.as_primitive::<Float64Type>();
        let n = (0..arr.len())
            .filter(|&i| {
                arr.is_valid(i) && arr.value(i).abs() > F64_EXACT as f64 && arr.value(i).is_finite()
            })
            .count();
        self.stats.imprecise_integers += n as u64;
    }

    /// Every row must hold a value.
    fn require<T: Copy>(&self, col: usize, values: OptCol<T>) -> Result<Vec<T>, TimelineError> {
        match values {
            OptCol::AllNull => {
                if self.rows == 0 {
                    Ok(Vec::new())
                } else {
                    Err(self.missing(col, 0))
                }
            }
            OptCol::Values(v) => {
                let mut out = Vec::with_capacity(v.len());
                for (i, x) in v.into_iter().enumerate() {
                    match x {
                        Some(x) => out.push(x),
                        None => return Err(self.missing(col, i)),
                    }
                }
                Ok(out)
            }
        }
    }

    fn decode_u64(&mut self, col: usize) -> Result<OptCol<u64>, TimelineError> {
        let Some(a) = self.array(col) else {
            return Ok(OptCol::AllNull);
        };
        let v = with_int_array!(a, arr => self.prim(col, arr, to_u64),
        else match a.data_type() {
            DataType::Float64 => {
                self.count_imprecise(&a);
                self.prim(col, a.as_primitive::<Float64Type>(), float_to::<u64>)
            }
            // Spark has no unsigned types: it reads a UInt64 column as decimal(20, 0).
            DataType::Decimal128(_, 0) => {
                self.prim(col, a.as_primitive::<arrow_array::types::Decimal128Type>(), to_u64)
            }
            DataType::Null => return Ok(OptCol::AllNull),
            t => return Err(self.wrong_type(col, t, EXPECT_INT)),
        })?;
        Ok(OptCol::Values(v))
    }

    fn decode_i64(&mut self, col: usize) -> Result<OptCol<i64>, TimelineError> {
        let Some(a) = self.array(col) else {
            return Ok(OptCol::AllNull);
        };
        let v = with_int_array!(a, arr => self.prim(col, arr, to_i64),
        else match a.data_type() {
            // The time zone only labels how to display the instants: Arrow stores
            // timestamps with a zone as UTC-based counts, so the values convert as they are.
            DataType::Timestamp(unit, _) => match unit {
                TimeUnit::Second => self.scaled(col, a.as_primitive::<TimestampSecondType>(), 1_000_000_000, "s"),
                TimeUnit::Millisecond => self.scaled(col, a.as_primitive::<TimestampMillisecondType>(), 1_000_000, "ms"),
                TimeUnit::Microsecond => self.scaled(col, a.as_primitive::<TimestampMicrosecondType>(), 1_000, "us"),
                TimeUnit::Nanosecond => self.prim(col, a.as_primitive::<TimestampNanosecondType>(), to_i64),
            },
            DataType::Float64 => {
                self.count_imprecise(&a);
                self.prim(col, a.as_primitive::<Float64Type>(), float_to::<i64>)
            }
            DataType::Decimal128(_, 0) => {
                self.prim(col, a.as_primitive::<arrow_array::types::Decimal128Type>(), to_i64)
            }
            DataType::Null => return Ok(OptCol::AllNull),
            t => return Err(self.wrong_type(col, t, EXPECT_TIME)),
        })?;
        Ok(OptCol::Values(v))
    }

    fn decode_f64(&self, col: usize) -> Result<OptCol<f64>, TimelineError> {
        let Some(a) = self.array(col) else {
            return Ok(OptCol::AllNull);
        };
        let exact = |v: i128| {
            if v.unsigned_abs() <= u128::from(F64_EXACT) {
                // Exact: |v| <= 2^53.
                Ok(Some(v as f64))
            } else {
                Err(())
            }
        };
        let v = match a.data_type() {
            DataType::Float64 => self.prim(col, a.as_primitive::<Float64Type>(), finite)?,
            DataType::Float32 => self.prim(col, a.as_primitive::<Float32Type>(), |v| {
                finite(f64::from(v))
            })?,
            DataType::Null => return Ok(OptCol::AllNull),
            t => with_int_array!(a, arr => self.prim(col, arr, |v| exact(i128::from(v)))?,
                else return Err(self.wrong_type(col, t, EXPECT_FLOAT))),
        };
        Ok(OptCol::Values(v))
    }

    /// Decode a string column through `map`, which sees each distinct non-empty text of
    /// a dictionary once per batch (or each run of equal texts once, for plain arrays).
    /// Empty strings are null, as in CSV.
    fn decode_str<T: Copy>(
        &mut self,
        col: usize,
        mut map: impl FnMut(&mut Strings, &str) -> Option<T>,
    ) -> Result<OptCol<T>, TimelineError> {
        let Some(a) = self.array(col) else {
            return Ok(OptCol::AllNull);
        };
        let v = match a.data_type() {
            DataType::Utf8 => self.plain_str(col, a.as_string::<i32>().iter(), &mut map)?,
            DataType::LargeUtf8 => self.plain_str(col, a.as_string::<i64>().iter(), &mut map)?,
            DataType::Utf8View => self.plain_str(col, a.as_string_view().iter(), &mut map)?,
            DataType::Dictionary(_, value)
                if matches!(
                    **value,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                self.dict_str(col, &a, &mut map)?
            }
            DataType::Null => return Ok(OptCol::AllNull),
            t => return Err(self.wrong_type(col, t, EXPECT_STR)),
        };
        Ok(OptCol::Values(v))
    }

    fn plain_str<'s, T: Copy>(
        &mut self,
        col: usize,
        iter: impl Iterator<Item = Option<&'s str>>,
        map: &mut impl FnMut(&mut Strings, &str) -> Option<T>,
    ) -> Result<Vec<Option<T>>, TimelineError> {
        let mut out = Vec::with_capacity(self.rows);
        let mut last: Option<(&str, T)> = None;
        for (i, s) in iter.enumerate() {
            let Some(s) = s.filter(|s| !s.is_empty()) else {
                out.push(None);
                continue;
            };
            match last {
                Some((prev, v)) if prev == s => out.push(Some(v)),
                _ => match map(self.strings, s) {
                    Some(v) => {
                        last = Some((s, v));
                        out.push(Some(v));
                    }
                    None => return Err(self.invalid(col, i, s.to_owned())),
                },
            }
        }
        Ok(out)
    }

    fn dict_str<T: Copy>(
        &mut self,
        col: usize,
        array: &ArrayRef,
        map: &mut impl FnMut(&mut Strings, &str) -> Option<T>,
    ) -> Result<Vec<Option<T>>, TimelineError> {
        let Some(dict) = array.as_any_dictionary_opt() else {
            return Err(self.wrong_type(col, array.data_type(), EXPECT_STR));
        };
        let values = dict.values();
        if values.is_empty() {
            // An empty dictionary is only valid when every key is null.
            return Ok(vec![None; self.rows]);
        }
        let keys = dict.normalized_keys();
        // Taken once: `is_null` on the `dyn Array` would be a virtual call per row.
        let nulls = array.logical_nulls();
        // Outer `None`: not looked at yet; inner `None`: null or empty text.
        let mut resolved: Vec<Option<Option<T>>> = vec![None; values.len()];
        let mut out = Vec::with_capacity(self.rows);
        for (i, &k) in keys.iter().enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                out.push(None);
                continue;
            }
            let v = match resolved[k] {
                Some(v) => v,
                None => {
                    let v = match dict_value(values, k) {
                        None | Some("") => None,
                        Some(s) => match map(self.strings, s) {
                            Some(v) => Some(v),
                            None => return Err(self.invalid(col, i, s.to_owned())),
                        },
                    };
                    resolved[k] = Some(v);
                    v
                }
            };
            out.push(v);
        }
        Ok(out)
    }

    /// Required `u64`.
    pub(crate) fn u64(&mut self, col: usize) -> Result<Vec<u64>, TimelineError> {
        if let Some(a) = self.arrays[col].as_ref() {
            if let Some(arr) = a.as_primitive_opt::<UInt64Type>() {
                if arr.null_count() == 0 {
                    return Ok(arr.values().to_vec());
                }
            }
        }
        let v = self.decode_u64(col)?;
        self.require(col, v)
    }
    /// Nullable `u64`.
    pub(crate) fn opt_u64(&mut self, col: usize) -> Result<OptCol<u64>, TimelineError> {
        self.decode_u64(col)
    }
    /// Required `i64`.
    pub(crate) fn i64(&mut self, col: usize) -> Result<Vec<i64>, TimelineError> {
        if let Some(a) = self.arrays[col].as_ref() {
            if let Some(arr) = a.as_primitive_opt::<Int64Type>() {
                if arr.null_count() == 0 {
                    return Ok(arr.values().to_vec());
                }
            }
            if let Some(arr) = a.as_primitive_opt::<TimestampNanosecondType>() {
                if arr.null_count() == 0 {
                    return Ok(arr.values().to_vec());
                }
            }
        }
        let v = self.decode_i64(col)?;
        self.require(col, v)
    }
    /// Nullable `i64`.
    pub(crate) fn opt_i64(&mut self, col: usize) -> Result<OptCol<i64>, TimelineError> {
        self.decode_i64(col)
    }
    /// Required finite `f64` (NaN is a missing value).
    pub(crate) fn f64(&mut self, col: usize) -> Result<Vec<f64>, TimelineError> {
        let v = self.decode_f64(col)?;
        self.require(col, v)
    }
    /// Nullable `f64`; NaN reads as null and is counted in [`ReadStats::nan_as_null`].
    pub(crate) fn opt_f64(&mut self, col: usize) -> Result<OptCol<f64>, TimelineError> {
        let v = self.decode_f64(col)?;
        if let (OptCol::Values(values), Some(a)) = (&v, &self.arrays[col]) {
            let nulls_out = values.iter().filter(|x| x.is_none()).count();
            self.stats.nan_as_null += (nulls_out - a.logical_null_count().min(nulls_out)) as u64;
        }
        Ok(v)
    }
    /// Nullable boolean.
    pub(crate) fn opt_bool(&mut self, col: usize) -> Result<OptCol<bool>, TimelineError> {
        let Some(a) = self.array(col) else {
            return Ok(OptCol::AllNull);
        };
        let v = match a.data_type() {
            DataType::Boolean => {
                let arr: &BooleanArray = a.as_boolean();
                arr.iter().collect()
            }
            DataType::Null => return Ok(OptCol::AllNull),
            // pandas stores a 0/1 flag column with missing values as float64 with NaN.
            DataType::Float64 => self.prim(col, a.as_primitive::<Float64Type>(), |v| {
                if v.is_nan() {
                    Ok(None)
                } else if v == 0.0 {
                    Ok(Some(false))
                } else if v == 1.0 {
                    Ok(Some(true))
                } else {
                    Err(())
                }
            })?,
            t => with_int_array!(a, arr => self.prim(col, arr, |v| match to_i64(v) {
                    Ok(Some(0)) => Ok(Some(false)),
                    Ok(Some(1)) => Ok(Some(true)),
                    _ => Err(()),
                })?,
                else return Err(self.wrong_type(col, t, EXPECT_BOOL))),
        };
        Ok(OptCol::Values(v))
    }
    /// Required side.
    pub(crate) fn side(&mut self, col: usize) -> Result<Vec<Side>, TimelineError> {
        let Some(a) = self.array(col) else {
            return self.require(col, OptCol::AllNull);
        };
        let conv = |v: i64| {
            i8::try_from(v)
                .ok()
                .and_then(Side::from_i8)
                .map(Some)
                .ok_or(())
        };
        let v = match a.data_type() {
            DataType::Int8 => self.prim(col, a.as_primitive::<Int8Type>(), |v| conv(v.into()))?,
            DataType::Int16 => self.prim(col, a.as_primitive::<Int16Type>(), |v| conv(v.into()))?,
            DataType::Int32 => self.prim(col, a.as_primitive::<Int32Type>(), |v| conv(v.into()))?,
            DataType::Int64 => self.prim(col, a.as_primitive::<Int64Type>(), conv)?,
            DataType::Float64 => self.prim(col, a.as_primitive::<Float64Type>(), |v| {
                match float_to::<i64>(v)? {
                    Some(x) => conv(x),
                    None => Ok(None),
                }
            })?,
            t => return Err(self.wrong_type(col, t, EXPECT_SIDE)),
        };
        self.require(col, OptCol::Values(v))
    }
    /// Required event kind.
    pub(crate) fn kind(&mut self, col: usize) -> Result<Vec<EventKind>, TimelineError> {
        let v = self.decode_str(col, |_, s| EventKind::parse(s.trim()))?;
        self.require(col, v)
    }
    /// Nullable interned key.
    pub(crate) fn opt_sym(&mut self, col: usize) -> Result<OptCol<Sym>, TimelineError> {
        self.decode_str(col, |strings, s| Some(strings.intern(s)))
    }
    /// Required interned key.
    pub(crate) fn sym(&mut self, col: usize) -> Result<Vec<Sym>, TimelineError> {
        let v = self.opt_sym(col)?;
        self.require(col, v)
    }
}

/// Text of entry `i` of a dictionary's values; called once per distinct key per batch,
/// so matching on the type here costs nothing per row.
fn dict_value(values: &ArrayRef, i: usize) -> Option<&str> {
    if values.is_null(i) {
        return None;
    }
    match values.data_type() {
        DataType::Utf8 => Some(values.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(values.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(values.as_string_view().value(i)),
        _ => None,
    }
}

fn parquet_error(path: &Path, message: impl std::fmt::Display) -> TimelineError {
    TimelineError::Parquet {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Run a Parquet decoding step, turning a panic inside the decoder into an error.
/// Corrupt files have made decoders panic before; our contract is that no input file
/// can crash the caller.
fn guarded<R>(
    path: &Path,
    step: impl FnOnce() -> Result<R, parquet::errors::ParquetError>,
) -> Result<R, TimelineError> {
    match super::guard::quietly(step) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(parquet_error(path, e)),
        Err(_) => Err(parquet_error(path, "the decoder failed on corrupt data")),
    }
}

/// Match the file's top-level fields to the table's columns.
struct Binding {
    /// Top-level field index of each table column, `None` when absent.
    fields: Vec<Option<usize>>,
    ignored: Vec<String>,
}

fn bind<T: Table>(path: &Path, schema: &Schema) -> Result<Binding, TimelineError> {
    let mut fields = vec![None; T::COLUMNS.len()];
    let mut ignored = Vec::new();
    for (pos, field) in schema.fields().iter().enumerate() {
        match T::COLUMNS.iter().position(|c| c.name == field.name()) {
            Some(col) if fields[col].is_some() => {
                return Err(TimelineError::DuplicateColumn {
                    path: path.to_path_buf(),
                    table: T::NAME,
                    column: T::COLUMNS[col].name,
                })
            }
            Some(col) => fields[col] = Some(pos),
            None => ignored.push(field.name().clone()),
        }
    }
    if let Some((c, _)) = T::COLUMNS
        .iter()
        .zip(&fields)
        .find(|(c, f)| !c.nullable && f.is_none())
    {
        return Err(TimelineError::MissingColumn {
            path: path.to_path_buf(),
            table: T::NAME,
            column: c.name,
        });
    }
    Ok(Binding { fields, ignored })
}

/// The file's schema with our plain string columns asked for as dictionaries, so the
/// reader hands back the dictionary pages instead of expanding every value.
fn dictionary_hint<T: Table>(schema: &Schema, binding: &Binding) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(pos, f)| {
            let ours = T::COLUMNS.iter().zip(&binding.fields).any(|(c, b)| {
                *b == Some(pos) && matches!(c.ty, ColumnType::Str | ColumnType::Kind)
            });
            match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 if ours => {
                    changed = true;
                    f.as_ref().clone().with_data_type(DataType::Dictionary(
                        Box::new(DataType::Int32),
                        Box::new(f.data_type().clone()),
                    ))
                }
                _ => f.as_ref().clone(),
            }
        })
        .collect();
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// A Parquet table opened for reading: what every row-group decoder shares.
struct Opened {
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    ignored: Vec<String>,
    /// First row (0-based) of each row group, and the total as the last entry.
    offsets: Vec<u64>,
}

fn open_file(path: &Path) -> Result<File, TimelineError> {
    File::open(path).map_err(|source| TimelineError::Io {
        path: path.to_path_buf(),
        action: "open",
        source,
    })
}

/// Read the footer, bind the columns and build the projection.
fn open<T: Table>(path: &Path, file: &File) -> Result<Opened, TimelineError> {
    let meta = guarded(path, || {
        ArrowReaderMetadata::load(file, ArrowReaderOptions::new())
    })?;
    let binding = bind::<T>(path, meta.schema())?;
    let meta = match dictionary_hint::<T>(meta.schema(), &binding) {
        Some(hint) => {
            let options = ArrowReaderOptions::new().with_schema(hint);
            // The hint is an optimisation only: if this file's encoding cannot honour it,
            // read the plain layout.
            match guarded(path, || {
                ArrowReaderMetadata::try_new(Arc::clone(meta.metadata()), options)
            }) {
                Ok(hinted) => hinted,
                Err(_) => meta,
            }
        }
        None => meta,
    };
    let roots: Vec<usize> = binding.fields.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
    let mut offsets = vec![0u64];
    for rg in meta.metadata().row_groups() {
        // A negative count is corrupt metadata; the decoder reports it when it gets there.
        let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
        offsets.push(offsets.last().copied().unwrap_or(0).saturating_add(rows));
    }
    Ok(Opened {
        meta,
        mask,
        ignored: binding.ignored,
        offsets,
    })
}

fn row_group_error(
    path: &Path,
    opened: &Opened,
    rg: usize,
    message: impl std::fmt::Display,
) -> TimelineError {
    let n = opened.offsets.len() - 1;
    let (first, end) = (opened.offsets[rg], opened.offsets[rg + 1]);
    parquet_error(
        path,
        format!(
            "row group {rg} of {n} (0-based; rows {}..={end}): {message}",
            first + 1
        ),
    )
}

/// Decode row group `rg` of `file` batch by batch into `records` (keys interned in
/// `strings`, counters in `stats`) and hand each non-empty batch to `emit`, which returns
/// false to stop early.
fn decode_row_group<T: Table>(
    path: &Path,
    opened: &Opened,
    rg: usize,
    strings: &mut Strings,
    stats: &mut ReadStats,
    records: &mut Vec<T>,
    emit: &mut dyn FnMut(&mut Vec<T>, &mut Strings, &mut ReadStats) -> bool,
) -> Result<(), TimelineError> {
    // Each reader opens its own file: clones of one handle would share its offset.
    let file = open_file(path)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, opened.meta.clone())
        .with_projection(opened.mask.clone())
        .with_row_groups(vec![rg])
        .with_batch_size(BATCH_ROWS);
    let mut reader = match super::guard::quietly(|| builder.build()) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(row_group_error(path, opened, rg, e)),
        Err(_) => {
            return Err(row_group_error(
                path,
                opened,
                rg,
                "the decoder failed on corrupt data",
            ))
        }
    };
    let mut row = opened.offsets[rg];
    loop {
        let batch = match super::guard::quietly(|| reader.next()) {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(b))) => b,
            Ok(Some(Err(e))) => return Err(row_group_error(path, opened, rg, e)),
            Err(_) => {
                return Err(row_group_error(
                    path,
                    opened,
                    rg,
                    "the decoder failed on corrupt data",
                ))
            }
        };
        let arrays = T::COLUMNS
            .iter()
            .map(|c| batch.column_by_name(c.name).cloned())
            .collect();
        let mut cols = ArrowCols {
            path,
            table: T::NAME,
            columns: T::COLUMNS,
            arrays,
            rows: batch.num_rows(),
            first_row: row,
            strings,
            stats,
        };
        records.clear();
        T::from_arrow(&mut cols, records)?;
        row += batch.num_rows() as u64;
        if !records.is_empty() && !emit(records, strings, stats) {
            return Ok(());
        }
    }
}

/// Decoded batches of one row group waiting for their turn, per decoder thread. With the
/// one each decoder is filling, the one being consumed and at most one spare buffer per
/// decoder, a read holds at most `decoders x (QUEUE + 2) + 1` batches.
const QUEUE: usize = 1;

/// What a decoder thread sends for its row group.
enum Piece<T> {
    /// A batch with keys of decoder `decoder`'s own table, the keys it interned since
    /// its previous batch, and the counters of this batch.
    Batch {
        decoder: usize,
        records: Vec<T>,
        new_keys: Vec<Box<str>>,
        nan_as_null: u64,
        imprecise_integers: u64,
    },
    /// The row group is complete.
    Done,
    /// The row group cannot be read.
    Failed(TimelineError),
}

/// Stream a Parquet table in batches of at most [`BATCH_ROWS`] records, in file order.
///
/// Row groups are decoded one at a time each (`with_row_groups`), only the table's
/// columns (projection). With `decoders` >= 2, that many threads decode row groups in
/// parallel while this thread hands the batches to `on_batch` in file order: a decoder
/// works on one row group at a time and queues at most [`QUEUE`] decoded batches of it,
/// so at most `decoders x (QUEUE + 2) + 1` batches exist at once however large the file
/// is.
/// Records, keys (interned into `strings` in the order a one-thread read interns them),
/// batch boundaries (each batch lies within one row group), counters and the first error
/// in file order are the same for every `decoders`.
pub(crate) fn read<T: Table>(
    path: &Path,
    strings: &mut Strings,
    decoders: usize,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<ReadStats, TimelineError> {
    let file = open_file(path)?;
    let opened = open::<T>(path, &file)?;
    let mut stats = ReadStats {
        format: Format::Parquet,
        rows: 0,
        ignored_columns: opened.ignored.clone(),
        nan_as_null: 0,
        imprecise_integers: 0,
    };
    let groups = opened.offsets.len() - 1;
    if decoders < 2 || groups < 2 {
        let mut records = Vec::with_capacity(BATCH_ROWS.min(4096));
        for rg in 0..groups {
            decode_row_group(
                path,
                &opened,
                rg,
                strings,
                &mut stats,
                &mut records,
                &mut |records, strings, stats| {
                    stats.rows += records.len() as u64;
                    on_batch(records, strings);
                    true
                },
            )?;
        }
        return Ok(stats);
    }
    read_parallel(
        path,
        &opened,
        strings,
        decoders.min(groups),
        &mut stats,
        on_batch,
    )?;
    Ok(stats)
}

fn read_parallel<T: Table>(
    path: &Path,
    opened: &Opened,
    strings: &mut Strings,
    decoders: usize,
    stats: &mut ReadStats,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<(), TimelineError> {
    let groups = opened.offsets.len() - 1;
    let mut senders = Vec::with_capacity(groups);
    let mut receivers = Vec::with_capacity(groups);
    for _ in 0..groups {
        let (tx, rx) = mpsc::sync_channel::<Piece<T>>(QUEUE);
        senders.push(Mutex::new(Some(tx)));
        receivers.push(rx);
    }
    let next = AtomicUsize::new(0);
    // Emptied batch buffers travel back to the decoders, so a long read allocates a
    // bounded number of them once.
    let spare: Mutex<Vec<Vec<T>>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for decoder in 0..decoders {
            let (senders, next, spare, stop) = (&senders, &next, &spare, &stop);
            scope.spawn(move || decode_worker(path, opened, decoder, senders, next, spare, stop));
        }
        // Key maps of each decoder's own table into `strings`.
        let mut maps: Vec<Vec<Sym>> = vec![Vec::new(); decoders];
        let result = (|| {
            for (rg, rx) in receivers.iter().enumerate() {
                loop {
                    // A decoder that vanished without `Done` panicked (a bug): the scope
                    // re-raises its panic when it joins.
                    let Ok(piece) = rx.recv() else {
                        return Err(row_group_error(
                            path,
                            opened,
                            rg,
                            "the decoding thread stopped",
                        ));
                    };
                    match piece {
                        Piece::Done => break,
                        Piece::Failed(e) => return Err(e),
                        Piece::Batch {
                            decoder,
                            mut records,
                            new_keys,
                            nan_as_null,
                            imprecise_integers,
                        } => {
                            let map = &mut maps[decoder];
                            map.extend(new_keys.iter().map(|k| strings.intern(k)));
                            for r in &mut records {
                                r.remap_keys(map);
                            }
                            stats.rows += records.len() as u64;
                            stats.nan_as_null += nan_as_null;
                            stats.imprecise_integers += imprecise_integers;
                            on_batch(&records, strings);
                            let mut pool = spare.lock().unwrap_or_else(PoisonError::into_inner);
                            if pool.len() < decoders {
                                pool.push(records);
                            }
                        }
                    }
                }
            }
            Ok(())
        })();
        // On an error, stop the decoders: they check the flag between batches, and a
        // send to a dropped receiver fails.
        stop.store(true, Ordering::Relaxed);
        drop(receivers);
        result
    })
}

/// One decoder thread: take the next row group, decode it into its own channel, repeat.
fn decode_worker<T: Table>(
    path: &Path,
    opened: &Opened,
    decoder: usize,
    senders: &[Mutex<Option<mpsc::SyncSender<Piece<T>>>>],
    next: &AtomicUsize,
    spare: &Mutex<Vec<Vec<T>>>,
    stop: &AtomicBool,
) {
    let mut strings = Strings::new();
    let mut reported = 0;
    loop {
        let rg = next.fetch_add(1, Ordering::Relaxed);
        if rg >= senders.len() || stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(tx) = senders[rg]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut stats = ReadStats {
            format: Format::Parquet,
            rows: 0,
            ignored_columns: Vec::new(),
            nan_as_null: 0,
            imprecise_integers: 0,
        };
        let mut records = Vec::new();
        let mut sent = true;
        let decoded = decode_row_group(
            path,
            opened,
            rg,
            &mut strings,
            &mut stats,
            &mut records,
            &mut |records, strings, stats| {
                let fresh = spare
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop()
                    .unwrap_or_default();
                let piece = Piece::Batch {
                    decoder,
                    records: std::mem::replace(records, fresh),
                    new_keys: strings.since(reported).map(Box::from).collect(),
                    nan_as_null: std::mem::take(&mut stats.nan_as_null),
                    imprecise_integers: std::mem::take(&mut stats.imprecise_integers),
                };
                reported = strings.len();
                sent = tx.send(piece).is_ok() && !stop.load(Ordering::Relaxed);
                sent
            },
        );
        if !sent {
            return;
        }
        let last = match decoded {
            Ok(()) => Piece::Done,
            Err(e) => Piece::Failed(e),
        };
        if tx.send(last).is_err() {
            return;
        }
    }
}

/// Encodes records into Arrow arrays of the SPEC types.
pub(crate) struct ArrowEnc<'a> {
    path: &'a Path,
    table: &'static str,
    columns: &'static [Column],
    strings: &'a Strings,
    /// Records written before this batch, for 1-based record numbers in errors.
    first_row: u64,
}

impl ArrowEnc<'_> {
    fn unwritable(&self, col: usize, i: usize, reason: String) -> TimelineError {
        TimelineError::Unwritable {
            path: self.path.to_path_buf(),
            table: self.table,
            column: self.columns[col].name,
            row: self.first_row + i as u64 + 1,
            reason,
        }
    }

    /// UInt64, not null.
    pub(crate) fn u64(&self, v: impl Iterator<Item = u64>) -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(v))
    }
    /// UInt64, nullable.
    pub(crate) fn opt_u64(&self, v: impl Iterator<Item = Option<u64>>) -> ArrayRef {
        Arc::new(v.collect::<UInt64Array>())
    }
    /// Int64, not null.
    pub(crate) fn i64(&self, v: impl Iterator<Item = i64>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(v))
    }
    /// Int64, nullable.
    pub(crate) fn opt_i64(&self, v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
        Arc::new(v.collect::<Int64Array>())
    }
    /// Int8 side.
    pub(crate) fn side(&self, v: impl Iterator<Item = Side>) -> ArrayRef {
        Arc::new(Int8Array::from_iter_values(v.map(Side::as_i8)))
    }
    /// Utf8 of fixed texts (the event kind).
    pub(crate) fn text<'s>(&self, v: impl Iterator<Item = &'s str>) -> ArrayRef {
        Arc::new(v.map(Some).collect::<StringArray>())
    }
    /// Boolean, nullable.
    pub(crate) fn opt_bool(&self, v: impl Iterator<Item = Option<bool>>) -> ArrayRef {
        Arc::new(v.collect::<BooleanArray>())
    }
    /// Float64, finite, not null.
    pub(crate) fn f64(
        &self,
        col: usize,
        v: impl Iterator<Item = f64>,
    ) -> Result<ArrayRef, TimelineError> {
        let values: Vec<f64> = v.collect();
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            return Err(self.unwritable(col, i, format!("{} is not a finite number", values[i])));
        }
        Ok(Arc::new(Float64Array::from(values)))
    }
    /// Float64, finite, nullable.
    pub(crate) fn opt_f64(
        &self,
        col: usize,
        v: impl Iterator<Item = Option<f64>>,
    ) -> Result<ArrayRef, TimelineError> {
        let values: Vec<Option<f64>> = v.collect();
        if let Some(i) = values
            .iter()
            .position(|x| x.is_some_and(|x| !x.is_finite()))
        {
            let bad = values[i].unwrap_or_default();
            return Err(self.unwritable(col, i, format!("{bad} is not a finite number")));
        }
        Ok(Arc::new(values.into_iter().collect::<Float64Array>()))
    }
    /// Utf8 key, not null and not empty.
    pub(crate) fn sym(
        &self,
        col: usize,
        v: impl Iterator<Item = Sym>,
    ) -> Result<ArrayRef, TimelineError> {
        let mut texts = Vec::new();
        for (i, sym) in v.enumerate() {
            match self.strings.get(sym) {
                None => return Err(self.foreign(col, i, sym)),
                Some("") => {
                    return Err(self.unwritable(
                        col,
                        i,
                        "the key is empty, which reads back as null".into(),
                    ))
                }
                Some(s) => texts.push(Some(s)),
            }
        }
        Ok(Arc::new(StringArray::from(texts)))
    }
    /// Utf8 key, nullable; an empty key is written as null (SPEC: empty = null).
    pub(crate) fn opt_sym(
        &self,
        col: usize,
        v: impl Iterator<Item = Option<Sym>>,
    ) -> Result<ArrayRef, TimelineError> {
        let mut texts = Vec::new();
        for (i, sym) in v.enumerate() {
            match sym.map(|s| (s, self.strings.get(s))) {
                None => texts.push(None),
                Some((s, None)) => return Err(self.foreign(col, i, s)),
                Some((_, Some(""))) => texts.push(None),
                Some((_, Some(t))) => texts.push(Some(t)),
            }
        }
        Ok(Arc::new(StringArray::from(texts)))
    }

    fn foreign(&self, col: usize, i: usize, sym: Sym) -> TimelineError {
        self.unwritable(
            col,
            i,
            format!("key #{} is not in this string table", sym.index()),
        )
    }
}

/// The Arrow schema a table is written with (SPEC §1 types and nullability).
pub(crate) fn schema<T: Table>() -> SchemaRef {
    let fields: Vec<Field> = T::COLUMNS
        .iter()
        .map(|c| {
            let ty = match c.ty {
                ColumnType::U64 => DataType::UInt64,
                ColumnType::I64 => DataType::Int64,
                ColumnType::F64 => DataType::Float64,
                ColumnType::Str | ColumnType::Kind => DataType::Utf8,
                ColumnType::Bool => DataType::Boolean,
                ColumnType::Side => DataType::Int8,
            };
            Field::new(c.name, ty, c.nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Streaming Parquet writer for one table.
pub(crate) struct ParquetWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    rows: u64,
}

impl ParquetWriter {
    /// Start a file with the table's schema.
    pub(crate) fn create<T: Table>(
        path: &Path,
        file: File,
        compression: super::Compression,
    ) -> Result<Self, TimelineError> {
        let schema = schema::<T>();
        let props = WriterProperties::builder()
            .set_compression(compression.to_parquet())
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
            .map_err(|e| parquet_error(path, e))?;
        Ok(ParquetWriter {
            path: path.to_path_buf(),
            schema,
            writer,
            rows: 0,
        })
    }

    /// Append records, in slices of at most [`BATCH_ROWS`] so memory stays bounded.
    pub(crate) fn write<T: Table>(
        &mut self,
        strings: &Strings,
        records: &[T],
    ) -> Result<(), TimelineError> {
        for chunk in records.chunks(BATCH_ROWS) {
            let enc = ArrowEnc {
                path: &self.path,
                table: T::NAME,
                columns: T::COLUMNS,
                strings,
                first_row: self.rows,
            };
            let arrays = T::to_arrow(chunk, &enc)?;
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)
                .map_err(|e| parquet_error(&self.path, e))?;
            self.writer
                .write(&batch)
                .map_err(|e| parquet_error(&self.path, e))?;
            self.rows += chunk.len() as u64;
        }
        Ok(())
    }

    /// Write the footer; returns the number of records written.
    pub(crate) fn finish(self) -> Result<u64, TimelineError> {
        self.writer
            .close()
            .map_err(|e| parquet_error(&self.path, e))?;
        Ok(self.rows)
    }
}

/// `records` as Arrow record batches with the table's Parquet schema (at most
/// [`BATCH_ROWS`] rows each); `label` names the table in errors.
pub(crate) fn to_batches<T: Table>(
    label: &Path,
    records: &[T],
    strings: &Strings,
) -> Result<(SchemaRef, Vec<RecordBatch>), TimelineError> {
    let schema = schema::<T>();
    let mut out = Vec::with_capacity(records.len().div_ceil(BATCH_ROWS));
    let mut first_row = 0u64;
    for chunk in records.chunks(BATCH_ROWS) {
        let enc = ArrowEnc {
            path: label,
            table: T::NAME,
            columns: T::COLUMNS,
            strings,
            first_row,
        };
        let arrays = T::to_arrow(chunk, &enc)?;
        out.push(
            RecordBatch::try_new(Arc::clone(&schema), arrays)
                .map_err(|e| parquet_error(label, e))?,
        );
        first_row += chunk.len() as u64;
    }
    Ok((schema, out))
}

/// Stream the records of an in-memory Arrow record-batch stream (a pyarrow, pandas or
/// polars table handed over through the Arrow C stream interface) with exactly the
/// column rules of a Parquet file: the schema is bound once, each batch is cut into
/// slices of at most [`BATCH_ROWS`] rows (zero-copy) and converted by the same
/// [`Table::from_arrow`]; `source` names the input in errors where a file's path would.
pub(crate) fn read_batches<T: Table>(
    source: &Path,
    reader: &mut dyn arrow_array::RecordBatchReader,
    strings: &mut Strings,
    on_batch: &mut dyn FnMut(&[T], &Strings),
) -> Result<ReadStats, TimelineError> {
    let schema = reader.schema();
    let binding = bind::<T>(source, &schema)?;
    let mut stats = ReadStats {
        format: Format::Parquet,
        rows: 0,
        ignored_columns: binding.ignored,
        nan_as_null: 0,
        imprecise_integers: 0,
    };
    let mut records = Vec::new();
    let mut row = 0u64;
    for (index, batch) in reader.enumerate() {
        let batch = batch.map_err(|e| TimelineError::Parquet {
            path: source.to_path_buf(),
            message: format!("Arrow stream batch {index} (0-based): {e}"),
        })?;
        if batch.schema().fields() != schema.fields() {
            return Err(TimelineError::Parquet {
                path: source.to_path_buf(),
                message: format!(
                    "Arrow stream batch {index} (0-based) has a schema other than the stream's"
                ),
            });
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = BATCH_ROWS.min(batch.num_rows() - offset);
            let slice = batch.slice(offset, len);
            let arrays = binding
                .fields
                .iter()
                .map(|f| f.map(|pos| Arc::clone(slice.column(pos))))
                .collect();
            let mut cols = ArrowCols {
                path: source,
                table: T::NAME,
                columns: T::COLUMNS,
                arrays,
                rows: len,
                first_row: row,
                strings,
                stats: &mut stats,
            };
            records.clear();
            T::from_arrow(&mut cols, &mut records)?;
            row += len as u64;
            offset += len;
            if !records.is_empty() {
                stats.rows += records.len() as u64;
                on_batch(&records, strings);
            }
        }
    }
    Ok(stats)
}
