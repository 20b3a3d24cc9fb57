//! Parsers for the text counter files. Each takes the file's text (`&str`), so fixtures
//! from several kernel versions test them; none panics on unexpected content.

use serde::Serialize;

/// A line of a counter file that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct ParseError {
    /// The file (host path) being parsed.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, naming the field.
    pub reason: String,
}

fn err(file: &str, line: usize, reason: impl Into<String>) -> ParseError {
    ParseError {
        file: file.to_string(),
        line,
        reason: reason.into(),
    }
}

/// One row of /proc/interrupts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IrqRow {
    /// The label before ':' (`"24"`, `"NMI"`, `"LOC"`, `"IPI0"`).
    pub label: String,
    /// The IRQ number when the label is numeric; summary rows (NMI, LOC, RES...) have none.
    pub irq: Option<u32>,
    /// Count per CPU, in the order of [`Interrupts::cpus`]. Empty for rows that print a
    /// single system-wide number (x86 `ERR:` and `MIS:`).
    pub per_cpu: Vec<u64>,
    /// Sum over CPUs, or the single number of a system-wide row.
    pub total: u64,
    /// The rest of the line, blanks collapsed: chip, hwirq/trigger and actions
    /// (`"IO-APIC 5-edge ACPI:Ged"`), or the summary text (`"Local timer interrupts"`).
    pub desc: String,
}

/// A parsed /proc/interrupts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupts {
    /// CPU numbers from the header (`CPU0 CPU1 ...`); offline CPUs are absent there.
    pub cpus: Vec<u32>,
    /// Rows in file order.
    pub rows: Vec<IrqRow>,
    /// 1-based numbers of lines that had no `label:` or no count and were skipped.
    pub skipped_lines: Vec<usize>,
}

/// Parse /proc/interrupts. The header names the CPU columns; each row is `label:` then
/// one count per CPU, then free text. A row with fewer counts than CPUs is accepted only
/// as a single system-wide number (x86 ERR/MIS); other short rows are an error naming
/// the line, because a silently shifted column would mislabel CPUs.
pub fn parse_interrupts(text: &str) -> Result<Interrupts, ParseError> {
    parse_cpu_table("/proc/interrupts", text)
}

/// Parse /proc/softirqs: the same layout as /proc/interrupts (a `CPUn` header, then
/// `NAME:` and one count per CPU); the rows are the softirq vectors (`NET_RX`,
/// `NET_TX`, `TIMER`, ...), each with `irq` = `None` and an empty `desc`.
pub fn parse_softirqs(text: &str) -> Result<Interrupts, ParseError> {
    parse_cpu_table("/proc/softirqs", text)
}

fn parse_cpu_table(file: &str, text: &str) -> Result<Interrupts, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    let (header_idx, header) = lines
        .next()
        .ok_or_else(|| err(file, 1, "the file is empty"))?;
    let mut cpus = Vec::new();
    for token in header.split_whitespace() {
        let n = token
            .strip_prefix("CPU")
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| {
                err(
                    file,
                    header_idx + 1,
                    format!("header token {token:?} is not CPUn"),
                )
            })?;
        cpus.push(n);
    }
    if cpus.is_empty() {
        return Err(err(file, header_idx + 1, "header names no CPU column"));
    }
    let mut rows = Vec::new();
    let mut skipped_lines = Vec::new();
    for (idx, line) in lines {
        let line_no = idx + 1;
        let Some((label, rest)) = line.split_once(':') else {
            if !line.trim().is_empty() {
                skipped_lines.push(line_no);
            }
            continue;
        };
        let label = label.trim();
        if label.is_empty() || label.contains(char::is_whitespace) {
            skipped_lines.push(line_no);
            continue;
        }
        let mut tokens = rest.split_whitespace().peekable();
        let mut counts = Vec::with_capacity(cpus.len());
        while counts.len() < cpus.len() {
            match tokens.peek().map(|t| t.parse::<u64>()) {
                Some(Ok(n)) => {
                    counts.push(n);
                    tokens.next();
                }
                _ => break,
            }
        }
        let desc = tokens.collect::<Vec<_>>().join(" ");
        let (per_cpu, total) = match counts.len() {
            0 => {
                skipped_lines.push(line_no);
                continue;
            }
            n if n == cpus.len() => {
                let total = counts.iter().fold(0u64, |a, &b| a.saturating_add(b));
                (counts, total)
            }
            1 if desc.is_empty() => (Vec::new(), counts[0]),
            n => {
                return Err(err(
                    file,
                    line_no,
                    format!(
                        "row {label:?} has {n} counts for {} CPU columns",
                        cpus.len()
                    ),
                ))
            }
        };
        rows.push(IrqRow {
            label: label.to_string(),
            irq: label.parse().ok(),
            per_cpu,
            total,
            desc,
        });
    }
    Ok(Interrupts {
        cpus,
        rows,
        skipped_lines,
    })
}

/// One CPU's row of /proc/net/softnet_stat.
///
/// Column meanings (all `%08x` hex), from `softnet_seq_show()` in
/// net/core/net-procfs.c:
///
/// | col | field | since |
/// |---|---|---|
/// | 1 | processed: packets taken off the backlog/NAPI by this CPU | always |
/// | 2 | dropped: packets dropped because the backlog (netdev_max_backlog) was full | always |
/// | 3 | time_squeeze: net_rx_action rounds that ran out of budget or time with work left | always |
/// | 4-8 | always 0 (were fastroute counters) | always |
/// | 9 | cpu_collision: always 0 in modern kernels | always |
/// | 10 | received_rps: RPS inter-processor interrupts received | 2.6.35 |
/// | 11 | flow_limit_count: packets dropped by the RPS flow limit | 3.11 (11 columns) |
/// | 12 | backlog_len: input_pkt_queue + process_queue length (a gauge) | 5.10 (13 columns) |
/// | 13 | the CPU index owning the row (offline CPUs are not printed) | 5.10 (13 columns) |
/// | 14 | input_qlen: input_pkt_queue length (a gauge) | 6.x (15 columns) |
/// | 15 | process_qlen: process_queue length (a gauge) | 6.x (15 columns) |
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoftnetCpu {
    /// The CPU: column 13 when present, otherwise the row's position (which is wrong when
    /// a lower-numbered CPU is offline; those kernels give no better answer).
    pub cpu: u32,
    /// Whether `cpu` came from column 13 rather than the row position.
    pub cpu_from_file: bool,
    /// Column 1.
    pub processed: u64,
    /// Column 2.
    pub dropped: u64,
    /// Column 3.
    pub time_squeeze: u64,
    /// Column 9.
    pub cpu_collision: u64,
    /// Column 10.
    pub received_rps: u64,
    /// Column 11 (11+ columns).
    pub flow_limit_count: Option<u64>,
    /// Column 12 (13+ columns), a gauge.
    pub backlog_len: Option<u64>,
    /// Column 14 (15+ columns), a gauge.
    pub input_qlen: Option<u64>,
    /// Column 15 (15+ columns), a gauge.
    pub process_qlen: Option<u64>,
    /// How many columns the row had.
    pub columns: usize,
}

/// Parse /proc/net/softnet_stat (10, 11, 13 or 15 columns; more are accepted and the
/// extra columns ignored). Fewer than 10 columns or a non-hex field is an error naming
/// the line and column.
pub fn parse_softnet(text: &str) -> Result<Vec<SoftnetCpu>, ParseError> {
    const FILE: &str = "/proc/net/softnet_stat";
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut cols = Vec::with_capacity(15);
        for (c, token) in line.split_whitespace().enumerate() {
            let v = u64::from_str_radix(token, 16).map_err(|_| {
                err(
                    FILE,
                    idx + 1,
                    format!("column {} ({token:?}) is not hexadecimal", c + 1),
                )
            })?;
            cols.push(v);
        }
        if cols.len() < 10 {
            return Err(err(
                FILE,
                idx + 1,
                format!("{} columns, expected at least 10", cols.len()),
            ));
        }
        let col = |n: usize| cols.get(n - 1).copied();
        let position = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let from_file = col(13).and_then(|v| u32::try_from(v).ok());
        out.push(SoftnetCpu {
            cpu: from_file.unwrap_or(position),
            cpu_from_file: from_file.is_some(),
            processed: cols[0],
            dropped: cols[1],
            time_squeeze: cols[2],
            cpu_collision: cols[8],
            received_rps: cols[9],
            flow_limit_count: col(11),
            backlog_len: if cols.len() >= 13 { col(12) } else { None },
            input_qlen: col(14),
            process_qlen: if cols.len() >= 15 { col(15) } else { None },
            columns: cols.len(),
        });
    }
    Ok(out)
}

/// CPU time of one task from `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskTimes {
    /// The command name between the parentheses (field 2).
    pub comm: String,
    /// Field 14, user time in clock ticks (USER_HZ).
    pub utime_ticks: u64,
    /// Field 15, system time in clock ticks (USER_HZ).
    pub stime_ticks: u64,
}

/// Parse `/proc/<pid>/stat` far enough for utime and stime. The command name may contain
/// spaces and parentheses, so the fields are counted from the last ')'.
pub fn parse_task_stat(path: &str, text: &str) -> Result<TaskTimes, ParseError> {
    let open = text
        .find('(')
        .ok_or_else(|| err(path, 1, "no '(' before the command name"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| err(path, 1, "no ')' after the command name"))?;
    if close < open {
        return Err(err(path, 1, "')' comes before '('"));
    }
    let comm = text[open + 1..close].to_string();
    // After ")": field 3 (state) is the first token, so field n is token n-3.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize, name: &str| -> Result<u64, ParseError> {
        let token = fields
            .get(n - 3)
            .ok_or_else(|| err(path, 1, format!("field {n} ({name}) is missing")))?;
        token.parse().map_err(|_| {
            err(
                path,
                1,
                format!("field {n} ({name}) = {token:?} is not a number"),
            )
        })
    };
    Ok(TaskTimes {
        comm,
        utime_ticks: field(14, "utime")?,
        stime_ticks: field(15, "stime")?,
    })
}
