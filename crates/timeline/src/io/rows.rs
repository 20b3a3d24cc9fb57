//! The one writer of result rows: any `Serialize` struct with flat fields becomes a CSV
//! or Parquet table, the format chosen by the file extension. Every table a command
//! writes that is not one of the SPEC §1 tables (analysis groups, BDC intervals,
//! features, the simulator's interrupt log, the TX log, host counter samples, ...) goes
//! through [`RowWriter`] or [`write_rows`].
//!
//! # Layout
//! - One column per field, in field order (a `#[serde(flatten)]` struct contributes its
//!   fields in place). Rows may omit a column (`skip_serializing_if`): the cell is null.
//! - Column types come from the Rust types: signed integers -> Int64, unsigned -> UInt64
//!   (a column mixing both is Int64 if every value fits, else UInt64 if none is
//!   negative, else Float64), floats -> Float64, `bool` -> Boolean, strings, chars and
//!   unit enum variants -> Utf8; a nested value (a list, a map, a struct field, an enum
//!   variant with data) is written as its JSON text. A column mixing text with anything
//!   else is Utf8. A column that is null in every row is Utf8.
//! - `None`, `()` and non-finite floats are null (an empty CSV field), as in JSON.
//! - CSV floats use the shortest text that reads back bit-exact (the JSON form, e.g.
//!   `0.5`, `1.0`, `1e-7`).
//!
//! # Streaming
//! Rows are buffered column by column and handed to the file every [`BATCH_ROWS`] rows
//! (and on [`RowWriter::flush`]), so memory is bounded by a batch. The CSV header and the
//! Parquet schema are fixed by the first rows handed over: a column first seen after
//! that is an error, and a later value of another type is converted when that is
//! lossless (an unsigned value into an Int64 column when it fits, any number into a
//! Float64 column, anything into a Utf8 column) and an error otherwise. A Parquet file
//! waits, past the first batch if need be, until every column has held a non-null value,
//! so an optional column that is null in the first rows still gets its real type.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde::ser::{self, Impossible, Serialize};

use super::compression::Compression;
use super::parquet::ROW_GROUP_ROWS;
use super::{Format, BATCH_ROWS};
use crate::error::TimelineError;

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Static(&'static str),
    Text(String),
}

impl Cell {
    fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// The Arrow type a column is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    I64,
    U64,
    F64,
    Text,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::I64 => DataType::Int64,
            Kind::U64 => DataType::UInt64,
            Kind::F64 => DataType::Float64,
            Kind::Text => DataType::Utf8,
        }
    }
}

/// The type of a column from its buffered values; `None` while all are null.
fn infer(cells: &[Cell]) -> Option<Kind> {
    let (mut b, mut i, mut u, mut f, mut t) = (false, false, false, false, false);
    let (mut any_big, mut any_negative) = (false, false);
    for c in cells {
        match c {
            Cell::Null => {}
            Cell::Bool(_) => b = true,
            Cell::I64(v) => {
                i = true;
                any_negative |= *v < 0;
            }
            Cell::U64(v) => {
                u = true;
                any_big |= i64::try_from(*v).is_err();
            }
            Cell::F64(_) => f = true,
            Cell::Static(_) | Cell::Text(_) => t = true,
        }
    }
    let numeric = i || u || f;
    Some(match (b, numeric, t) {
        (false, false, false) => return None,
        (_, _, true) | (true, true, _) => Kind::Text,
        (true, false, false) => Kind::Bool,
        (false, true, false) if f => Kind::F64,
        (false, true, false) => match (i, u) {
            (false, _) => Kind::U64,
            (true, false) => Kind::I64,
            (true, true) if !any_big => Kind::I64,
            (true, true) if !any_negative => Kind::U64,
            (true, true) => Kind::F64,
        },
    })
}

/// Append `c` to `out` as CSV field text (empty for null).
fn cell_text(c: &Cell, out: &mut Vec<u8>) {
    match c {
        Cell::Null => {}
        Cell::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Cell::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::U64(v) => {
            let _ = write!(out, "{v}");
        }
        // The JSON form: shortest round-trip text; finite here (non-finite are null).
        Cell::F64(v) => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
        Cell::Static(s) => out.extend_from_slice(s.as_bytes()),
        Cell::Text(s) => out.extend_from_slice(s.as_bytes()),
    }
}

/// Why a row could not be turned into cells.
#[derive(Debug)]
struct RowError(String);

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RowError {}

impl ser::Error for RowError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

/// The cells of the row being serialized, one per known column.
struct Collector {
    /// Column names in order of first appearance.
    names: Vec<String>,
    /// The current row, indexed like `names`.
    current: Vec<Cell>,
    /// Where the next field is expected (field order repeats row after row).
    cursor: usize,
    /// Whether a new column may still be added.
    open: bool,
}

impl Collector {
    fn begin(&mut self) {
        for c in &mut self.current {
            *c = Cell::Null;
        }
        self.cursor = 0;
    }

    fn set(&mut self, name: &str, cell: Cell) -> Result<(), RowError> {
        let idx = if self.names.get(self.cursor).is_some_and(|n| n == name) {
            self.cursor
        } else if let Some(i) = self.names.iter().position(|n| n == name) {
            i
        } else if self.open {
            self.names.push(name.to_owned());
            self.current.push(Cell::Null);
            self.names.len() - 1
        } else {
            return Err(RowError(format!(
                "column `{name}` first appears after the header was written; \
                 a row type must name its columns in the first rows"
            )));
        };
        self.current[idx] = cell;
        self.cursor = idx + 1;
        Ok(())
    }

    /// Serialize one field's value into a cell, as JSON text when it is nested.
    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), RowError> {
        let cell = match value.serialize(CellSerializer) {
            Ok(c) => c,
            Err(CellError::Nested) => match serde_json::to_string(value) {
                Ok(json) => Cell::Text(json),
                Err(e) => return Err(RowError(format!("field `{name}`: {e}"))),
            },
            Err(CellError::Other(m)) => return Err(RowError(format!("field `{name}`: {m}"))),
        };
        self.set(name, cell)
    }
}

/// A value that does not fit one cell.
#[derive(Debug)]
enum CellError {
    /// A compound value: written as JSON text instead.
    Nested,
    /// The value's `Serialize` failed.
    Other(String),
}

impl std::fmt::Display for CellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellError::Nested => f.write_str("a nested value"),
            CellError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CellError {}

impl ser::Error for CellError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CellError::Other(msg.to_string())
    }
}

/// Serializes one scalar into a [`Cell`].
struct CellSerializer;

fn float(v: f64) -> Cell {
    if v.is_finite() {
        Cell::F64(v)
    } else {
        Cell::Null
    }
}

impl ser::Serializer for CellSerializer {
    type Ok = Cell;
    type Error = CellError;
    type SerializeSeq = Impossible<Cell, CellError>;
    type SerializeTuple = Impossible<Cell, CellError>;
    type SerializeTupleStruct = Impossible<Cell, CellError>;
    type SerializeTupleVariant = Impossible<Cell, CellError>;
    type SerializeMap = Impossible<Cell, CellError>;
    type SerializeStruct = Impossible<Cell, CellError>;
    type SerializeStructVariant = Impossible<Cell, CellError>;

    fn serialize_bool(self, v: bool) -> Result<Cell, CellError> {
        Ok(Cell::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Cell, CellError> {
        Ok(Cell::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Cell, CellError> {
        Ok(Cell::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Cell, CellError> {
        Ok(Cell::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Cell, CellError> {
        Ok(Cell::I64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Cell, CellError> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(x), _) => Ok(Cell::I64(x)),
            (_, Ok(x)) => Ok(Cell::U64(x)),
            _ => Ok(Cell::Text(v.to_string())),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Cell, CellError> {
        Ok(Cell::U64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Cell, CellError> {
        Ok(Cell::U64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Cell, CellError> {
        Ok(Cell::U64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Cell, CellError> {
        Ok(Cell::U64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Cell, CellError> {
        match u64::try_from(v) {
            Ok(x) => Ok(Cell::U64(x)),
            Err(_) => Ok(Cell::Text(v.to_string())),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Cell, CellError> {
        Ok(float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Cell, CellError> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Cell, CellError> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Cell, CellError> {
        Ok(Cell::Text(v.to_owned()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Cell, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_none(self) -> Result<Cell, CellError> {
        Ok(Cell::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Cell, CellError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Cell, CellError> {
        Ok(Cell::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Cell, CellError> {
        Ok(Cell::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Cell, CellError> {
        Ok(Cell::Static(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Cell, CellError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Cell, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, CellError> {
        Err(CellError::Nested)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CellError> {
        Err(CellError::Nested)
    }
}

/// Serializes a whole row (a struct, or a map with string keys) into the collector.
struct RowSerializer<'a>(&'a mut Collector);

/// Serializes a map key into a column name.
struct KeySerializer;

fn not_a_row<T>(what: &str) -> Result<T, RowError> {
    Err(RowError(format!(
        "a row must be a struct or a map with string keys, not {what}"
    )))
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = RowError;
    type SerializeSeq = Impossible<String, RowError>;
    type SerializeTuple = Impossible<String, RowError>;
    type SerializeTupleStruct = Impossible<String, RowError>;
    type SerializeTupleVariant = Impossible<String, RowError>;
    type SerializeMap = Impossible<String, RowError>;
    type SerializeStruct = Impossible<String, RowError>;
    type SerializeStructVariant = Impossible<String, RowError>;

    fn serialize_str(self, v: &str) -> Result<String, RowError> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, RowError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, RowError> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<String, RowError> {
        not_a_row("a map with boolean keys")
    }
    fn serialize_i8(self, v: i8) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, RowError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<String, RowError> {
        not_a_row("a map with float keys")
    }
    fn serialize_f64(self, _: f64) -> Result<String, RowError> {
        not_a_row("a map with float keys")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, RowError> {
        not_a_row("a map with byte keys")
    }
    fn serialize_none(self) -> Result<String, RowError> {
        not_a_row("a map with null keys")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, RowError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, RowError> {
        not_a_row("a map with unit keys")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, RowError> {
        not_a_row("a map with unit keys")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        not_a_row("a map with compound keys")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        not_a_row("a map with compound keys")
    }
}

/// A map row in progress: the key waiting for its value.
struct MapRow<'a> {
    collector: &'a mut Collector,
    key: Option<String>,
}

impl ser::SerializeStruct for RowSerializer<'_> {
    type Ok = ();
    type Error = RowError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.0.field(key, value)
    }
    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

impl ser::SerializeMap for MapRow<'_> {
    type Ok = ();
    type Error = RowError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), RowError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| RowError("a map value without a key".into()))?;
        self.collector.field(&key, value)
    }
    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

impl<'a> ser::Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = MapRow<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, RowError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapRow<'a>, RowError> {
        Ok(MapRow {
            collector: self.0,
            key: None,
        })
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<(), RowError> {
        not_a_row("a boolean")
    }
    fn serialize_i8(self, _: i8) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_i16(self, _: i16) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_i32(self, _: i32) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_i64(self, _: i64) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_u8(self, _: u8) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_u16(self, _: u16) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_u32(self, _: u32) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_u64(self, _: u64) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_f32(self, _: f32) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_f64(self, _: f64) -> Result<(), RowError> {
        not_a_row("a number")
    }
    fn serialize_char(self, _: char) -> Result<(), RowError> {
        not_a_row("a character")
    }
    fn serialize_str(self, _: &str) -> Result<(), RowError> {
        not_a_row("a string")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), RowError> {
        not_a_row("bytes")
    }
    fn serialize_none(self) -> Result<(), RowError> {
        not_a_row("null")
    }
    fn serialize_unit(self) -> Result<(), RowError> {
        not_a_row("unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        not_a_row("unit")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), RowError> {
        not_a_row("an enum variant")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        not_a_row("an enum variant")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        not_a_row("a list")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        not_a_row("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        not_a_row("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        not_a_row("an enum variant")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        not_a_row("an enum variant")
    }
}

/// The file side of a row writer, once its layout is fixed.
enum RowSink {
    /// Nothing handed over yet: the layout is still open.
    Pending,
    Csv(csv::Writer<Box<dyn Write + Send>>),
    Parquet {
        writer: ArrowOut,
        schema: SchemaRef,
        kinds: Vec<Kind>,
    },
}

/// Where a row writer writes.
enum Target {
    Csv(Box<dyn Write + Send>),
    Parquet(File, Compression),
    /// Arrow record batches kept in memory ([`RowWriter::in_memory`]).
    Memory,
}

/// Where typed (Arrow) batches go once the layout is fixed. One per writer (never in a
/// collection): the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum ArrowOut {
    File(ArrowWriter<File>),
    Memory(Vec<RecordBatch>),
}

/// A streaming writer of result rows to one CSV or Parquet file (see the module docs
/// for the layout). Call [`RowWriter::finish`] at the end: dropping the writer without
/// it leaves the last rows unwritten and a Parquet file without its footer.
pub struct RowWriter {
    path: PathBuf,
    target: Option<Target>,
    sink: RowSink,
    collector: Collector,
    /// Buffered cells, column-major, `pending[col][row]`.
    pending: Vec<Vec<Cell>>,
    pending_rows: usize,
    /// Rows accepted so far (buffered or written).
    rows: u64,
    /// Rows handed to the file.
    written: u64,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for RowWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl RowWriter {
    /// Create (truncate) `path`; the format comes from its extension (`.csv`,
    /// `.parquet`, `.pq`), `compression` applies to Parquet only.
    pub fn create(path: &Path, compression: Compression) -> Result<Self, TimelineError> {
        let format = Format::from_path(path)?;
        let file = File::create(path).map_err(|source| TimelineError::Io {
            path: path.to_path_buf(),
            action: "create",
            source,
        })?;
        let target = match format {
            Format::Csv => Target::Csv(Box::new(file)),
            Format::Parquet => Target::Parquet(file, compression),
        };
        Ok(Self::new(path.to_path_buf(), target))
    }

    /// Write CSV to `out` (e.g. standard output); `label` names it in errors.
    pub fn csv_to(out: Box<dyn Write + Send>, label: &str) -> Self {
        Self::new(PathBuf::from(label), Target::Csv(out))
    }

    /// Keep the rows as Arrow record batches in memory, typed exactly as a Parquet file
    /// of them would be (see the module docs); `label` names the table in errors. Take
    /// them with [`RowWriter::finish_batches`].
    pub fn in_memory(label: &str) -> Self {
        Self::new(PathBuf::from(label), Target::Memory)
    }

    fn new(path: PathBuf, target: Target) -> Self {
        RowWriter {
            path,
            target: Some(target),
            sink: RowSink::Pending,
            collector: Collector {
                names: Vec::new(),
                current: Vec::new(),
                cursor: 0,
                open: true,
            },
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
            written: 0,
            scratch: Vec::new(),
        }
    }

    fn io_error(&self, e: impl std::fmt::Display) -> TimelineError {
        TimelineError::RowTable {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Append one row.
    pub fn write<T: Serialize + ?Sized>(&mut self, row: &T) -> Result<(), TimelineError> {
        self.collector.begin();
        if let Err(e) = row.serialize(RowSerializer(&mut self.collector)) {
            return Err(TimelineError::UnwritableRow {
                path: self.path.clone(),
                row: self.rows + 1,
                reason: e.0,
            });
        }
        // New columns: null in every buffered row before this one.
        while self.pending.len() < self.collector.names.len() {
            self.pending.push(vec![Cell::Null; self.pending_rows]);
        }
        for (col, cell) in self
            .pending
            .iter_mut()
            .zip(self.collector.current.iter_mut())
        {
            col.push(std::mem::replace(cell, Cell::Null));
        }
        self.pending_rows += 1;
        self.rows += 1;
        if self.pending_rows >= BATCH_ROWS {
            self.hand_over(false)?;
        }
        Ok(())
    }

    /// Append every row of `rows`.
    pub fn write_all<R: Serialize>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
    ) -> Result<(), TimelineError> {
        for r in rows {
            self.write(&r)?;
        }
        Ok(())
    }

    /// Hand the buffered rows to the file where the layout allows (a CSV header is
    /// fixed by the columns seen so far; a Parquet file waits until every column has a
    /// type) and flush a CSV stream, so a reader of a live output sees every row.
    pub fn flush(&mut self) -> Result<(), TimelineError> {
        self.hand_over(false)?;
        if let RowSink::Csv(w) = &mut self.sink {
            w.flush().map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    /// Write the buffered rows and close the file; returns the number of rows written.
    pub fn finish(mut self) -> Result<u64, TimelineError> {
        self.hand_over(true)?;
        match std::mem::replace(&mut self.sink, RowSink::Pending) {
            RowSink::Pending => {}
            RowSink::Csv(mut w) => w.flush().map_err(|e| self.io_error(e))?,
            RowSink::Parquet { writer, .. } => {
                if let ArrowOut::File(writer) = writer {
                    writer.close().map_err(|e| self.io_error(e))?;
                }
            }
        }
        Ok(self.written)
    }

    /// Finish an [`RowWriter::in_memory`] writer: the schema and the record batches (at
    /// most [`BATCH_ROWS`] rows each). A table without rows has an empty schema; an
    /// all-null column is Utf8. Errors for a writer that writes a file.
    pub fn finish_batches(mut self) -> Result<(SchemaRef, Vec<RecordBatch>), TimelineError> {
        self.hand_over(true)?;
        match std::mem::replace(&mut self.sink, RowSink::Pending) {
            RowSink::Parquet {
                writer: ArrowOut::Memory(batches),
                schema,
                ..
            } => Ok((schema, batches)),
            _ => Err(self.io_error("finish_batches on a writer that writes a file")),
        }
    }

    /// Fix the layout if it is still open and allowed to be (`last`: no more rows will
    /// come), then write the buffered rows.
    fn hand_over(&mut self, last: bool) -> Result<(), TimelineError> {
        if matches!(self.sink, RowSink::Pending) {
            match self.target.take() {
                Some(Target::Csv(out)) => {
                    let mut w = csv::WriterBuilder::new().from_writer(out);
                    if !self.collector.names.is_empty() {
                        w.write_record(&self.collector.names)
                            .map_err(|e| self.io_error(e))?;
                    }
                    self.sink = RowSink::Csv(w);
                }
                Some(target @ (Target::Parquet(..) | Target::Memory)) => {
                    let kinds: Option<Vec<Kind>> = self.pending.iter().map(|c| infer(c)).collect();
                    let kinds = match kinds {
                        Some(k) => k,
                        // An untyped column: wait for more rows unless this is the end,
                        // where an all-null column is Utf8.
                        None if !last => {
                            self.target = Some(target);
                            return Ok(());
                        }
                        None => self
                            .pending
                            .iter()
                            .map(|c| infer(c).unwrap_or(Kind::Text))
                            .collect(),
                    };
                    let fields: Vec<Field> = self
                        .collector
                        .names
                        .iter()
                        .zip(&kinds)
                        .map(|(n, k)| Field::new(n, k.data_type(), true))
                        .collect();
                    let schema = Arc::new(Schema::new(fields));
                    let writer = match target {
                        Target::Parquet(file, compression) => {
                            let props = WriterProperties::builder()
                                .set_compression(compression.to_parquet())
                                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                                .build();
                            ArrowOut::File(
                                ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))
                                    .map_err(|e| self.io_error(e))?,
                            )
                        }
                        _ => ArrowOut::Memory(Vec::new()),
                    };
                    self.sink = RowSink::Parquet {
                        writer,
                        schema,
                        kinds,
                    };
                }
                None => {}
            }
            self.collector.open = false;
        }
        if self.pending_rows == 0 {
            return Ok(());
        }
        match &mut self.sink {
            RowSink::Pending => return Ok(()),
            RowSink::Csv(w) => {
                for r in 0..self.pending_rows {
                    for col in &self.pending {
                        self.scratch.clear();
                        cell_text(&col[r], &mut self.scratch);
                        w.write_field(&self.scratch)
                            .map_err(|e| TimelineError::RowTable {
                                path: self.path.clone(),
                                message: e.to_string(),
                            })?;
                    }
                    w.write_record(None::<&[u8]>)
                        .map_err(|e| TimelineError::RowTable {
                            path: self.path.clone(),
                            message: e.to_string(),
                        })?;
                }
            }
            RowSink::Parquet {
                writer,
                schema,
                kinds,
            } => {
                let mut arrays = Vec::with_capacity(kinds.len());
                for (c, (cells, kind)) in self.pending.iter().zip(kinds.iter()).enumerate() {
                    arrays.push(column_array(cells, *kind).map_err(|(row, reason)| {
                        TimelineError::UnwritableRow {
                            path: self.path.clone(),
                            row: self.written + row as u64 + 1,
                            reason: format!("column `{}`: {reason}", self.collector.names[c]),
                        }
                    })?);
                }
                let batch = RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|e| {
                    TimelineError::RowTable {
                        path: self.path.clone(),
                        message: e.to_string(),
                    }
                })?;
                match writer {
                    ArrowOut::File(w) => w.write(&batch).map_err(|e| TimelineError::RowTable {
                        path: self.path.clone(),
                        message: e.to_string(),
                    })?,
                    ArrowOut::Memory(batches) => batches.push(batch),
                }
            }
        }
        self.written += self.pending_rows as u64;
        self.pending_rows = 0;
        for col in &mut self.pending {
            col.clear();
        }
        Ok(())
    }
}

/// Build the Arrow array of one column; a cell that does not convert losslessly to
/// `kind` is an error with its 0-based index in `cells` and the reason.
fn column_array(cells: &[Cell], kind: Kind) -> Result<ArrayRef, (usize, String)> {
    let refuse = |i: usize, c: &Cell| {
        Err((
            i,
            format!("{c:?} does not fit the column's type {}", kind.data_type()),
        ))
    };
    Ok(match kind {
        Kind::Bool => {
            let mut out = Vec::with_capacity(cells.len());
            for (i, c) in cells.iter().enumerate() {
                out.push(match c {
                    Cell::Null => None,
                    Cell::Bool(v) => Some(*v),
                    other => return refuse(i, other),
                });
            }
            Arc::new(BooleanArray::from(out))
        }
        Kind::I64 => {
            let mut out = Vec::with_capacity(cells.len());
            for (i, c) in cells.iter().enumerate() {
                out.push(match c {
                    Cell::Null => None,
                    Cell::I64(v) => Some(*v),
                    Cell::U64(v) if i64::try_from(*v).is_ok() => Some(*v as i64),
                    other => return refuse(i, other),
                });
            }
            Arc::new(Int64Array::from(out))
        }
        Kind::U64 => {
            let mut out = Vec::with_capacity(cells.len());
            for (i, c) in cells.iter().enumerate() {
                out.push(match c {
                    Cell::Null => None,
                    Cell::U64(v) => Some(*v),
                    Cell::I64(v) if *v >= 0 => Some(*v as u64),
                    other => return refuse(i, other),
                });
            }
            Arc::new(UInt64Array::from(out))
        }
        Kind::F64 => {
            let mut out = Vec::with_capacity(cells.len());
            for (i, c) in cells.iter().enumerate() {
                out.push(match c {
                    Cell::Null => None,
                    Cell::F64(v) => Some(*v),
                    Cell::I64(v) => Some(*v as f64),
                    Cell::U64(v) => Some(*v as f64),
                    other => return refuse(i, other),
                });
            }
            Arc::new(Float64Array::from(out))
        }
        Kind::Text => {
            let mut text = Vec::new();
            let mut out: Vec<Option<String>> = Vec::with_capacity(cells.len());
            for c in cells {
                if c.is_null() {
                    out.push(None);
                } else {
                    text.clear();
                    cell_text(c, &mut text);
                    out.push(Some(String::from_utf8_lossy(&text).into_owned()));
                }
            }
            Arc::new(StringArray::from(out))
        }
    })
}

/// `rows` as Arrow record batches typed as [`write_rows`] would type a Parquet file of
/// them ([`RowWriter::in_memory`]); `label` names the table in errors.
pub fn rows_to_batches<R: Serialize>(
    label: &str,
    rows: impl IntoIterator<Item = R>,
) -> Result<(SchemaRef, Vec<RecordBatch>), TimelineError> {
    let mut w = RowWriter::in_memory(label);
    w.write_all(rows)?;
    w.finish_batches()
}

/// Write `rows` to `path` (`.csv`, `.parquet` or `.pq`) with [`RowWriter`]; returns the
/// number of rows written. `rows` may be a slice (`&[T]`) or any iterator of rows, so a
/// producer can map its records to row structs without collecting them first.
pub fn write_rows<R: Serialize>(
    path: &Path,
    rows: impl IntoIterator<Item = R>,
    compression: Compression,
) -> Result<u64, TimelineError> {
    let mut w = RowWriter::create(path, compression)?;
    w.write_all(rows)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct R {
        name: Option<&'static str>,
        n: u64,
        x: Option<f64>,
        flag: bool,
        delta: i64,
    }

    #[test]
    fn in_memory_batches_equal_the_parquet_file_of_the_same_rows() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        // The first rows leave `name` and `x` null: the memory table waits for their
        // types exactly as the file does; more rows than one batch.
        let rows: Vec<R> = (0..(BATCH_ROWS as u64 + 10))
            .map(|i| R {
                name: (i > 3).then_some(if i % 2 == 0 { "a" } else { "b" }),
                n: i,
                x: (i > 5).then_some(i as f64 / 4.0),
                flag: i % 3 == 0,
                delta: 5 - i as i64,
            })
            .collect();
        let (schema, batches) = rows_to_batches("rows", &rows).unwrap();
        assert_eq!(batches.len(), 2);
        let path = std::env::temp_dir().join(format!(
            "coalescope-rows-mem-{}.parquet",
            std::process::id()
        ));
        write_rows(&path, &rows, Compression::default()).unwrap();
        let file = File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let from_file: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file[0].schema().fields(), schema.fields());
        let cols = |bs: &[RecordBatch]| -> Vec<Vec<String>> {
            (0..schema.fields().len())
                .map(|c| {
                    bs.iter()
                        .flat_map(|b| {
                            let a = b.column(c);
                            (0..a.len())
                                .map(|i| arrow_cast_free(a, i))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .collect()
        };
        assert_eq!(cols(&batches), cols(&from_file));
        let types: Vec<DataType> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Utf8,
                DataType::UInt64,
                DataType::Float64,
                DataType::Boolean,
                DataType::Int64
            ]
        );
        // No rows: an empty schema and no batch.
        let (schema, batches) = rows_to_batches("rows", Vec::<R>::new()).unwrap();
        assert!(schema.fields().is_empty() && batches.is_empty());
    }

    /// One cell as text (Debug of the array slice), to compare columns without a cast kernel.
    fn arrow_cast_free(a: &ArrayRef, i: usize) -> String {
        format!("{:?}", a.slice(i, 1))
    }

    #[test]
    fn kinds_widen() {
        use Cell::*;
        assert_eq!(infer(&[I64(1), I64(-1)]), Some(Kind::I64));
        assert_eq!(infer(&[U64(1), Null]), Some(Kind::U64));
        assert_eq!(infer(&[I64(-1), U64(2)]), Some(Kind::I64));
        assert_eq!(infer(&[I64(1), U64(u64::MAX)]), Some(Kind::U64));
        assert_eq!(infer(&[I64(-1), U64(u64::MAX)]), Some(Kind::F64));
        assert_eq!(infer(&[I64(1), F64(0.5)]), Some(Kind::F64));
        assert_eq!(infer(&[Bool(true), I64(1)]), Some(Kind::Text));
        assert_eq!(infer(&[Static("a"), I64(1)]), Some(Kind::Text));
        assert_eq!(infer(&[Null, Null]), None);
    }

    #[test]
    fn lossy_conversions_into_a_fixed_column_are_refused() {
        use Cell::*;
        assert!(column_array(&[I64(1), U64(5)], Kind::I64).is_ok());
        assert_eq!(
            column_array(&[I64(1), U64(u64::MAX)], Kind::I64).map(drop),
            Err((
                1,
                "U64(18446744073709551615) does not fit the column's type Int64".into()
            ))
        );
        assert_eq!(
            column_array(&[I64(-2)], Kind::U64).map_err(|e| e.0).err(),
            Some(0)
        );
        assert_eq!(
            column_array(&[F64(0.5)], Kind::Bool).map_err(|e| e.0).err(),
            Some(0)
        );
    }
}
