//! A DataFusion session with the md UDFs and Parquet datasets registered as tables; one
//! query run to completion; its result printed as a table, JSON or CSV.

use std::path::Path;
use std::sync::Arc;

use coalescope_metrics::Config;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::TryStreamExt;

use crate::error::SqlError;
use crate::udaf::md_udafs;

/// One `--table NAME=DIR_OR_GLOB`: a Parquet dataset (a file, a directory of `.parquet`
/// files, or a glob such as `lake/*/events-*.parquet`) registered under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table name used in the query.
    pub name: String,
    /// A file, a directory or a glob.
    pub location: String,
}

impl std::str::FromStr for TableSpec {
    type Err = SqlError;
    fn from_str(s: &str) -> Result<Self, SqlError> {
        let bad = || SqlError::TableSpec(s.to_string());
        let (name, location) = s.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        let ok_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_name || location.is_empty() {
            return Err(bad());
        }
        Ok(TableSpec {
            name: name.to_string(),
            location: location.to_string(),
        })
    }
}

/// How a query runs (default: all cores, no memory limit, `analyze`'s defaults).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// DataFusion's `target_partitions`: partitions scanned and aggregated in parallel
    /// (`None` = the number of cores). Results do not depend on it.
    pub partitions: Option<usize>,
    /// Memory pool limit in bytes (`None` = unbounded); aggregates spill beyond it.
    pub memory_limit: Option<usize>,
    /// The aggregator parameters (reordering horizon, exact limit, `g`) shared with
    /// `analyze`.
    pub config: Config,
}

/// A glob character in a location.
fn is_glob(location: &str) -> bool {
    location.contains(['*', '?', '['])
}

/// A session with the UDFs of [`crate::udaf`] registered.
pub fn session(opts: &RunOptions) -> Result<SessionContext, SqlError> {
    let mut cfg = SessionConfig::new()
        // Split files by byte range (row groups) across partitions whatever their size:
        // each partition scans contiguous row groups, in file order.
        .with_repartition_file_scans(true)
        .with_repartition_file_min_size(1)
        // No round-robin of batches between the scan and the partial aggregation: it
        // would deal each partition every n-th batch, interleaving rows of one time range
        // across partials (whose gap series then overlap in time and cannot be stitched).
        .with_round_robin_repartition(false);
    // No work stealing between partitions: an idle partition would read a range of a
    // sibling's files, so one partial would hold two time ranges with a hole between them
    // (its gap series then spans the hole and cannot be stitched with the partial that
    // read the hole).
    cfg.options_mut().execution.enable_file_stream_work_stealing = false;
    if let Some(p) = opts.partitions {
        if p == 0 {
            return Err(SqlError::Partitions);
        }
        cfg = cfg.with_target_partitions(p);
    }
    let mut rt = RuntimeEnvBuilder::new();
    if let Some(limit) = opts.memory_limit {
        rt = rt.with_memory_limit(limit, 1.0);
    }
    let rt = rt.build_arc().map_err(SqlError::Engine)?;
    let ctx = SessionContext::new_with_config_rt(cfg, Arc::clone(&rt));
    for udaf in md_udafs(&opts.config) {
        ctx.register_udaf(udaf);
    }
    Ok(ctx)
}

/// Register every table, run `query` and collect its result.
pub fn run(
    query: &str,
    tables: &[TableSpec],
    opts: &RunOptions,
) -> Result<Vec<RecordBatch>, SqlError> {
    let mut batches = Vec::new();
    execute(query, tables, opts, |b| {
        batches.push(b);
        Ok(())
    })?;
    Ok(batches)
}

/// Register every table, run `query` and write its result to `out` in `format` as the
/// batches come: memory follows one batch for JSON and CSV (a text table needs every row
/// for its column widths). Returns the number of rows written.
pub fn run_to(
    query: &str,
    tables: &[TableSpec],
    opts: &RunOptions,
    format: Format,
    out: &mut dyn std::io::Write,
) -> Result<u64, SqlError> {
    use datafusion::arrow::{csv, json};
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let batches = run(query, tables, opts)?;
            rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            out.write_all(render(&batches, Format::Table)?.as_bytes())?;
        }
        Format::Json => {
            let mut w = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, json::writer::JsonArray>(&mut *out);
            execute(query, tables, opts, |b| {
                rows += b.num_rows() as u64;
                w.write(&b)?;
                Ok(())
            })?;
            // An empty result is `[]` (the writer opens the array at finish).
            w.finish()?;
            drop(w);
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(&mut *out);
            let schema = execute(query, tables, opts, |b| {
                rows += b.num_rows() as u64;
                w.write(&b)?;
                Ok(())
            })?;
            if rows == 0 {
                // The header alone.
                w.write(&RecordBatch::new_empty(schema))?;
            }
        }
    }
    out.flush()?;
    Ok(rows)
}

/// Register every table, run `query` and hand each result batch to `on_batch` as it is
/// produced.
fn execute(
    query: &str,
    tables: &[TableSpec],
    opts: &RunOptions,
    mut on_batch: impl FnMut(RecordBatch) -> Result<(), SqlError>,
) -> Result<datafusion::arrow::datatypes::SchemaRef, SqlError> {
    for t in tables {
        if !is_glob(&t.location) && !Path::new(&t.location).exists() {
            return Err(SqlError::NoSuchLocation {
                table: t.name.clone(),
                location: t.location.clone(),
            });
        }
    }
    let ctx = session(opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .build()
        .map_err(SqlError::Runtime)?;
    rt.block_on(async {
        for t in tables {
            register(&ctx, t).await?;
        }
        let df = ctx
            .sql(query)
            .await
            .map_err(|e| SqlError::Query(Box::new(e)))?;
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| SqlError::Query(Box::new(e)))?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| SqlError::Query(Box::new(e)))?
        {
            on_batch(batch)?;
        }
        Ok(stream.schema())
    })
}

/// Register the Parquet files of `t` (a file, a directory's `.parquet` files, or a glob)
/// as one table.
///
/// The md aggregates need each partition to read contiguous rows of a time-ordered lake
/// (their partials are then adjacent in time and stitch exactly): DataFusion sorts the
/// files by path and cuts that sequence into contiguous byte ranges, one per partition
/// (with [`session`]'s settings: no round-robin, no work stealing). So name lake files
/// so that path order is time order (`date=2026-11-30/hour=09/part-0003.parquet`).
async fn register(ctx: &SessionContext, t: &TableSpec) -> Result<(), SqlError> {
    let fail = |source: DataFusionError| SqlError::Register {
        table: t.name.clone(),
        location: t.location.clone(),
        source: Box::new(source),
    };
    let url = ListingTableUrl::parse(&t.location).map_err(fail)?;
    let state = ctx.state();
    let store = state
        .runtime_env()
        .object_store(url.object_store())
        .map_err(fail)?;
    // A directory: its .parquet files (recursively); a file or a glob: what it names.
    let extension = if url.is_collection() { ".parquet" } else { "" };
    let mut files: Vec<_> = url
        .list_all_files(&state, store.as_ref(), extension)
        .await
        .map_err(fail)?
        .try_collect()
        .await
        .map_err(fail)?;
    if files.is_empty() {
        return Err(SqlError::NoFiles {
            table: t.name.clone(),
            location: t.location.clone(),
        });
    }
    files.sort_by(|a, b| a.location.cmp(&b.location));
    let root = url.object_store();
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(format!("{}{}", root.as_str(), f.location)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let options = ParquetReadOptions::default()
        .to_listing_options(&ctx.copied_config(), ctx.copied_table_options());
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&state)
        .await
        .map_err(fail)?;
    let table = ListingTable::try_new(config).map_err(fail)?;
    ctx.register_table(t.name.as_str(), Arc::new(table))
        .map_err(fail)?;
    Ok(())
}

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A boxed text table.
    Table,
    /// A JSON array of row objects (nulls written as `null`).
    Json,
    /// CSV with a header row (nulls as empty fields).
    Csv,
}

/// The result as text in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, SqlError> {
    use datafusion::arrow::{csv, json, util::pretty};
    match format {
        Format::Table => Ok(format!("{}\n", pretty::pretty_format_batches(batches)?)),
        Format::Json => {
            let mut w = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, json::writer::JsonArray>(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            let mut out = w.into_inner();
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            String::from_utf8(out).map_err(|_| SqlError::NotUtf8)
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            String::from_utf8(w.into_inner()).map_err(|_| SqlError::NotUtf8)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_specs_parse_and_reject_with_the_spec() {
        let t: TableSpec = "events=lake/*.parquet".parse().unwrap();
        assert_eq!(
            (t.name.as_str(), t.location.as_str()),
            ("events", "lake/*.parquet")
        );
        for bad in ["events", "=x", "1x=y", "a-b=y", "events="] {
            let e = bad.parse::<TableSpec>().unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_missing_location_names_table_and_path() {
        let t: TableSpec = "ev=/nonexistent/coalescope-sql".parse().unwrap();
        let e = run("SELECT 1", &[t], &RunOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ev") && e.contains("/nonexistent/coalescope-sql"),
            "{e}"
        );
    }

    #[test]
    fn zero_partitions_is_an_error() {
        let opts = RunOptions {
            partitions: Some(0),
            ..RunOptions::default()
        };
        assert!(matches!(session(&opts), Err(SqlError::Partitions)));
    }
}
