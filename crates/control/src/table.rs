//! Tick tables in, state tables out (CSV).
//!
//! A tick table has a header with at least `scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd`
//! (any order; other columns ignored); an empty metric cell is undefined. Ticks of a scope
//! must be in increasing time; scopes may interleave. The state table has
//! `scope,t_tick_ns,state,reason,guard_weight,fallback`.

use crate::error::ControlError;
use crate::state::{StateRow, TickInput, TickMetrics};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// Required tick-table columns.
pub const TICK_COLUMNS: [&str; 6] = [
    "scope",
    "t_tick_ns",
    "bdc_excess",
    "dbc_excess",
    "cte",
    "dccd",
];

/// Read a tick table from `path`.
pub fn read_ticks(path: &Path) -> Result<Vec<TickInput>, ControlError> {
    let f = std::fs::File::open(path).map_err(|e| ControlError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    read_ticks_from(f, &path.display().to_string())
}

/// Read a tick table from `reader`; `name` names it in errors.
pub fn read_ticks_from(reader: impl Read, name: &str) -> Result<Vec<TickInput>, ControlError> {
    let io = |e: csv::Error| ControlError::Io {
        path: name.to_string(),
        message: e.to_string(),
    };
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = r.headers().map_err(io)?.clone();
    let mut col = [0usize; 6];
    for (k, want) in TICK_COLUMNS.iter().enumerate() {
        col[k] = headers
            .iter()
            .position(|h| h.trim() == *want)
            .ok_or_else(|| ControlError::Table {
                path: name.to_string(),
                line: 1,
                column: want.to_string(),
                message: "missing column".into(),
            })?;
    }
    let mut rows = Vec::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while r.read_record(&mut record).map_err(io)? {
        let line = record.position().map_or(0, |p| p.line());
        let err = |k: usize, message: String| ControlError::Table {
            path: name.to_string(),
            line,
            column: TICK_COLUMNS[k].to_string(),
            message,
        };
        let cell = |k: usize| record.get(col[k]).unwrap_or("").trim();
        let scope = cell(0).to_string();
        let t_text = cell(1);
        let t: i64 = t_text
            .parse()
            .map_err(|_| err(1, format!("'{t_text}' is not an integer (ns)")))?;
        let metric = |k: usize| -> Result<Option<f64>, ControlError> {
            let v = cell(k);
            if v.is_empty() || v.eq_ignore_ascii_case("null") {
                return Ok(None);
            }
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(err(k, format!("'{v}' is not a finite number"))),
            }
        };
        let metrics = TickMetrics {
            bdc_excess: metric(2)?,
            dbc_excess: metric(3)?,
            cte: metric(4)?,
            dccd: metric(5)?,
        };
        match last.get_mut(&scope) {
            Some(prev) if t <= *prev => {
                return Err(ControlError::Order {
                    path: name.to_string(),
                    line,
                    scope,
                    t,
                    prev: *prev,
                })
            }
            Some(prev) => *prev = t,
            None => {
                last.insert(scope.clone(), t);
            }
        }
        rows.push(TickInput {
            scope,
            t_tick_ns: t,
            metrics,
        });
    }
    Ok(rows)
}

/// The state table's columns, in order.
pub const STATE_COLUMNS: [&str; 6] = [
    "scope",
    "t_tick_ns",
    "state",
    "reason",
    "guard_weight",
    "fallback",
];

/// A state table written row by row (the header first), for live runs.
#[derive(Debug)]
pub struct StateWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> StateWriter<W> {
    /// Start a state table on `writer`: writes the header.
    pub fn new(writer: W) -> Result<Self, csv::Error> {
        let mut w = csv::Writer::from_writer(writer);
        w.write_record(STATE_COLUMNS)?;
        Ok(StateWriter { w })
    }

    /// Append one row.
    pub fn write(&mut self, r: &StateRow) -> Result<(), csv::Error> {
        self.w.write_record([
            r.scope.as_str(),
            &r.t_tick_ns.to_string(),
            r.state.as_str(),
            &r.reason.to_string(),
            &r.guard_weight.to_string(),
            if r.fallback { "true" } else { "false" },
        ])
    }

    /// Flush everything written so far to the underlying writer.
    pub fn flush(&mut self) -> Result<(), std::io::Error> {
        self.w.flush()
    }
}

/// Write a state table to `writer`.
pub fn write_states_to(writer: impl Write, rows: &[StateRow]) -> Result<(), csv::Error> {
    let mut w = StateWriter::new(writer)?;
    for r in rows {
        w.write(r)?;
    }
    w.flush()?;
    Ok(())
}

/// Write a state table to `path`.
pub fn write_states(path: &Path, rows: &[StateRow]) -> Result<(), ControlError> {
    let io = |message: String| ControlError::Io {
        path: path.display().to_string(),
        message,
    };
    let f = std::fs::File::create(path).map_err(|e| io(e.to_string()))?;
    write_states_to(std::io::BufWriter::new(f), rows).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_writer_streams_the_same_table() {
        use crate::state::{Reason, State};
        let row = |t, state, reason, w, fallback| StateRow {
            scope: "A|V".into(),
            t_tick_ns: t,
            state,
            reason,
            guard_weight: w,
            fallback,
        };
        let rows = [
            row(100, State::FlowClean, Reason::Hold, 1.0, false),
            row(200, State::FlowClean, Reason::Dwell, 0.25, true),
        ];
        let mut streamed = StateWriter::new(Vec::new()).unwrap();
        for r in &rows {
            streamed.write(r).unwrap();
        }
        streamed.flush().unwrap();
        let mut batch = Vec::new();
        write_states_to(&mut batch, &rows).unwrap();
        let text = String::from_utf8(batch).unwrap();
        assert_eq!(
            text,
            "scope,t_tick_ns,state,reason,guard_weight,fallback\n\
             A|V,100,FLOW_CLEAN,hold,1,false\n\
             A|V,200,FLOW_CLEAN,dwell,0.25,true\n"
        );
        let inner = streamed.w.into_inner().unwrap();
        assert_eq!(String::from_utf8(inner).unwrap(), text);
    }

    #[test]
    fn reads_any_column_order_and_names_bad_cells() {
        let text = "extra,dccd,cte,dbc_excess,bdc_excess,t_tick_ns,scope\n\
                    x,,1.5,0.2,,100,A|V\n\
                    y,0.01,,,0.3,200,A|V\n";
        let t = read_ticks_from(text.as_bytes(), "t.csv").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].scope, "A|V");
        assert_eq!(
            t[0].metrics,
            TickMetrics {
                bdc_excess: None,
                dbc_excess: Some(0.2),
                cte: Some(1.5),
                dccd: None
            }
        );
        assert_eq!(t[1].metrics.bdc_excess, Some(0.3));
        let e = read_ticks_from(
            "scope,t_tick_ns,bdc_excess,dbc_excess,cte\n".as_bytes(),
            "t.csv",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "t.csv: line 1: column 'dccd': missing column");
        let e = read_ticks_from(
            "scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd\nA,1,,,,\nA,2,,abc,,\n".as_bytes(),
            "t.csv",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "t.csv: line 3: column 'dbc_excess': 'abc' is not a finite number"
        );
        let e = read_ticks_from(
            "scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd\nA,5,,,,\nB,1,,,,\nA,5,,,,\n"
                .as_bytes(),
            "t.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 4") && e.contains("scope 'A'"), "{e}");
        let e = read_ticks_from(
            "scope,t_tick_ns,bdc_excess,dbc_excess,cte,dccd\nA,1.5,,,,\n".as_bytes(),
            "t.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("'t_tick_ns'"), "{e}");
    }
}
