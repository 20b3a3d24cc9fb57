//! Errors of the sql crate.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// What can go wrong registering tables, running a query or printing its result.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A `--table` value is not `NAME=DIR_OR_GLOB` with an identifier as name.
    #[error(
        "--table {0:?}: expected NAME=DIR_OR_GLOB (NAME a SQL identifier: letters, digits, _)"
    )]
    TableSpec(String),
    /// A table's location (not a glob) does not exist.
    #[error("table {table}: {location} does not exist")]
    NoSuchLocation {
        /// The table name.
        table: String,
        /// The file or directory.
        location: String,
    },
    /// A directory or glob holding no Parquet file.
    #[error("table {table}: {location} holds no .parquet file")]
    NoFiles {
        /// The table name.
        table: String,
        /// The directory or glob.
        location: String,
    },
    /// `target_partitions` of 0.
    #[error("partitions must be at least 1")]
    Partitions,
    /// DataFusion refused a table.
    #[error("table {table} ({location}): {source}")]
    Register {
        /// The table name.
        table: String,
        /// The file, directory or glob.
        location: String,
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// Planning or executing the query failed (message from DataFusion, which names the
    /// column, function or file).
    #[error("query: {0}")]
    Query(Box<DataFusionError>),
    /// Setting up the engine failed.
    #[error("engine: {0}")]
    Engine(DataFusionError),
    /// The async runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// Formatting the result failed.
    #[error("printing the result: {0}")]
    Render(#[from] ArrowError),
    /// Writing the result failed (e.g. a closed pipe).
    #[error("writing the result: {0}")]
    Write(#[from] std::io::Error),
    /// The formatted result is not UTF-8.
    #[error("printing the result: output is not UTF-8")]
    NotUtf8,
}
