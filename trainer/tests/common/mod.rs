//! Shared by the trainer's CLI tests: where the corpus is, and running a command that must
//! succeed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// RAVDESS speech: `$RAVDESS_DIR/speech`, by default `../shared/data/ravdess/speech` beside the
/// repository.
pub fn speech() -> PathBuf {
    std::env::var_os("RAVDESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess"))
        .join("speech")
}

/// Runs the command; fails the test with its stderr unless it succeeds.
#[allow(dead_code)] // not every test file runs commands this way
pub fn succeed(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
