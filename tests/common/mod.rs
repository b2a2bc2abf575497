//! Shared test helpers: where the corpus and the shipped weights are, a small model's shape,
//! and comparing results.
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

/// The shipped model on the CPU.
pub fn shipped_classifier() -> speech_emotion::Classifier {
    speech_emotion::Classifier::from_bytes(&shipped_weights(), &burn::prelude::Device::flex())
        .unwrap()
}

/// Largest absolute difference between two probability vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A model shape small enough to build and run in milliseconds.
pub fn small_config() -> speech_emotion::ModelConfig {
    speech_emotion::ModelConfig {
        channels: vec![4, 8],
        d_model: 16,
        lstm_hidden: 8,
        attention_hidden: 8,
        ..speech_emotion::ModelConfig::default()
    }
}

/// A header for `config` with the default labels and made-up normalisation statistics.
pub fn small_header(config: speech_emotion::ModelConfig) -> speech_emotion::weights::Header {
    speech_emotion::weights::Header::new(
        config,
        speech_emotion::labels::default_labels(),
        speech_emotion::weights::Normalization {
            mean: -40.0,
            std: 15.0,
            subtract_band_means: false,
        },
    )
}
