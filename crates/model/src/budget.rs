//! Latency budgets of the transmit and receive paths as stages, and the techniques that
//! remove or overlap them.
//!
//! The default stage costs are illustrative figures of the kind used to teach the
//! datapath (a kernel send near 1.2 µs, a kernel receive near 0.9 µs); the shape matters,
//! not the absolute values, so every default is labelled `illustrative` and any stage can
//! be overridden with a measured cost.
//!
//! Techniques and what they do:
//! * `kernel-bypass`: the stack runs in user space on the NIC rings. tx: no syscall, no
//!   kernel stack, no softirq wake-up. rx: no copy/syscall return to the application.
//! * `zero-copy`: payload sent from / read in place. tx: no copy into a kernel buffer.
//!   rx: no copy to the application.
//! * `tx-push`: descriptor (and small payload) written with the doorbell, so the NIC does
//!   not read the descriptor back over PCIe.
//! * `ctpio`: cut-through programmed I/O. The frame is pushed over PIO (no descriptor
//!   read) and the NIC streams it onto the wire while it arrives, overlapping the PCIe
//!   transfer with serialisation: the DMA stage shrinks to the first-bytes cost
//!   (`ctpio-first-bytes`, see `cutthrough` for the derivation from frame and bus speeds).
//! * `busy-poll`: a core spins on the receive ring: no interrupt, no IRQ/NAPI scheduling,
//!   no wake-up of a blocked thread, and no coalescing wait (nobody waits for an
//!   interrupt); the cost is a core at 100 %.

use crate::error::ModelError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Which datapath.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// Application send to bits on the wire.
    Tx,
    /// Bits arriving at the NIC to the application holding the data.
    Rx,
}

/// A latency-reduction technique.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Technique {
    /// User-space stack on the NIC rings.
    KernelBypass,
    /// No payload copies.
    ZeroCopy,
    /// Descriptor pushed with the doorbell.
    TxPush,
    /// Cut-through programmed I/O transmit.
    Ctpio,
    /// A core polls the receive ring.
    BusyPoll,
}

impl Technique {
    /// Every technique, in the order a latency engineer usually reaches for them.
    pub const ALL: [Technique; 5] = [
        Technique::KernelBypass,
        Technique::ZeroCopy,
        Technique::TxPush,
        Technique::Ctpio,
        Technique::BusyPoll,
    ];

    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            Technique::KernelBypass => "kernel-bypass",
            Technique::ZeroCopy => "zero-copy",
            Technique::TxPush => "tx-push",
            Technique::Ctpio => "ctpio",
            Technique::BusyPoll => "busy-poll",
        }
    }
}

impl fmt::Display for Technique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Technique {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Technique::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ModelError::OutOfRange {
                field: "technique",
                value: s.to_string(),
                accepted: "one of kernel-bypass, zero-copy, tx-push, ctpio, busy-poll",
            })
    }
}

/// What a technique does to a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Remove,
    /// The stage now costs the named parameter instead.
    OverlapTo(&'static str),
}

/// A stage of a path with its default cost.
struct StageDef {
    name: &'static str,
    description: &'static str,
    default_ns: i64,
    effects: &'static [(Technique, Effect)],
}

const TX: &[StageDef] = &[
    StageDef {
        name: "syscall",
        description: "send() syscall and user/kernel mode switch",
        default_ns: 90,
        effects: &[(Technique::KernelBypass, Effect::Remove)],
    },
    StageDef {
        name: "kernel-stack",
        description: "kernel TCP/IP processing and sk_buff allocation",
        default_ns: 220,
        effects: &[(Technique::KernelBypass, Effect::Remove)],
    },
    StageDef {
        name: "copy",
        description: "copy of the payload into a kernel buffer",
        default_ns: 80,
        effects: &[
            (Technique::KernelBypass, Effect::Remove),
            (Technique::ZeroCopy, Effect::Remove),
        ],
    },
    StageDef {
        name: "softirq-wakeup",
        description: "softirq / scheduler wake-up",
        default_ns: 110,
        effects: &[(Technique::KernelBypass, Effect::Remove)],
    },
    StageDef {
        name: "descriptor-write",
        description: "driver writes the TX descriptor to the ring",
        default_ns: 40,
        effects: &[],
    },
    StageDef {
        name: "descriptor-read",
        description: "NIC reads the descriptor back over PCIe",
        default_ns: 300,
        effects: &[
            (Technique::TxPush, Effect::Remove),
            (Technique::Ctpio, Effect::Remove),
        ],
    },
    StageDef {
        name: "doorbell",
        description: "doorbell MMIO write",
        default_ns: 60,
        effects: &[],
    },
    StageDef {
        name: "dma",
        description: "payload DMA across PCIe before transmit starts",
        default_ns: 250,
        effects: &[(Technique::Ctpio, Effect::OverlapTo("ctpio-first-bytes"))],
    },
    StageDef {
        name: "phy",
        description: "SerDes / PHY puts the bits on the wire",
        default_ns: 80,
        effects: &[],
    },
];

const RX: &[StageDef] = &[
    StageDef {
        name: "dma",
        description: "NIC DMAs the packet into host memory",
        default_ns: 200,
        effects: &[],
    },
    StageDef {
        name: "coalescing",
        description: "interrupt coalescing wait (0 unless given)",
        default_ns: 0,
        effects: &[(Technique::BusyPoll, Effect::Remove)],
    },
    StageDef {
        name: "msix",
        description: "MSI-X interrupt raised and delivered",
        default_ns: 140,
        effects: &[(Technique::BusyPoll, Effect::Remove)],
    },
    StageDef {
        name: "irq-napi",
        description: "IRQ entry and NAPI scheduling",
        default_ns: 170,
        effects: &[(Technique::BusyPoll, Effect::Remove)],
    },
    StageDef {
        name: "wakeup",
        description: "scheduler wakes the blocked application",
        default_ns: 260,
        effects: &[(Technique::BusyPoll, Effect::Remove)],
    },
    StageDef {
        name: "deliver",
        description: "copy to the application and syscall return",
        default_ns: 90,
        effects: &[
            (Technique::KernelBypass, Effect::Remove),
            (Technique::ZeroCopy, Effect::Remove),
        ],
    },
    StageDef {
        name: "ring-read",
        description: "application reads the descriptor from the ring",
        default_ns: 30,
        effects: &[],
    },
];

/// Parameters that are not stages but that a technique may substitute for one.
const PARAMETERS: &[(&str, &str, i64)] = &[(
    "ctpio-first-bytes",
    "cut-through: PCIe time until the first bytes can go on the wire",
    35,
)];

/// Inputs of a budget: the path, the techniques switched on, and measured costs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BudgetInput {
    /// Which path.
    pub path: Option<Path>,
    /// Techniques switched on (duplicates are harmless).
    pub techniques: Vec<Technique>,
    /// Measured costs replacing defaults, by stage or parameter name, in ns (>= 0).
    pub overrides: Vec<(String, i64)>,
}

/// One stage of the evaluated budget.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct StageCost {
    /// Short stage name (usable in overrides).
    pub name: &'static str,
    /// What happens in this stage.
    pub description: &'static str,
    /// Cost without any technique, in ns.
    pub baseline_ns: i64,
    /// Cost with the techniques, in ns.
    pub cost_ns: i64,
    /// "kept", "removed" or "overlapped".
    pub effect: &'static str,
    /// The technique responsible, when not kept.
    pub by: Option<Technique>,
    /// "illustrative" (default figure) or "measured" (overridden).
    pub source: &'static str,
}

/// The evaluated budget.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Budget {
    /// Which path.
    pub path: Path,
    /// Sum of the baseline costs, in ns.
    pub baseline_total_ns: i64,
    /// Sum of the costs with the techniques, in ns.
    pub total_ns: i64,
    /// `baseline_total_ns - total_ns`.
    pub saved_ns: i64,
    /// Stages in path order.
    pub stages: Vec<StageCost>,
    /// True when any figure used is a default (illustrative) rather than measured.
    pub illustrative: bool,
    /// Techniques that do nothing on this path.
    pub not_applicable: Vec<Technique>,
}

impl BudgetInput {
    /// Evaluate the budget.
    pub fn evaluate(&self) -> Result<Budget, ModelError> {
        let path = self.path.unwrap_or(Path::Tx);
        let defs = match path {
            Path::Tx => TX,
            Path::Rx => RX,
        };
        for (name, ns) in &self.overrides {
            let known = defs.iter().any(|d| d.name == name)
                || (path == Path::Tx && PARAMETERS.iter().any(|p| p.0 == name));
            if !known {
                return Err(ModelError::OutOfRange {
                    field: "stage",
                    value: name.clone(),
                    accepted: match path {
                        Path::Tx => "a tx stage: syscall, kernel-stack, copy, softirq-wakeup, descriptor-write, descriptor-read, doorbell, dma, phy, ctpio-first-bytes",
                        Path::Rx => "an rx stage: dma, coalescing, msix, irq-napi, wakeup, deliver, ring-read",
                    },
                });
            }
            if *ns < 0 {
                return Err(ModelError::OutOfRange {
                    field: "stage",
                    value: format!("{name}={ns}"),
                    accepted: "a cost in ns >= 0",
                });
            }
        }
        let lookup = |name: &str, default: i64| -> (i64, bool) {
            match self.overrides.iter().rev().find(|(n, _)| n == name) {
                Some((_, ns)) => (*ns, false),
                None => (default, true),
            }
        };
        let mut stages = Vec::with_capacity(defs.len());
        let mut illustrative = false;
        for def in defs {
            let (baseline, default_used) = lookup(def.name, def.default_ns);
            let applied = def
                .effects
                .iter()
                .find(|(t, _)| self.techniques.contains(t));
            let (cost, effect, by, source_default) = match applied {
                None => (baseline, "kept", None, default_used),
                Some((t, Effect::Remove)) => (0, "removed", Some(*t), default_used),
                Some((t, Effect::OverlapTo(param))) => {
                    let default = PARAMETERS.iter().find(|p| p.0 == *param).map_or(0, |p| p.2);
                    let (ns, param_default) = lookup(param, default);
                    (
                        ns.min(baseline),
                        "overlapped",
                        Some(*t),
                        default_used || param_default,
                    )
                }
            };
            // A zero-cost default (the rx coalescing wait) is a placeholder, not a figure.
            let counts_as_default =
                source_default && (def.default_ns != 0 || effect == "overlapped");
            illustrative |= counts_as_default && (cost != 0 || baseline != 0);
            stages.push(StageCost {
                name: def.name,
                description: def.description,
                baseline_ns: baseline,
                cost_ns: cost,
                effect,
                by,
                source: if counts_as_default {
                    "illustrative"
                } else {
                    "measured"
                },
            });
        }
        let mut not_applicable: Vec<Technique> = self
            .techniques
            .iter()
            .copied()
            .filter(|t| !defs.iter().any(|d| d.effects.iter().any(|(e, _)| e == t)))
            .collect();
        not_applicable.sort_unstable();
        not_applicable.dedup();
        let baseline_total: i64 = stages.iter().map(|s| s.baseline_ns).sum();
        let total: i64 = stages.iter().map(|s| s.cost_ns).sum();
        Ok(Budget {
            path,
            baseline_total_ns: baseline_total,
            total_ns: total,
            saved_ns: baseline_total - total,
            stages,
            illustrative,
            not_applicable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(path: Path, techniques: &[Technique], overrides: &[(&str, i64)]) -> Budget {
        BudgetInput {
            path: Some(path),
            techniques: techniques.to_vec(),
            overrides: overrides.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
        .evaluate()
        .unwrap()
    }

    #[test]
    fn baselines_sum_by_hand() {
        // tx: 90+220+80+110+40+300+60+250+80 = 1230; rx: 200+140+170+260+90+30 = 890.
        let tx = budget(Path::Tx, &[], &[]);
        assert_eq!((tx.baseline_total_ns, tx.total_ns), (1230, 1230));
        assert!(tx.illustrative);
        let rx = budget(Path::Rx, &[], &[]);
        assert_eq!((rx.baseline_total_ns, rx.total_ns), (890, 890));
    }

    #[test]
    fn techniques_by_hand() {
        use Technique::*;
        // Bypass removes 90+220+80+110 = 500: 730 left.
        assert_eq!(budget(Path::Tx, &[KernelBypass], &[]).total_ns, 730);
        // + TX_PUSH removes the 300 ns descriptor read: 430.
        assert_eq!(budget(Path::Tx, &[KernelBypass, TxPush], &[]).total_ns, 430);
        // + CTPIO: the 250 ns DMA becomes 35 ns: 40 + 60 + 35 + 80 = 215.
        let all = budget(Path::Tx, &[KernelBypass, TxPush, Ctpio], &[]);
        assert_eq!((all.total_ns, all.saved_ns), (215, 1015));
        // rx busy-poll removes 140+170+260 = 570: 320; + bypass removes 90: 230.
        assert_eq!(budget(Path::Rx, &[BusyPoll], &[]).total_ns, 320);
        let rx = budget(Path::Rx, &[BusyPoll, KernelBypass, TxPush], &[]);
        assert_eq!(rx.total_ns, 230);
        assert_eq!(rx.not_applicable, vec![TxPush]);
    }

    #[test]
    fn overrides_replace_defaults() {
        // Measured coalescing wait of 25 µs dominates; busy-poll removes it.
        let rx = budget(Path::Rx, &[], &[("coalescing", 25_000)]);
        assert_eq!(rx.total_ns, 25_890);
        assert_eq!(
            budget(Path::Rx, &[Technique::BusyPoll], &[("coalescing", 25_000)]).total_ns,
            320
        );
        let tx = budget(Path::Tx, &[Technique::Ctpio], &[("ctpio-first-bytes", 8)]);
        assert_eq!(tx.total_ns, 1230 - 300 - 250 + 8);
        let err = BudgetInput {
            path: Some(Path::Rx),
            techniques: vec![],
            overrides: vec![("doorbell".into(), 1)],
        }
        .evaluate()
        .unwrap_err();
        assert!(err.to_string().contains("doorbell"));
    }
}
