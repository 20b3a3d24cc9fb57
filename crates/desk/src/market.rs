//! The market: a time-ordered stream of exchange messages, each with the book after it.
//!
//! Every source (a LOBSTER file pair, the synthetic model) implements [`Market`]; the
//! desk opens one [`MarketCursor`] per run, so several settings can replay the same
//! market in parallel from one shared, immutable description.
//!
//! Prices are integer ticks of 1/10 000 dollar (LOBSTER's scale,
//! [`coalescope_timeline::lobster::PRICE_SCALE`]); sizes are shares; times are ns on the
//! desk's clock (the feed's `t_ingress`).

use coalescope_timeline::Side;

/// Price in 1/10 000 dollar (LOBSTER's integer price).
pub type Price = i64;

/// What an exchange message did (LOBSTER event types 1–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// 1: a new limit order rests in the book.
    Submit,
    /// 2: part of a resting order is cancelled.
    Cancel,
    /// 3: a resting order is removed entirely.
    Delete,
    /// 4: a visible resting order executes (a trade at its price).
    Execute,
    /// 5: a hidden order executes (a trade the displayed book did not show).
    ExecuteHidden,
    /// 6: a cross trade (auction).
    Cross,
    /// 7: a trading halt, quote or resume indicator.
    Halt,
}

impl MessageKind {
    /// The LOBSTER event-type code.
    pub const fn lobster_code(self) -> u8 {
        match self {
            MessageKind::Submit => 1,
            MessageKind::Cancel => 2,
            MessageKind::Delete => 3,
            MessageKind::Execute => 4,
            MessageKind::ExecuteHidden => 5,
            MessageKind::Cross => 6,
            MessageKind::Halt => 7,
        }
    }

    /// From a LOBSTER event-type code; `None` for anything outside 1..=7.
    pub const fn from_lobster_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => MessageKind::Submit,
            2 => MessageKind::Cancel,
            3 => MessageKind::Delete,
            4 => MessageKind::Execute,
            5 => MessageKind::ExecuteHidden,
            6 => MessageKind::Cross,
            7 => MessageKind::Halt,
            _ => return None,
        })
    }
}

/// One exchange message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// When the exchange sent it (ns); the md event's `t_ingress` before the feed offset.
    pub t_ns: i64,
    /// What it did.
    pub kind: MessageKind,
    /// Exchange order id (0 where the message has none).
    pub order_id: u64,
    /// Shares affected.
    pub size: u64,
    /// Price of the affected order (ticks).
    pub price: Price,
    /// Side of the affected *resting* order (an execution of a resting sell is a buy
    /// aggressor hitting it).
    pub side: Side,
}

/// Most levels per side a [`Book`] keeps (LOBSTER's usual maximum).
pub const MAX_LEVELS: usize = 10;

/// One displayed price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    /// Price (ticks).
    pub price: Price,
    /// Displayed shares (> 0 for a level that exists).
    pub size: u64,
}

/// The displayed book after a message: up to [`MAX_LEVELS`] levels per side, best first,
/// no empty levels in between. Fixed size: copying it never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Book {
    bids: [Level; MAX_LEVELS],
    asks: [Level; MAX_LEVELS],
    n_bids: u8,
    n_asks: u8,
}

impl Book {
    /// An empty book.
    pub const fn empty() -> Self {
        Book {
            bids: [Level { price: 0, size: 0 }; MAX_LEVELS],
            asks: [Level { price: 0, size: 0 }; MAX_LEVELS],
            n_bids: 0,
            n_asks: 0,
        }
    }

    /// Bid levels, best (highest) first.
    pub fn bids(&self) -> &[Level] {
        &self.bids[..self.n_bids as usize]
    }

    /// Ask levels, best (lowest) first.
    pub fn asks(&self) -> &[Level] {
        &self.asks[..self.n_asks as usize]
    }

    /// Levels of one side: bids for [`Side::Buy`], asks for [`Side::Sell`].
    pub fn side(&self, side: Side) -> &[Level] {
        match side {
            Side::Buy => self.bids(),
            Side::Sell => self.asks(),
        }
    }

    /// Best bid price.
    pub fn best_bid(&self) -> Option<Price> {
        self.bids().first().map(|l| l.price)
    }

    /// Best ask price.
    pub fn best_ask(&self) -> Option<Price> {
        self.asks().first().map(|l| l.price)
    }

    /// Clear one side and refill it from `levels` (best first). Levels with size 0 end
    /// the side; levels past [`MAX_LEVELS`] are ignored. Returns how many were kept.
    pub fn set_side(&mut self, side: Side, levels: impl IntoIterator<Item = Level>) -> usize {
        let (slots, n) = match side {
            Side::Buy => (&mut self.bids, &mut self.n_bids),
            Side::Sell => (&mut self.asks, &mut self.n_asks),
        };
        let mut k = 0;
        for level in levels.into_iter().take(MAX_LEVELS) {
            if level.size == 0 {
                break;
            }
            slots[k] = level;
            k += 1;
        }
        *n = k as u8;
        k
    }
}

/// A market the desk can replay: an immutable description that opens fresh cursors.
pub trait Market: Sync {
    /// The symbol of its md events.
    fn symbol(&self) -> &str;
    /// The venue of its md events, if any.
    fn venue(&self) -> Option<&str>;
    /// The feed name (the md events' `stream`).
    fn stream(&self) -> &str;
    /// A cursor at the first message. Every cursor of one market yields the same
    /// messages (a synthetic market regenerates them from its seed).
    fn cursor(&self) -> Box<dyn MarketCursor + '_>;
}

/// Walks a market's messages in time order (non-decreasing `t_ns`).
pub trait MarketCursor {
    /// The next message and the book after it; `Ok(None)` at the end.
    fn next_message(&mut self) -> Result<Option<(Message, &Book)>, crate::DeskError>;
}
