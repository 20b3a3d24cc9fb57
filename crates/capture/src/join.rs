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

use std::ops::AddAssign;
use std::path::Path;

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
/// Memory: one capture block, one batch, the app index and the keys of undelivered
/// records.
///
/// With [`SeqSource::Frame`], frame numbers restart at 1 in every file, so the same
/// stream in two files would repeat sequence numbers and lose its second file as
/// duplicates: more than one path is refused ([`CaptureError::FrameNumbersAcrossFiles`]);
/// merge the files first (`mergecap`).
pub fn join_captures<P: AsRef<Path>>(
    paths: &[P],
    config: &CaptureConfig,
    app_events: &[Event],
    strings: &mut Strings,
    mut on_batch: impl FnMut(&[Event], &Strings) -> Result<(), CaptureError>,
) -> Result<CaptureSummary, CaptureError> {
    if config.seq == SeqSource::Frame && paths.len() > 1 {
        return Err(CaptureError::FrameNumbersAcrossFiles { files: paths.len() });
    }
    let mut joiner = Joiner::new(app_events);
    let mut summary = CaptureSummary::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS.min(4096));
    for path in paths {
        let mut reader = CaptureReader::open(path.as_ref())?;
        let mut extractor = Extractor::new(config);
        while let Some(packet) = reader.next_packet()? {
            let Some(record) = extractor.record(&packet, strings) else {
                continue;
            };
            if let Some(event) = joiner.push(record) {
                batch.push(event);
                if batch.len() == BATCH_ROWS {
                    on_batch(&batch, strings)?;
                    batch.clear();
                }
            }
        }
        let mut stats = extractor.stats;
        stats.capture = reader.into_stats();
        summary += &stats;
    }
    if !batch.is_empty() {
        on_batch(&batch, strings)?;
    }
    summary.join = joiner.finish();
    Ok(summary)
}
