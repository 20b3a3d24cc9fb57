//! LOBSTER order-book files (lobsterdata.com): a real arrival process and real quotes.
//!
//! A LOBSTER sample is two headerless CSV files with one row per exchange message:
//! - `*_message_<L>.csv`: time (seconds after midnight with up to 9 decimals), event
//!   type (1 submit, 2 cancel, 3 delete, 4 visible execution, 5 hidden execution,
//!   6 cross trade, 7 trading halt), order id, size, price (dollars x 10000), direction
//!   (1 buy, -1 sell).
//! - `*_orderbook_<L>.csv`: the book after that message: ask price 1, ask size 1, bid
//!   price 1, bid size 1, ... up to level L. An empty level is written as price
//!   9999999999 (ask) or -9999999999 (bid) with size 0.
//!
//! The time is parsed from its decimal text exactly (never through `f64`), so
//! `34200.004241176` is `34_200_004_241_176` ns.

use std::fs::File;
use std::path::Path;

use crate::error::{shorten, Location, TimelineError};
use crate::record::{Event, EventKind};
use crate::strings::Sym;
use crate::time::{Duration, Instant};

/// LOBSTER prices are dollars times this.
pub const PRICE_SCALE: i64 = 10_000;
/// Price LOBSTER writes for an empty ask level.
pub const EMPTY_ASK_PRICE: i64 = 9_999_999_999;
/// Price LOBSTER writes for an empty bid level.
pub const EMPTY_BID_PRICE: i64 = -9_999_999_999;

const MESSAGE_TABLE: &str = "LOBSTER message";
const BOOK_TABLE: &str = "LOBSTER orderbook";

/// One row of a LOBSTER message file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LobsterMessage {
    /// Nanoseconds after midnight (of the trading day, exchange local time).
    pub time: Instant,
    /// 1 submit, 2 cancel, 3 delete, 4 visible execution, 5 hidden execution,
    /// 6 cross trade, 7 trading halt.
    pub event_type: u8,
    /// Exchange order id (0 for some non-order messages).
    pub order_id: u64,
    /// Shares.
    pub size: u64,
    /// Dollar price x 10000 (for halts: -1 halt, 0 quote, 1 resume).
    pub price: i64,
    /// 1 buy, -1 sell.
    pub direction: i8,
}

/// One price level of a LOBSTER book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LobsterLevel {
    /// Dollar price x 10000.
    pub price: i64,
    /// Shares at this price; 0 marks an empty level.
    pub size: u64,
}

impl LobsterLevel {
    /// True for LOBSTER's placeholder of a missing level.
    pub const fn is_empty(self) -> bool {
        self.size == 0 || self.price == EMPTY_ASK_PRICE || self.price == EMPTY_BID_PRICE
    }
}

/// One row of a LOBSTER orderbook file: the book after the message of the same row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LobsterBook {
    /// Ask levels, best (lowest) first.
    pub asks: Vec<LobsterLevel>,
    /// Bid levels, best (highest) first.
    pub bids: Vec<LobsterLevel>,
}

impl LobsterBook {
    /// Best ask price (x10000), `None` when the ask side is empty.
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.first().filter(|l| !l.is_empty()).map(|l| l.price)
    }

    /// Best bid price (x10000), `None` when the bid side is empty.
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.first().filter(|l| !l.is_empty()).map(|l| l.price)
    }
}

/// Parse seconds-after-midnight text such as `34200.004241176` into exact nanoseconds.
/// More than 9 decimals are accepted only when the extra digits are zeros.
pub fn parse_seconds_exact(text: &str) -> Option<Instant> {
    let t = text.trim();
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (ns_digits, rest) = frac.split_at(frac.len().min(9));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut ns: i64 = 0;
    for (i, b) in ns_digits.bytes().enumerate() {
        ns += i64::from(b - b'0') * 10_i64.pow(8 - i as u32);
    }
    let secs: i64 = secs.parse().ok()?;
    secs.checked_mul(1_000_000_000)?
        .checked_add(ns)
        .map(Instant)
}

struct Rows {
    path: std::path::PathBuf,
    table: &'static str,
    reader: csv::Reader<File>,
    record: csv::StringRecord,
}

impl Rows {
    fn open(path: &Path, table: &'static str) -> Result<Self, TimelineError> {
        let file = File::open(path).map_err(|source| TimelineError::Io {
            path: path.to_path_buf(),
            action: "open",
            source,
        })?;
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(file);
        Ok(Rows {
            path: path.to_path_buf(),
            table,
            reader,
            record: csv::StringRecord::new(),
        })
    }

    /// Advance; `Ok(false)` at the end.
    fn next(&mut self) -> Result<bool, TimelineError> {
        self.reader.read_record(&mut self.record).map_err(|e| {
            let location = Location::Line(e.position().map_or(0, |p| p.line()));
            match e.into_kind() {
                csv::ErrorKind::Io(source) => TimelineError::Io {
                    path: self.path.clone(),
                    action: "read",
                    source,
                },
                kind => TimelineError::Malformed {
                    path: self.path.clone(),
                    table: self.table,
                    location,
                    message: format!("{kind:?}"),
                },
            }
        })
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    fn malformed(&self, message: String) -> TimelineError {
        TimelineError::Malformed {
            path: self.path.clone(),
            table: self.table,
            location: Location::Line(self.line()),
            message,
        }
    }

    fn field<T>(
        &self,
        index: usize,
        column: &'static str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, TimelineError> {
        let text = self.record.get(index).unwrap_or("");
        parse(text).ok_or_else(|| TimelineError::InvalidValue {
            path: self.path.clone(),
            table: self.table,
            column,
            location: Location::Line(self.line()),
            value: shorten(text),
            expected,
        })
    }
}

fn int<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}

/// Read a LOBSTER message file.
pub fn read_lobster_messages(path: &Path) -> Result<Vec<LobsterMessage>, TimelineError> {
    let mut rows = Rows::open(path, MESSAGE_TABLE)?;
    let mut out = Vec::new();
    while rows.next()? {
        if rows.record.len() != 6 {
            return Err(rows.malformed(format!(
                "a message row has 6 fields (time, type, order id, size, price, direction), found {}",
                rows.record.len()
            )));
        }
        out.push(LobsterMessage {
            time: rows.field(
                0,
                "time",
                "seconds after midnight with at most 9 decimals",
                parse_seconds_exact,
            )?,
            event_type: rows.field(1, "event_type", "an event type 1..=7", |t| {
                int::<u8>(t).filter(|v| (1..=7).contains(v))
            })?,
            order_id: rows.field(2, "order_id", "an unsigned 64-bit integer", int::<u64>)?,
            size: {
                // A negative size is named as such (not just "not unsigned").
                let text = rows.record.get(3).unwrap_or("");
                if int::<i64>(text).is_some_and(|v| v < 0) {
                    return Err(TimelineError::InvalidValue {
                        path: rows.path.clone(),
                        table: rows.table,
                        column: "size",
                        location: Location::Line(rows.line()),
                        value: shorten(text),
                        expected: "a share count >= 0 (a negative size is invalid)",
                    });
                }
                rows.field(3, "size", "an unsigned 64-bit integer", int::<u64>)?
            },
            price: rows.field(
                4,
                "price",
                "a signed 64-bit integer (dollars x 10000)",
                int::<i64>,
            )?,
            direction: rows.field(5, "direction", "a direction (1 buy or -1 sell)", |t| {
                int::<i8>(t).filter(|v| *v == 1 || *v == -1)
            })?,
        });
    }
    Ok(out)
}

/// Read the first `levels` levels of each row of a LOBSTER orderbook file.
pub fn read_lobster_orderbook(
    path: &Path,
    levels: usize,
) -> Result<Vec<LobsterBook>, TimelineError> {
    let mut rows = Rows::open(path, BOOK_TABLE)?;
    if levels == 0 {
        return Err(TimelineError::Malformed {
            path: path.to_path_buf(),
            table: BOOK_TABLE,
            location: Location::Line(1),
            message: "at least one book level must be read (levels = 0 was asked)".into(),
        });
    }
    let mut out = Vec::new();
    while rows.next()? {
        let n = rows.record.len();
        if n % 4 != 0 || n < 4 * levels {
            return Err(rows.malformed(format!(
                "an orderbook row has 4 fields per level and {levels} levels were asked, found {n} fields"
            )));
        }
        let mut book = LobsterBook {
            asks: Vec::with_capacity(levels),
            bids: Vec::with_capacity(levels),
        };
        for level in 0..levels {
            let base = 4 * level;
            book.asks.push(LobsterLevel {
                price: rows.field(
                    base,
                    "ask_price",
                    "a signed 64-bit integer (dollars x 10000)",
                    int::<i64>,
                )?,
                size: rows.field(
                    base + 1,
                    "ask_size",
                    "an unsigned 64-bit integer",
                    int::<u64>,
                )?,
            });
            book.bids.push(LobsterLevel {
                price: rows.field(
                    base + 2,
                    "bid_price",
                    "a signed 64-bit integer (dollars x 10000)",
                    int::<i64>,
                )?,
                size: rows.field(
                    base + 3,
                    "bid_size",
                    "an unsigned 64-bit integer",
                    int::<u64>,
                )?,
            });
        }
        out.push(book);
    }
    Ok(out)
}

/// Turn LOBSTER messages into md events of one stream.
///
/// `seq` is the 1-based row, `t_ingress = day_origin + time`, `kind` md, no venue.
/// With `books` (row-aligned with `messages`), `bid`/`ask` are the best prices of the
/// row in dollars and `transition` says whether the best bid or best ask differs from
/// the previous row (for the first row: whether any best price exists). Rows without
/// a book row (`books` shorter than `messages`), and all rows when `books` is `None`,
/// get no quote and a null `transition`; callers that need quotes should check
/// `books.len() == messages.len()` first.
pub fn lobster_to_events(
    messages: &[LobsterMessage],
    books: Option<&[LobsterBook]>,
    stream: Sym,
    symbol: Option<Sym>,
    day_origin: Instant,
) -> Vec<Event> {
    let mut previous: (Option<i64>, Option<i64>) = (None, None);
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut e = Event::md(stream, i as u64 + 1, day_origin + Duration(m.time.0));
            e.kind = EventKind::Md;
            e.symbol = symbol;
            if let Some(book) = books.and_then(|b| b.get(i)) {
                let best = (book.best_bid(), book.best_ask());
                e.bid = best.0.map(to_dollars);
                e.ask = best.1.map(to_dollars);
                e.transition = Some(best != previous);
                previous = best;
            }
            e
        })
        .collect()
}

/// Which of the two LOBSTER files a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LobsterFileKind {
    /// `*_message_<L>.csv`
    Message,
    /// `*_orderbook_<L>.csv`
    Orderbook,
}

/// The facts LOBSTER encodes in a file name:
/// `<TICKER>_<YYYY-MM-DD>_<start ms>_<end ms>_<message|orderbook>_<levels>.csv`
/// (a suffix such as `.head` before `.csv` is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LobsterFileName {
    /// Instrument, e.g. `AAPL`.
    pub ticker: String,
    /// Trading day (year, month, day).
    pub date: (i32, u32, u32),
    /// Start of the sample after midnight.
    pub start: Duration,
    /// End of the sample after midnight.
    pub end: Duration,
    /// Message or orderbook file.
    pub kind: LobsterFileKind,
    /// Book levels of the sample.
    pub levels: usize,
}

impl LobsterFileName {
    /// Parse the file name of `path`; `None` if it does not follow the LOBSTER pattern.
    pub fn parse(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let mut parts: Vec<&str> = name.split('_').collect();
        // "10.head.csv" -> 10: the digits before the first dot.
        let last = parts.pop()?;
        let levels = last.split('.').next()?.parse().ok()?;
        let kind = match parts.pop()? {
            "message" => LobsterFileKind::Message,
            "orderbook" => LobsterFileKind::Orderbook,
            _ => return None,
        };
        let end: i64 = parts.pop()?.parse().ok()?;
        let start: i64 = parts.pop()?.parse().ok()?;
        let mut ymd = parts.pop()?.split('-');
        let date = (
            ymd.next()?.parse().ok()?,
            ymd.next()?.parse().ok()?,
            ymd.next()?.parse().ok()?,
        );
        let ticker = parts.join("_");
        if ymd.next().is_some() || ticker.is_empty() {
            return None;
        }
        civil_midnight_utc(date.0, date.1, date.2)?;
        Some(LobsterFileName {
            ticker,
            date,
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            kind,
            levels,
        })
    }

    /// Midnight UTC of the trading day. LOBSTER times count from local (New York)
    /// midnight; add the UTC offset of that day (4 h in summer, 5 h in winter) to get
    /// true UTC instants, or use this as a consistent origin when only gaps matter.
    pub fn midnight_utc(&self) -> Instant {
        // Validated in `parse`.
        civil_midnight_utc(self.date.0, self.date.1, self.date.2).unwrap_or_default()
    }
}

/// Nanoseconds since the Unix epoch of 00:00 UTC on a proleptic Gregorian date, `None`
/// for an impossible date. (Days-from-civil, H. Hinnant's public-domain algorithm.)
pub fn civil_midnight_utc(year: i32, month: u32, day: u32) -> Option<Instant> {
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let max_day = match month {
        2 if leap => 29,
        1..=12 => month_days[month as usize - 1],
        _ => return None,
    };
    if day == 0 || day > max_day {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days.checked_mul(86_400_000_000_000).map(Instant)
}

/// LOBSTER price (x10000) in dollars; the nearest `f64` to the exact decimal.
fn to_dollars(price: i64) -> f64 {
    price as f64 / PRICE_SCALE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_exactly() {
        assert_eq!(
            parse_seconds_exact("34200.004241176"),
            Some(Instant(34_200_004_241_176))
        );
        assert_eq!(
            parse_seconds_exact("34200.00426064"),
            Some(Instant(34_200_004_260_640))
        );
        assert_eq!(parse_seconds_exact("1"), Some(Instant(1_000_000_000)));
        assert_eq!(parse_seconds_exact("0.5"), Some(Instant(500_000_000)));
        assert_eq!(parse_seconds_exact("0.0000000010"), Some(Instant(1)));
        assert_eq!(parse_seconds_exact("0.0000000011"), None);
        assert_eq!(parse_seconds_exact("-1.0"), None);
        assert_eq!(parse_seconds_exact("1e3"), None);
        assert_eq!(parse_seconds_exact(""), None);
        assert_eq!(parse_seconds_exact("99999999999999999999"), None);
    }

    #[test]
    fn civil_dates_match_known_epochs() {
        assert_eq!(civil_midnight_utc(1970, 1, 1), Some(Instant(0)));
        assert_eq!(
            civil_midnight_utc(1969, 12, 31),
            Some(Instant(-86_400_000_000_000))
        );
        // date -u -d 2012-06-21 +%s = 1340236800
        assert_eq!(
            civil_midnight_utc(2012, 6, 21),
            Some(Instant(1_340_236_800_000_000_000))
        );
        // date -u -d 2000-03-01 +%s = 951868800 (after a century leap day)
        assert_eq!(
            civil_midnight_utc(2000, 3, 1),
            Some(Instant(951_868_800_000_000_000))
        );
        assert_eq!(
            civil_midnight_utc(2012, 2, 29).map(|t| t.0 / 86_400_000_000_000),
            Some(15_399)
        );
        assert_eq!(civil_midnight_utc(2011, 2, 29), None);
        assert_eq!(civil_midnight_utc(2012, 13, 1), None);
        assert_eq!(civil_midnight_utc(2012, 4, 31), None);
    }

    #[test]
    fn file_names_parse() {
        let n = LobsterFileName::parse(Path::new(
            "x/AAPL_2012-06-21_34200000_57600000_message_10.head.csv",
        ))
        .unwrap();
        assert_eq!(n.ticker, "AAPL");
        assert_eq!(n.date, (2012, 6, 21));
        assert_eq!(n.start, Duration::from_secs(34_200));
        assert_eq!(n.end, Duration::from_secs(57_600));
        assert_eq!(n.kind, LobsterFileKind::Message);
        assert_eq!(n.levels, 10);
        assert_eq!(n.midnight_utc(), Instant(1_340_236_800_000_000_000));
        let b = LobsterFileName::parse(Path::new("MSFT_2012-06-21_0_1_orderbook_1.csv")).unwrap();
        assert_eq!((b.kind, b.levels), (LobsterFileKind::Orderbook, 1));
        assert!(LobsterFileName::parse(Path::new("events.csv")).is_none());
        assert!(LobsterFileName::parse(Path::new("_2012-06-21_0_1_message_1.csv")).is_none());
        assert!(LobsterFileName::parse(Path::new("2012-06-21_0_1_message_1.csv")).is_none());
        assert!(LobsterFileName::parse(Path::new("A_2012-02-30_0_1_message_1.csv")).is_none());
    }

    #[test]
    fn empty_levels_have_no_price() {
        let book = LobsterBook {
            asks: vec![LobsterLevel {
                price: EMPTY_ASK_PRICE,
                size: 0,
            }],
            bids: vec![LobsterLevel {
                price: 5_853_300,
                size: 18,
            }],
        };
        assert_eq!(book.best_ask(), None);
        assert_eq!(book.best_bid(), Some(5_853_300));
    }
}
