//! Issue 11: `coalescope control run` (tick table -> state table + timeline summary) and
//! `coalescope control canary-ids`.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Output;

use support::{bin, tempdir};

fn control(args: &[&str]) -> Output {
    bin().arg("control").args(args).output().unwrap()
}

/// Scope A: clean, PHASE_LOCKED at 0.1 s, below every exit value from 0.2 s; scope B:
/// a DCCD breach at 0 then clean. Extra column and undefined cells included.
const TICKS: &str = "scope,t_tick_ns,bdc,bdc_excess,dbc_excess,cte,dccd\n\
A,0,0.1,0,0,0,0\n\
B,0,0.1,,,,0.06\n\
A,100000000,0.3,0,0.2,1.5,0\n\
B,100000000,0.1,,,,0\n\
A,200000000,0.1,0,0,0,0\n\
A,2100000000,0.1,0,0,0,0\n\
A,2200000000,0.1,0,0,0,0.035\n";

#[test]
fn run_writes_the_state_table_and_prints_the_timeline() {
    let dir = tempdir("control", "run");
    let ticks = dir.join("ticks.csv");
    std::fs::write(&ticks, TICKS).unwrap();
    let out = dir.join("states.csv");
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let states = std::fs::read_to_string(&out).unwrap();
    // Guard at dccd 0.035: (0.05 - 0.035) / (0.05 - 0.02) = 0.5 up to rounding (f64).
    assert_eq!(
        states,
        "scope,t_tick_ns,state,reason,guard_weight,fallback\n\
A,0,FLOW_CLEAN,hold,1,false\n\
B,0,SAFE_PACING,enter:safe_pacing(dccd>=0.05),0,true\n\
A,100000000,PHASE_LOCKED,\"enter:phase_locked(dbc_excess>=0.1,cte>=1)\",1,false\n\
B,100000000,SAFE_PACING,dwell,1,false\n\
A,200000000,PHASE_LOCKED,dwell,1,false\n\
A,2100000000,FLOW_CLEAN,exit:min_dwell_elapsed(PHASE_LOCKED->FLOW_CLEAN),1,false\n\
A,2200000000,FLOW_CLEAN,hold,0.49999999999999994,true\n"
    );
    let text = String::from_utf8(o.stdout).unwrap();
    // A: FLOW_CLEAN 0-0.1 s and 2.1-2.2 s = 0.2 s; PHASE_LOCKED 0.1-2.1 s = 2 s.
    assert!(
        text.contains(
            "A: 5 ticks; FLOW_CLEAN 200.000ms, DELIVERY_CLUSTERED 0ns, PHASE_LOCKED 2.000s, SAFE_PACING 0ns; 2 transitions"
        ),
        "{text}"
    );
    assert!(
        text.contains("  t_tick_ns=2100000000: PHASE_LOCKED -> FLOW_CLEAN"),
        "{text}"
    );
    assert!(text.contains("B: 2 ticks;"), "{text}");
    // Flags override thresholds: with e_dbc 0.3, A never leaves FLOW_CLEAN ...
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "--e-dbc",
        "0.3",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let states = std::fs::read_to_string(&out).unwrap();
    assert!(!states.contains("A,100000000,PHASE_LOCKED"), "{states}");
    // ... --min-dwell 50ms lets A exit at 0.2 s, and a config file is read.
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, "min_dwell = \"50ms\"\n").unwrap();
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("A,200000000,FLOW_CLEAN,exit:"));
}

#[test]
fn run_errors_name_the_problem() {
    let dir = tempdir("control", "errors");
    let ticks = dir.join("ticks.csv");
    std::fs::write(
        &ticks,
        "scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd\nA,0,,,,\nA,1,,x,,\n",
    )
    .unwrap();
    let out = dir.join("s.csv");
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 3: column 'dbc_excess': 'x' is not a finite number"),
        "{err}"
    );
    std::fs::write(&ticks, "scope,t_tick_ns\nA,0\n").unwrap();
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("column 'bdc_excess': missing column"));
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "--x-bdc",
        "0.5",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("x_bdc"));
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, "e_bdcc = 1\n").unwrap();
    let o = control(&[
        "run",
        "--ticks",
        ticks.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("e_bdcc"));
}

#[test]
fn canary_ids_lists_the_splitmix64_selection() {
    let dir = tempdir("control", "canary");
    let parents = dir.join("parents.csv");
    let mut text = String::from("parent_id,strategy,symbol,side,qty,t_start_ns,t_deadline_ns\n");
    for id in 1..=40 {
        text.push_str(&format!("{id},twap,X,1,100,0,4000000\n"));
    }
    std::fs::write(&parents, text).unwrap();
    // h(id) mod 10000 < 1000 for ids 6, 12, 23, 29, 32, 34, 40 (python reference in the
    // control crate's canary tests).
    let o = control(&["canary-ids", "--parents", parents.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "6\n12\n23\n29\n32\n34\n40\n"
    );
    // id 1: h mod 10000 = 2465, in at 0.24651, out at 0.2465.
    let o = control(&[
        "canary-ids",
        "--parents",
        parents.to_str().unwrap(),
        "--fraction",
        "0.24651",
    ]);
    assert!(String::from_utf8(o.stdout).unwrap().starts_with("1\n"));
    let o = control(&[
        "canary-ids",
        "--parents",
        parents.to_str().unwrap(),
        "--fraction",
        "0.2465",
    ]);
    assert!(!String::from_utf8(o.stdout).unwrap().starts_with("1\n"));
    let o = control(&[
        "canary-ids",
        "--parents",
        parents.to_str().unwrap(),
        "--fraction",
        "1.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'1.5'"));
}
