//! Speaker adaptation: a speaker's voice and microphone summarised as each mel band's mean and
//! spread over their recordings, and taken off their log-mels, so that the model sees how a
//! recording departs from that speaker's habit rather than the voice itself. It needs several
//! recordings of the speaker, unlabelled (the speaker-adapted protocol); a single clip is
//! classified without it.

/// Each mel band's mean and standard deviation (dB) over a speaker's log-mel maps.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerProfile {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Spreads below this (dB) are taken as this: a band that never moves is not amplified.
const MIN_STD: f32 = 1.0;

impl SpeakerProfile {
    /// From log-mel maps (`n_mels × n_frames`, row-major by band) of one speaker.
    pub fn from_maps(maps: &[&[f32]], n_mels: usize) -> Self {
        let (mut sum, mut sq, mut n) = (vec![0f64; n_mels], vec![0f64; n_mels], 0usize);
        for map in maps {
            let frames = map.len() / n_mels;
            for (b, row) in map.chunks_exact(frames).enumerate() {
                for &v in row {
                    sum[b] += v as f64;
                    sq[b] += (v as f64) * (v as f64);
                }
            }
            n += frames;
        }
        let n = n.max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, &m)| ((q / n - (m as f64).powi(2)).max(0.0).sqrt() as f32).max(MIN_STD))
            .collect();
        Self { mean, std }
    }

    /// Z-normalises each band of `map` (`n_mels × n_frames`) in place.
    pub fn apply(&self, map: &mut [f32], n_frames: usize) {
        for ((row, m), s) in map
            .chunks_exact_mut(n_frames)
            .zip(&self.mean)
            .zip(&self.std)
        {
            for v in row {
                *v = (*v - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_centres_and_scales_each_band() {
        // Two bands, three frames per map, two maps.
        let a = [1.0, 2.0, 3.0, -10.0, -10.0, -10.0];
        let b = [5.0, 6.0, 7.0, -10.0, -10.0, -10.0];
        let p = SpeakerProfile::from_maps(&[&a, &b], 2);
        assert_eq!(p.mean, vec![4.0, -10.0]);
        // Band 0: values 1,2,3,5,6,7 around 4: variance 14/3. Band 1 never moves: the floor.
        assert!((p.std[0] - (14.0f32 / 3.0).sqrt()).abs() < 1e-5);
        assert_eq!(p.std[1], MIN_STD);
        let mut x = a;
        p.apply(&mut x, 3);
        assert!((x[1] - (-2.0 / p.std[0])).abs() < 1e-6);
        assert_eq!(&x[3..], &[0.0, 0.0, 0.0]);
    }
}
