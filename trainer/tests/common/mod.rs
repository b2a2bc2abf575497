//! Shared by the trainer's CLI tests: where the corpus is.

use std::path::{Path, PathBuf};

/// RAVDESS speech: `$RAVDESS_DIR/speech`, by default `../shared/data/ravdess/speech` beside the
/// repository.
pub fn speech() -> PathBuf {
    std::env::var_os("RAVDESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess"))
        .join("speech")
}
