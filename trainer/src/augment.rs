//! On-the-fly augmentation of training log-mels (training set only, after the split):
//! time shift, time masking and frequency masking (SpecAugment), and Gaussian noise.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AugmentConfig {
    /// Probability of each transform being applied to a clip.
    pub probability: f64,
    /// Largest time shift in frames, either way (the gap is filled with the clip's minimum).
    pub max_shift: usize,
    /// Largest masked span in frames / mel bands.
    pub max_time_mask: usize,
    pub max_freq_mask: usize,
    /// Standard deviation of the noise added to normalised features.
    pub noise_std: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            probability: 0.5,
            max_shift: 12,
            max_time_mask: 13,
            max_freq_mask: 13,
            noise_std: 0.05,
        }
    }
}

/// Augments one normalised `n_mels × n_frames` map in place.
pub fn augment(
    x: &mut [f32],
    n_mels: usize,
    n_frames: usize,
    c: &AugmentConfig,
    rng: &mut impl Rng,
) {
    let floor = x.iter().cloned().fold(f32::INFINITY, f32::min);
    if c.max_shift > 0 && rng.random_bool(c.probability) {
        let shift = rng.random_range(-(c.max_shift as i64)..=c.max_shift as i64);
        for row in x.chunks_exact_mut(n_frames) {
            let old = row.to_vec();
            for (t, v) in row.iter_mut().enumerate() {
                let src = t as i64 - shift;
                *v = if (0..n_frames as i64).contains(&src) {
                    old[src as usize]
                } else {
                    floor
                };
            }
        }
    }
    if c.max_time_mask > 0 && rng.random_bool(c.probability) {
        let w = rng.random_range(1..=c.max_time_mask.min(n_frames));
        let t0 = rng.random_range(0..=n_frames - w);
        for row in x.chunks_exact_mut(n_frames) {
            row[t0..t0 + w].fill(floor);
        }
    }
    if c.max_freq_mask > 0 && rng.random_bool(c.probability) {
        let w = rng.random_range(1..=c.max_freq_mask.min(n_mels));
        let m0 = rng.random_range(0..=n_mels - w);
        x[m0 * n_frames..(m0 + w) * n_frames].fill(floor);
    }
    if c.noise_std > 0.0 && rng.random_bool(c.probability) {
        let normal = Normal::new(0.0, c.noise_std).expect("finite noise level");
        for v in x.iter_mut() {
            *v += normal.sample(rng);
        }
    }
}
