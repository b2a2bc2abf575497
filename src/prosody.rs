//! How the voice moves: utterance statistics of pitch (F0, by YIN), loudness and spectral tilt
//! over one analysis window at 16 kHz. Neither the CNN's log-mel maps nor the keyword-spotting
//! embedding keep the pitch contour well; these numbers join the speech branch's head (models
//! whose header says `prosody`).
//!
//! Every figure is relative (semitones, dB under the window's loudest frame), so the level of a
//! recording does not enter.

use crate::audio::dbfs;

/// Frames of 32 ms every 10 ms, at [`RATE`].
pub const RATE: u32 = 16_000;
const FRAME: usize = 512;
const HOP: usize = 160;
/// YIN's integration window and lag range (65–600 Hz).
const WINDOW: usize = 256;
const _: () = assert!(WINDOW.is_multiple_of(8), "yin sums in eight lanes");
const MIN_LAG: usize = (RATE / 600) as usize;
const MAX_LAG: usize = (RATE / 65) as usize;
/// YIN's absolute threshold on the cumulative mean normalised difference.
const THRESHOLD: f32 = 0.15;
/// Frames this far under the loudest one are not speech.
const SPEECH_DB: f32 = 30.0;

/// The number of statistics [`statistics`] gives.
pub const N: usize = 16;

/// The fundamental frequency of one frame, or `None` where it is not periodic (YIN:
/// de Cheveigné & Kawahara 2002, steps 1–5: difference function, cumulative mean normalisation,
/// absolute threshold, parabolic interpolation).
pub fn yin(frame: &[f32]) -> Option<f32> {
    if frame.len() < WINDOW + MAX_LAG + 1 {
        return None;
    }
    // The difference function and its cumulative mean normalisation, d'(τ) = d(τ) τ / Σ_{j≤τ}
    // d(j), computed lag by lag: the search stops at the bottom of the first dip under the
    // threshold, so high voices cost less.
    // Eight running sums, so the compiler can keep them in SIMD lanes (one sum in order cannot
    // be vectorised): this loop is most of the front end's time.
    let diff = |tau: usize| -> f32 {
        let mut acc = [0f32; 8];
        for (a, b) in frame[..WINDOW]
            .chunks_exact(8)
            .zip(frame[tau..tau + WINDOW].chunks_exact(8))
        {
            for k in 0..8 {
                let e = a[k] - b[k];
                acc[k] += e * e;
            }
        }
        acc.iter().sum()
    };
    let mut cmnd = [1f32; MAX_LAG + 2];
    let mut sum = 0f32;
    let mut found = None;
    for tau in 1..=MAX_LAG + 1 {
        let d = diff(tau);
        sum += d;
        cmnd[tau] = if sum > 0.0 { d * tau as f32 / sum } else { 1.0 };
        match found {
            None if (MIN_LAG..=MAX_LAG).contains(&tau) && cmnd[tau] < THRESHOLD => {
                found = Some(tau)
            }
            // Still going down: the dip's bottom is further on.
            Some(t) if cmnd[tau] < cmnd[t] && tau <= MAX_LAG => found = Some(tau),
            Some(_) => break,
            None => {}
        }
    }
    let tau = found?;
    let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
    let curve = a - 2.0 * b + c;
    let shift = if curve > 0.0 {
        0.5 * (a - c) / curve
    } else {
        0.0
    };
    Some(RATE as f32 / (tau as f32 + shift.clamp(-1.0, 1.0)))
}

/// Sixteen statistics of a window at 16 kHz: of F0 in semitones over the voiced speech frames
/// (mean, spread, 10th and 90th percentiles, slope per second, mean step between neighbours),
/// the voiced share of the speech frames, of the speech frames' energy in dB under the loudest
/// frame (mean, spread, 90–10 range, mean step between neighbours), the share of frames that are speech, of the spectral
/// tilt (high-frequency emphasis: energy of the first difference over the energy, dB; mean and
/// spread), the zero-crossing rate, and the speech's duration in seconds. Zeros where there is
/// no speech or no voicing.
pub fn statistics(samples: &[f32]) -> [f32; N] {
    let mut out = [0f32; N];
    if samples.len() < FRAME {
        return out;
    }
    let starts: Vec<usize> = (0..=samples.len() - FRAME).step_by(HOP).collect();
    let energy_db: Vec<f32> = starts
        .iter()
        .map(|&s| dbfs(samples[s..s + FRAME].iter().map(|x| x * x).sum::<f32>() / FRAME as f32))
        .collect();
    let top = energy_db.iter().cloned().fold(f32::MIN, f32::max);
    if top <= -110.0 {
        return out;
    }
    let speech: Vec<usize> = (0..starts.len())
        .filter(|&i| energy_db[i] > top - SPEECH_DB)
        .collect();
    // F0 (semitones re 100 Hz) with its time (s) on the voiced speech frames.
    let pitch: Vec<(f32, f32)> = speech
        .iter()
        .filter_map(|&i| {
            let f0 = yin(&samples[starts[i]..starts[i] + FRAME])?;
            Some((
                i as f32 * HOP as f32 / RATE as f32,
                12.0 * (f0 / 100.0).log2(),
            ))
        })
        .collect();
    if pitch.len() >= 2 {
        let st: Vec<f32> = pitch.iter().map(|p| p.1).collect();
        let (m, sd) = mean_sd(&st);
        out[0] = m;
        out[1] = sd;
        out[2] = percentile(&st, 0.1);
        out[3] = percentile(&st, 0.9);
        out[4] = slope(&pitch);
        out[5] = st.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f32>() / (st.len() - 1) as f32;
    }
    out[6] = pitch.len() as f32 / speech.len().max(1) as f32;
    let rel: Vec<f32> = speech.iter().map(|&i| energy_db[i] - top).collect();
    let (m, sd) = mean_sd(&rel);
    out[7] = m;
    out[8] = sd;
    out[9] = percentile(&rel, 0.9) - percentile(&rel, 0.1);
    // Between neighbouring speech frames (steps into silence would depend on the level).
    let steps: Vec<f32> = speech
        .windows(2)
        .filter(|w| w[1] == w[0] + 1)
        .map(|w| (energy_db[w[1]] - energy_db[w[0]]).abs())
        .collect();
    out[10] = steps.iter().sum::<f32>() / steps.len().max(1) as f32;
    out[11] = speech.len() as f32 / starts.len() as f32;
    let frame_at = |i: usize| &samples[starts[i]..starts[i] + FRAME];
    let tilt: Vec<f32> = speech
        .iter()
        .map(|&i| {
            let f = frame_at(i);
            let e: f32 = f.iter().map(|x| x * x).sum();
            let d: f32 = f.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
            10.0 * (d.max(1e-12) / e.max(1e-12)).log10()
        })
        .collect();
    let (m, sd) = mean_sd(&tilt);
    out[12] = m;
    out[13] = sd;
    out[14] = speech
        .iter()
        .map(|&i| {
            let f = frame_at(i);
            f.windows(2)
                .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
                .count() as f32
                / FRAME as f32
        })
        .sum::<f32>()
        / speech.len().max(1) as f32;
    out[15] = speech.len() as f32 * HOP as f32 / RATE as f32;
    out
}

fn mean_sd(v: &[f32]) -> (f32, f32) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f32;
    let m = v.iter().sum::<f32>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / n).sqrt(),
    )
}

fn percentile(v: &[f32], q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[((s.len() - 1) as f32 * q).round() as usize]
}

/// Least-squares slope of (time, value) pairs.
fn slope(p: &[(f32, f32)]) -> f32 {
    let n = p.len() as f32;
    let (mt, mv) = (
        p.iter().map(|x| x.0).sum::<f32>() / n,
        p.iter().map(|x| x.1).sum::<f32>() / n,
    );
    let cov: f32 = p.iter().map(|(t, v)| (t - mt) * (v - mv)).sum();
    let var: f32 = p.iter().map(|(t, _)| (t - mt).powi(2)).sum();
    if var > 0.0 { cov / var } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced glide: harmonics of an F0 rising from `from` to `to` Hz over `seconds`.
    fn glide(from: f32, to: f32, seconds: f32) -> (Vec<f32>, impl Fn(f32) -> f32) {
        let n = (seconds * RATE as f32) as usize;
        let f = move |t: f32| from * (to / from).powf(t / seconds);
        let mut phase = 0f32;
        let x = (0..n)
            .map(|i| {
                phase += 2.0 * std::f32::consts::PI * f(i as f32 / RATE as f32) / RATE as f32;
                (1..6)
                    .map(|h| (h as f32 * phase).sin() / h as f32)
                    .sum::<f32>()
                    * 0.2
            })
            .collect();
        (x, f)
    }

    #[test]
    fn yin_follows_a_glide_within_a_third_of_a_semitone() {
        let (x, f) = glide(90.0, 360.0, 2.0);
        let mut worst = 0f32;
        for start in (0..x.len() - FRAME).step_by(HOP) {
            // YIN measures the period over the first WINDOW samples and the lags after them.
            let t = (start + WINDOW / 2 + MAX_LAG / 2) as f32 / RATE as f32;
            let got = yin(&x[start..start + FRAME]).expect("a harmonic tone is periodic");
            worst = worst.max((12.0 * (got / f(t)).log2()).abs());
        }
        assert!(worst < 0.35, "worst error {worst} semitones");
    }

    #[test]
    fn noise_and_silence_have_no_pitch() {
        let mut seed = 1u32;
        let noise: Vec<f32> = (0..FRAME)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        assert_eq!(yin(&noise), None);
        assert_eq!(yin(&[0.0; FRAME]), None);
        assert_eq!(statistics(&[0.0; 48_000]), [0.0; N]);
        assert_eq!(statistics(&[0.1; 10]), [0.0; N]);
    }

    #[test]
    fn statistics_read_pitch_and_do_not_read_level() {
        let (x, _) = glide(100.0, 200.0, 1.0);
        let mut padded = vec![0f32; 8_000];
        padded.extend(&x);
        padded.extend(vec![0f32; 8_000]);
        let s = statistics(&padded);
        // A glide over an octave: mean near 6 semitones above 100 Hz, rising 12 a second.
        assert!((s[0] - 6.0).abs() < 0.5, "{s:?}");
        assert!((s[4] - 12.0).abs() < 1.5, "{s:?}");
        assert!(s[6] > 0.9, "voiced share {}", s[6]);
        assert!((s[15] - 1.0).abs() < 0.1, "duration {}", s[15]);
        let quiet: Vec<f32> = padded.iter().map(|v| v * 0.01).collect();
        let q = statistics(&quiet);
        for (a, b) in s.iter().zip(&q) {
            assert!((a - b).abs() < 1e-2 * a.abs().max(1.0), "{s:?} vs {q:?}");
        }
    }
}
