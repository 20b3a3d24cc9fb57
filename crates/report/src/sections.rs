//! One function per report section: a plot from the inputs, or a note naming the command
//! that writes the missing file. Each returns the section's HTML and the number of charts
//! with data marks it drew.

use std::collections::BTreeMap;

use crate::html::escape;
use crate::inputs::{self, Analysis, Distribution, Replay, StateRow, Tune};
use crate::svg::{color, duration_ns, percent, plain, Chart, Scale};

/// A section's HTML and its charts with data.
pub struct Section {
    /// HTML (an `<section>` element).
    pub html: String,
    /// Charts with at least one data mark.
    pub charts: usize,
}

fn section(id: &str, title: &str, body: &str, charts: usize) -> Section {
    Section {
        html: format!(
            "<section id=\"{id}\"><h2>{}</h2>\n{body}</section>\n",
            escape(title)
        ),
        charts,
    }
}

fn missing(id: &str, title: &str, file: &str, command: &str) -> Section {
    section(
        id,
        title,
        &format!(
            "<p class=\"missing\">No <code>{}</code> in the directory: <code>{}</code> writes it.</p>\n",
            escape(file),
            escape(command)
        ),
        0,
    )
}

fn empty(id: &str, title: &str, why: &str) -> Section {
    section(
        id,
        title,
        &format!("<p class=\"missing\">{}</p>\n", escape(why)),
        0,
    )
}

/// Append a chart when it has data marks; returns 1 when appended.
fn push_chart(body: &mut String, chart: Chart) -> usize {
    if chart.marks_drawn() == 0 {
        return 0;
    }
    body.push_str(&chart.finish());
    1
}

fn group_name(stream: &Option<String>, symbol: &Option<String>, venue: &Option<String>) -> String {
    let parts: Vec<&str> = [stream, symbol, venue]
        .iter()
        .filter_map(|v| v.as_deref())
        .filter(|v| *v != "*")
        .collect();
    if parts.is_empty() {
        "all md".to_string()
    } else {
        parts.join("/")
    }
}

/// Delivery-delay CDF per setting (replay).
pub fn delay_cdf(replay: Option<&Replay>) -> Section {
    let (id, title) = ("delay-cdf", "Delivery delay CDF per setting");
    let Some(r) = replay else {
        return missing(id, title, inputs::REPLAY, "coalescope replay --out DIR");
    };
    let values = r
        .delay_cdf
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.value_ns as f64));
    let mut c = Chart::new(
        title,
        Scale::log_over(values),
        "delivery delay t_app - t_ingress (log scale)",
        Scale::Linear { min: 0.0, max: 1.0 },
        "share of md events <= delay",
    )
    .formats(duration_ns, percent);
    for (i, s) in r.delay_cdf.iter().enumerate() {
        // A step CDF: each point holds until the next value.
        let mut pts = Vec::with_capacity(2 * s.points.len());
        let mut prev_p = 0.0;
        for p in &s.points {
            let x = (p.value_ns as f64).max(1.0);
            pts.push((x, prev_p));
            pts.push((x, p.p));
            prev_p = p.p;
        }
        c.line(&pts, color(i), false);
        c.legend(&s.setting, color(i));
    }
    let mut body = String::new();
    let n = push_chart(&mut body, c);
    if n == 0 {
        return empty(id, title, "replay.json holds no delay CDF points.");
    }
    section(id, title, &body, n)
}

/// Ingress vs app gap histograms per md group (log-scaled gap axis).
pub fn gap_histograms(dist: Option<&[Distribution]>) -> Section {
    let (id, title) = ("gaps", "Inter-arrival gaps: ingress vs app");
    let Some(groups) = dist else {
        return missing(
            id,
            title,
            inputs::DISTRIBUTIONS,
            "coalescope analyze --out-dir DIR (or desk --out DIR, demo)",
        );
    };
    let mut body = String::from(
        "<p>Gaps between consecutive md events on power-of-two bins; app gaps piling up at the \
         left of the ingress ones are updates handed over back to back (coalescing).</p>\n",
    );
    let mut n = 0;
    for g in groups {
        let name = group_name(&g.stream, &g.symbol, &g.venue);
        let edges = g
            .ingress_gaps
            .iter()
            .chain(&g.app_gaps)
            .flat_map(|b| [b.lo_ns as f64, b.hi_ns as f64]);
        let total = |bins: &[inputs::GapBin], zero: u64| -> f64 {
            (bins.iter().map(|b| b.count).sum::<u64>() + zero).max(1) as f64
        };
        let (ti, ta) = (
            total(&g.ingress_gaps, g.ingress_zero_gaps),
            total(&g.app_gaps, g.app_zero_gaps),
        );
        let shares = g
            .ingress_gaps
            .iter()
            .map(|b| b.count as f64 / ti)
            .chain(g.app_gaps.iter().map(|b| b.count as f64 / ta));
        let mut c = Chart::new(
            &format!("Gap histogram, {name}"),
            Scale::log_over(edges),
            "gap between consecutive md events (log scale)",
            Scale::linear_over(shares, true),
            "share of gaps",
        )
        .formats(duration_ns, percent);
        for (k, (bins, tot, label)) in [
            (&g.ingress_gaps, ti, "ingress (t_ingress)"),
            (&g.app_gaps, ta, "app (t_app)"),
        ]
        .into_iter()
        .enumerate()
        {
            for b in bins.iter().filter(|b| b.count > 0) {
                // Each bin is split in two halves on the log axis: ingress left, app right.
                let (lo, hi) = (b.lo_ns as f64, b.hi_ns as f64);
                let mid = (lo * hi).sqrt();
                let (x0, x1) = if k == 0 { (lo, mid) } else { (mid, hi) };
                c.rect(
                    x0,
                    x1,
                    0.0,
                    b.count as f64 / tot,
                    color(k),
                    &format!(
                        "{label} [{}, {}): {} gaps",
                        duration_ns(lo),
                        duration_ns(hi),
                        b.count
                    ),
                );
            }
            c.legend(label, color(k));
        }
        body.push_str(&format!(
            "<p>{}: zero gaps (same instant) ingress {}, app {}.</p>\n",
            escape(&name),
            g.ingress_zero_gaps,
            g.app_zero_gaps
        ));
        n += push_chart(&mut body, c);
    }
    if n == 0 {
        return empty(id, title, "distributions.json holds no gaps.");
    }
    section(id, title, &body, n)
}

/// BDC per interval over time, high intervals marked.
pub fn bdc_over_time(dist: Option<&[Distribution]>) -> Section {
    let (id, title) = ("bdc", "BDC per interval over time");
    let Some(groups) = dist else {
        return missing(
            id,
            title,
            inputs::DISTRIBUTIONS,
            "coalescope analyze --out-dir DIR (or desk --out DIR, demo)",
        );
    };
    let mut body = String::new();
    let mut n = 0;
    for g in groups {
        let name = group_name(&g.stream, &g.symbol, &g.venue);
        let pts: Vec<(f64, f64, bool)> = g
            .intervals
            .iter()
            .filter_map(|i| {
                i.bdc
                    .map(|b| (i.interval_start_ns as f64 / 1e9, b, i.high == Some(true)))
            })
            .collect();
        let mut c = Chart::new(
            &format!("BDC per interval, {name}"),
            Scale::linear_over(pts.iter().map(|p| p.0), false),
            "interval start (s)",
            Scale::linear_over(pts.iter().map(|p| p.1).chain(g.bdc_threshold), true),
            "BDC",
        )
        .formats(plain, plain);
        let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
        c.line(&line, color(0), false);
        c.legend("BDC", color(0));
        let high = pts.iter().filter(|p| p.2).count();
        for p in pts.iter().filter(|p| p.2) {
            c.dot(
                p.0,
                p.1,
                3.5,
                color(1),
                &format!("high BDC {:.3} at {:.3} s", p.1, p.0),
            );
        }
        if high > 0 {
            c.legend("high-BDC interval", color(1));
        }
        if let Some(t) = g.bdc_threshold {
            c.hline(t, "#555", &format!("threshold {t:.3}"));
        }
        body.push_str(&format!(
            "<p>{}: {} intervals, {} above the threshold.</p>\n",
            escape(&name),
            line.len(),
            high
        ));
        n += push_chart(&mut body, c);
    }
    if n == 0 {
        return empty(
            id,
            title,
            "distributions.json holds no interval with a BDC.",
        );
    }
    section(id, title, &body, n)
}

/// Bars: one category per label, one bar per series within it.
fn grouped_bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(&str, Vec<Option<f64>>)],
) -> Chart {
    let values = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let mut c = Chart::new(
        title,
        Scale::Linear {
            min: 0.0,
            max: categories.len().max(1) as f64,
        },
        "",
        Scale::linear_over(values, true),
        y_label,
    )
    .formats(|_| String::new(), plain);
    let width = 0.8 / series.len().max(1) as f64;
    for (k, (name, vals)) in series.iter().enumerate() {
        for (i, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                let x0 = i as f64 + 0.1 + k as f64 * width;
                c.rect(
                    x0,
                    x0 + width,
                    0.0,
                    *v,
                    color(k),
                    &format!("{}: {name} = {v:.4}", categories[i]),
                );
            }
        }
        c.legend(name, color(k));
    }
    c
}

/// Category names under grouped bars (HTML list, since SVG text would crowd).
fn category_list(categories: &[String]) -> String {
    let items: Vec<String> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| format!("<li>{}: {}</li>", i + 1, escape(c)))
        .collect();
    format!("<ol class=\"cats\">{}</ol>\n", items.join(""))
}

/// DBC and CTE per group (analysis).
pub fn dbc_cte(analysis: Option<&Analysis>) -> Section {
    let (id, title) = ("dbc-cte", "DBC and CTE per group");
    let Some(a) = analysis else {
        return missing(
            id,
            title,
            inputs::ANALYSIS,
            "coalescope analyze --out-dir DIR (with --orders and --fills), desk --out DIR or demo",
        );
    };
    let mut body = String::new();
    let mut n = 0;
    let cats: Vec<String> = a
        .coupling
        .iter()
        .map(|c| {
            format!(
                "{} x {}",
                group_name(&c.stream, &c.symbol, &c.venue),
                c.strategy.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let dbc = grouped_bars(
        "DBC per (md group, strategy), categories left to right",
        "decision-burst coupling",
        &cats,
        &[
            ("DBC (app)", a.coupling.iter().map(|c| c.dbc).collect()),
            (
                "DBC (ingress)",
                a.coupling.iter().map(|c| c.dbc_ingress).collect(),
            ),
            (
                "DBC excess",
                a.coupling.iter().map(|c| c.dbc_excess).collect(),
            ),
        ],
    );
    let k = push_chart(&mut body, dbc);
    if k > 0 {
        body.push_str(&category_list(&cats));
    }
    n += k;
    let cost_cats: Vec<String> = a
        .cost
        .iter()
        .map(|c| {
            format!(
                "{} on {}",
                c.strategy.as_deref().unwrap_or("-"),
                group_name(&None, &c.symbol, &c.venue)
            )
        })
        .collect();
    let mut horizons: Vec<String> = Vec::new();
    for c in &a.cost {
        for (h, _) in c.cte() {
            if !horizons.contains(&h) {
                horizons.push(h);
            }
        }
    }
    let series: Vec<(String, Vec<Option<f64>>)> = horizons
        .iter()
        .map(|h| {
            let vals = a
                .cost
                .iter()
                .map(|c| {
                    c.cte()
                        .into_iter()
                        .find(|(k, _)| k == h)
                        .and_then(|(_, v)| v)
                })
                .collect();
            (format!("CTE at {h}"), vals)
        })
        .collect();
    let series_ref: Vec<(&str, Vec<Option<f64>>)> = series
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let cte = grouped_bars(
        "CTE per (strategy, symbol, venue), categories left to right",
        "coalescing tax estimate (bps)",
        &cost_cats,
        &series_ref,
    );
    let k = push_chart(&mut body, cte);
    if k > 0 {
        body.push_str(&category_list(&cost_cats));
    }
    n += k;
    if n == 0 {
        return empty(
            id,
            title,
            "analysis.json has no defined DBC or CTE (they need orders and fills).",
        );
    }
    section(id, title, &body, n)
}

/// Branch probabilities and cost per branch (analysis with parents).
pub fn branches(analysis: Option<&Analysis>) -> Section {
    let (id, title) = ("branches", "Branches: probability and cost");
    let Some(b) = analysis.and_then(|a| a.branches.as_ref()) else {
        return missing(
            id,
            title,
            "analysis.json with branches",
            "coalescope analyze --out-dir DIR --parents FILE (or desk --out DIR, demo)",
        );
    };
    let o = &b.overall;
    let cats = vec![
        "TIMELY".to_string(),
        "BURST-SYNC".to_string(),
        "LATE-RECOVERY".to_string(),
    ];
    let stats = [&o.timely, &o.burst_sync, &o.late_recovery];
    let mut body = format!(
        "<p>{} parents classified; E[C] = {} bps.</p>\n",
        o.n,
        o.expected_cost_bps
            .map_or_else(|| "undefined".to_string(), |v| format!("{v:.3}"))
    );
    let p = grouped_bars(
        "Branch probability (TIMELY, BURST-SYNC, LATE-RECOVERY)",
        "probability",
        &cats,
        &[("p", stats.iter().map(|s| s.p).collect())],
    );
    let c = grouped_bars(
        "Mean cost per branch (TIMELY, BURST-SYNC, LATE-RECOVERY)",
        "mean cost C (bps)",
        &cats,
        &[("mean cost", stats.iter().map(|s| s.cost_mean_bps).collect())],
    );
    let n = push_chart(&mut body, p) + push_chart(&mut body, c);
    if n == 0 {
        return empty(id, title, "No parent has a branch and a defined cost.");
    }
    body.push_str(&category_list(&cats));
    section(id, title, &body, n)
}

/// The controller's state timeline: from the state table when given, else from the
/// transitions of a replay arm.
pub fn states(states: Option<&[StateRow]>, replay: Option<&Replay>) -> Section {
    let (id, title) = ("states", "Controller state timeline");
    const LEVELS: [&str; 4] = [
        "FLOW_CLEAN",
        "DELIVERY_CLUSTERED",
        "PHASE_LOCKED",
        "SAFE_PACING",
    ];
    let level = |s: &str| {
        LEVELS
            .iter()
            .position(|l| *l == s)
            .map_or(-1.0, |i| i as f64)
    };
    // scope -> (t, level) steps.
    let mut by_scope: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let source;
    let mut shares = String::new();
    if let Some(rows) = states {
        source = "states.csv";
        for r in rows {
            by_scope
                .entry(r.scope.clone())
                .or_default()
                .push((r.t_tick_ns as f64 / 1e9, level(&r.state)));
        }
    } else if let Some(arm) = replay.and_then(|r| r.shadow.as_ref().or(r.canary.as_ref())) {
        source = "replay.json";
        for tr in &arm.timeline.transitions {
            let steps = by_scope.entry(tr.scope.clone()).or_default();
            let t = tr.t_tick_ns as f64 / 1e9;
            if steps.is_empty() {
                steps.push((t, level(&tr.from)));
            }
            steps.push((t, level(&tr.to)));
        }
        let parts: Vec<String> = arm
            .timeline
            .states
            .iter()
            .map(|s| format!("{} {:.1}%", escape(&s.state), 100.0 * s.share))
            .collect();
        shares = format!(
            "<p>Setting {}: {} scope-ticks; time per state: {}.</p>\n",
            escape(&arm.setting),
            arm.timeline.ticks,
            parts.join(", ")
        );
    } else {
        return missing(
            id,
            title,
            "states.csv (or replay.json with a controller arm)",
            "coalescope control run --ticks TICKS -o DIR/states.csv, or replay --controller shadow --out DIR",
        );
    }
    let mut body = shares;
    let xs = by_scope.values().flatten().map(|p| p.0);
    let mut c = Chart::new(
        &format!("Controller state per scope ({source})"),
        Scale::linear_over(xs, false),
        "time (s)",
        Scale::Linear {
            min: -0.5,
            max: 3.5,
        },
        "state",
    )
    .formats(plain, plain);
    c.y_categories(
        &LEVELS
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, l.to_string()))
            .collect::<Vec<_>>(),
    );
    for (i, (scope, steps)) in by_scope.iter().enumerate() {
        let mut pts = Vec::with_capacity(2 * steps.len());
        for (k, &(t, l)) in steps.iter().enumerate() {
            if k > 0 {
                pts.push((t, steps[k - 1].1));
            }
            pts.push((t, l));
        }
        if pts.len() == 1 {
            c.dot(pts[0].0, pts[0].1, 3.0, color(i), scope);
        }
        c.line(&pts, color(i), false);
        c.legend(scope, color(i));
    }
    let n = push_chart(&mut body, c);
    if n == 0 {
        body.push_str("<p class=\"missing\">The controller never changed state.</p>\n");
    }
    section(id, title, &body, n)
}

/// The tune Pareto frontier per class with the recommendation marked.
pub fn tune(tune: Option<&Tune>) -> Section {
    let (id, title) = ("tune", "Tune: p99 delay vs CPU, Pareto frontier");
    let Some(t) = tune else {
        return missing(id, title, inputs::TUNE, "coalescope tune --out DIR");
    };
    let mut body = String::new();
    let mut n = 0;
    for class in &t.classes {
        let all = class.candidates.iter().chain(&class.frontier);
        let (xs, ys): (Vec<f64>, Vec<f64>) = all.map(|p| (100.0 * p.cpu, p.p99_ns)).unzip();
        let mut c = Chart::new(
            &format!("Class {}", class.class),
            Scale::linear_over(xs, true),
            "CPU of the receive path (% of one core)",
            Scale::log_over(ys),
            "p99 delivery delay (log scale)",
        )
        .formats(plain, duration_ns);
        for p in class.candidates.iter().filter(|p| !p.frontier) {
            c.dot(
                100.0 * p.cpu,
                p.p99_ns,
                3.0,
                "#999",
                &format!(
                    "{}: p99 {}, CPU {:.1}%, {:.0} irq/s",
                    p.setting,
                    duration_ns(p.p99_ns),
                    100.0 * p.cpu,
                    p.interrupt_rate_per_s
                ),
            );
        }
        if !class.candidates.is_empty() {
            c.legend("candidate", "#999");
        }
        let mut frontier: Vec<&inputs::TunePoint> = class.frontier.iter().collect();
        frontier.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
        let line: Vec<(f64, f64)> = frontier.iter().map(|p| (100.0 * p.cpu, p.p99_ns)).collect();
        c.line(&line, color(0), false);
        for p in &frontier {
            c.dot(
                100.0 * p.cpu,
                p.p99_ns,
                4.0,
                color(0),
                &format!(
                    "{}: p99 {}, CPU {:.1}%, {:.0} irq/s",
                    p.setting,
                    duration_ns(p.p99_ns),
                    100.0 * p.cpu,
                    p.interrupt_rate_per_s
                ),
            );
        }
        c.legend("Pareto frontier", color(0));
        if let Some(r) = &class.recommended {
            if let Some(p) = class
                .frontier
                .iter()
                .chain(&class.candidates)
                .find(|p| p.setting == r.setting)
            {
                c.ring(
                    100.0 * p.cpu,
                    p.p99_ns,
                    color(1),
                    &format!("recommended: {}", r.setting),
                );
                c.legend("recommended", color(1));
            }
            body.push_str(&format!(
                "<p>Class {}: recommended <code>{}</code> — {}</p>\n",
                escape(&class.class),
                escape(
                    r.ethtool
                        .as_deref()
                        .or(r.busy_poll.as_deref())
                        .unwrap_or(&r.setting)
                ),
                escape(&r.why)
            ));
        }
        n += push_chart(&mut body, c);
    }
    if n == 0 {
        return empty(id, title, "tune.json holds no class with points.");
    }
    section(id, title, &body, n)
}
