//! `HostFs`: every /proc and /sys read of the host side goes through one root path, so
//! tests run the sampler, the NIC knobs and the audit against a fake tree.

use std::io;
use std::path::{Path, PathBuf};

/// A file-system view rooted at a directory ("/" on the live host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFs {
    root: PathBuf,
}

/// A failed read, write or listing, naming the host path (as seen under the root).
#[derive(Debug, thiserror::Error)]
// The OS error is part of the sentence and deliberately not exposed as `source()`, so
// error chains printed with `{:#}` do not repeat it.
#[error("{op} {path}: {error}")]
pub struct FsError {
    /// What was attempted: "reading", "writing" or "listing".
    pub op: &'static str,
    /// The absolute host path, e.g. `/proc/interrupts`.
    pub path: String,
    /// The operating-system error.
    pub error: io::Error,
}

impl FsError {
    /// True when the path does not exist.
    pub fn is_not_found(&self) -> bool {
        self.error.kind() == io::ErrorKind::NotFound
    }
}

impl Default for HostFs {
    fn default() -> Self {
        Self::live()
    }
}

impl HostFs {
    /// The live host: paths are used as they are.
    pub fn live() -> Self {
        Self {
            root: PathBuf::from("/"),
        }
    }

    /// A view rooted at `root`: `/proc/x` reads `root/proc/x`.
    pub fn rooted(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory this view is rooted at.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of host path `abs` (leading '/' optional).
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Read a whole file as text (invalid UTF-8 is replaced, never a panic).
    pub fn read(&self, abs: &str) -> Result<String, FsError> {
        std::fs::read(self.path(abs))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|error| FsError {
                op: "reading",
                path: abs.to_string(),
                error,
            })
    }

    /// Read a file; a missing file is `Ok(None)`, other errors are errors.
    pub fn read_opt(&self, abs: &str) -> Result<Option<String>, FsError> {
        match self.read(abs) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read a file holding one unsigned integer (sysfs style, surrounding blanks allowed).
    pub fn read_u64(&self, abs: &str) -> Result<Option<u64>, FsError> {
        let Some(text) = self.read_opt(abs)? else {
            return Ok(None);
        };
        text.trim().parse::<u64>().map(Some).map_err(|_| FsError {
            op: "reading",
            path: abs.to_string(),
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected an unsigned integer, found {:?}", text.trim()),
            ),
        })
    }

    /// Names in a directory, sorted; a missing directory is an empty list.
    pub fn list(&self, abs: &str) -> Result<Vec<String>, FsError> {
        let dir = match std::fs::read_dir(self.path(abs)) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(FsError {
                    op: "listing",
                    path: abs.to_string(),
                    error,
                })
            }
        };
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|error| FsError {
                op: "listing",
                path: abs.to_string(),
                error,
            })?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Whether the host path exists.
    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// Write `content` to an existing file (sysfs knobs).
    pub fn write(&self, abs: &str, content: &str) -> Result<(), FsError> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(abs))
            .map_err(|error| FsError {
                op: "writing",
                path: abs.to_string(),
                error,
            })?;
        file.write_all(content.as_bytes()).map_err(|error| FsError {
            op: "writing",
            path: abs.to_string(),
            error,
        })
    }
}

/// Parse a CPU list such as `0-3,8,10-11` (the kernel's cpulist format).
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    let text = text.trim();
    if text.is_empty() {
        return Ok(cpus);
    }
    for part in text.split(',') {
        let part = part.trim();
        // isolcpus= allows flag prefixes like "domain,managed_irq,2-3": skip words.
        if part.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        // A stride suffix ("0-7:2/4") is rare; take the range without it.
        let hi = hi.split(':').next().unwrap_or(hi);
        let lo: u32 = lo
            .parse()
            .map_err(|_| format!("bad CPU number {lo:?} in list {text:?}"))?;
        let hi: u32 = hi
            .parse()
            .map_err(|_| format!("bad CPU number {hi:?} in list {text:?}"))?;
        if hi < lo || hi - lo > 65_535 {
            return Err(format!("bad CPU range {part:?} in list {text:?}"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Format CPUs back into the compact cpulist form (`0-3,8`).
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Ok(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(parse_cpu_list(""), Ok(vec![]));
        assert_eq!(parse_cpu_list("managed_irq,domain,2-3"), Ok(vec![2, 3]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x1").is_ok());
        assert!(parse_cpu_list("1-y").is_err());
    }
}
