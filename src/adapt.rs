//! Speaker adaptation: a speaker's voice and microphone summarised as the mean and spread of
//! what the model reads, over their recordings, and taken off each recording, so that the model
//! sees how a recording departs from that speaker's habit rather than the voice itself. It needs
//! several recordings of the speaker, unlabelled (the speaker-adapted protocol); a single clip is
//! classified without it.
//!
//! [`VoiceProfile`] does this for what the page adapts: the speech branch's head inputs (the
//! model's second head reads them normalised) and the CNN's pooled states (moved onto the
//! training clips' scale before the CNN's classifier, [`crate::model::StateStats`]);
//! [`SpeakerProfile`] for log-mel bands (the trainer's experiment with a CNN trained on adapted
//! log-mels).

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

/// Speech a [`VoiceProfile`] needs before it adapts, with [`MIN_VOICE_WINDOWS`].
pub const MIN_VOICE_SECONDS: f64 = 12.0;
/// Windows a profile needs before it adapts: eight RAVDESS sentences. Under the k-fold with
/// the branch frozen, a profile from 8 of a speaker's clips gained 3.5 points of UA over the
/// strict model, from 4 nothing, and from 2 it lost half the accuracy: spreads from a few
/// windows are too noisy to divide by. With the shipped, tuned branch 8 clips gain 3.1 points
/// (adapted view alone) and 4.2 (weighted by [`EVEN_SECONDS`]) over the strict view
/// (trainer/EXPERIMENTS.md, "the page's adaptation, measured again"). The seconds keep
/// overlapping windows of one sentence from counting as eight.
pub const MIN_VOICE_WINDOWS: usize = 8;
/// Seconds of a voice's speech after which its adapted view counts as much as the strict one
/// ([`VoiceProfile::adapted_share`]). Under the k-fold, 10 s read profiles of 8 to 60 clips as
/// well as the adapted view alone (within a point) and a voice heard in one mood much better;
/// 30 s, chosen first, cost about a point everywhere (trainer/EXPERIMENTS.md).
pub const EVEN_SECONDS: f64 = 10.0;
/// Moods a profile must have heard before the CNN's states are adapted too ([`moves_states`]).
pub const MIN_MOODS_FOR_STATES: f32 = 4.0;

/// How many moods a profile heard: the perplexity (exp of the entropy) of the strict model's
/// mean probabilities over its windows, 1 for one class, the class count for all alike.
pub fn moods_heard(mean_probabilities: &[f32]) -> f32 {
    let total: f32 = mean_probabilities.iter().filter(|p| p.is_finite()).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let entropy: f32 = mean_probabilities
        .iter()
        .map(|&p| p / total)
        .filter(|&p| p > 0.0 && p.is_finite())
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

/// Whether the adapted view moves the CNN's states for a profile whose windows' mean strict
/// probabilities are these: only where it heard at least [`MIN_MOODS_FOR_STATES`] moods. The
/// states carry the mood strongly, so a voice heard in one mood (a person reading one angry
/// letter) would have that mood taken for its habit: under the k-fold, profiles from each
/// speaker's angry clips alone cost 16 points of UA with the states always moved and 1 with the
/// head alone (trainer/EXPERIMENTS.md, row PS).
pub fn moves_states(mean_probabilities: &[f32]) -> bool {
    moods_heard(mean_probabilities) >= MIN_MOODS_FOR_STATES
}

/// Spreads below this are taken as this, as the trainer does per speaker.
pub const MIN_SPREAD: f64 = 1e-6;

/// One voice's habit as the model's adapted view sees it: the mean and spread of each value of
/// [`crate::classifier::Adaptable::profile_values`] over the windows heard from that voice,
/// built up as they come (the microphone, a batch of files marked as one speaker, a long
/// recording).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceProfile {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    windows: usize,
    seconds: f64,
}

impl VoiceProfile {
    /// Adds one window's values, which brought `seconds` of new speech (less than the window
    /// where windows overlap). Values of another width than the first are ignored.
    pub fn add(&mut self, inputs: &[f32], seconds: f64) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; inputs.len()];
            self.sum_sq = vec![0.0; inputs.len()];
        }
        if inputs.len() != self.sum.len() || inputs.iter().any(|v| !v.is_finite()) {
            return;
        }
        for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(inputs) {
            *s += v as f64;
            *q += (v as f64) * (v as f64);
        }
        self.windows += 1;
        self.seconds += seconds.max(0.0);
    }

    /// Windows heard.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Seconds of speech heard.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Whether it has heard enough to adapt ([`MIN_VOICE_SECONDS`], [`MIN_VOICE_WINDOWS`]).
    pub fn is_ready(&self) -> bool {
        self.seconds >= MIN_VOICE_SECONDS && self.windows >= MIN_VOICE_WINDOWS
    }

    /// How much the adapted view counts against the strict one, from 0 to 1: `s / (s +`
    /// [`EVEN_SECONDS`]`)` for `s` seconds of speech heard. A profile's mean and spread from a
    /// few sentences are noisy, so it is trusted as it grows; the strict view is never
    /// dropped altogether, as two views of a window averaged read it better than either.
    pub fn adapted_share(&self) -> f32 {
        if self.windows == 0 {
            return 0.0;
        }
        (self.seconds / (self.seconds + EVEN_SECONDS)) as f32
    }

    /// `inputs` z-normalised with this voice's mean and spread (population statistics, as the
    /// trainer's per-speaker normalisation), or `None` before any window was added, or where a
    /// value would not be finite (then the strict result stands).
    pub fn normalise(&self, inputs: &[f32]) -> Option<Vec<f32>> {
        if self.windows == 0 || inputs.len() != self.sum.len() {
            return None;
        }
        let z: Vec<f32> = inputs
            .iter()
            .zip(self.stats())
            .map(|(&v, (mean, spread))| ((v as f64 - mean) / spread) as f32)
            .collect();
        z.iter().all(|v| v.is_finite()).then_some(z)
    }

    /// Each value's mean and spread over the windows heard (empty before any).
    pub fn mean_spread(&self) -> (Vec<f32>, Vec<f32>) {
        self.stats().map(|(m, s)| (m as f32, s as f32)).unzip()
    }

    fn stats(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let n = self.windows.max(1) as f64;
        self.sum.iter().zip(&self.sum_sq).map(move |(s, q)| {
            let mean = s / n;
            (mean, (q / n - mean * mean).max(0.0).sqrt().max(MIN_SPREAD))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moods_heard_counts_the_classes_a_profile_spreads_over() {
        assert!((moods_heard(&[1.0, 0.0, 0.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!((moods_heard(&[0.25; 4]) - 4.0).abs() < 1e-5);
        assert!((moods_heard(&[0.5, 0.5, 0.0, 0.0]) - 2.0).abs() < 1e-5);
        // Not normalised: taken as proportions.
        assert!((moods_heard(&[2.0, 2.0]) - 2.0).abs() < 1e-5);
        assert_eq!(moods_heard(&[]), 0.0);
        assert!(!moves_states(&[0.9, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0]));
        assert!(moves_states(&[0.125; 8]));
    }

    #[test]
    fn a_voice_profile_centres_and_scales_each_input_once_ready() {
        let mut p = VoiceProfile::default();
        assert_eq!(p.normalise(&[1.0, 2.0]), None);
        for (i, x) in [1.0, 2.0, 3.0, 6.0, 1.0, 2.0, 3.0, 6.0].iter().enumerate() {
            assert!(!p.is_ready(), "ready after {i} windows");
            p.add(&[*x, 5.0], 1.5);
        }
        // Width and non-finite values are refused without counting.
        p.add(&[1.0], 3.0);
        p.add(&[f32::NAN, 1.0], 3.0);
        assert_eq!((p.windows(), p.seconds()), (8, 12.0));
        assert!(p.is_ready());
        // Input 0: mean 3, population variance (4+1+0+9)/4 = 3.5. Input 1 never moves: its
        // spread is the floor, so the voice's own value maps to 0.
        let z = p.normalise(&[4.0, 5.0]).unwrap();
        assert!((z[0] - 1.0 / 3.5f32.sqrt()).abs() < 1e-6, "{z:?}");
        assert_eq!(z[1], 0.0);
        // A value so far from a voice that never moved that its z is not a number: no answer.
        assert_eq!(p.normalise(&[4.0, f32::MAX]), None);
    }

    #[test]
    fn the_adapted_share_grows_with_the_speech_heard() {
        let mut p = VoiceProfile::default();
        assert_eq!(p.adapted_share(), 0.0);
        let mut last = 0.0;
        for quarter in 1..=40 {
            p.add(&[1.0], EVEN_SECONDS / 4.0);
            let share = p.adapted_share();
            assert!(
                share > last && share < 1.0,
                "{share} after {} s",
                p.seconds()
            );
            if quarter == 4 {
                assert!((share - 0.5).abs() < 1e-6, "{share} at EVEN_SECONDS");
            }
            last = share;
        }
        assert!(last > 0.9);
    }

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
