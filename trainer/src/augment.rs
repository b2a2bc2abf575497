//! On-the-fly augmentation, applied to training clips only (after the split), fresh every
//! epoch: on the audio (window shift, time stretch, pitch shift, a microphone's colouring,
//! babble and Gaussian noise at a random SNR), on the normalised log-mel (SpecAugment time and frequency masks) and across the batch
//! (mixup, in `train`).

use crate::acoustics::{babble_noise, babble_voices, mix_at_snr, random_eq};
use burn::config::Config;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use speech_emotion::audio::{clip_span, window_at};
use speech_emotion::features::LogMel;

/// The augmentation recipe. The defaults here are the trainer's (its options show them).
#[derive(Config, Debug)]
pub struct AugmentConfig {
    /// Probability of each transform being applied to a clip.
    #[config(default = 0.5)]
    pub probability: f64,
    /// Largest move of the analysis window off the speech centre, in seconds, either way.
    #[config(default = 0.25)]
    pub max_shift_seconds: f64,
    /// Time stretch by a rate drawn from `1 ± max_stretch` (pitch kept). Off by default, as is
    /// pitch shift: with everything at once the model learnt far slower (see
    /// trainer/EXPERIMENTS.md).
    #[config(default = 0.0)]
    pub max_stretch: f64,
    /// Pitch shift by up to this many semitones either way (timing kept).
    #[config(default = 0.0)]
    pub max_pitch_semitones: f64,
    /// Gaussian noise at a signal-to-noise ratio drawn from this range, in dB.
    #[config(default = "(10.0, 30.0)")]
    pub snr_db: (f64, f64),
    /// Babble of 3 to 6 other training clips at an SNR drawn from this range, in dB (0,0: off).
    #[config(default = "(5.0, 25.0)")]
    pub babble_snr_db: (f64, f64),
    /// A random microphone colouring ([`random_eq`]).
    #[config(default = true)]
    pub random_eq: bool,
    /// Largest masked span in frames (SpecAugment).
    #[config(default = 13)]
    pub max_time_mask: usize,
    /// Largest masked span in mel bands (SpecAugment).
    #[config(default = 13)]
    pub max_freq_mask: usize,
    /// Mixup: pairs within a batch are blended with λ ~ Beta(α, α); 0 turns it off.
    #[config(default = 0.0)]
    pub mixup_alpha: f64,
    /// Recording level: a gain drawn from ±this many dB (0: off).
    #[config(default = 0.0)]
    pub max_gain_db: f64,
    /// Probability of a clip being seen as the live microphone sees speech: the line said
    /// again and again with short pauses, the last 3 s before a random point, then the clip
    /// rule (trim, centre). 0 turns it off.
    #[config(default = 0.25)]
    pub microphone_window: f64,
}

/// Log-mel dB features (not normalised) of a randomly shifted, stretched, pitch-shifted,
/// coloured and noisy analysis window on `speech` (trimmed mono at the model's rate);
/// `talkers` (other training clips) make the babble.
pub fn augmented_features(
    speech: &[f32],
    talkers: &[&[f32]],
    logmel: &LogMel,
    c: &AugmentConfig,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let config = logmel.config();
    let len = config.window_samples;
    let cut;
    let speech = if c.microphone_window > 0.0 && rng.random_bool(c.microphone_window) {
        cut = microphone_cut(speech, len, config.sample_rate, rng);
        &cut[..]
    } else {
        speech
    };
    let rate = if c.max_stretch > 0.0 && rng.random_bool(c.probability) {
        rng.random_range(1.0 - c.max_stretch..=1.0 + c.max_stretch)
    } else {
        1.0
    };
    // A faster rate takes more audio into the window and squeezes its frames back to the
    // window's frame count.
    let taken = (len as f64 * rate).round() as usize;
    let max_shift = (c.max_shift_seconds * config.sample_rate as f64) as i64;
    let shift = if max_shift > 0 && rng.random_bool(c.probability) {
        rng.random_range(-max_shift..=max_shift) as isize
    } else {
        0
    };
    let mut window = window_at(speech, taken, shift);
    if c.max_gain_db > 0.0 && rng.random_bool(c.probability) {
        let gain = 10f32.powf(rng.random_range(-c.max_gain_db..=c.max_gain_db) as f32 / 20.0);
        for v in &mut window {
            *v = (*v * gain).clamp(-1.0, 1.0);
        }
    }
    if c.random_eq && rng.random_bool(c.probability) {
        for filter in random_eq(config.sample_rate, rng) {
            filter.run(&mut window);
        }
    }
    if c.babble_snr_db != (0.0, 0.0) && !talkers.is_empty() && rng.random_bool(c.probability) {
        let voices = babble_voices(talkers, rng);
        let noise = babble_noise(&voices, window.len(), rng);
        let snr = rng.random_range(c.babble_snr_db.0..=c.babble_snr_db.1);
        window = mix_at_snr(&window, &noise, snr);
    }
    if c.snr_db != (0.0, 0.0) && rng.random_bool(c.probability) {
        add_noise(&mut window, rng.random_range(c.snr_db.0..=c.snr_db.1), rng);
    }
    let ratio = if c.max_pitch_semitones > 0.0 && rng.random_bool(c.probability) {
        2f64.powf(rng.random_range(-c.max_pitch_semitones..=c.max_pitch_semitones) / 12.0)
    } else {
        1.0
    };
    let (mel, frames) = logmel.mel_power_pitched(&window, ratio);
    let target = 1 + len / config.hop_length;
    if frames == target {
        logmel.to_input(&mel, frames)
    } else {
        logmel.to_input(&resample_frames(&mel, frames, target), target)
    }
}

/// What the live microphone hands the clip rule when a person repeats `speech` with pauses of
/// 0.2–0.8 s: of the last `len` samples before a random point of four repetitions, the
/// speech the clip rule centres on ([`clip_span`]).
pub fn microphone_cut(
    speech: &[f32],
    len: usize,
    sample_rate: u32,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let pause = (rng.random_range(0.2..=0.8) * sample_rate as f64) as usize;
    let looped = repeated(speech, pause, 4);
    let buffer = last_before_random_point(&looped, len, rng);
    let (start, stop) = clip_span(buffer, sample_rate);
    buffer[start..stop].to_vec()
}

/// `line` said `times` times, each followed by `pause` samples of silence.
pub fn repeated(line: &[f32], pause: usize, times: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity((line.len() + pause) * times);
    for _ in 0..times {
        out.extend_from_slice(line);
        out.resize(out.len() + pause, 0.0);
    }
    out
}

/// The last `len` samples (or all of them, if fewer) before a point drawn uniformly among those
/// that have `len` samples before them.
pub fn last_before_random_point<'a>(x: &'a [f32], len: usize, rng: &mut impl Rng) -> &'a [f32] {
    let end = rng.random_range(len.min(x.len())..=x.len());
    &x[end.saturating_sub(len)..end]
}

/// Adds white Gaussian noise at `snr_db` relative to the power of the non-silent samples.
pub fn add_noise(x: &mut [f32], snr_db: f64, rng: &mut impl Rng) {
    let (sum, n) = x
        .iter()
        .filter(|v| **v != 0.0)
        .fold((0f64, 0usize), |(s, n), v| (s + (*v as f64).powi(2), n + 1));
    if n == 0 {
        return;
    }
    let noise_power = sum / n as f64 / 10f64.powf(snr_db / 10.0);
    let normal = Normal::new(0.0, noise_power.sqrt()).expect("finite noise level");
    for v in x.iter_mut() {
        *v += normal.sample(rng) as f32;
    }
}

/// Linear interpolation of a `rows × from` row-major map to `rows × to` along its columns.
pub fn resample_frames(map: &[f64], from: usize, to: usize) -> Vec<f64> {
    let rows = map.len() / from;
    let step = if to > 1 {
        (from - 1) as f64 / (to - 1) as f64
    } else {
        0.0
    };
    let mut out = vec![0.0; rows * to];
    for r in 0..rows {
        let row = &map[r * from..(r + 1) * from];
        for (t, v) in out[r * to..(r + 1) * to].iter_mut().enumerate() {
            let src = t as f64 * step;
            let i = (src.floor() as usize).min(from - 1);
            let frac = src - i as f64;
            let next = row[(i + 1).min(from - 1)];
            *v = row[i] + (next - row[i]) * frac;
        }
    }
    out
}

/// SpecAugment on one normalised `n_mels × n_frames` map: one time mask and one frequency
/// mask, each with the configured probability, filled with the map's minimum.
pub fn mask(x: &mut [f32], n_mels: usize, n_frames: usize, c: &AugmentConfig, rng: &mut impl Rng) {
    let floor = x.iter().cloned().fold(f32::INFINITY, f32::min);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use speech_emotion::features::FeatureConfig;

    fn tone(hz: f64, seconds: f64) -> Vec<f32> {
        let rate = 22_050.0;
        (0..(rate * seconds) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin() as f32 * 0.3)
            .collect()
    }

    /// The mel band holding most of the energy, averaged over frames.
    fn peak_band(features: &[f32], n_frames: usize) -> usize {
        features
            .chunks_exact(n_frames)
            .map(|row| row.iter().sum::<f32>())
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0
    }

    #[test]
    fn pitch_shift_moves_a_tone_like_a_higher_tone() {
        let c = FeatureConfig::default();
        let logmel = LogMel::new(&c);
        let x = tone(440.0, 3.0);
        let (mel, frames) = logmel.mel_power_pitched(&x, 2f64.powf(7.0 / 12.0));
        let shifted = logmel.to_input(&mel, frames);
        let fifth = logmel.compute(&tone(440.0 * 2f64.powf(7.0 / 12.0), 3.0));
        let plain = logmel.compute(&x);
        assert_eq!(
            peak_band(&shifted, c.n_frames),
            peak_band(&fifth, c.n_frames)
        );
        assert_ne!(
            peak_band(&shifted, c.n_frames),
            peak_band(&plain, c.n_frames)
        );
        let (same, _) = logmel.mel_power_pitched(&x, 1.0);
        assert_eq!(same, logmel.mel_power(&x).0);
    }

    #[test]
    fn a_microphone_cut_is_a_trimmed_window_of_the_repeated_line() {
        let rate = 22_050;
        let line = tone(300.0, 1.2);
        let mut rng = StdRng::seed_from_u64(5);
        let looped = repeated(&line, 100, 4);
        assert_eq!(looped.len(), 4 * (line.len() + 100));
        assert_eq!(&looped[line.len() + 100..2 * line.len() + 100], &line[..]);
        let mut lengths = Vec::new();
        for _ in 0..20 {
            let cut = microphone_cut(&line, 3 * rate, rate as u32, &mut rng);
            assert!(cut.len() <= 3 * rate && cut.len() > rate, "{}", cut.len());
            // Trimmed: no more than one trim frame of silence at either end.
            let voiced = |s: &[f32]| s.iter().any(|v| v.abs() > 1e-3);
            assert!(voiced(&cut[..2048]) && voiced(&cut[cut.len() - 2048..]));
            lengths.push(cut.len());
        }
        lengths.dedup();
        assert!(lengths.len() > 1, "cuts fall at different points");
    }

    #[test]
    fn frames_are_resampled_linearly() {
        let map = [0.0, 1.0, 2.0, 10.0, 20.0, 30.0];
        let out = resample_frames(&map, 3, 5);
        assert_eq!(
            out,
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
    }

    #[test]
    fn augmented_features_have_the_model_shape_and_noise_has_its_snr() {
        let c = FeatureConfig::default();
        let logmel = LogMel::new(&c);
        let speech = tone(300.0, 2.0);
        let config = AugmentConfig {
            probability: 1.0,
            max_stretch: 0.1,
            max_pitch_semitones: 2.0,
            babble_snr_db: (5.0, 25.0),
            random_eq: true,
            ..AugmentConfig::new()
        };
        let (a, b) = (tone(500.0, 1.0), tone(700.0, 1.5));
        let talkers = [a.as_slice(), b.as_slice()];
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..4 {
            let f = augmented_features(&speech, &talkers, &logmel, &config, &mut rng);
            assert_eq!(f.len(), c.n_mels * c.n_frames);
            assert!(f.iter().all(|v| v.is_finite() && *v <= 1e-6));
        }
        let mut x = tone(300.0, 1.0);
        let clean = x.clone();
        add_noise(&mut x, 20.0, &mut rng);
        let signal: f64 = clean.iter().map(|v| (*v as f64).powi(2)).sum();
        let noise: f64 = x
            .iter()
            .zip(&clean)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let snr = 10.0 * (signal / noise).log10();
        assert!((snr - 20.0).abs() < 0.5, "snr {snr}");
    }
}
