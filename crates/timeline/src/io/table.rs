//! The four tables of SPEC §1 as column lists, and how each record maps to them.
//!
//! The CSV and Parquet codecs are generic over [`Table`]; this file is the only place
//! that knows which field of a record is which column.

use arrow_array::ArrayRef;

use super::csv::{CsvOut, CsvRow};
use super::parquet::{ArrowCols, ArrowEnc};
use crate::error::TimelineError;
use crate::record::{Event, Fill, Order, Parent};
use crate::strings::Sym;

/// The logical type of a column (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// `u64`
    U64,
    /// `i64` nanoseconds
    I64,
    /// `f64`
    F64,
    /// interned string key
    Str,
    /// `md` | `ctl`
    Kind,
    /// `bool`
    Bool,
    /// `i8` restricted to +1 / -1
    Side,
}

impl ColumnType {
    /// What the column holds, for error messages.
    pub(crate) const fn expected(self) -> &'static str {
        match self {
            ColumnType::U64 => "an unsigned 64-bit integer",
            ColumnType::I64 => "a signed 64-bit integer of nanoseconds",
            ColumnType::F64 => "a finite number",
            ColumnType::Str => "a UTF-8 string",
            ColumnType::Kind => "an event kind (`md` or `ctl`)",
            ColumnType::Bool => "a boolean (true/false/1/0)",
            ColumnType::Side => "a side (+1 buy or -1 sell)",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    /// Column name in the header / schema.
    pub(crate) name: &'static str,
    /// Logical type.
    pub(crate) ty: ColumnType,
    /// `?` in SPEC §1.
    pub(crate) nullable: bool,
}

const fn req(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

const fn opt(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

/// A record type stored as one SPEC §1 table.
pub(crate) trait Table: Copy + Send {
    /// Table name (`events`, ...).
    const NAME: &'static str;
    /// Columns in SPEC order; the codecs index them by position.
    const COLUMNS: &'static [Column];
    /// Decode one CSV row.
    fn from_csv(row: &mut CsvRow<'_>) -> Result<Self, TimelineError>;
    /// Encode one record as CSV fields in `COLUMNS` order.
    fn to_csv(&self, out: &mut CsvOut<'_>) -> Result<(), TimelineError>;
    /// Decode a whole Arrow batch, column by column, appending to `out`.
    fn from_arrow(cols: &mut ArrowCols<'_>, out: &mut Vec<Self>) -> Result<(), TimelineError>;
    /// Encode records as Arrow arrays in `COLUMNS` order.
    fn to_arrow(records: &[Self], enc: &ArrowEnc<'_>) -> Result<Vec<ArrayRef>, TimelineError>;
    /// Replace every key by `map[key.index()]` (a key table moved to another [`Strings`]).
    fn remap_keys(&mut self, map: &[Sym]);
}

use ColumnType::{Bool, Kind, Side as SideT, Str, F64, I64, U64};

impl Table for Event {
    const NAME: &'static str = "events";
    const COLUMNS: &'static [Column] = &[
        req("seq", U64),
        req("stream", Str),
        req("kind", Kind),
        opt("symbol", Str),
        opt("venue", Str),
        req("t_ingress_ns", I64),
        opt("t_stack_ns", I64),
        opt("t_app_ns", I64),
        opt("bid", F64),
        opt("ask", F64),
        opt("transition", Bool),
    ];

    fn from_csv(r: &mut CsvRow<'_>) -> Result<Self, TimelineError> {
        Ok(Event {
            seq: r.u64(0)?,
            stream: r.sym(1)?,
            kind: r.kind(2)?,
            symbol: r.opt_sym(3)?,
            venue: r.opt_sym(4)?,
            t_ingress: r.instant(5)?,
            t_stack: r.opt_instant(6)?,
            t_app: r.opt_instant(7)?,
            bid: r.opt_f64(8)?,
            ask: r.opt_f64(9)?,
            transition: r.opt_bool(10)?,
        })
    }

    fn to_csv(&self, o: &mut CsvOut<'_>) -> Result<(), TimelineError> {
        o.u64(self.seq);
        o.sym(1, self.stream)?;
        o.text(self.kind.as_str());
        o.opt_sym(3, self.symbol)?;
        o.opt_sym(4, self.venue)?;
        o.i64(self.t_ingress.0);
        o.opt_i64(self.t_stack.map(|t| t.0));
        o.opt_i64(self.t_app.map(|t| t.0));
        o.opt_f64(8, self.bid)?;
        o.opt_f64(9, self.ask)?;
        o.opt_bool(self.transition);
        Ok(())
    }

    fn from_arrow(c: &mut ArrowCols<'_>, out: &mut Vec<Self>) -> Result<(), TimelineError> {
        let seq = c.u64(0)?;
        let stream = c.sym(1)?;
        let kind = c.kind(2)?;
        let symbol = c.opt_sym(3)?;
        let venue = c.opt_sym(4)?;
        let t_ingress = c.i64(5)?;
        let t_stack = c.opt_i64(6)?;
        let t_app = c.opt_i64(7)?;
        let bid = c.opt_f64(8)?;
        let ask = c.opt_f64(9)?;
        let transition = c.opt_bool(10)?;
        out.extend((0..c.rows()).map(|i| Event {
            seq: seq[i],
            stream: stream[i],
            kind: kind[i],
            symbol: symbol.get(i),
            venue: venue.get(i),
            t_ingress: crate::Instant(t_ingress[i]),
            t_stack: t_stack.get(i).map(crate::Instant),
            t_app: t_app.get(i).map(crate::Instant),
            bid: bid.get(i),
            ask: ask.get(i),
            transition: transition.get(i),
        }));
        Ok(())
    }

    fn to_arrow(rs: &[Self], e: &ArrowEnc<'_>) -> Result<Vec<ArrayRef>, TimelineError> {
        Ok(vec![
            e.u64(rs.iter().map(|r| r.seq)),
            e.sym(1, rs.iter().map(|r| r.stream))?,
            e.text(rs.iter().map(|r| r.kind.as_str())),
            e.opt_sym(3, rs.iter().map(|r| r.symbol))?,
            e.opt_sym(4, rs.iter().map(|r| r.venue))?,
            e.i64(rs.iter().map(|r| r.t_ingress.0)),
            e.opt_i64(rs.iter().map(|r| r.t_stack.map(|t| t.0))),
            e.opt_i64(rs.iter().map(|r| r.t_app.map(|t| t.0))),
            e.opt_f64(8, rs.iter().map(|r| r.bid))?,
            e.opt_f64(9, rs.iter().map(|r| r.ask))?,
            e.opt_bool(rs.iter().map(|r| r.transition)),
        ])
    }

    fn remap_keys(&mut self, map: &[Sym]) {
        self.stream = map[self.stream.index()];
        self.symbol = self.symbol.map(|s| map[s.index()]);
        self.venue = self.venue.map(|s| map[s.index()]);
    }
}

impl Table for Order {
    const NAME: &'static str = "orders";
    const COLUMNS: &'static [Column] = &[
        req("child_id", U64),
        req("parent_id", U64),
        opt("strategy", Str),
        opt("symbol", Str),
        opt("venue", Str),
        req("side", SideT),
        req("qty", F64),
        opt("px", F64),
        req("t_emit_ns", I64),
        opt("trigger_seq", U64),
    ];

    fn from_csv(r: &mut CsvRow<'_>) -> Result<Self, TimelineError> {
        Ok(Order {
            child_id: r.u64(0)?,
            parent_id: r.u64(1)?,
            strategy: r.opt_sym(2)?,
            symbol: r.opt_sym(3)?,
            venue: r.opt_sym(4)?,
            side: r.side(5)?,
            qty: r.f64(6)?,
            px: r.opt_f64(7)?,
            t_emit: r.instant(8)?,
            trigger_seq: r.opt_u64(9)?,
        })
    }

    fn to_csv(&self, o: &mut CsvOut<'_>) -> Result<(), TimelineError> {
        o.u64(self.child_id);
        o.u64(self.parent_id);
        o.opt_sym(2, self.strategy)?;
        o.opt_sym(3, self.symbol)?;
        o.opt_sym(4, self.venue)?;
        o.i64(i64::from(self.side.as_i8()));
        o.f64(6, self.qty)?;
        o.opt_f64(7, self.px)?;
        o.i64(self.t_emit.0);
        o.opt_u64(self.trigger_seq);
        Ok(())
    }

    fn from_arrow(c: &mut ArrowCols<'_>, out: &mut Vec<Self>) -> Result<(), TimelineError> {
        let child_id = c.u64(0)?;
        let parent_id = c.u64(1)?;
        let strategy = c.opt_sym(2)?;
        let symbol = c.opt_sym(3)?;
        let venue = c.opt_sym(4)?;
        let side = c.side(5)?;
        let qty = c.f64(6)?;
        let px = c.opt_f64(7)?;
        let t_emit = c.i64(8)?;
        let trigger_seq = c.opt_u64(9)?;
        out.extend((0..c.rows()).map(|i| Order {
            child_id: child_id[i],
            parent_id: parent_id[i],
            strategy: strategy.get(i),
            symbol: symbol.get(i),
            venue: venue.get(i),
            side: side[i],
            qty: qty[i],
            px: px.get(i),
            t_emit: crate::Instant(t_emit[i]),
            trigger_seq: trigger_seq.get(i),
        }));
        Ok(())
    }

    fn to_arrow(rs: &[Self], e: &ArrowEnc<'_>) -> Result<Vec<ArrayRef>, TimelineError> {
        Ok(vec![
            e.u64(rs.iter().map(|r| r.child_id)),
            e.u64(rs.iter().map(|r| r.parent_id)),
            e.opt_sym(2, rs.iter().map(|r| r.strategy))?,
            e.opt_sym(3, rs.iter().map(|r| r.symbol))?,
            e.opt_sym(4, rs.iter().map(|r| r.venue))?,
            e.side(rs.iter().map(|r| r.side)),
            e.f64(6, rs.iter().map(|r| r.qty))?,
            e.opt_f64(7, rs.iter().map(|r| r.px))?,
            e.i64(rs.iter().map(|r| r.t_emit.0)),
            e.opt_u64(rs.iter().map(|r| r.trigger_seq)),
        ])
    }

    fn remap_keys(&mut self, map: &[Sym]) {
        self.strategy = self.strategy.map(|s| map[s.index()]);
        self.symbol = self.symbol.map(|s| map[s.index()]);
        self.venue = self.venue.map(|s| map[s.index()]);
    }
}

impl Table for Fill {
    const NAME: &'static str = "fills";
    const COLUMNS: &'static [Column] = &[
        req("child_id", U64),
        req("t_fill_ns", I64),
        req("fill_px", F64),
        req("fill_qty", F64),
    ];

    fn from_csv(r: &mut CsvRow<'_>) -> Result<Self, TimelineError> {
        Ok(Fill {
            child_id: r.u64(0)?,
            t_fill: r.instant(1)?,
            fill_px: r.f64(2)?,
            fill_qty: r.f64(3)?,
        })
    }

    fn to_csv(&self, o: &mut CsvOut<'_>) -> Result<(), TimelineError> {
        o.u64(self.child_id);
        o.i64(self.t_fill.0);
        o.f64(2, self.fill_px)?;
        o.f64(3, self.fill_qty)?;
        Ok(())
    }

    fn from_arrow(c: &mut ArrowCols<'_>, out: &mut Vec<Self>) -> Result<(), TimelineError> {
        let child_id = c.u64(0)?;
        let t_fill = c.i64(1)?;
        let fill_px = c.f64(2)?;
        let fill_qty = c.f64(3)?;
        out.extend((0..c.rows()).map(|i| Fill {
            child_id: child_id[i],
            t_fill: crate::Instant(t_fill[i]),
            fill_px: fill_px[i],
            fill_qty: fill_qty[i],
        }));
        Ok(())
    }

    fn to_arrow(rs: &[Self], e: &ArrowEnc<'_>) -> Result<Vec<ArrayRef>, TimelineError> {
        Ok(vec![
            e.u64(rs.iter().map(|r| r.child_id)),
            e.i64(rs.iter().map(|r| r.t_fill.0)),
            e.f64(2, rs.iter().map(|r| r.fill_px))?,
            e.f64(3, rs.iter().map(|r| r.fill_qty))?,
        ])
    }

    fn remap_keys(&mut self, _map: &[Sym]) {}
}

impl Table for Parent {
    const NAME: &'static str = "parents";
    const COLUMNS: &'static [Column] = &[
        req("parent_id", U64),
        opt("strategy", Str),
        opt("symbol", Str),
        req("side", SideT),
        req("qty", F64),
        req("t_start_ns", I64),
        req("t_deadline_ns", I64),
    ];

    fn from_csv(r: &mut CsvRow<'_>) -> Result<Self, TimelineError> {
        let p = Parent {
            parent_id: r.u64(0)?,
            strategy: r.opt_sym(1)?,
            symbol: r.opt_sym(2)?,
            side: r.side(3)?,
            qty: r.f64(4)?,
            t_start: r.instant(5)?,
            t_deadline: r.instant(6)?,
        };
        match schedule_error(&p) {
            Some(message) => Err(r.reject(message)),
            None => Ok(p),
        }
    }

    fn to_csv(&self, o: &mut CsvOut<'_>) -> Result<(), TimelineError> {
        o.u64(self.parent_id);
        o.opt_sym(1, self.strategy)?;
        o.opt_sym(2, self.symbol)?;
        o.i64(i64::from(self.side.as_i8()));
        o.f64(4, self.qty)?;
        o.i64(self.t_start.0);
        o.i64(self.t_deadline.0);
        Ok(())
    }

    fn from_arrow(c: &mut ArrowCols<'_>, out: &mut Vec<Self>) -> Result<(), TimelineError> {
        let parent_id = c.u64(0)?;
        let strategy = c.opt_sym(1)?;
        let symbol = c.opt_sym(2)?;
        let side = c.side(3)?;
        let qty = c.f64(4)?;
        let t_start = c.i64(5)?;
        let t_deadline = c.i64(6)?;
        let first = out.len();
        out.extend((0..c.rows()).map(|i| Parent {
            parent_id: parent_id[i],
            strategy: strategy.get(i),
            symbol: symbol.get(i),
            side: side[i],
            qty: qty[i],
            t_start: crate::Instant(t_start[i]),
            t_deadline: crate::Instant(t_deadline[i]),
        }));
        for (i, p) in out[first..].iter().enumerate() {
            if let Some(message) = schedule_error(p) {
                return Err(c.reject(i, message));
            }
        }
        Ok(())
    }

    fn to_arrow(rs: &[Self], e: &ArrowEnc<'_>) -> Result<Vec<ArrayRef>, TimelineError> {
        Ok(vec![
            e.u64(rs.iter().map(|r| r.parent_id)),
            e.opt_sym(1, rs.iter().map(|r| r.strategy))?,
            e.opt_sym(2, rs.iter().map(|r| r.symbol))?,
            e.side(rs.iter().map(|r| r.side)),
            e.f64(4, rs.iter().map(|r| r.qty))?,
            e.i64(rs.iter().map(|r| r.t_start.0)),
            e.i64(rs.iter().map(|r| r.t_deadline.0)),
        ])
    }

    fn remap_keys(&mut self, map: &[Sym]) {
        self.strategy = self.strategy.map(|s| map[s.index()]);
        self.symbol = self.symbol.map(|s| map[s.index()]);
    }
}

/// Why a parent's schedule is unusable: SPEC §5.1 divides by `t_deadline - t_start`, so a
/// deadline at or before the start is rejected, naming the parent.
fn schedule_error(p: &Parent) -> Option<String> {
    (p.t_deadline <= p.t_start).then(|| {
        format!(
            "parent_id {} has t_deadline_ns = {} <= t_start_ns = {}; a parent's deadline must be after its start",
            p.parent_id, p.t_deadline.0, p.t_start.0
        )
    })
}
