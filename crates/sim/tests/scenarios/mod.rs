//! Scenario texts shared by the sim test binaries (pinned fingerprints and the
//! streaming-vs-records checks run the same scenarios).

/// Deferral over ethtool (rx-usecs 10, 50 µs gro_flush_timeout, 2 deferred polls) on the
/// realistic host.
pub const DEFERRAL: &str = r#"
seed = 11
packets = 50000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 20000 }
[nic]
policy = "deferral"
rx_usecs = 10
gro_flush_timeout_ns = 50000
napi_defer_hard_irqs = 2
[host]
preset = "realistic"
"#;

/// Busy-poll at 300 k packets/s.
pub const BUSY_POLL: &str = r#"
seed = 9
packets = 50000
[[stream]]
name = "md"
arrivals = { kind = "poisson", rate_per_s = 300000 }
[host]
preset = "realistic"
busy_poll = true
"#;
