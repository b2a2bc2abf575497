//! Shared test helpers: where the corpus and the shipped weights are.
#![allow(dead_code)]

use std::path::PathBuf;

/// The RAVDESS copy beside the checkout (`RAVDESS_DIR` overrides).
pub fn ravdess() -> PathBuf {
    std::env::var_os("RAVDESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ravdess"))
}

pub fn shipped_weights() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/speech-emotion.sew");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
