//! virtio-net notification coalescing (VIRTIO_NET_F_NOTF_COAL) and paravirtual batching.
//!
//! `max_usecs` and `max_packets` play the roles of ethtool's timer and count, with one
//! difference that matters: if either is 0 the device notifies for every packet (ethtool
//! would instead drop just that condition).
//!
//! Paravirtual batching: one notification (a hypercall costing H, or an interrupt costing
//! I) per batch of k packets costs `H / k` or `I / k` per packet.

use crate::error::{self, ModelError};
use crate::nic::{NicCoalescing, NicPrediction};
use serde::Serialize;

/// virtio-net RX notification coalescing and the Poisson packet rate.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct VirtioCoalescing {
    /// Packet rate λ per second; finite, in (0, 1e12].
    pub rate_per_s: f64,
    /// `max_usecs`: notification timer in µs (0 = notify per packet).
    pub max_usecs: u32,
    /// `max_packets`: packets before a notification (0 = notify per packet).
    pub max_packets: u32,
}

/// Prediction for a virtio-net queue.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct VirtioPrediction {
    /// True when a zero field makes the device notify for every packet.
    pub notify_per_packet: bool,
    /// Worst-case wait of one packet for its notification, in ns: 0 per packet, else
    /// `max_usecs` (never null: virtio has no count-only setting).
    pub worst_case_delay_ns: Option<i64>,
    /// The NIC-model prediction for the equivalent EQE setting.
    pub prediction: NicPrediction,
}

impl VirtioCoalescing {
    /// The equivalent EQE setting (`frames = 1` when either field is 0).
    pub fn to_nic(&self) -> NicCoalescing {
        if self.max_usecs == 0 || self.max_packets == 0 {
            NicCoalescing {
                rate_per_s: self.rate_per_s,
                window_ns: 0,
                frames: 1,
            }
        } else {
            NicCoalescing {
                rate_per_s: self.rate_per_s,
                window_ns: i64::from(self.max_usecs) * 1000,
                frames: self.max_packets,
            }
        }
    }

    /// Predict delay and notification rate.
    pub fn predict(&self) -> Result<VirtioPrediction, ModelError> {
        let nic = self.to_nic();
        Ok(VirtioPrediction {
            notify_per_packet: self.max_usecs == 0 || self.max_packets == 0,
            worst_case_delay_ns: nic.worst_case_delay_ns()?,
            prediction: nic.predict()?,
        })
    }
}

/// Costs of one guest/host notification and the batch size they are amortised over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParavirtBatching {
    /// Cost H of one hypercall (guest to host kick), in ns; finite, >= 0.
    pub hypercall_ns: f64,
    /// Cost I of one injected interrupt (host to guest), in ns; finite, >= 0.
    pub interrupt_ns: f64,
    /// Packets k per notification; >= 1.
    pub batch: f64,
}

/// Per-packet notification cost of [`ParavirtBatching`].
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct ParavirtCost {
    /// `H / k`, in ns per packet.
    pub hypercall_per_packet_ns: f64,
    /// `I / k`, in ns per packet.
    pub interrupt_per_packet_ns: f64,
    /// What batching saves per packet against k = 1, `(H + I)(1 - 1/k)`, in ns.
    pub saved_per_packet_ns: f64,
}

impl ParavirtBatching {
    /// `H / k` and `I / k`.
    pub fn cost(&self) -> Result<ParavirtCost, ModelError> {
        let h = error::non_negative("hypercall_ns", self.hypercall_ns)?;
        let i = error::non_negative("interrupt_ns", self.interrupt_ns)?;
        if !(self.batch.is_finite() && self.batch >= 1.0) {
            return Err(ModelError::OutOfRange {
                field: "batch",
                value: self.batch.to_string(),
                accepted: "a finite number of packets >= 1",
            });
        }
        let k = self.batch;
        Ok(ParavirtCost {
            hypercall_per_packet_ns: h / k,
            interrupt_per_packet_ns: i / k,
            saved_per_packet_ns: (h + i) * (1.0 - 1.0 / k),
        })
    }
}

/// What `coalescope model virtio` asks: the queue, and optionally the notification costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VirtioQuery {
    /// The queue's coalescing and rate.
    pub coalescing: VirtioCoalescing,
    /// Cost H of one hypercall, in ns, if known.
    pub hypercall_ns: Option<f64>,
    /// Cost I of one injected interrupt, in ns, if known.
    pub interrupt_ns: Option<f64>,
    /// A fixed batch size k for `H / k` and `I / k`; needs a cost to amortise.
    pub batch: Option<f64>,
}

/// Everything `coalescope model virtio` reports.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct VirtioReport {
    /// The queue's settings and rate.
    #[serde(flatten)]
    pub input: VirtioCoalescing,
    /// Delay, worst case and notification rate.
    #[serde(flatten)]
    pub prediction: VirtioPrediction,
    /// `H / k` and `I / k` for the fixed batch size, when asked for.
    pub batching: Option<ParavirtCost>,
    /// `I / E[K]`: the interrupt cost spread over the coalesced mean batch, ns per packet.
    pub coalesced_interrupt_cost_per_packet_ns: Option<f64>,
    /// Share of one CPU spent on interrupts at the coalesced rate, `rate × I`.
    pub coalesced_interrupt_cpu_fraction: Option<f64>,
}

impl VirtioQuery {
    /// Predict the queue and, where costs are given, what its notifications cost.
    pub fn report(&self) -> Result<VirtioReport, ModelError> {
        let prediction = self.coalescing.predict()?;
        let batching = match self.batch {
            Some(k) => {
                if self.hypercall_ns.is_none() && self.interrupt_ns.is_none() {
                    return Err(ModelError::Inconsistent {
                        field: "batch",
                        other: "hypercall_ns",
                        reason: "a batch size needs a hypercall or an interrupt cost \
                                 (hypercall_ns or interrupt_ns) to amortise"
                            .into(),
                    });
                }
                Some(
                    ParavirtBatching {
                        hypercall_ns: self.hypercall_ns.unwrap_or(0.0),
                        interrupt_ns: self.interrupt_ns.unwrap_or(0.0),
                        batch: k,
                    }
                    .cost()?,
                )
            }
            None => None,
        };
        let interrupt = self
            .interrupt_ns
            .map(|i| error::non_negative("interrupt_ns", i))
            .transpose()?;
        let p = &prediction.prediction;
        Ok(VirtioReport {
            input: self.coalescing,
            prediction,
            batching,
            coalesced_interrupt_cost_per_packet_ns: interrupt.map(|i| i / p.mean_batch_size),
            coalesced_interrupt_cpu_fraction: interrupt.map(|i| p.interrupt_rate_per_s * i / 1e9),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_field_notifies_per_packet_unlike_ethtool() {
        let v = VirtioCoalescing {
            rate_per_s: 1e5,
            max_usecs: 50,
            max_packets: 0,
        };
        let p = v.predict().unwrap();
        assert!(p.notify_per_packet);
        assert_eq!(p.prediction.mean_added_delay_ns, 0.0);
        assert_eq!(p.worst_case_delay_ns, Some(0));
        // ethtool with the same numbers would be timer-only, λW = 5: delay 50_000*3.5/6.
        let e = NicCoalescing {
            rate_per_s: 1e5,
            window_ns: 50_000,
            frames: 0,
        }
        .predict()
        .unwrap();
        assert!((e.mean_added_delay_ns - 50_000.0 * 3.5 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn both_set_is_the_nic_timer_and_count() {
        let v = VirtioCoalescing {
            rate_per_s: 1e6,
            max_usecs: 1,
            max_packets: 2,
        };
        let nic = NicCoalescing {
            rate_per_s: 1e6,
            window_ns: 1000,
            frames: 2,
        };
        assert_eq!(v.predict().unwrap().prediction, nic.predict().unwrap());
        assert_eq!(v.predict().unwrap().worst_case_delay_ns, Some(1_000));
    }

    #[test]
    fn batching_cost_hand_computed() {
        // H = 1200 ns, I = 2000 ns, k = 8: 150 and 250 ns per packet; saves 3200 * 7/8.
        let c = ParavirtBatching {
            hypercall_ns: 1200.0,
            interrupt_ns: 2000.0,
            batch: 8.0,
        }
        .cost()
        .unwrap();
        assert_eq!(c.hypercall_per_packet_ns, 150.0);
        assert_eq!(c.interrupt_per_packet_ns, 250.0);
        assert_eq!(c.saved_per_packet_ns, 2800.0);
        let err = ParavirtBatching {
            hypercall_ns: 1.0,
            interrupt_ns: 1.0,
            batch: 0.5,
        }
        .cost()
        .unwrap_err();
        assert!(err.to_string().contains("batch"));
    }

    #[test]
    fn report_costs_by_hand() {
        // λ = 1e5/s, max_usecs 20, max_packets 32: λW = 2, P[N(W) >= 31] < 1e-20, so the
        // batch is 3 and the rate 1e5/3. I = 2000 ns: 2000/3 ns per packet, CPU share
        // 1e5/3 × 2000e-9 = 1/15. k = 8, H = 1000: 125 and 250 ns per packet.
        let q = VirtioQuery {
            coalescing: VirtioCoalescing {
                rate_per_s: 1e5,
                max_usecs: 20,
                max_packets: 32,
            },
            hypercall_ns: Some(1000.0),
            interrupt_ns: Some(2000.0),
            batch: Some(8.0),
        };
        let r = q.report().unwrap();
        assert_eq!(r.prediction.worst_case_delay_ns, Some(20_000));
        let per = r.coalesced_interrupt_cost_per_packet_ns.unwrap();
        assert!((per - 2000.0 / 3.0).abs() < 1e-9, "{per}");
        let cpu = r.coalesced_interrupt_cpu_fraction.unwrap();
        assert!((cpu - 1.0 / 15.0).abs() < 1e-12, "{cpu}");
        let b = r.batching.unwrap();
        assert_eq!(
            (b.hypercall_per_packet_ns, b.interrupt_per_packet_ns),
            (125.0, 250.0)
        );
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["worst_case_delay_ns"], 20_000);
        assert_eq!(json["max_packets"], 32);
        // A batch with no cost to amortise is an error naming both sides.
        let err = VirtioQuery {
            hypercall_ns: None,
            interrupt_ns: None,
            ..q
        }
        .report()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("batch") && err.contains("interrupt_ns"),
            "{err}"
        );
    }
}
