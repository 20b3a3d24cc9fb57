//! Join the capture's ingress timeline with the application's log into `events`.
//!
//! The key is (stream, seq). The capture decides which events exist and their `t_ingress`
//! (the wire is the truth about arrival); the application log supplies `t_app`, `t_stack`,
//! `kind`, `symbol`, `venue`, `bid`, `ask` and `transition`.
//!
//! - A capture record without an app record becomes an **undelivered** event (`t_app`
//!   null, kind `md`): the packet reached the host but the application never logged it
//!   (SPEC §4 counts undelivered events).
//! - An app record without a capture record is counted and **not emitted**: without an
//!   ingress timestamp it has no place on the ingress timeline, and inventing one (its own
//!   `t_ingress_ns`, from another clock) would mix clocks. Typical causes: capture started
//!   late or dropped packets (see the capture's interface statistics).
//! - Duplicate (stream, seq) in the capture (feed A/B arbitration seen twice, a
//!   retransmission): the first in file order is kept, the rest counted. Duplicates in the
//!   app log: the first in slice order is used, the rest counted.
//! - A negative delay (`t_app < t_ingress`: clock skew between capture host and app host)
//!   is kept as it is, never clamped, and counted.
//!
//! **Memory.** The app log is indexed per stream ((stream, seq) -> position): a plain
//! array over the stream's seq range when its numbers are dense (8 bytes per slot, at
//! most about two slots per record), else a hash map with a fast integer hasher; plus a
//! one-byte matched flag per record; the capture is streamed through it. The app side is the one held because the capture is
//! the larger, file-ordered side (every datagram, delivered or not) and the output follows
//! its order; the app log is already in memory as `&[Event]`. Duplicate detection among
//! capture records that matched uses the matched bits; among those that did not match it
//! needs a set of their keys, so memory is O(app records + undelivered capture records),
//! not O(capture). The output itself is O(capture records) unless [`join_with`] or
//! [`join_capture`] streams it.

use std::collections::VecDeque;
use std::ops::AddAssign;
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};

use coalescope_timeline::io::BATCH_ROWS;
use coalescope_timeline::{Event, Strings, Sym};
use serde::Serialize;

use crate::error::CaptureError;
use crate::fasthash::FastSet;
use crate::index::AppIndex;
use crate::ingress::{for_each_ingress, CaptureConfig, Extractor, IngressRecord, IngressStats};
use crate::reader::CaptureReader;
use crate::seq::SeqSource;
use crate::summary::CaptureSummary;

/// Counts of a join, for the anomaly report. Reports of joins over disjoint parts add up
/// with `+=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JoinReport {
    /// Ingress records offered by the capture.
    pub capture_records: u64,
    /// App records offered.
    pub app_records: u64,
    /// Events emitted (matched + undelivered).
    pub events: u64,
    /// Capture records matched to an app record (delivered events).
    pub matched: u64,
    /// Capture records without an app record: emitted with `t_app` null.
    pub undelivered: u64,
    /// App records (first of each key) never seen in the capture: not emitted.
    pub app_without_capture: u64,
    /// Capture records repeating an earlier (stream, seq): dropped.
    pub capture_duplicates: u64,
    /// App records repeating an earlier (stream, seq): ignored.
    pub app_duplicates: u64,
    /// Matched events with `t_app < t_ingress` (kept as is).
    pub negative_delay: u64,
}

impl AddAssign<&JoinReport> for JoinReport {
    fn add_assign(&mut self, o: &JoinReport) {
        self.capture_records += o.capture_records;
        self.app_records += o.app_records;
        self.events += o.events;
        self.matched += o.matched;
        self.undelivered += o.undelivered;
        self.app_without_capture += o.app_without_capture;
        self.capture_duplicates += o.capture_duplicates;
        self.app_duplicates += o.app_duplicates;
        self.negative_delay += o.negative_delay;
    }
}

impl AddAssign for JoinReport {
    fn add_assign(&mut self, other: JoinReport) {
        *self += &other;
    }
}

/// An incremental join: index the app log once, then [`Joiner::push`] capture records in
/// capture order; each yields the event to emit, if any.
pub struct Joiner<'a> {
    app_events: &'a [Event],
    /// (stream, seq) -> position of its first app record.
    index: AppIndex,
    /// App records already matched by a capture record.
    matched: Vec<bool>,
    /// Keys of capture records without an app record, for their duplicates.
    unmatched_seen: FastSet<(Sym, u64)>,
    report: JoinReport,
}

impl<'a> Joiner<'a> {
    /// Index `app_events`. Their `stream` symbols and those of the records pushed later
    /// must come from the same [`Strings`] table (read the app log with the table used for
    /// the capture, or remap with `Strings::absorb`).
    ///
    /// [`Strings`]: coalescope_timeline::Strings
    pub fn new(app_events: &'a [Event]) -> Self {
        let (index, app_duplicates) = AppIndex::build(app_events);
        Joiner {
            app_events,
            index,
            matched: vec![false; app_events.len()],
            unmatched_seen: FastSet::default(),
            report: JoinReport {
                app_records: app_events.len() as u64,
                app_duplicates,
                ..JoinReport::default()
            },
        }
    }

    /// The event for the next capture record, or `None` when it repeats an earlier
    /// (stream, seq) and is dropped.
    pub fn push(&mut self, record: IngressRecord) -> Option<Event> {
        let report = &mut self.report;
        report.capture_records += 1;
        let key = (record.stream, record.seq);
        let event = match self.index.get(record.stream, record.seq) {
            Some(i) => {
                if std::mem::replace(&mut self.matched[i], true) {
                    report.capture_duplicates += 1;
                    return None;
                }
                report.matched += 1;
                let event = Event {
                    t_ingress: record.t_ingress,
                    ..self.app_events[i]
                };
                if event.t_app.is_some_and(|t| t < record.t_ingress) {
                    report.negative_delay += 1;
                }
                event
            }
            None => {
                if !self.unmatched_seen.insert(key) {
                    report.capture_duplicates += 1;
                    return None;
                }
                report.undelivered += 1;
                Event::md(record.stream, record.seq, record.t_ingress)
            }
        };
        report.events += 1;
        Some(event)
    }

    /// The counts, once every capture record was pushed.
    pub fn finish(self) -> JoinReport {
        let mut report = self.report;
        report.app_without_capture = report.app_records - report.app_duplicates - report.matched;
        report
    }
}

/// Join `ingress` (in capture order) with `app_events`, streaming each event to `emit` in
/// capture order. See [`Joiner::new`] for the one-string-table rule.
pub fn join_with(
    ingress: impl IntoIterator<Item = IngressRecord>,
    app_events: &[Event],
    mut emit: impl FnMut(Event),
) -> JoinReport {
    let mut joiner = Joiner::new(app_events);
    for record in ingress {
        if let Some(event) = joiner.push(record) {
            emit(event);
        }
    }
    joiner.finish()
}

/// [`join_with`] collecting the events in capture order.
pub fn join(
    ingress: impl IntoIterator<Item = IngressRecord>,
    app_events: &[Event],
) -> (Vec<Event>, JoinReport) {
    let mut events = Vec::new();
    let report = join_with(ingress, app_events, |e| events.push(e));
    (events, report)
}

/// Read the capture at `path` and join it with `app_events` (interned in `strings`) in one
/// pass, streaming events to `emit` in capture order. Memory: one capture block, the app
/// index, and the keys of undelivered records; no ingress vector.
pub fn join_capture(
    path: &Path,
    config: &CaptureConfig,
    strings: &mut Strings,
    app_events: &[Event],
    mut emit: impl FnMut(Event),
) -> Result<(IngressStats, JoinReport), CaptureError> {
    let mut joiner = Joiner::new(app_events);
    let stats = for_each_ingress(path, config, strings, |record| {
        if let Some(event) = joiner.push(record) {
            emit(event);
        }
    })?;
    Ok((stats, joiner.finish()))
}

/// Read the captures at `paths` in order and join their ingress records with
/// `app_events` (interned in `strings`; pass `&[]` for the ingress timeline alone, every
/// record then an undelivered event). This is the loop behind `coalescope join` and
/// `coalescope analyze --pcap`.
///
/// One join spans every file, so a (stream, seq) seen in two files (feed A/B captured on
/// two hosts, overlapping rotated files) is a duplicate: the first in path order is kept.
/// Events reach `on_batch` in capture order, in batches of at most
/// [`BATCH_ROWS`](coalescope_timeline::io::BATCH_ROWS), with the string table their keys
/// resolve in (e.g. for an `EventWriter`); an error from `on_batch` stops the run.
///
/// Several files are read and decoded on several threads (one per core, see
/// [`join_captures_threads`]) while this thread joins them in path order, so the output,
/// the counts and even the string table are those of one thread reading the files one
/// after the other. Memory: per file in flight a few chunks of records, plus one batch,
/// the app index and the keys of undelivered records.
///
/// With [`SeqSource::Frame`], frame numbers restart at 1 in every file, so the same
/// stream in two files would repeat sequence numbers and lose its second file as
/// duplicates: more than one path is refused ([`CaptureError::FrameNumbersAcrossFiles`]);
/// merge the files first (`mergecap`).
pub fn join_captures<P: AsRef<Path> + Sync>(
    paths: &[P],
    config: &CaptureConfig,
    app_events: &[Event],
    strings: &mut Strings,
    on_batch: impl FnMut(&[Event], &Strings) -> Result<(), CaptureError>,
) -> Result<CaptureSummary, CaptureError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    join_captures_threads(paths, config, app_events, strings, threads, on_batch)
}

/// [`join_captures`] reading at most `threads` files at a time (1 = everything on the
/// calling thread). Every thread count gives the same result.
pub fn join_captures_threads<P: AsRef<Path> + Sync>(
    paths: &[P],
    config: &CaptureConfig,
    app_events: &[Event],
    strings: &mut Strings,
    threads: usize,
    mut on_batch: impl FnMut(&[Event], &Strings) -> Result<(), CaptureError>,
) -> Result<CaptureSummary, CaptureError> {
    if config.seq == SeqSource::Frame && paths.len() > 1 {
        return Err(CaptureError::FrameNumbersAcrossFiles { files: paths.len() });
    }
    let mut out = Output {
        joiner: Joiner::new(app_events),
        summary: CaptureSummary::default(),
        batch: Vec::with_capacity(BATCH_ROWS.min(4096)),
    };
    if threads <= 1 || paths.len() <= 1 {
        for path in paths {
            let mut reader = CaptureReader::open(path.as_ref())?;
            let mut extractor = Extractor::new(config);
            while let Some(packet) = reader.next_packet()? {
                if let Some(record) = extractor.record(&packet, strings) {
                    out.push(record, strings, &mut on_batch)?;
                }
            }
            let mut stats = extractor.stats;
            stats.capture = reader.into_stats();
            out.summary += &stats;
        }
    } else {
        parallel_files(paths, config, strings, threads, &mut out, &mut on_batch)?;
    }
    if !out.batch.is_empty() {
        on_batch(&out.batch, strings)?;
    }
    out.summary.join = out.joiner.finish();
    Ok(out.summary)
}

/// The joining end: the join state, the counts and the batch being filled.
struct Output<'a> {
    joiner: Joiner<'a>,
    summary: CaptureSummary,
    batch: Vec<Event>,
}

impl Output<'_> {
    fn push(
        &mut self,
        record: IngressRecord,
        strings: &Strings,
        on_batch: &mut impl FnMut(&[Event], &Strings) -> Result<(), CaptureError>,
    ) -> Result<(), CaptureError> {
        if let Some(event) = self.joiner.push(record) {
            self.batch.push(event);
            if self.batch.len() == BATCH_ROWS {
                on_batch(&self.batch, strings)?;
                self.batch.clear();
            }
        }
        Ok(())
    }
}

/// Records per chunk a reader thread hands over (32 bytes each).
const CHUNK_RECORDS: usize = 8192;
/// Chunks a reader may run ahead of the join, per file.
const CHUNKS_AHEAD: usize = 4;

/// What a reader thread sends, in file order.
enum Chunk {
    /// Records whose streams are `Sym`s of the reader's own table, and the names that
    /// table gained since the previous chunk (in interning order).
    Records(Vec<IngressRecord>, Vec<String>),
    /// The file's counts; nothing follows.
    Done(Box<IngressStats>),
}

/// Reads and decodes one file on its own thread, into its own string table.
fn read_file(path: &Path, config: &CaptureConfig, tx: &SyncSender<Result<Chunk, CaptureError>>) {
    let mut local = Strings::new();
    let mut sent_names = 0;
    let mut records = Vec::with_capacity(CHUNK_RECORDS);
    // `false` when the join hung up (it stopped on an error): stop reading.
    let mut send = |records: &mut Vec<IngressRecord>, local: &Strings| {
        let names = local.names_from(sent_names).map(str::to_owned).collect();
        sent_names = local.len();
        let chunk = Chunk::Records(
            std::mem::replace(records, Vec::with_capacity(CHUNK_RECORDS)),
            names,
        );
        tx.send(Ok(chunk)).is_ok()
    };
    let mut reader = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    let mut extractor = Extractor::new(config);
    loop {
        match reader.next_packet() {
            Ok(Some(packet)) => {
                if let Some(record) = extractor.record(&packet, &mut local) {
                    records.push(record);
                    if records.len() == CHUNK_RECORDS && !send(&mut records, &local) {
                        return;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                // The records before the error first, as a serial read emits them.
                if send(&mut records, &local) {
                    let _ = tx.send(Err(e));
                }
                return;
            }
        }
    }
    if !records.is_empty() && !send(&mut records, &local) {
        return;
    }
    let mut stats = extractor.stats;
    stats.capture = reader.into_stats();
    let _ = tx.send(Ok(Chunk::Done(Box::new(stats))));
}

/// Readers for up to `threads` files at a time, started in path order; the calling
/// thread joins their chunks in path order, re-interning each file's stream names into
/// `strings` as it meets them, so the table ends as a serial read leaves it.
fn parallel_files<P: AsRef<Path> + Sync>(
    paths: &[P],
    config: &CaptureConfig,
    strings: &mut Strings,
    threads: usize,
    out: &mut Output<'_>,
    on_batch: &mut impl FnMut(&[Event], &Strings) -> Result<(), CaptureError>,
) -> Result<(), CaptureError> {
    std::thread::scope(|scope| {
        let mut in_flight = VecDeque::with_capacity(threads);
        let mut next = 0;
        loop {
            while next < paths.len() && in_flight.len() < threads {
                let (tx, rx) = sync_channel(CHUNKS_AHEAD);
                let path = paths[next].as_ref();
                scope.spawn(move || read_file(path, config, &tx));
                in_flight.push_back((next, rx));
                next += 1;
            }
            let Some((file, rx)) = in_flight.pop_front() else {
                return Ok(());
            };
            // Local Sym index -> Sym in `strings`.
            let mut map: Vec<Sym> = Vec::new();
            // A reader that vanished without `Done` panicked: a bug, reported as one.
            let mut done = false;
            for message in rx.iter() {
                match message? {
                    Chunk::Records(records, names) => {
                        map.extend(names.iter().map(|n| strings.intern(n)));
                        for mut record in records {
                            // Every local Sym was interned before its record was sent
                            // and its name travelled with that chunk or an earlier one.
                            record.stream = map[record.stream.index()];
                            out.push(record, strings, on_batch)?;
                        }
                    }
                    Chunk::Done(stats) => {
                        out.summary += &*stats;
                        done = true;
                    }
                }
            }
            if !done {
                return Err(CaptureError::Io {
                    file: paths[file].as_ref().display().to_string(),
                    source: std::io::Error::other("the reader thread stopped unexpectedly"),
                });
            }
        }
    })
}
