//! Files we write carry exactly the SPEC §1 columns: Parquet types, nullability and
//! zstd pages by default (issue 7); the CSV header order.
// Test helpers unwrap too, not only #[test] bodies: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use arrow_schema::DataType;
use coalescope_timeline::{
    write_events, write_fills, write_orders, write_parents, Event, Instant, Strings,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};

fn schema_of(path: &std::path::Path) -> Vec<(String, DataType, bool)> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let meta = builder.metadata();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            assert_eq!(
                c.compression(),
                Compression::ZSTD(ZstdLevel::default()),
                "{}",
                c.column_path()
            );
        }
    }
    builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect()
}

fn spec(cols: &[(&str, DataType, bool)]) -> Vec<(String, DataType, bool)> {
    cols.iter()
        .map(|(n, t, b)| (n.to_string(), t.clone(), *b))
        .collect()
}

#[test]
fn written_parquet_has_the_spec_schema() {
    use DataType::{Boolean, Float64, Int64, Int8, UInt64, Utf8};
    let dir =
        std::env::temp_dir().join(format!("coalescope-timeline-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Strings::new();
    let feed = s.intern("feed");

    let p = dir.join("events.parquet");
    write_events(&p, &s, &[Event::md(feed, 1, Instant(1))]).unwrap();
    assert_eq!(
        schema_of(&p),
        spec(&[
            ("seq", UInt64, false),
            ("stream", Utf8, false),
            ("kind", Utf8, false),
            ("symbol", Utf8, true),
            ("venue", Utf8, true),
            ("t_ingress_ns", Int64, false),
            ("t_stack_ns", Int64, true),
            ("t_app_ns", Int64, true),
            ("bid", Float64, true),
            ("ask", Float64, true),
            ("transition", Boolean, true),
        ])
    );

    let p = dir.join("orders.parquet");
    write_orders(&p, &s, &[]).unwrap();
    assert_eq!(
        schema_of(&p),
        spec(&[
            ("child_id", UInt64, false),
            ("parent_id", UInt64, false),
            ("strategy", Utf8, true),
            ("symbol", Utf8, true),
            ("venue", Utf8, true),
            ("side", Int8, false),
            ("qty", Float64, false),
            ("px", Float64, true),
            ("t_emit_ns", Int64, false),
            ("trigger_seq", UInt64, true),
        ])
    );

    let p = dir.join("fills.parquet");
    write_fills(&p, &[]).unwrap();
    assert_eq!(
        schema_of(&p),
        spec(&[
            ("child_id", UInt64, false),
            ("t_fill_ns", Int64, false),
            ("fill_px", Float64, false),
            ("fill_qty", Float64, false),
        ])
    );

    let p = dir.join("parents.parquet");
    write_parents(&p, &s, &[]).unwrap();
    assert_eq!(
        schema_of(&p),
        spec(&[
            ("parent_id", UInt64, false),
            ("strategy", Utf8, true),
            ("symbol", Utf8, true),
            ("side", Int8, false),
            ("qty", Float64, false),
            ("t_start_ns", Int64, false),
            ("t_deadline_ns", Int64, false),
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn written_csv_has_the_spec_header_and_null_as_empty() {
    let dir =
        std::env::temp_dir().join(format!("coalescope-timeline-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Strings::new();
    let mut e = Event::md(s.intern("a,b"), 1, Instant(-2));
    e.bid = Some(0.1);
    e.transition = Some(false);
    let p = dir.join("events.csv");
    write_events(&p, &s, &[e]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "seq,stream,kind,symbol,venue,t_ingress_ns,t_stack_ns,t_app_ns,bid,ask,transition\n\
         1,\"a,b\",md,,,-2,,,0.1,,false\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
