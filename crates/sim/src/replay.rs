//! Replay streams: arrival instants read from an events file or a LOBSTER message file
//! through the timeline crate (the only I/O the simulator does).

use coalescope_timeline::Instant;

use crate::error::SimError;
use crate::output::Template;
use crate::scenario::{ArrivalConfig, StreamConfig};

/// Loads the arrival instants (ns) of a replay stream: sorted, scaled by `speed` around
/// the first instant and, when `rebase`, shifted so the first arrival is at `start`. A
/// synthetic stream has none.
pub(crate) fn load(
    stream: &StreamConfig,
    start: Instant,
) -> Result<(Vec<i64>, Template), SimError> {
    let start_ns = start.as_nanos();
    let err = |path: &std::path::Path, message: String| SimError::Replay {
        stream: stream.name.clone(),
        path: path.display().to_string(),
        message,
    };
    match &stream.arrivals {
        ArrivalConfig::Replay {
            path,
            stream: filter,
            speed,
            rebase,
        } => {
            let mut strings = coalescope_timeline::Strings::new();
            let events = coalescope_timeline::io::load_events(path, &mut strings)
                .map_err(|e| err(path, e.to_string()))?;
            let wanted = filter.as_deref().map(|f| strings.lookup(f));
            let mut events: Vec<_> = match wanted {
                None => events,
                Some(None) => Vec::new(),
                Some(Some(sym)) => events.into_iter().filter(|e| e.stream == sym).collect(),
            };
            if events.is_empty() {
                return Err(err(
                    path,
                    format!(
                        "no events{}",
                        filter
                            .as_deref()
                            .map(|f| format!(" of stream `{f}`"))
                            .unwrap_or_default()
                    ),
                ));
            }
            events.sort_by_key(|e| e.t_ingress);
            let times = retime(
                events.iter().map(|e| e.t_ingress.0),
                *speed,
                *rebase,
                start_ns,
            )
            .map_err(|m| err(path, m))?;
            Ok((times, Some((events, strings))))
        }
        ArrivalConfig::Lobster {
            path,
            speed,
            rebase,
        } => {
            let messages = coalescope_timeline::lobster::read_lobster_messages(path)
                .map_err(|e| err(path, e.to_string()))?;
            if messages.is_empty() {
                return Err(err(path, "no messages".to_string()));
            }
            let mut raw: Vec<i64> = messages.iter().map(|m| m.time.0).collect();
            raw.sort_unstable();
            let times =
                retime(raw.into_iter(), *speed, *rebase, start_ns).map_err(|m| err(path, m))?;
            Ok((times, None))
        }
        _ => Ok((Vec::new(), None)),
    }
}

/// Scales each instant's offset from the first by `1 / speed` and places the first at
/// `start_ns` (rebase) or where it was. Offsets are taken in `i128`, so extreme instants
/// cannot overflow; a result outside the `i64` range is an error.
fn retime(
    times: impl Iterator<Item = i64>,
    speed: f64,
    rebase: bool,
    start_ns: i64,
) -> Result<Vec<i64>, String> {
    let times: Vec<i64> = times.collect();
    let first = times.first().copied().unwrap_or(0);
    let origin = if rebase { start_ns } else { first };
    times
        .iter()
        .map(|&t| {
            let offset = ((i128::from(t) - i128::from(first)) as f64 / speed).round();
            let at = i128::from(origin) + offset as i128;
            i64::try_from(at).map_err(|_| {
                format!(
                    "instant {t} ns falls outside the i64 ns range after speed {speed} and rebase"
                )
            })
        })
        .collect()
}
