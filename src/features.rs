//! Log-mel spectrogram front end, matching librosa 0.11:
//! `power_to_db(melspectrogram(y, sr, n_fft, hop_length, n_mels), ref=np.max, top_db=80)`
//! with a periodic Hann window, centred frames zero-padded by `n_fft / 2`, power 2 and
//! Slaney-normalised mel filters on the Slaney mel scale. Computed in f64 (the result is f32),
//! so it stays within a few thousandths of a dB of librosa run in f64.

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything that shapes the model's input. Stored in every weights file; a model only
/// accepts features made with the configuration it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub sample_rate: u32,
    /// Analysis window in samples (3 s at 22.05 kHz).
    pub window_samples: usize,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    /// Frames kept: the first `n_frames` of the `1 + window_samples / hop_length` frames.
    pub n_frames: usize,
    pub fmin: f64,
    pub fmax: f64,
    pub top_db: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            window_samples: 3 * 22_050,
            n_fft: 2048,
            hop_length: 512,
            n_mels: 128,
            n_frames: 128,
            fmin: 0.0,
            fmax: 11_025.0,
            top_db: 80.0,
        }
    }
}

/// One mel filter: its first FFT bin and its weights from there on.
struct MelFilter {
    start: usize,
    weights: Vec<f64>,
}

/// A log-mel extractor with its FFT plan, window and filterbank built once.
pub struct LogMel {
    config: FeatureConfig,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    filters: Vec<MelFilter>,
    centred: bool,
}

impl LogMel {
    /// librosa's framing: a Hann window as long as the FFT, frames centred (zero-padded by
    /// `n_fft / 2`).
    pub fn new(config: &FeatureConfig) -> Self {
        Self::with_framing(config, config.n_fft, true)
    }

    /// Other framings of the same front end: a Hann window of `win_length` samples in the
    /// middle of the FFT (librosa's `win_length`), and frames either centred or starting at
    /// the first sample (`center=False`: `1 + (len - n_fft) / hop` frames, none if shorter).
    pub fn with_framing(config: &FeatureConfig, win_length: usize, centred: bool) -> Self {
        let n = config.n_fft;
        let win_length = win_length.clamp(1, n);
        let offset = (n - win_length) / 2;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        // Periodic Hann, as scipy.signal.get_window('hann', n) and librosa use.
        let window = (0..n)
            .map(|i| match i.checked_sub(offset) {
                Some(j) if j < win_length => {
                    0.5 - 0.5 * (2.0 * std::f64::consts::PI * j as f64 / win_length as f64).cos()
                }
                _ => 0.0,
            })
            .collect();
        let filters = mel_filterbank(config);
        Self {
            config: config.clone(),
            fft,
            window,
            filters,
            centred,
        }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Frames in `len` samples: `1 + len / hop` centred, `1 + (len - n_fft) / hop` (none if
    /// shorter than the FFT) otherwise.
    pub fn frames(&self, len: usize) -> usize {
        let (n_fft, hop) = (self.config.n_fft, self.config.hop_length);
        if self.centred {
            1 + len / hop
        } else {
            len.checked_sub(n_fft).map_or(0, |n| 1 + n / hop)
        }
    }

    /// Mel power spectrogram, `[n_mels][frames]` flattened row-major, all frames of `samples`.
    pub fn mel_power(&self, samples: &[f32]) -> (Vec<f64>, usize) {
        self.mel_power_pitched(samples, 1.0)
    }

    /// [`Self::mel_power`] with each frame's spectrum stretched along frequency by `ratio`
    /// before the mel filters: a pitch shift by `12·log2(ratio)` semitones that keeps the
    /// timing (the trainer's augmentation; 1.0 is the plain front end, bit for bit).
    pub fn mel_power_pitched(&self, samples: &[f32], ratio: f64) -> (Vec<f64>, usize) {
        let (n_fft, hop) = (self.config.n_fft, self.config.hop_length);
        let pad = if self.centred { n_fft / 2 } else { 0 };
        let frames = self.frames(samples.len());
        let n_mels = self.filters.len();
        let mut mel = vec![0.0f64; n_mels * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0.0f64; spectrum.len()];
        let mut shifted = vec![0.0f64; spectrum.len()];
        for t in 0..frames {
            // Frame t covers padded[t*hop .. t*hop + n_fft], padded = zeros(pad) ++ x ++ zeros(pad).
            for (i, v) in input.iter_mut().enumerate() {
                let j = (t * hop + i) as isize - pad as isize;
                let s = if j >= 0 && (j as usize) < samples.len() {
                    samples[j as usize] as f64
                } else {
                    0.0
                };
                *v = s * self.window[i];
            }
            self.fft
                .process(&mut input, &mut spectrum)
                .expect("FFT buffers are sized by the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            let spectrum_power = if ratio == 1.0 {
                &power
            } else {
                // Bin k takes the power found at k / ratio (linear interpolation).
                for (k, out) in shifted.iter_mut().enumerate() {
                    let src = k as f64 / ratio;
                    let i = src.floor() as usize;
                    let frac = src - i as f64;
                    *out = match (power.get(i), power.get(i + 1)) {
                        (Some(a), Some(b)) => a + (b - a) * frac,
                        (Some(a), None) => *a,
                        _ => 0.0,
                    };
                }
                &shifted
            };
            for (m, f) in self.filters.iter().enumerate() {
                mel[m * frames + t] = f
                    .weights
                    .iter()
                    .zip(&spectrum_power[f.start..])
                    .map(|(w, p)| w * p)
                    .sum();
            }
        }
        (mel, frames)
    }

    /// The model input: `n_mels × n_frames` log-mel values in dB (row-major, mel bands first).
    /// Longer input keeps its first `n_frames` frames; shorter input is padded with the floor.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let (mel, frames) = self.mel_power(samples);
        self.to_input(&mel, frames)
    }

    /// A mel power spectrogram (`n_mels × frames`) → the model input, as in [`Self::compute`].
    pub fn to_input(&self, mel: &[f64], frames: usize) -> Vec<f32> {
        let db = power_to_db(mel, self.config.top_db);
        let floor = db.iter().cloned().fold(f64::INFINITY, f64::min);
        let n_frames = self.config.n_frames;
        let mut out = vec![floor as f32; self.config.n_mels * n_frames];
        for m in 0..self.config.n_mels {
            for t in 0..frames.min(n_frames) {
                out[m * n_frames + t] = db[m * frames + t] as f32;
            }
        }
        out
    }
}

/// librosa.power_to_db with ref = max, amin = 1e-10 and the given top_db.
pub fn power_to_db(power: &[f64], top_db: f64) -> Vec<f64> {
    const AMIN: f64 = 1e-10;
    let reference = power.iter().cloned().fold(0.0, f64::max).max(AMIN);
    let ref_db = 10.0 * reference.log10();
    let db: Vec<f64> = power
        .iter()
        .map(|&p| 10.0 * p.max(AMIN).log10() - ref_db)
        .collect();
    let max = db.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    db.into_iter().map(|d| d.max(max - top_db)).collect()
}

// Slaney mel scale (librosa's default, `htk=False`): linear to 1 kHz, logarithmic above.
const MEL_F_SP: f64 = 200.0 / 3.0;
const MEL_MIN_LOG_HZ: f64 = 1000.0;
const MEL_MIN_LOG_MEL: f64 = MEL_MIN_LOG_HZ / MEL_F_SP;

fn mel_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MEL_MIN_LOG_HZ {
        MEL_MIN_LOG_MEL + (hz / MEL_MIN_LOG_HZ).ln() / mel_logstep()
    } else {
        hz / MEL_F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MEL_MIN_LOG_MEL {
        MEL_MIN_LOG_HZ * (mel_logstep() * (mel - MEL_MIN_LOG_MEL)).exp()
    } else {
        MEL_F_SP * mel
    }
}

/// librosa.filters.mel(norm='slaney', htk=False): triangles on the mel scale, each scaled to
/// unit area in Hz.
fn mel_filterbank(c: &FeatureConfig) -> Vec<MelFilter> {
    let n_bins = c.n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| i as f64 * c.sample_rate as f64 / c.n_fft as f64)
        .collect();
    let (mel_min, mel_max) = (hz_to_mel(c.fmin), hz_to_mel(c.fmax));
    let mel_f: Vec<f64> = (0..c.n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (c.n_mels + 1) as f64))
        .collect();
    (0..c.n_mels)
        .map(|m| {
            let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
            let enorm = 2.0 / (hi - lo);
            let weights: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect();
            let start = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
            let end = weights
                .iter()
                .rposition(|&w| w > 0.0)
                .map_or(start, |e| e + 1);
            MelFilter {
                start,
                weights: weights[start..end].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_range() {
        let c = FeatureConfig::default();
        let x: Vec<f32> = (0..c.window_samples)
            .map(|i| (i as f32 * 0.05).sin())
            .collect();
        let f = LogMel::new(&c).compute(&x);
        assert_eq!(f.len(), 128 * 128);
        let max = f.iter().cloned().fold(f32::MIN, f32::max);
        let min = f.iter().cloned().fold(f32::MAX, f32::min);
        assert!(max.abs() < 1e-6 && min >= -80.0 - 1e-4, "{min} {max}");
    }

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 500.0, 1000.0, 4000.0, 11025.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
    }
}
