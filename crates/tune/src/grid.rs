//! The candidate settings `tune` sweeps: an `rx-usecs` × `rx-frames` grid, per-packet,
//! adaptive (net_dim), deferral (`gro-flush-timeout` × `defer`, over hardware
//! `rx-usecs=0`) and busy-poll. Every candidate is a [`Setting`], written exactly as
//! `replay --settings` writes it.

use coalescope_sim::setting::Setting;
use coalescope_timeline::Duration;

use crate::error::TuneError;

/// Default `rx-usecs` axis (µs). 0 with `rx-frames` > 0 is count-only coalescing.
pub const DEFAULT_RX_USECS: [u32; 12] = [0, 2, 4, 8, 16, 24, 32, 50, 64, 100, 128, 200];
/// Default `rx-frames` axis (0 = no count condition).
pub const DEFAULT_RX_FRAMES: [u32; 6] = [0, 8, 16, 32, 64, 128];
/// Default `gro-flush-timeout` axis of the deferral candidates (µs).
pub const DEFAULT_GRO_FLUSH_TIMEOUT_US: [i64; 4] = [20, 50, 100, 200];
/// Default `defer` (napi_defer_hard_irqs) axis of the deferral candidates.
pub const DEFAULT_DEFER: [u32; 3] = [1, 2, 4];
/// Most candidates one grid may hold (a sweep runs one simulation per candidate and
/// class): larger axes are a usage error, not a long silent run.
pub const MAX_CANDIDATES: usize = 4096;

/// The axes and switches of the candidate grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `rx-usecs` values.
    pub rx_usecs: Vec<u32>,
    /// `rx-frames` values.
    pub rx_frames: Vec<u32>,
    /// `gro-flush-timeout` values of the deferral candidates (> 0).
    pub gro_flush_timeouts: Vec<Duration>,
    /// `defer` values of the deferral candidates.
    pub defers: Vec<u32>,
    /// Include `per-packet`.
    pub per_packet: bool,
    /// Include `adaptive`.
    pub adaptive: bool,
    /// Include `busy-poll`.
    pub busy_poll: bool,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            rx_usecs: DEFAULT_RX_USECS.to_vec(),
            rx_frames: DEFAULT_RX_FRAMES.to_vec(),
            gro_flush_timeouts: DEFAULT_GRO_FLUSH_TIMEOUT_US
                .iter()
                .map(|&us| Duration::from_micros(us))
                .collect(),
            defers: DEFAULT_DEFER.to_vec(),
            per_packet: true,
            adaptive: true,
            busy_poll: true,
        }
    }
}

impl Grid {
    /// The candidates, in a fixed order: per-packet, the `rx-usecs` × `rx-frames` grid
    /// (rx-usecs outer; `rx-usecs=0,rx-frames=0` is left out: the NIC would signal at
    /// once, which is per-packet), adaptive, the deferrals (`gro-flush-timeout` outer),
    /// busy-poll. A setting produced twice is kept once (first place). Errors name the
    /// grid flag of a value the simulator cannot take.
    pub fn settings(&self) -> Result<Vec<Setting>, TuneError> {
        let mut out: Vec<Setting> = Vec::new();
        let mut push = |flag: &'static str, text: String| -> Result<(), TuneError> {
            let s = Setting::parse(&text).map_err(|e| TuneError::Grid {
                flag,
                message: e.to_string(),
            })?;
            if !out.contains(&s) {
                if out.len() == MAX_CANDIDATES {
                    return Err(TuneError::Grid {
                        flag,
                        message: format!("more than {MAX_CANDIDATES} candidate settings"),
                    });
                }
                out.push(s);
            }
            Ok(())
        };
        if self.per_packet {
            push("--no-per-packet", "per-packet".into())?;
        }
        for &u in &self.rx_usecs {
            for &f in &self.rx_frames {
                if u == 0 && f == 0 {
                    continue;
                }
                push(
                    "--rx-usecs/--rx-frames",
                    format!("rx-usecs={u},rx-frames={f}"),
                )?;
            }
        }
        if self.adaptive {
            push("--no-adaptive", "adaptive".into())?;
        }
        for &t in &self.gro_flush_timeouts {
            if t.as_nanos() <= 0 {
                return Err(TuneError::Grid {
                    flag: "--gro-flush-timeout",
                    message: format!("{} ns: a deferral needs a timeout > 0", t.as_nanos()),
                });
            }
            for &d in &self.defers {
                push(
                    "--gro-flush-timeout/--defer",
                    format!("defer={d},gro-flush-timeout={}ns", t.as_nanos()),
                )?;
            }
        }
        if self.busy_poll {
            push("--no-busy-poll", "busy-poll".into())?;
        }
        if out.is_empty() {
            return Err(TuneError::Grid {
                flag: "--rx-usecs",
                message: "the grid has no candidate setting".into(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_grid_has_the_documented_candidates_in_order() {
        let s = Grid::default().settings().unwrap();
        // 1 per-packet + 12×6 − 1 (0,0) + adaptive + 4×3 deferrals + busy-poll.
        assert_eq!(s.len(), 1 + 71 + 1 + 12 + 1);
        let text: Vec<String> = s.iter().map(Setting::to_string).collect();
        assert_eq!(text[0], "per-packet");
        assert_eq!(text[1], "rx-frames=8");
        assert_eq!(text[6], "rx-usecs=2");
        assert_eq!(text[7], "rx-usecs=2,rx-frames=8");
        assert_eq!(text[72], "adaptive");
        assert_eq!(text[73], "defer=1,gro-flush-timeout=20us");
        assert_eq!(text[84], "defer=4,gro-flush-timeout=200us");
        assert_eq!(text[85], "busy-poll");
    }

    #[test]
    fn duplicates_are_kept_once_and_bad_values_name_the_flag() {
        let g = Grid {
            rx_usecs: vec![8, 8],
            rx_frames: vec![0],
            gro_flush_timeouts: vec![],
            defers: vec![],
            per_packet: false,
            adaptive: false,
            busy_poll: false,
        };
        assert_eq!(g.settings().unwrap().len(), 1);
        let e = Grid {
            rx_usecs: vec![2_000_000],
            ..g.clone()
        }
        .settings()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--rx-usecs") && e.contains("out of range"),
            "{e}"
        );
        let e = Grid {
            rx_usecs: vec![],
            ..g
        }
        .settings()
        .unwrap_err()
        .to_string();
        assert!(e.contains("no candidate"), "{e}");
    }
}
