//! A LOBSTER message + orderbook pair as a [`Market`]: a real book, message by message.
//!
//! Read through timeline's LOBSTER reader, then checked: both files have the same number
//! of rows, times never go back, an order message (types 1–6) has a positive price and
//! a size that is not negative, every event type is one of LOBSTER's 1–7. Each error
//! names the file and the 1-based line. Trading halts (type 7) are kept as messages of
//! kind [`MessageKind::Halt`] (the driver counts them); they are not errors.
//!
//! The book of each row keeps at most [`MAX_LEVELS`] levels per side (LOBSTER's empty
//! level placeholders end a side).

use std::path::Path;

use coalescope_timeline::lobster::{
    read_lobster_messages, read_lobster_orderbook, LobsterBook, LobsterFileName, LobsterMessage,
};
use coalescope_timeline::Side;

use crate::market::{Book, Level, Market, MarketCursor, Message, MessageKind, MAX_LEVELS};
use crate::DeskError;

/// A LOBSTER sample held in memory (one [`Message`] and one fixed-size [`Book`] per row).
#[derive(Debug, Clone)]
pub struct LobsterMarket {
    messages: Vec<Message>,
    books: Vec<Book>,
    symbol: String,
    venue: Option<String>,
    stream: String,
}

/// How to name a LOBSTER market's md events.
#[derive(Debug, Clone, Default)]
pub struct LobsterNames {
    /// `symbol` of the md events (default: the ticker of the LOBSTER file name, else
    /// `LOBSTER`).
    pub symbol: Option<String>,
    /// `venue` of the md events (default none).
    pub venue: Option<String>,
    /// The feed name, the md events' `stream` (default `lobster`).
    pub feed: Option<String>,
}

/// The default feed (stream) name of a LOBSTER market.
pub const DEFAULT_FEED: &str = "lobster";

fn lobster_error(path: &Path, line: usize, message: String) -> DeskError {
    DeskError::Lobster {
        path: path.to_path_buf(),
        line: line as u64,
        message,
    }
}

/// Book levels per row the orderbook file holds: from the LOBSTER file name, else from
/// the field count of its first line (4 fields per level).
fn levels_of(orderbook: &Path) -> Result<usize, DeskError> {
    if let Some(name) = LobsterFileName::parse(orderbook) {
        if name.levels > 0 {
            return Ok(name.levels.min(MAX_LEVELS));
        }
    }
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(orderbook).map_err(|source| {
        DeskError::Read(coalescope_timeline::TimelineError::Io {
            path: orderbook.to_path_buf(),
            action: "open",
            source,
        })
    })?;
    let mut first = String::new();
    std::io::BufReader::new(file)
        .take(1 << 20)
        .read_line(&mut first)
        .map_err(|source| {
            DeskError::Read(coalescope_timeline::TimelineError::Io {
                path: orderbook.to_path_buf(),
                action: "read",
                source,
            })
        })?;
    let fields = first.trim_end().split(',').count();
    if first.trim().is_empty() || !fields.is_multiple_of(4) {
        return Err(lobster_error(
            orderbook,
            1,
            format!("an orderbook row has 4 fields per level, found {fields}"),
        ));
    }
    Ok((fields / 4).min(MAX_LEVELS))
}

fn to_book(row: &LobsterBook) -> Book {
    let mut book = Book::empty();
    let keep = |l: &&coalescope_timeline::LobsterLevel| !l.is_empty();
    book.set_side(
        Side::Sell,
        row.asks.iter().take_while(keep).map(|l| Level {
            price: l.price,
            size: l.size,
        }),
    );
    book.set_side(
        Side::Buy,
        row.bids.iter().take_while(keep).map(|l| Level {
            price: l.price,
            size: l.size,
        }),
    );
    book
}

fn to_message(path: &Path, line: usize, m: &LobsterMessage) -> Result<Message, DeskError> {
    let kind = MessageKind::from_lobster_code(m.event_type).ok_or_else(|| {
        lobster_error(
            path,
            line,
            format!("unknown event type {} (LOBSTER has 1..=7)", m.event_type),
        )
    })?;
    if kind != MessageKind::Halt && m.price <= 0 {
        return Err(lobster_error(
            path,
            line,
            format!(
                "price {} on an order message (event type {}): prices are dollars x 10000 and positive",
                m.price, m.event_type
            ),
        ));
    }
    Ok(Message {
        t_ns: m.time.0,
        kind,
        order_id: m.order_id,
        size: m.size,
        price: m.price,
        side: if m.direction >= 0 {
            Side::Buy
        } else {
            Side::Sell
        },
    })
}

impl LobsterMarket {
    /// Reads and checks a LOBSTER message file and its orderbook file.
    pub fn open(message: &Path, orderbook: &Path, names: LobsterNames) -> Result<Self, DeskError> {
        let levels = levels_of(orderbook)?;
        let raw = read_lobster_messages(message)?;
        let rows = read_lobster_orderbook(orderbook, levels)?;
        if raw.len() != rows.len() {
            let (longer, n) = if raw.len() > rows.len() {
                (message, rows.len())
            } else {
                (orderbook, raw.len())
            };
            return Err(lobster_error(
                longer,
                n + 1,
                format!(
                    "the message file has {} rows and the orderbook file has {}: this row has no partner (they must be row-aligned)",
                    raw.len(),
                    rows.len()
                ),
            ));
        }
        let mut messages = Vec::with_capacity(raw.len());
        let mut last = i64::MIN;
        for (i, m) in raw.iter().enumerate() {
            let msg = to_message(message, i + 1, m)?;
            if msg.t_ns < last {
                return Err(lobster_error(
                    message,
                    i + 1,
                    format!(
                        "unsorted times: {} ns is before the previous row's {} ns",
                        msg.t_ns, last
                    ),
                ));
            }
            last = msg.t_ns;
            messages.push(msg);
        }
        let books = rows.iter().map(to_book).collect();
        let file_name = LobsterFileName::parse(message);
        let symbol = names
            .symbol
            .or_else(|| file_name.map(|n| n.ticker))
            .unwrap_or_else(|| "LOBSTER".to_string());
        Self::from_parts(
            messages,
            books,
            &symbol,
            names.venue.as_deref(),
            names.feed.as_deref().unwrap_or(DEFAULT_FEED),
        )
        .map_err(|e| match e {
            DeskError::Market(m) => DeskError::Market(format!("{}: {m}", message.display())),
            other => other,
        })
    }

    /// A market from messages and the books after them (row-aligned, times
    /// non-decreasing): hand-made books for tests and benchmarks.
    pub fn from_parts(
        messages: Vec<Message>,
        books: Vec<Book>,
        symbol: &str,
        venue: Option<&str>,
        stream: &str,
    ) -> Result<Self, DeskError> {
        if messages.len() != books.len() {
            return Err(DeskError::Market(format!(
                "{} messages but {} books: they must be row-aligned",
                messages.len(),
                books.len()
            )));
        }
        if let Some(i) = messages.windows(2).position(|w| w[1].t_ns < w[0].t_ns) {
            return Err(DeskError::Market(format!(
                "unsorted times: message {} at {} ns is before message {} at {} ns",
                i + 2,
                messages[i + 1].t_ns,
                i + 1,
                messages[i].t_ns
            )));
        }
        Ok(LobsterMarket {
            messages,
            books,
            symbol: symbol.to_string(),
            venue: venue.map(str::to_string),
            stream: stream.to_string(),
        })
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when there are no messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages, in time order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The book after each message.
    pub fn books(&self) -> &[Book] {
        &self.books
    }
}

struct Cursor<'a> {
    market: &'a LobsterMarket,
    next: usize,
}

impl MarketCursor for Cursor<'_> {
    fn next_message(&mut self) -> Result<Option<(Message, &Book)>, DeskError> {
        let i = self.next;
        match (self.market.messages.get(i), self.market.books.get(i)) {
            (Some(m), Some(b)) => {
                self.next += 1;
                Ok(Some((*m, b)))
            }
            _ => Ok(None),
        }
    }
}

impl Market for LobsterMarket {
    fn symbol(&self) -> &str {
        &self.symbol
    }

    fn venue(&self) -> Option<&str> {
        self.venue.as_deref()
    }

    fn stream(&self) -> &str {
        &self.stream
    }

    fn cursor(&self) -> Box<dyn MarketCursor + '_> {
        Box::new(Cursor {
            market: self,
            next: 0,
        })
    }
}
