//! Helpers shared by the cli's end-to-end tests: the binary, repository paths and
//! per-test scratch directories.
#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic loudly

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `coalescope` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coalescope"))
}

/// A path relative to the repository root.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// A fresh, empty scratch directory named after the test binary's `prefix` and `name`.
pub fn tempdir(prefix: &str, name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("coalescope-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
