//! A strict parser of the Prometheus text exposition format 0.0.4 and of OpenMetrics
//! 1.0.0 text (the subset of features a metrics endpoint like ours may emit), written
//! for tests: it rejects anything the formats do not allow and checks the semantic
//! rules a scraper relies on (families declared once and before their samples, sample
//! names matching the family type, no duplicate series, counters >= 0, histograms with
//! increasing `le`, cumulative counts and a `+Inf` bucket equal to `_count`).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name (with `_total`, `_bucket`, ... suffixes).
    pub name: String,
    /// Labels in line order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family: its `# TYPE` and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name of the `# TYPE` line.
    pub name: String,
    /// counter, gauge, histogram, ...
    pub kind: String,
    /// The `# HELP` text.
    pub help: Option<String>,
    /// Samples in order.
    pub samples: Vec<Sample>,
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposition {
    /// Families in order.
    pub families: Vec<Family>,
}

impl Exposition {
    /// The value of the sample `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
            })
            .map(|s| s.value)
    }

    /// The cumulative count of histogram `family`'s bucket with upper bound `le`
    /// (compared as numbers, whatever the text spelling).
    pub fn bucket(&self, family: &str, le: f64) -> Option<f64> {
        let name = format!("{family}_bucket");
        self.samples()
            .find(|s| {
                s.name == name
                    && s.labels
                        .iter()
                        .any(|(k, v)| k == "le" && parse_value(v) == Some(le))
            })
            .map(|s| s.value)
    }

    /// Every sample.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }

    /// Every sample name and every family name.
    pub fn names(&self) -> HashSet<String> {
        let mut out: HashSet<String> = self.samples().map(|s| s.name.clone()).collect();
        out.extend(self.families.iter().map(|f| f.name.clone()));
        out
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            // Digits, sign, '.', exponent only ("inf"/"nan" spellings are not allowed).
            if s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
            {
                return None;
            }
            s.parse().ok()
        }
    }
}

/// Parse `name{a="b",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let end: Option<usize>;
        loop {
            // label name
            let start = match chars.peek() {
                Some(&(_, '}')) => {
                    end = chars.next().map(|(i, _)| i);
                    break;
                }
                Some(&(i, _)) => i,
                None => return Err("unterminated label set".into()),
            };
            let mut eq = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(i);
                    break;
                }
            }
            let eq = eq.ok_or("label without '='")?;
            let key = &r[start..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} value is not quoted"));
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape {other:?} in label {key}")),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\n' => return Err("newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("unterminated value of label {key}"));
            }
            if labels.iter().any(|(k, _): &(String, String)| k == key) {
                return Err(format!("label {key} repeated"));
            }
            labels.push((key.to_string(), value));
            match chars.next() {
                Some((_, ',')) => {
                    if let Some(&(i, '}')) = chars.peek() {
                        end = Some(i);
                        chars.next();
                        break;
                    }
                }
                Some((i, '}')) => {
                    end = Some(i);
                    break;
                }
                other => return Err(format!("expected ',' or '}}' after a label, got {other:?}")),
            }
        }
        let end = end.ok_or("unterminated label set")?;
        rest = &r[end + 1..];
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or("no single space before the value")?;
    let mut parts = rest.split(' ');
    let value_text = parts.next().unwrap_or("");
    let value = parse_value(value_text).ok_or_else(|| format!("bad value {value_text:?}"))?;
    if let Some(ts) = parts.next() {
        if parse_value(ts).is_none_or(|t| !t.is_finite()) {
            return Err(format!("bad timestamp {ts:?}"));
        }
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn allowed_suffixes(kind: &str, openmetrics: bool) -> &'static [&'static str] {
    match (kind, openmetrics) {
        ("counter", true) => &["_total", "_created"],
        ("counter", false) => &[""],
        ("histogram", true) => &["_bucket", "_sum", "_count", "_created"],
        ("histogram", false) => &["_bucket", "_sum", "_count"],
        ("summary", _) => &["", "_sum", "_count"],
        ("info", true) => &["_info"],
        _ => &[""],
    }
}

/// Parse and check a whole exposition. `openmetrics`: OpenMetrics 1.0.0 (ends with
/// `# EOF`), else the Prometheus text format 0.0.4.
pub fn parse(text: &str, openmetrics: bool) -> Result<Exposition, String> {
    let types: &[&str] = if openmetrics {
        &[
            "counter",
            "gauge",
            "histogram",
            "gaugehistogram",
            "stateset",
            "info",
            "summary",
            "unknown",
        ]
    } else {
        &["counter", "gauge", "histogram", "summary", "untyped"]
    };
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut declared: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    let mut eof = false;
    for (i, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if eof {
            return Err(err("content after # EOF".into()));
        }
        if line.is_empty() {
            return Err(err("empty line".into()));
        }
        if let Some(comment) = line.strip_prefix('#') {
            if openmetrics && comment == " EOF" {
                eof = true;
                continue;
            }
            let mut p = comment.splitn(4, ' ');
            let (blank, kw, name, rest) = (p.next(), p.next(), p.next(), p.next());
            if blank != Some("") {
                return Err(err("a comment must start with '# '".into()));
            }
            let name = name.ok_or_else(|| err("comment without a metric name".into()))?;
            if !is_metric_name(name) {
                return Err(err(format!("bad family name {name:?}")));
            }
            match kw {
                Some("TYPE") => {
                    let kind = rest.ok_or_else(|| err("TYPE without a type".into()))?;
                    if !types.contains(&kind) {
                        return Err(err(format!("unknown type {kind:?}")));
                    }
                    if let Some(f) = families
                        .last_mut()
                        .filter(|f| f.name == name && f.kind.is_empty())
                    {
                        if !f.samples.is_empty() {
                            return Err(err("TYPE after samples".into()));
                        }
                        f.kind = kind.to_string();
                    } else {
                        if !declared.insert(name.to_string()) {
                            return Err(err(format!("family {name} declared twice")));
                        }
                        families.push(Family {
                            name: name.into(),
                            kind: kind.into(),
                            help: None,
                            samples: Vec::new(),
                        });
                    }
                }
                Some("HELP") => {
                    let help = rest.unwrap_or("").to_string();
                    if let Some(f) = families.last_mut().filter(|f| f.name == name) {
                        if f.help.is_some() || !f.samples.is_empty() {
                            return Err(err("second HELP or HELP after samples".into()));
                        }
                        f.help = Some(help);
                    } else {
                        if !declared.insert(name.to_string()) {
                            return Err(err(format!("family {name} declared twice")));
                        }
                        families.push(Family {
                            name: name.into(),
                            kind: String::new(),
                            help: Some(help),
                            samples: Vec::new(),
                        });
                    }
                }
                Some("UNIT") if openmetrics => {
                    if families.last().is_none_or(|f| f.name != name) {
                        return Err(err("UNIT for another family".into()));
                    }
                }
                other => {
                    if openmetrics {
                        return Err(err(format!("unknown comment keyword {other:?}")));
                    }
                    // Prometheus text: other comments are allowed and ignored.
                }
            }
            continue;
        }
        let s = parse_sample(line).map_err(err)?;
        let f = families
            .last_mut()
            .ok_or_else(|| err("sample before any # TYPE".into()))?;
        if f.kind.is_empty() {
            return Err(err(format!("family {} has HELP but no TYPE", f.name)));
        }
        let suffix_ok = allowed_suffixes(&f.kind, openmetrics)
            .iter()
            .any(|suf| s.name == format!("{}{suf}", f.name));
        if !suffix_ok {
            return Err(err(format!(
                "sample {} does not belong to {} family {}",
                s.name, f.kind, f.name
            )));
        }
        if f.kind == "counter" && (s.value.is_nan() || s.value < 0.0) {
            return Err(err("a counter must be >= 0".into()));
        }
        let mut key_labels = s.labels.clone();
        key_labels.sort();
        if !series.insert(format!("{}{key_labels:?}", s.name)) {
            return Err(err("duplicate series".into()));
        }
        if s.name.ends_with("_bucket") && !s.labels.iter().any(|(k, _)| k == "le") {
            return Err(err("a bucket without le".into()));
        }
        f.samples.push(s);
    }
    if openmetrics && !eof {
        return Err("OpenMetrics exposition without # EOF".into());
    }
    for f in &families {
        if f.kind.is_empty() {
            return Err(format!("family {} has HELP but no TYPE", f.name));
        }
        if f.kind == "histogram" {
            check_histogram(f)?;
        }
    }
    Ok(Exposition { families })
}

/// A sorted label set.
type Labels = Vec<(String, String)>;

fn check_histogram(f: &Family) -> Result<(), String> {
    let other = |s: &Sample| {
        let mut l: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        l.sort();
        l
    };
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for s in f.samples.iter().filter(|s| s.name.ends_with("_bucket")) {
        let le = s
            .labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let le = parse_value(le).ok_or_else(|| format!("{}: bad le {le:?}", f.name))?;
        groups.entry(other(s)).or_default().push((le, s.value));
    }
    if groups.is_empty() {
        return Err(format!("histogram {} has no buckets", f.name));
    }
    for (labels, buckets) in groups {
        for w in buckets.windows(2) {
            if w[1].0.partial_cmp(&w[0].0) != Some(std::cmp::Ordering::Greater) || w[1].1 < w[0].1 {
                return Err(format!(
                    "histogram {} {labels:?}: buckets not increasing/cumulative",
                    f.name
                ));
            }
        }
        let last = buckets.last().copied().unwrap_or((0.0, 0.0));
        if last.0 != f64::INFINITY {
            return Err(format!("histogram {} {labels:?}: no +Inf bucket", f.name));
        }
        let find = |suffix: &str| {
            f.samples
                .iter()
                .find(|s| s.name == format!("{}{suffix}", f.name) && other(s) == labels)
                .map(|s| s.value)
        };
        let count = find("_count").ok_or_else(|| format!("histogram {}: no _count", f.name))?;
        find("_sum").ok_or_else(|| format!("histogram {}: no _sum", f.name))?;
        if count != last.1 {
            return Err(format!(
                "histogram {}: _count {count} != +Inf bucket {}",
                f.name, last.1
            ));
        }
    }
    Ok(())
}
