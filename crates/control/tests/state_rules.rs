//! SPEC §6 transition rules on hand-made tick tables, and properties over random ones.
#![allow(clippy::field_reassign_with_default)] // tests tweak one key of the defaults
#![allow(clippy::unwrap_used)]

use coalescope_control::state::{run, State, TickInput, TickMetrics};
use coalescope_control::ControlConfig;
use proptest::prelude::*;

const T: i64 = 100_000_000; // 100 ms ticks

fn m(bdc: Option<f64>, dbc: Option<f64>, cte: Option<f64>, dccd: Option<f64>) -> TickMetrics {
    TickMetrics {
        bdc_excess: bdc,
        dbc_excess: dbc,
        cte,
        dccd,
    }
}

const CLEAN: TickMetrics = TickMetrics {
    bdc_excess: Some(0.0),
    dbc_excess: Some(0.0),
    cte: Some(0.0),
    dccd: Some(0.0),
};

/// Ticks k = 0, 1, ... at k * T.
fn table(ms: &[TickMetrics]) -> Vec<TickInput> {
    ms.iter()
        .enumerate()
        .map(|(k, m)| TickInput {
            scope: "S".into(),
            t_tick_ns: k as i64 * T,
            metrics: *m,
        })
        .collect()
}

fn states_and_reasons(ms: &[TickMetrics]) -> Vec<(State, String)> {
    run(&table(ms), &ControlConfig::default())
        .into_iter()
        .map(|r| (r.state, r.reason.to_string()))
        .collect()
}

#[test]
fn escalation_is_immediate_and_names_the_predicate() {
    let r = states_and_reasons(&[
        CLEAN,
        m(Some(0.0), Some(0.2), Some(1.5), Some(0.0)),
        m(Some(0.0), Some(0.2), Some(1.5), Some(0.06)),
    ]);
    assert_eq!(r[0], (State::FlowClean, "hold".to_string()));
    assert_eq!(
        r[1],
        (
            State::PhaseLocked,
            "enter:phase_locked(dbc_excess>=0.1,cte>=1)".to_string()
        )
    );
    // One tick later, within min_dwell: escalation does not wait for the dwell.
    assert_eq!(
        r[2],
        (
            State::SafePacing,
            "enter:safe_pacing(dccd>=0.05)".to_string()
        )
    );
    // Straight from 0 to 1.
    let r = states_and_reasons(&[m(Some(0.01), Some(0.0), Some(0.0), None)]);
    assert_eq!(
        r[0],
        (
            State::DeliveryClustered,
            "enter:delivery_clustered(bdc_excess>=0.01,cte>=0)".to_string()
        )
    );
}

#[test]
fn min_dwell_holds_a_state_then_exit() {
    // Enter PHASE_LOCKED at tick 1 (t = 0.1 s); from tick 2 every predicate is false.
    // min_dwell 2 s: ticks 2..=20 (t <= 2.0 s, held < 2 s) dwell; tick 21 (t = 2.1 s,
    // held exactly 2 s) exits to FLOW_CLEAN.
    let mut ms = vec![CLEAN, m(Some(0.0), Some(0.2), Some(1.5), Some(0.0))];
    ms.extend(std::iter::repeat_n(CLEAN, 22));
    let r = states_and_reasons(&ms);
    for (k, row) in r.iter().enumerate().take(21).skip(2) {
        assert_eq!(*row, (State::PhaseLocked, "dwell".to_string()), "tick {k}");
    }
    assert_eq!(
        r[21],
        (
            State::FlowClean,
            "exit:min_dwell_elapsed(PHASE_LOCKED->FLOW_CLEAN)".to_string()
        )
    );
    assert_eq!(r[22], (State::FlowClean, "hold".to_string()));
    // A shorter min_dwell exits sooner: 500 ms -> tick 6 (held 0.5 s).
    let mut c = ControlConfig::default();
    c.min_dwell_ns = 500_000_000;
    let rows = run(&table(&ms), &c);
    assert_eq!(rows[5].state, State::PhaseLocked);
    assert_eq!(rows[6].state, State::FlowClean);
}

#[test]
fn hold_uses_exit_values() {
    // Enter level 1 with bdc_excess 0.02; 0.006 is below E = 0.01 but at least
    // X = 0.005: held far past min_dwell. 0.004 then exits (dwell long elapsed).
    let mut ms = vec![m(Some(0.02), None, None, None)];
    ms.extend(std::iter::repeat_n(m(Some(0.006), None, None, None), 40));
    ms.push(m(Some(0.004), None, None, None));
    let r = states_and_reasons(&ms);
    assert!(r[1..41]
        .iter()
        .all(|x| *x == (State::DeliveryClustered, "hold".to_string())));
    assert_eq!(r[41].0, State::FlowClean);
    // cte below X_cte_mild = -0.5 breaks the hold too.
    let mut ms = vec![m(Some(0.02), None, None, None)];
    ms.extend(std::iter::repeat_n(
        m(Some(0.02), None, Some(-0.4), None),
        25,
    ));
    ms.push(m(Some(0.02), None, Some(-0.6), None));
    let r = states_and_reasons(&ms);
    assert_eq!(r[25].0, State::DeliveryClustered);
    assert_eq!(r[26].0, State::FlowClean);
}

#[test]
fn deescalation_goes_to_the_highest_held_level_below() {
    // SAFE_PACING by dccd; then dccd 0.01 (< X 0.02: level 3 not held), dbc_excess 0.06
    // (>= X 0.05, < E 0.10: level 2 held, not entered), bdc_excess 0.007 (level 1
    // held), cte undefined (true for levels 1-2).
    let mut ms = vec![m(Some(0.0), Some(0.0), None, Some(0.06))];
    ms.extend(std::iter::repeat_n(
        m(Some(0.007), Some(0.06), None, Some(0.01)),
        25,
    ));
    let r = states_and_reasons(&ms);
    assert_eq!(r[0].0, State::SafePacing);
    assert_eq!(r[19], (State::SafePacing, "dwell".to_string()));
    assert_eq!(
        r[20],
        (
            State::PhaseLocked,
            "exit:min_dwell_elapsed(SAFE_PACING->PHASE_LOCKED)".to_string()
        )
    );
    assert_eq!(r[21], (State::PhaseLocked, "hold".to_string()));
    // Without the level-2 hold it lands on level 1.
    let mut ms = vec![m(Some(0.0), Some(0.0), None, Some(0.06))];
    ms.extend(std::iter::repeat_n(
        m(Some(0.007), Some(0.04), None, Some(0.01)),
        25,
    ));
    let r = states_and_reasons(&ms);
    assert_eq!(r[20].0, State::DeliveryClustered);
}

#[test]
fn cte_high_must_be_sustained() {
    let hi = m(None, None, Some(3.5), None);
    let mid = m(None, None, Some(2.9), None);
    let r = states_and_reasons(&[hi, hi, mid, hi, hi, hi, mid]);
    let s: Vec<State> = r.iter().map(|x| x.0).collect();
    assert_eq!(
        s[..6],
        [
            State::FlowClean,
            State::FlowClean,
            State::FlowClean,
            State::FlowClean,
            State::FlowClean,
            State::SafePacing
        ]
    );
    assert_eq!(r[5].1, "enter:safe_pacing(cte>=3x3)");
    // cte 2.9 >= X 2 holds level 3 (no sustain for holding).
    assert_eq!(r[6], (State::SafePacing, "hold".to_string()));
    // sustain = 1 enters on the first tick.
    let mut c = ControlConfig::default();
    c.sustain = 1;
    assert_eq!(run(&table(&[hi]), &c)[0].state, State::SafePacing);
}

#[test]
fn dccd_breach_at_the_enter_value() {
    let r = states_and_reasons(&[
        m(None, None, None, Some(0.0499)),
        m(None, None, None, Some(0.05)),
    ]);
    assert_eq!(r[0].0, State::FlowClean);
    assert_eq!(r[1].0, State::SafePacing);
}

#[test]
fn undefined_cte_is_true_for_levels_1_and_2_false_for_3() {
    // Levels 1 and 2 enter with cte undefined ...
    let r = states_and_reasons(&[
        m(Some(0.02), None, None, None),
        m(None, Some(0.2), None, None),
    ]);
    assert_eq!(r[0].0, State::DeliveryClustered);
    assert_eq!(r[1].0, State::PhaseLocked);
    // ... but not with a defined cte below the enter value.
    let r = states_and_reasons(&[m(Some(0.02), Some(0.2), Some(-0.1), None)]);
    assert_eq!(r[0].0, State::FlowClean);
    // Level 3: undefined cte never counts towards sustain ...
    let hi = m(None, None, Some(3.5), None);
    let un = m(None, None, None, None);
    let r = states_and_reasons(&[hi, hi, un, hi, hi]);
    assert!(r.iter().all(|x| x.0 == State::FlowClean));
    // ... and does not hold level 3: after the dwell it exits.
    let mut ms = vec![hi, hi, hi];
    ms.extend(std::iter::repeat_n(un, 21));
    let r = states_and_reasons(&ms);
    assert_eq!(r[2].0, State::SafePacing);
    assert_eq!(r[3], (State::SafePacing, "dwell".to_string()));
    assert_eq!(r[21].0, State::SafePacing);
    assert_eq!(r[22].0, State::FlowClean); // held 2.0 s at t = 2.2 s
}

#[test]
fn guard_columns_follow_dccd() {
    let rows = run(
        &table(&[m(None, None, None, Some(0.035)), m(None, None, None, None)]),
        &ControlConfig::default(),
    );
    assert!((rows[0].guard_weight - 0.5).abs() < 1e-12 && rows[0].fallback);
    assert_eq!((rows[1].guard_weight, rows[1].fallback), (1.0, false));
}

#[test]
fn scopes_are_independent() {
    let ticks = vec![
        TickInput {
            scope: "A".into(),
            t_tick_ns: 0,
            metrics: m(None, None, None, Some(0.1)),
        },
        TickInput {
            scope: "B".into(),
            t_tick_ns: 0,
            metrics: CLEAN,
        },
        TickInput {
            scope: "A".into(),
            t_tick_ns: T,
            metrics: CLEAN,
        },
    ];
    let r = run(&ticks, &ControlConfig::default());
    assert_eq!(
        r.iter().map(|x| x.state).collect::<Vec<_>>(),
        vec![State::SafePacing, State::FlowClean, State::SafePacing]
    );
}

fn opt(range: std::ops::Range<f64>) -> impl Strategy<Value = Option<f64>> {
    prop_oneof![1 => Just(None), 4 => range.prop_map(Some)]
}

/// Independent computation of the enter level with a sustain counter.
fn enter_level(c: &ControlConfig, m: &TickMetrics, run: u32) -> u8 {
    let ge = |v: Option<f64>, t: f64| v.is_some_and(|x| x >= t);
    let cte12 = |t: f64| m.cte.is_none_or(|x| x >= t);
    if run >= c.sustain || ge(m.dccd, c.dccd.enter) {
        3
    } else if ge(m.dbc_excess, c.dbc.enter) && cte12(c.cte_adverse.enter) {
        2
    } else if ge(m.bdc_excess, c.bdc.enter) && cte12(c.cte_mild.enter) {
        1
    } else {
        0
    }
}

proptest! {
    #[test]
    fn never_below_target_never_early_exit(
        ms in prop::collection::vec(
            (opt(0.0..0.03), opt(0.0..0.2), opt(-1.0..5.0), opt(0.0..0.08))
                .prop_map(|(a, b, c, d)| m(a, b, c, d)),
            1..300,
        ),
        dwell_ticks in 0i64..30,
        sustain in 1u32..5,
    ) {
        let mut c = ControlConfig::default();
        c.min_dwell_ns = dwell_ticks * T;
        c.sustain = sustain;
        let rows = run(&table(&ms), &c);
        let mut cte_run = 0u32;
        let mut prev = State::FlowClean;
        let mut since = 0i64;
        for (k, (row, mm)) in rows.iter().zip(&ms).enumerate() {
            cte_run = if mm.cte.is_some_and(|x| x >= c.cte_high.enter) { cte_run + 1 } else { 0 };
            let target = enter_level(&c, mm, cte_run);
            let t = k as i64 * T;
            // Never stays below the highest entered level.
            prop_assert!(row.state.level() >= target, "tick {k}: {:?} < target {target}", row.state);
            if row.state < prev {
                // Never de-escalates before min_dwell.
                prop_assert!(t - since >= c.min_dwell_ns, "tick {k}: exit after {}ns", t - since);
            }
            if row.state != prev {
                since = t;
            }
            prev = row.state;
        }
    }
}
