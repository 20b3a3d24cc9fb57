//! Writing result rows (any `Serialize` struct with flat fields) as CSV or Parquet, the
//! format chosen by the file extension, as every `-o`/`--intervals`/`--features` flag does.
//!
//! Column order is field order. Column types are inferred from the values: all integers
//! -> Int64 (UInt64 if one exceeds i64), any float -> Float64, booleans -> Boolean,
//! anything else -> Utf8; nested values (maps, lists) are written as JSON text. `null`
//! stays null (an empty CSV field).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;
use serde_json::{Map, Value};

/// Write `rows` to `path` (`.csv`, `.parquet` or `.pq`).
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    let objects = rows
        .iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => bail!("internal: a result row is not a record"),
            Err(e) => Err(e.into()),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let columns = column_names(&objects);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => write_csv(path, &columns, &objects),
        "parquet" | "pq" => write_parquet(path, &columns, &objects),
        _ => bail!(
            "cannot tell the format of {}: use a .csv or .parquet extension",
            path.display()
        ),
    }
}

fn column_names(objects: &[Map<String, Value>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for obj in objects {
        for key in obj.keys() {
            if !names.iter().any(|n| n == key) {
                names.push(key.clone());
            }
        }
    }
    names
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn write_csv(
    path: &Path,
    columns: &[String],
    objects: &[Map<String, Value>],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    w.write_record(columns)?;
    for obj in objects {
        let record = columns
            .iter()
            .map(|c| obj.get(c).and_then(text).unwrap_or_default());
        w.write_record(record)?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Null,
    Int,
    UInt,
    Float,
    Bool,
    Text,
}

fn kind_of(values: &[Option<&Value>]) -> Kind {
    let mut kind = Kind::Null;
    for v in values.iter().flatten() {
        let k = match v {
            Value::Null => continue,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_i64() => Kind::Int,
            Value::Number(n) if n.is_u64() => Kind::UInt,
            Value::Number(_) => Kind::Float,
            _ => Kind::Text,
        };
        kind = match (kind, k) {
            (Kind::Null, k) => k,
            (a, b) if a == b => a,
            (Kind::Int, Kind::UInt) | (Kind::UInt, Kind::Int) => Kind::UInt,
            (Kind::Int | Kind::UInt | Kind::Float, Kind::Int | Kind::UInt | Kind::Float) => {
                Kind::Float
            }
            _ => Kind::Text,
        };
    }
    kind
}

/// A value that is there and not null.
fn present(x: Option<&Value>) -> Option<&Value> {
    x.filter(|v| !v.is_null())
}

fn column_array(values: &[Option<&Value>], kind: Kind) -> (DataType, ArrayRef) {
    match kind {
        Kind::Int => (
            DataType::Int64,
            Arc::new(
                values
                    .iter()
                    .map(|x| present(*x).and_then(Value::as_i64))
                    .collect::<Int64Array>(),
            ),
        ),
        // A negative value in a UInt column cannot happen: Int+UInt mixes widen to Float.
        Kind::UInt => (
            DataType::UInt64,
            Arc::new(
                values
                    .iter()
                    .map(|x| present(*x).and_then(Value::as_u64))
                    .collect::<UInt64Array>(),
            ),
        ),
        Kind::Float => (
            DataType::Float64,
            Arc::new(
                values
                    .iter()
                    .map(|x| present(*x).and_then(Value::as_f64))
                    .collect::<Float64Array>(),
            ),
        ),
        Kind::Bool => (
            DataType::Boolean,
            Arc::new(
                values
                    .iter()
                    .map(|x| present(*x).and_then(Value::as_bool))
                    .collect::<BooleanArray>(),
            ),
        ),
        Kind::Text | Kind::Null => (
            DataType::Utf8,
            Arc::new(
                values
                    .iter()
                    .map(|x| present(*x).and_then(text))
                    .collect::<StringArray>(),
            ),
        ),
    }
}

fn write_parquet(
    path: &Path,
    columns: &[String],
    objects: &[Map<String, Value>],
) -> anyhow::Result<()> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for name in columns {
        let values: Vec<Option<&Value>> = objects.iter().map(|o| o.get(name)).collect();
        let (dtype, array) = column_array(&values, kind_of(&values));
        fields.push(Field::new(name, dtype, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .context("internal: building the result table")?;
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writer
        .write(&batch)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writer
        .close()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        name: Option<String>,
        n: u64,
        x: Option<f64>,
        flag: bool,
    }

    #[test]
    fn csv_keeps_field_order_and_nulls() {
        let dir = std::env::temp_dir().join(format!("coalescope-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.csv");
        let rows = [
            Row {
                name: Some("a,b".into()),
                n: 3,
                x: None,
                flag: true,
            },
            Row {
                name: None,
                n: 4,
                x: Some(0.5),
                flag: false,
            },
        ];
        write_rows(&path, &rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "name,n,x,flag\n\"a,b\",3,,true\n,4,0.5,false\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kinds_widen() {
        let a = Value::from(1i64);
        let b = Value::from(u64::MAX);
        let c = Value::from(0.5);
        assert!(kind_of(&[Some(&a), Some(&a)]) == Kind::Int);
        assert!(kind_of(&[Some(&a), Some(&b)]) == Kind::UInt);
        assert!(kind_of(&[Some(&a), Some(&c)]) == Kind::Float);
        assert!(kind_of(&[None, Some(&Value::Null)]) == Kind::Null);
    }
}
