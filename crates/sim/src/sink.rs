//! Where a run's per-packet records and interrupt records go.
//!
//! The engine hands records to a [`RecordSink`] in batches as the run goes, so a run
//! keeps nothing per packet unless its sink does: [`SummaryOnly`] keeps nothing,
//! [`Collect`] keeps everything (what [`crate::simulate`] returns), [`FileSink`] writes
//! the `events` table and the interrupt log as it goes (what `coalescope sim` uses).
//!
//! Packet records reach the sink in each receive queue's arrival order (a queue's records
//! wait for the queue's older packets); records of different queues interleave in the
//! order they reached their fate. Interrupt records come in time order.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use coalescope_timeline::io::{events_to_batches, Compression, EventWriter, RowWriter};
use coalescope_timeline::Event;

use crate::error::SimError;
use crate::output::{EventBuilder, InterruptRecord, PacketRecord, Templates};
use crate::scenario::Scenario;

/// A consumer of a run's records.
pub trait RecordSink {
    /// Whether packet records are wanted (when false the engine never builds them).
    fn wants_packets(&self) -> bool;
    /// Whether interrupt records are wanted (when false the engine never builds them).
    fn wants_interrupts(&self) -> bool;
    /// Takes a batch of finished packet records.
    fn packets(&mut self, batch: &[PacketRecord]) -> Result<(), SimError>;
    /// Takes a batch of interrupt records, in time order.
    fn interrupts(&mut self, batch: &[InterruptRecord]) -> Result<(), SimError>;
}

/// Keeps nothing: the run produces its summary only.
#[derive(Debug, Default, Clone, Copy)]
pub struct SummaryOnly;

impl RecordSink for SummaryOnly {
    fn wants_packets(&self) -> bool {
        false
    }
    fn wants_interrupts(&self) -> bool {
        false
    }
    fn packets(&mut self, _batch: &[PacketRecord]) -> Result<(), SimError> {
        Ok(())
    }
    fn interrupts(&mut self, _batch: &[InterruptRecord]) -> Result<(), SimError> {
        Ok(())
    }
}

/// Keeps every record (memory O(packets)); [`Collect::into_parts`] returns the packet
/// records in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Collect {
    records: Vec<PacketRecord>,
    interrupts: Vec<InterruptRecord>,
}

impl Collect {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The packet records in arrival order, and the interrupt records in time order.
    pub fn into_parts(mut self) -> (Vec<PacketRecord>, Vec<InterruptRecord>) {
        // Each queue's records came in order: a stable sort merges the runs.
        self.records.sort_by_key(|r| r.arrival);
        (self.records, self.interrupts)
    }
}

impl RecordSink for Collect {
    fn wants_packets(&self) -> bool {
        true
    }
    fn wants_interrupts(&self) -> bool {
        true
    }
    fn packets(&mut self, batch: &[PacketRecord]) -> Result<(), SimError> {
        self.records.extend_from_slice(batch);
        Ok(())
    }
    fn interrupts(&mut self, batch: &[InterruptRecord]) -> Result<(), SimError> {
        self.interrupts.extend_from_slice(batch);
        Ok(())
    }
}

/// The files a run writes, if any (`coalescope sim -o` / `--interrupts`).
#[derive(Debug, Clone, Default)]
pub struct FileOutputs {
    /// The `events` table (`.parquet` or `.csv`).
    pub events: Option<PathBuf>,
    /// The interrupt log (`.csv` or `.parquet`; columns `time_ns,queue,batch,reason,timer_ns`).
    pub interrupts: Option<PathBuf>,
    /// Parquet page compression (CSV ignores it).
    pub compression: Compression,
}

/// Writes the `events` table and the interrupt log as records come; memory is one batch.
pub struct FileSink<'a> {
    events: Option<(EventWriter, PathBuf)>,
    interrupts: Option<(RowWriter, PathBuf)>,
    builder: EventBuilder,
    templates: &'a Templates,
    buf: Vec<Event>,
}

impl std::fmt::Debug for FileSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("events", &self.events.as_ref().map(|e| &e.1))
            .field("interrupts", &self.interrupts.as_ref().map(|e| &e.1))
            .finish_non_exhaustive()
    }
}

fn write_error(what: &'static str, path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Write {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl<'a> FileSink<'a> {
    /// Creates (truncates) the files of `outputs` for a run of `scenario` whose replayed
    /// streams carry `templates`.
    pub(crate) fn create(
        scenario: &Scenario,
        templates: &'a Templates,
        outputs: &FileOutputs,
    ) -> Result<Self, SimError> {
        let events = match &outputs.events {
            Some(p) => Some((
                EventWriter::create_with(p, outputs.compression)
                    .map_err(|e| write_error("events", p, e))?,
                p.clone(),
            )),
            None => None,
        };
        let interrupts = match &outputs.interrupts {
            Some(p) => Some((
                RowWriter::create(p, outputs.compression)
                    .map_err(|e| write_error("the interrupt log", p, e))?,
                p.clone(),
            )),
            None => None,
        };
        Ok(FileSink {
            events,
            interrupts,
            builder: EventBuilder::new(scenario, templates),
            templates,
            buf: Vec::new(),
        })
    }

    /// Flushes and closes the files.
    pub(crate) fn finish(self) -> Result<(), SimError> {
        if let Some((w, p)) = self.events {
            w.finish().map_err(|e| write_error("events", &p, e))?;
        }
        if let Some((w, p)) = self.interrupts {
            w.finish()
                .map_err(|e| write_error("the interrupt log", &p, e))?;
        }
        Ok(())
    }
}

impl RecordSink for FileSink<'_> {
    fn wants_packets(&self) -> bool {
        self.events.is_some()
    }
    fn wants_interrupts(&self) -> bool {
        self.interrupts.is_some()
    }
    fn packets(&mut self, batch: &[PacketRecord]) -> Result<(), SimError> {
        let Some((w, p)) = &mut self.events else {
            return Ok(());
        };
        self.buf.clear();
        self.buf
            .extend(batch.iter().map(|r| self.builder.event(self.templates, r)));
        w.write(&self.builder.strings, &self.buf)
            .map_err(|e| write_error("events", p, e))
    }
    fn interrupts(&mut self, batch: &[InterruptRecord]) -> Result<(), SimError> {
        let Some((w, p)) = &mut self.interrupts else {
            return Ok(());
        };
        w.write_all(batch)
            .map_err(|e| write_error("the interrupt log", p, e))
    }
}

/// The tables of a run as Arrow record batches ([`crate::simulate_to_tables`]).
#[derive(Debug, Clone)]
pub struct Tables {
    /// The `events` table (SPEC §1), each queue's packets in arrival order: what `-o`
    /// writes.
    pub events: (SchemaRef, Vec<RecordBatch>),
    /// The interrupt log (`time_ns,queue,batch,reason,timer_ns`): what `--interrupts`
    /// writes.
    pub interrupts: (SchemaRef, Vec<RecordBatch>),
}

/// Keeps the `events` table and the interrupt log as Arrow batches in memory (the
/// columns of the files [`FileSink`] writes; memory: the Arrow size of the tables).
pub(crate) struct MemorySink<'a> {
    events: Vec<RecordBatch>,
    schema: Option<SchemaRef>,
    interrupts: RowWriter,
    builder: EventBuilder,
    templates: &'a Templates,
    buf: Vec<Event>,
}

impl<'a> MemorySink<'a> {
    /// An empty sink for a run of `scenario` whose replayed streams carry `templates`.
    pub(crate) fn new(scenario: &Scenario, templates: &'a Templates) -> Self {
        MemorySink {
            events: Vec::new(),
            schema: None,
            interrupts: RowWriter::in_memory("interrupts"),
            builder: EventBuilder::new(scenario, templates),
            templates,
            buf: Vec::new(),
        }
    }

    /// The tables.
    pub(crate) fn finish(self) -> Result<Tables, SimError> {
        let schema = match self.schema {
            Some(s) => s,
            None => {
                events_to_batches(&[], &self.builder.strings)
                    .map_err(|e| write_error("events", Path::new("events"), e))?
                    .0
            }
        };
        let interrupts = self
            .interrupts
            .finish_batches()
            .map_err(|e| write_error("the interrupt log", Path::new("interrupts"), e))?;
        Ok(Tables {
            events: (schema, self.events),
            interrupts,
        })
    }
}

impl RecordSink for MemorySink<'_> {
    fn wants_packets(&self) -> bool {
        true
    }
    fn wants_interrupts(&self) -> bool {
        true
    }
    fn packets(&mut self, batch: &[PacketRecord]) -> Result<(), SimError> {
        self.buf.clear();
        self.buf
            .extend(batch.iter().map(|r| self.builder.event(self.templates, r)));
        let (schema, batches) = events_to_batches(&self.buf, &self.builder.strings)
            .map_err(|e| write_error("events", Path::new("events"), e))?;
        self.schema = Some(schema);
        self.events.extend(batches);
        Ok(())
    }
    fn interrupts(&mut self, batch: &[InterruptRecord]) -> Result<(), SimError> {
        self.interrupts
            .write_all(batch)
            .map_err(|e| write_error("the interrupt log", Path::new("interrupts"), e))
    }
}
