//! Pollaczek-Khinchine against the textbook M/M/1 and M/D/1 results.

use coalescope_model::queueing::mg1_mean_wait_ns;
use coalescope_model::ModelError;

#[test]
fn mm1_and_md1() {
    // λ = 1e5/s = 1e-4 /ns, E[S] = 5000 ns: ρ = 0.5, μ = 2e-4 /ns.
    // M/M/1: E[S²] = 2/μ² = 5e7 ns², W_q = ρ/(μ-λ) = 0.5/1e-4 = 5000 ns.
    let mm1 = mg1_mean_wait_ns(1e5, 5_000.0, 5e7).unwrap();
    assert!((mm1 - 5_000.0).abs() < 1e-9, "{mm1}");
    // M/D/1: E[S²] = E[S]² = 2.5e7: half of M/M/1.
    let md1 = mg1_mean_wait_ns(1e5, 5_000.0, 2.5e7).unwrap();
    assert!((md1 - 2_500.0).abs() < 1e-9, "{md1}");
    // ρ = 0.9: M/M/1 W_q = 0.9 / (μ - λ) with μ = 1/1000 /ns, λ = 9e-4 /ns: 9000 ns.
    let busy = mg1_mean_wait_ns(9e5, 1_000.0, 2e6).unwrap();
    assert!((busy - 9_000.0).abs() < 1e-6, "{busy}");
}

#[test]
fn unstable_at_and_above_one() {
    for rate in [2e5, 3e5] {
        match mg1_mean_wait_ns(rate, 5_000.0, 5e7) {
            Err(ModelError::Unstable { rho }) => assert!(rho >= 1.0),
            other => panic!("expected unstable, got {other:?}"),
        }
    }
}

#[test]
fn rejects_bad_moments() {
    let err = mg1_mean_wait_ns(1e5, 5_000.0, 1e7).unwrap_err();
    assert!(
        err.to_string().contains("service_second_moment_ns2"),
        "{err}"
    );
    let err = mg1_mean_wait_ns(-1.0, 5_000.0, 5e7).unwrap_err();
    assert!(err.to_string().contains("arrival_rate_per_s"), "{err}");
    let err = mg1_mean_wait_ns(1e5, f64::NAN, 5e7).unwrap_err();
    assert!(err.to_string().contains("service_mean_ns"), "{err}");
}
