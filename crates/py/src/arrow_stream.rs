//! Importing a Python table through the Arrow PyCapsule stream protocol.
//!
//! pyo3-arrow takes the `ArrowArrayStream` out of the capsule the producer (pyarrow,
//! pandas, polars) returns from `__arrow_c_stream__` and wraps it in arrow's own C stream
//! reader: the producer's buffers are shared, not copied. This module only adds the
//! argument name to the errors.

use arrow_array::RecordBatchReader;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatchReader;

use crate::Error;

/// A record-batch reader over `object`'s Arrow stream; `arg` names the argument in
/// errors.
pub(crate) fn reader(
    arg: &str,
    object: &Bound<'_, PyAny>,
) -> PyResult<Box<dyn RecordBatchReader + Send>> {
    if !object.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "{arg}: expected a pyarrow Table or RecordBatchReader, a pandas or polars \
             DataFrame (an object with __arrow_c_stream__), got {}",
            object.get_type().name()?
        )));
    }
    let stream: PyRecordBatchReader = object
        .extract()
        .map_err(|e| Error::new_err(format!("{arg}: importing the Arrow stream: {e}")))?;
    stream.into_reader()
}
