//! Recording conditions as signal processing, for the robustness report and for training
//! alike: mixing noise at a signal-to-noise ratio, babble made of other speakers, a synthetic
//! small room and equalisers (biquad filters).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::RealFftPlanner;
use speech_emotion::audio::speech_span;
use std::f64::consts::PI;

pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// `signal + noise`, the noise scaled to `snr_db` below the power of the signal's non-silent
/// samples (the speech, not the pauses around it).
pub fn mix_at_snr(signal: &[f32], noise: &[f32], snr_db: f64) -> Vec<f32> {
    let (start, end) = speech_span(signal);
    let speech_power = rms(&signal[start..end.max(start + 1).min(signal.len())]).powi(2) as f64;
    let noise_power = rms(noise).powi(2) as f64;
    let gain = if noise_power > 0.0 {
        (speech_power / noise_power / 10f64.powf(snr_db / 10.0)).sqrt() as f32
    } else {
        0.0
    };
    signal
        .iter()
        .zip(noise)
        .map(|(s, n)| s + gain * n)
        .collect()
}

/// A synthetic small-room impulse response: the direct sound, then exponentially decaying noise
/// (−60 dB after `rt60` seconds) starting 2 ms later, with as much energy as the direct sound.
pub fn room_response(rt60: f64, rate: u32, rng: &mut impl Rng) -> Vec<f32> {
    let n = (rt60 * rate as f64) as usize;
    let onset = (0.002 * rate as f64) as usize;
    let mut h = vec![0f32; n];
    h[0] = 1.0;
    let decay = (-60.0 / 20.0 * 10f64.ln()) / (rt60 * rate as f64);
    for (i, v) in h.iter_mut().enumerate().skip(onset) {
        let e = (decay * i as f64).exp();
        let n: f64 = StandardNormal.sample(rng);
        *v = (n * e) as f32;
    }
    let tail: f32 = h[onset..].iter().map(|v| v * v).sum();
    let scale = 1.0 / tail.sqrt().max(1e-9);
    for v in &mut h[onset..] {
        *v *= scale;
    }
    // Keep the level of the dry signal: direct + tail have twice its energy.
    h.iter().map(|v| v / 2f32.sqrt()).collect()
}

/// Linear convolution of `x` with `h` by FFT, cut to the length of `x`.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |v: &[f32]| {
        let mut buf = vec![0f32; n];
        buf[..v.len()].copy_from_slice(v);
        let mut out = fwd.make_output_vec();
        fwd.process(&mut buf, &mut out)
            .expect("sizes from the plan");
        out
    };
    let (a, b) = (spectrum(x), spectrum(h));
    let mut prod: Vec<_> = a.iter().zip(&b).map(|(p, q)| p * q).collect();
    let mut y = inv.make_output_vec();
    inv.process(&mut prod, &mut y).expect("sizes from the plan");
    y.truncate(x.len());
    y.iter().map(|v| v / n as f32).collect()
}

/// A second-order section (the RBJ audio-EQ cookbook), run in direct form I.
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b: [b[0] / a[0], b[1] / a[0], b[2] / a[0]],
            a: [a[1] / a[0], a[2] / a[0]],
        }
    }

    fn omega(hz: f64, q: f64, rate: u32) -> (f64, f64) {
        let w = 2.0 * PI * hz / rate as f64;
        (w.cos(), w.sin() / (2.0 * q))
    }

    pub fn low_pass(hz: f64, q: f64, rate: u32) -> Self {
        let (c, alpha) = Self::omega(hz, q, rate);
        Self::new(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    pub fn high_pass(hz: f64, q: f64, rate: u32) -> Self {
        let (c, alpha) = Self::omega(hz, q, rate);
        Self::new(
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    pub fn peak(hz: f64, q: f64, gain_db: f64, rate: u32) -> Self {
        let (c, alpha) = Self::omega(hz, q, rate);
        let a = 10f64.powf(gain_db / 40.0);
        Self::new(
            [1.0 + alpha * a, -2.0 * c, 1.0 - alpha * a],
            [1.0 + alpha / a, -2.0 * c, 1.0 - alpha / a],
        )
    }

    pub fn run(&self, x: &mut [f32]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0f64, 0f64, 0f64, 0f64);
        for v in x.iter_mut() {
            let x0 = *v as f64;
            let y0 =
                self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
            (x2, x1, y2, y1) = (x1, x0, y1, y0);
            *v = y0 as f32;
        }
    }
}

/// Who talks in a babble: 3 to 6 draws from `pool` (with repeats), the count drawn first;
/// none from an empty pool.
pub fn babble_voices<T: Copy>(pool: &[T], rng: &mut impl Rng) -> Vec<T> {
    if pool.is_empty() {
        return Vec::new();
    }
    (0..rng.random_range(3..=6))
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect()
}

/// Several people talking at once: each of `talkers` at the same level, from a random point on
/// (looped), summed over `len` samples.
pub fn babble_noise(talkers: &[&[f32]], len: usize, rng: &mut impl Rng) -> Vec<f32> {
    let mut noise = vec![0f32; len];
    for talker in talkers.iter().filter(|t| !t.is_empty()) {
        let gain = 1.0 / rms(talker).max(1e-9);
        let offset = rng.random_range(0..talker.len());
        for (i, n) in noise.iter_mut().enumerate() {
            *n += talker[(offset + i) % talker.len()] * gain;
        }
    }
    noise
}

/// A random microphone and room colouring: a presence peak or dip (±8 dB between 500 Hz and
/// 5 kHz) and, each half of the time, a high-pass (50–400 Hz) and a low-pass (3.5–10 kHz),
/// frequencies drawn on a log scale.
pub fn random_eq(rate: u32, rng: &mut impl Rng) -> Vec<Biquad> {
    let log_uniform =
        |rng: &mut dyn rand::RngCore, lo: f64, hi: f64| (rng.random_range(lo.ln()..=hi.ln())).exp();
    let mut filters = vec![Biquad::peak(
        log_uniform(rng, 500.0, 5_000.0),
        rng.random_range(0.7..=2.0),
        rng.random_range(-8.0..=8.0),
        rate,
    )];
    if rng.random_bool(0.5) {
        filters.push(Biquad::high_pass(
            log_uniform(rng, 50.0, 400.0),
            0.707,
            rate,
        ));
    }
    let top = (rate as f64 * 0.45).min(10_000.0);
    if top > 3_500.0 && rng.random_bool(0.5) {
        filters.push(Biquad::low_pass(
            log_uniform(rng, 3_500.0, top),
            0.707,
            rate,
        ));
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn tone(hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * hz * i as f64 / 22_050.0).sin() as f32)
            .collect()
    }

    #[test]
    fn babble_holds_every_talker_at_one_level() {
        let (quiet, loud) = (tone(300.0, 5_000), tone(700.0, 7_000));
        let quiet: Vec<f32> = quiet.iter().map(|v| v * 0.01).collect();
        let mut rng = StdRng::seed_from_u64(1);
        let noise = babble_noise(&[&quiet, &loud], 22_050, &mut rng);
        // Two unit-RMS tones at different frequencies: an RMS of √2.
        assert!((rms(&noise) - 2f32.sqrt()).abs() < 0.05, "{}", rms(&noise));
        assert_eq!(babble_noise(&[], 10, &mut rng), vec![0.0; 10]);
    }

    #[test]
    fn a_random_eq_colours_within_its_bounds() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..20 {
            let mut x = tone(1_000.0, 22_050);
            for f in random_eq(22_050, &mut rng) {
                f.run(&mut x);
            }
            let gain_db = 20.0 * (rms(&x[11_025..]) / rms(&tone(1_000.0, 11_025))).log10();
            assert!(gain_db.abs() <= 9.0, "{gain_db}");
        }
    }
}
