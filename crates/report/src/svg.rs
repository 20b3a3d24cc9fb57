//! Hand-written SVG charts: a frame, linear or log10 axes with labelled ticks, a legend,
//! and data marks (every mark carries `class="mark"`, which the browser test counts).
//!
//! Why by hand rather than `plotters`: the charts are a few lines, rectangles and circles;
//! writing them directly keeps every coordinate testable (see the tests), the bytes
//! deterministic (one fixed number format), and the page free of embedded fonts.

use std::fmt::Write;

use crate::html::escape;

/// The colour of series `i` (a palette readable on white, cycled).
pub fn color(i: usize) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    PALETTE[i % PALETTE.len()]
}

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// `min..=max` mapped linearly.
    Linear {
        /// Value at the start of the axis.
        min: f64,
        /// Value at the end of the axis.
        max: f64,
    },
    /// `min..=max` (both > 0) mapped by log10.
    Log {
        /// Value at the start of the axis (> 0).
        min: f64,
        /// Value at the end of the axis (> min).
        max: f64,
    },
}

impl Scale {
    /// A linear scale over the values (padded when they are all equal).
    pub fn linear_over(values: impl IntoIterator<Item = f64>, include_zero: bool) -> Scale {
        let (mut lo, mut hi) = bounds(values);
        if include_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi <= lo {
            lo -= 1.0;
            hi += 1.0;
        }
        Scale::Linear { min: lo, max: hi }
    }

    /// A log scale from the power of ten at or below the smallest positive value to the
    /// one at or above the largest.
    pub fn log_over(values: impl IntoIterator<Item = f64>) -> Scale {
        let (lo, hi) = bounds(values.into_iter().filter(|v| *v > 0.0));
        let (lo, hi) = if lo.is_finite() && hi.is_finite() {
            (lo, hi)
        } else {
            (1.0, 10.0)
        };
        let min = 10f64.powf(lo.log10().floor());
        let mut max = 10f64.powf(hi.log10().ceil());
        if max <= min {
            max = min * 10.0;
        }
        Scale::Log { min, max }
    }

    /// Where `v` falls along the axis, 0 at the start and 1 at the end (not clamped).
    pub fn fraction(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { min, max } => (v - min) / (max - min),
            Scale::Log { min, max } => {
                (v.max(min * 1e-3).log10() - min.log10()) / (max.log10() - min.log10())
            }
        }
    }

    /// Tick values: 1-2-5 steps (linear) or powers of ten (log).
    pub fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { min, max } => {
                let raw = (max - min) / 5.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .into_iter()
                    .map(|m| m * mag)
                    .find(|s| *s >= raw)
                    .unwrap_or(10.0 * mag);
                let first = (min / step).ceil() as i64;
                let last = (max / step).floor() as i64;
                (first..=last).map(|k| k as f64 * step).collect()
            }
            Scale::Log { min, max } => {
                let a = min.log10().round() as i32;
                let b = max.log10().round() as i32;
                (a..=b).map(|e| 10f64.powi(e)).collect()
            }
        }
    }
}

fn bounds(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// Pixel layout of a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Total width (px).
    pub width: f64,
    /// Total height (px).
    pub height: f64,
    /// Margin left of the plot area (y tick labels).
    pub left: f64,
    /// Margin right of the plot area.
    pub right: f64,
    /// Margin above the plot area (title).
    pub top: f64,
    /// Margin below the plot area (x tick labels and axis label).
    pub bottom: f64,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            width: 640.0,
            height: 320.0,
            left: 64.0,
            right: 16.0,
            top: 28.0,
            bottom: 48.0,
        }
    }
}

/// A chart being drawn: axes, labels, legend and marks.
pub struct Chart {
    frame: Frame,
    x: Scale,
    y: Scale,
    title: String,
    x_label: String,
    y_label: String,
    x_fmt: fn(f64) -> String,
    y_fmt: fn(f64) -> String,
    marks: String,
    legend: Vec<(String, &'static str)>,
    marks_drawn: usize,
}

/// A number as SVG writes it: one decimal, no `-0.0`.
pub fn num(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" {
        "0.0".to_string()
    } else {
        s
    }
}

impl Chart {
    /// A chart with its scales, title and axis labels (units included in the labels).
    pub fn new(title: &str, x: Scale, x_label: &str, y: Scale, y_label: &str) -> Chart {
        Chart {
            frame: Frame::default(),
            x,
            y,
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_fmt: plain,
            y_fmt: plain,
            marks: String::new(),
            legend: Vec::new(),
            marks_drawn: 0,
        }
    }

    /// Tick label formats.
    pub fn formats(mut self, x: fn(f64) -> String, y: fn(f64) -> String) -> Chart {
        self.x_fmt = x;
        self.y_fmt = y;
        self
    }

    /// Pixel x of a value.
    pub fn px(&self, v: f64) -> f64 {
        let f = &self.frame;
        f.left + self.x.fraction(v) * (f.width - f.left - f.right)
    }

    /// Pixel y of a value.
    pub fn py(&self, v: f64) -> f64 {
        let f = &self.frame;
        f.top + (1.0 - self.y.fraction(v)) * (f.height - f.top - f.bottom)
    }

    /// A legend entry.
    pub fn legend(&mut self, name: &str, color: &'static str) {
        self.legend.push((name.to_string(), color));
    }

    /// A polyline through the points (skipped when fewer than two).
    pub fn line(&mut self, points: &[(f64, f64)], color: &str, dashed: bool) {
        if points.len() < 2 {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{},{}", num(self.px(x)), num(self.py(y))))
            .collect();
        let dash = if dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let _ = writeln!(
            self.marks,
            "<polyline class=\"mark\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            pts.join(" ")
        );
        self.marks_drawn += 1;
    }

    /// A horizontal reference line at `y` across the plot (not a data mark).
    pub fn hline(&mut self, y: f64, color: &str, label: &str) {
        let f = self.frame;
        let yy = num(self.py(y));
        let _ = writeln!(
            self.marks,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"{color}\" stroke-dasharray=\"3 3\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"{color}\">{}</text>",
            num(f.left),
            num(f.width - f.right),
            num(f.width - f.right - 2.0),
            num(self.py(y) - 3.0),
            escape(label)
        );
    }

    /// A rectangle spanning `x0..x1`, `y0..y1` in data units, with a tooltip.
    pub fn rect(&mut self, x0: f64, x1: f64, y0: f64, y1: f64, color: &str, tip: &str) {
        let (a, b) = (self.px(x0), self.px(x1));
        let (c, d) = (self.py(y0), self.py(y1));
        let _ = writeln!(
            self.marks,
            "<rect class=\"mark\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\" fill-opacity=\"0.75\"><title>{}</title></rect>",
            num(a.min(b)),
            num(c.min(d)),
            num((b - a).abs()),
            num((d - c).abs()),
            escape(tip)
        );
        self.marks_drawn += 1;
    }

    /// A circle at a data point with a tooltip.
    pub fn dot(&mut self, x: f64, y: f64, r: f64, color: &str, tip: &str) {
        let _ = writeln!(
            self.marks,
            "<circle class=\"mark\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{color}\"><title>{}</title></circle>",
            num(self.px(x)),
            num(self.py(y)),
            num(r),
            escape(tip)
        );
        self.marks_drawn += 1;
    }

    /// A ring (unfilled circle) around a data point, with a text label beside it.
    pub fn ring(&mut self, x: f64, y: f64, color: &str, label: &str) {
        let (cx, cy) = (self.px(x), self.py(y));
        let _ = writeln!(
            self.marks,
            "<circle class=\"mark\" cx=\"{}\" cy=\"{}\" r=\"9\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            num(cx),
            num(cy),
            num(cx + 12.0),
            num(cy - 10.0),
            escape(label)
        );
        self.marks_drawn += 1;
    }

    /// Labels on the y axis at given values instead of numeric ticks (categorical axes).
    pub fn y_categories(&mut self, names: &[(f64, String)]) {
        // Room for the longest name at ~6 px per character of the 10 px font.
        let longest = names
            .iter()
            .map(|(_, n)| n.chars().count())
            .max()
            .unwrap_or(0);
        self.frame.left = self.frame.left.max(12.0 + 6.0 * longest as f64);
        let f = self.frame;
        for (v, name) in names {
            let _ = writeln!(
                self.marks,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
                num(f.left - 4.0),
                num(self.py(*v) + 3.0),
                escape(name)
            );
        }
        self.y_fmt = |_| String::new();
    }

    /// Data marks drawn so far.
    pub fn marks_drawn(&self) -> usize {
        self.marks_drawn
    }

    /// The finished `<svg>` element.
    pub fn finish(self) -> String {
        let f = self.frame;
        let (x0, x1) = (f.left, f.width - f.right);
        let (y0, y1) = (f.height - f.bottom, f.top);
        let mut s = format!(
            "<svg class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">\n",
            num(f.width),
            num(f.height),
            num(f.width),
            num(f.height),
            escape(&self.title)
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            num(f.left),
            escape(&self.title)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#999\"/>",
            num(x0),
            num(y1),
            num(x1 - x0),
            num(y0 - y1)
        );
        for t in self.x.ticks() {
            let x = self.px(t);
            let _ = writeln!(
                s,
                "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{3}\" font-size=\"10\" text-anchor=\"middle\">{4}</text>",
                num(x),
                num(y1),
                num(y0),
                num(y0 + 14.0),
                escape(&(self.x_fmt)(t))
            );
        }
        for t in self.y.ticks() {
            let y = self.py(t);
            let label = (self.y_fmt)(t);
            let _ = writeln!(
                s,
                "<line x1=\"{}\" x2=\"{}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{3}\" y=\"{4}\" font-size=\"10\" text-anchor=\"end\">{5}</text>",
                num(x0),
                num(x1),
                num(y),
                num(x0 - 4.0),
                num(y + 3.0),
                escape(&label)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            num((x0 + x1) / 2.0),
            num(f.height - 8.0),
            escape(&self.x_label)
        );
        let _ = writeln!(
            s,
            "<text x=\"12\" y=\"{0}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {0})\">{1}</text>",
            num((y0 + y1) / 2.0),
            escape(&self.y_label)
        );
        s.push_str(&self.marks);
        for (i, (name, c)) in self.legend.iter().enumerate() {
            let y = f.top + 8.0 + 14.0 * i as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" class=\"legend\">{}</text>",
                num(x1 - 150.0),
                num(y - 8.0),
                num(x1 - 136.0),
                num(y + 1.0),
                escape(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A tick label with up to three significant decimals.
pub fn plain(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if a >= 1000.0 || a == a.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.3}"))
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A duration in ns as a short label: `500 ns`, `10 µs`, `1 ms`, `2 s`.
pub fn duration_ns(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{} s", plain(v / 1e9))
    } else if a >= 1e6 {
        format!("{} ms", plain(v / 1e6))
    } else if a >= 1e3 {
        format!("{} µs", plain(v / 1e3))
    } else {
        format!("{} ns", plain(v))
    }
}

/// A fraction as a percentage label.
pub fn percent(v: f64) -> String {
    format!("{}%", plain(v * 100.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_land_on_hand_computed_pixels() {
        // Plot area: x from 64 to 624 (560 px), y from 28 to 272 (244 px).
        // Log x over 1e3..1e6: 1e4 is 1/3 of the way, 64 + 560/3 = 250.666... -> 250.7.
        // y linear 0..1: p = 0.5 -> 28 + 122 = 150; p = 1 -> 28; p = 0 -> 272.
        let mut c = Chart::new(
            "cdf",
            Scale::Log { min: 1e3, max: 1e6 },
            "delay",
            Scale::Linear { min: 0.0, max: 1.0 },
            "p",
        );
        assert_eq!(num(c.px(1e4)), "250.7");
        assert_eq!(num(c.px(1e6)), "624.0");
        assert_eq!(num(c.py(0.5)), "150.0");
        c.line(&[(1e3, 0.0), (1e4, 0.5), (1e6, 1.0)], color(0), false);
        let svg = c.finish();
        assert!(
            svg.contains("points=\"64.0,272.0 250.7,150.0 624.0,28.0\""),
            "{svg}"
        );
    }

    #[test]
    fn scales_by_hand() {
        assert_eq!(
            Scale::log_over([2500.0, 0.0, 75_000.0]),
            Scale::Log { min: 1e3, max: 1e5 }
        );
        assert_eq!(
            Scale::linear_over([3.0, 3.0], true),
            Scale::Linear { min: 0.0, max: 3.0 }
        );
        assert_eq!(
            Scale::linear_over([3.0, 3.0], false),
            Scale::Linear { min: 2.0, max: 4.0 }
        );
        assert_eq!(
            Scale::Linear { min: 0.0, max: 1.0 }.ticks(),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(
            Scale::Log { min: 1e2, max: 1e4 }.ticks(),
            vec![100.0, 1000.0, 10000.0]
        );
        assert_eq!(duration_ns(25_000.0), "25 µs");
        assert_eq!(duration_ns(1.5e9), "1.5 s");
        assert_eq!(percent(0.125), "12.5%");
    }

    #[test]
    fn rect_spans_and_escapes_its_tip() {
        let mut c = Chart::new(
            "bars",
            Scale::Linear { min: 0.0, max: 4.0 },
            "x",
            Scale::Linear {
                min: 0.0,
                max: 10.0,
            },
            "y",
        );
        // x 1..2 -> 204..344; y 0..5 -> 272..150.
        c.rect(1.0, 2.0, 0.0, 5.0, "#000", "a<b");
        let svg = c.finish();
        assert!(svg.contains(
            "x=\"204.0\" y=\"150.0\" width=\"140.0\" height=\"122.0\" fill=\"#000\" fill-opacity=\"0.75\"><title>a&lt;b</title>"
        ));
    }
}
