//! Robustness: the k-fold test clips re-scored under recording conditions a user meets (level,
//! band limit, noise, babble, a small room, a cheap microphone) and under the live microphone's
//! window (the last 3 s of a line said over and over, cut anywhere), each clip by the model of
//! the fold that held its speaker out. Every condition goes through the page's own path for a
//! short recording, `timeline::analyse_clip` (speech gate, then the clip rule).

use crate::acoustics::{Biquad, babble_noise, convolve, mix_at_snr, room_response};
use crate::augment::{last_before_random_point, repeated};
use crate::data::Clip;
use crate::evaluate::{fold_plan, mean_sd};
use futures_lite::future::block_on;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;
use speech_emotion::audio::{prepare_mono, speech_span};
use speech_emotion::classifier::{Adaptable, Classifier};
use speech_emotion::decode::decode_file;
use speech_emotion::model::EmotionNet;
use speech_emotion::timeline::analyse_clip;
use std::path::Path;

/// The model's rate: conditions are applied to the recording after it is brought there, so that
/// every condition sees the same signal.
const RATE: u32 = 22_050;

/// One recording condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    Clean,
    /// Gain in dB; the result is clipped to ±1 as a recorder would.
    Level(f64),
    /// Resampled down to this rate and back: everything above half of it is gone.
    BandLimit(u32),
    /// White Gaussian noise at this SNR (dB) over the speech.
    WhiteNoise(f64),
    /// Six other speakers talking at once, at this SNR (dB).
    Babble(f64),
    /// A small room: a synthetic impulse response with this RT60 (s).
    Reverb(f64),
    /// A cheap microphone: high-pass 300 Hz, +6 dB presence peak at 3 kHz, low-pass 5 kHz.
    CheapMic,
    /// The live microphone: the line said four times with 0.3 s pauses, the last 3 s before a
    /// random point; two cuts per clip.
    MicrophoneWindow,
}

impl Condition {
    pub fn all() -> Vec<Condition> {
        use Condition::*;
        vec![
            Clean,
            Level(-20.0),
            Level(10.0),
            BandLimit(16_000),
            BandLimit(8_000),
            WhiteNoise(20.0),
            WhiteNoise(10.0),
            Babble(20.0),
            Babble(10.0),
            Reverb(0.4),
            CheapMic,
            MicrophoneWindow,
        ]
    }

    pub fn name(&self) -> String {
        match self {
            Condition::Clean => "clean".into(),
            Condition::Level(db) => format!("level {db:+} dB"),
            Condition::BandLimit(rate) => {
                format!(
                    "band limit {} kHz ({} kHz sampling)",
                    rate / 2000,
                    rate / 1000
                )
            }
            Condition::WhiteNoise(snr) => format!("white noise {snr} dB SNR"),
            Condition::Babble(snr) => format!("babble (6 talkers) {snr} dB SNR"),
            Condition::Reverb(rt60) => format!("small room, RT60 {rt60} s"),
            Condition::CheapMic => "cheap microphone EQ".into(),
            Condition::MicrophoneWindow => {
                "live microphone window (last 3 s of the line said 4 times)".into()
            }
        }
    }

    /// The audio (or audios: one per cut) to classify for `audio` (mono at [`RATE`]).
    fn apply(&self, audio: &[f32], babble: &[&[f32]], rng: &mut StdRng) -> Vec<Vec<f32>> {
        match *self {
            Condition::Clean => vec![audio.to_vec()],
            Condition::Level(db) => {
                let g = 10f32.powf(db as f32 / 20.0);
                vec![audio.iter().map(|v| (v * g).clamp(-1.0, 1.0)).collect()]
            }
            Condition::BandLimit(rate) => {
                let down = speech_emotion::audio::resample(audio, RATE, rate).expect("valid rates");
                let mut up =
                    speech_emotion::audio::resample(&down, rate, RATE).expect("valid rates");
                up.resize(audio.len(), 0.0);
                vec![up]
            }
            Condition::WhiteNoise(snr) => {
                let noise: Vec<f32> = (0..audio.len())
                    .map(|_| StandardNormal.sample(rng))
                    .collect();
                vec![mix_at_snr(audio, &noise, snr)]
            }
            Condition::Babble(snr) => {
                vec![mix_at_snr(
                    audio,
                    &babble_noise(babble, audio.len(), rng),
                    snr,
                )]
            }
            Condition::Reverb(rt60) => vec![convolve(audio, &room_response(rt60, RATE, rng))],
            Condition::CheapMic => {
                let mut y = audio.to_vec();
                for b in [
                    Biquad::high_pass(300.0, 0.707, RATE),
                    Biquad::peak(3000.0, 1.0, 6.0, RATE),
                    Biquad::low_pass(5000.0, 0.707, RATE),
                ] {
                    b.run(&mut y);
                }
                vec![y]
            }
            Condition::MicrophoneWindow => {
                let (start, end) = speech_span(audio);
                let line = &audio[start..end];
                let looped = repeated(line, (0.3 * RATE as f64) as usize, 4);
                (0..2)
                    .map(|_| last_before_random_point(&looped, 3 * RATE as usize, rng).to_vec())
                    .collect()
            }
        }
    }
}

/// One condition's figures.
#[derive(Debug, Serialize)]
pub struct ConditionResult {
    pub condition: String,
    /// Mean over the folds of each fold's UA (as `ua_mean` in the k-fold report).
    pub ua_mean: f64,
    pub ua_sd: f64,
    pub ua_per_fold: Vec<f64>,
    pub accuracy: f64,
    /// `ua_mean` minus the clean condition's, in UA points (0–1 scale).
    pub drop_from_clean: f64,
    /// Windows the speech gate refused (counted as not recognised).
    pub gated: usize,
    pub classified: usize,
    pub per_class_recall: Vec<(String, f64)>,
    /// The UA of each of the two views alone, the CNN's and the speech branch's strict head
    /// (their log-probabilities are added for the result), where the model keeps the parts
    /// (models with the adapted head): which view a condition breaks.
    pub ua_cnn_alone: Option<f64>,
    pub ua_branch_alone: Option<f64>,
}

/// The CNN's and the branch's strict head's own labels for a window's parts.
fn view_labels(net: &EmotionNet, parts: &Adaptable) -> Option<[usize; 2]> {
    use burn::prelude::*;
    let branch = net.speech()?;
    let device = Device::flex();
    let row =
        |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, v.len()]), &device);
    let top = |t: Tensor<2>| t.argmax(1).into_data().iter::<i64>().next().unwrap_or(0) as usize;
    Some([
        top(net.classify_pooled(row(&parts.cnn_states))),
        top(branch.head.log_probs(row(&parts.head_inputs))),
    ])
}

/// Scores every condition for the clips of `clips` under `k`-fold models `models/fold-N.sew`.
pub fn evaluate(
    clips: &[Clip],
    labels: &[String],
    (k, only): (usize, &[usize]),
    models: &Path,
    conditions: &[Condition],
    seed: u64,
) -> Result<Vec<ConditionResult>, String> {
    let plan = fold_plan(clips, k)?;
    let folds: Vec<usize> = (0..k)
        .filter(|f| only.is_empty() || only.contains(&(f + 1)))
        .collect();
    let device = burn::prelude::Device::flex();
    // per condition: per fold (truth, predicted) and gate counts
    let mut truth = vec![vec![Vec::new(); k]; conditions.len()];
    let mut predicted = vec![vec![Vec::new(); k]; conditions.len()];
    // The same for each view alone ([`view_labels`]).
    let mut by_view = [predicted.clone(), predicted.clone()];
    let all = Condition::all();
    for &fold in &folds {
        let test = &plan.test[fold];
        let path = models.join(format!("fold-{}.sew", fold + 1));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let classifier = Classifier::from_bytes(&bytes, &device)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if classifier.labels() != labels {
            return Err(format!("{}: other labels than the corpus", path.display()));
        }
        let in_test: Vec<usize> = (0..clips.len())
            .filter(|&i| test.contains(&clips[i].speaker))
            .collect();
        // Babble comes from speakers the fold's model was trained on, never the test speakers.
        let others: Vec<usize> = (0..clips.len())
            .filter(|&i| !test.contains(&clips[i].speaker))
            .step_by(37)
            .collect();
        eprintln!(
            "fold {}/{k}: {} test clips, speakers {test:?}",
            fold + 1,
            in_test.len()
        );
        let decode = |i: usize| -> Result<Vec<f32>, String> {
            let d = decode_file(&clips[i].path)?;
            prepare_mono(&d.channel_slices(), d.sample_rate, RATE)
                .map_err(|e| format!("{}: {e}", clips[i].path.display()))
        };
        let talkers: Vec<Vec<f32>> = others
            .iter()
            .map(|&i| decode(i))
            .collect::<Result<_, _>>()?;
        let audios: Vec<Vec<f32>> = in_test
            .par_iter()
            .map(|&i| decode(i))
            .collect::<Result<_, _>>()?;
        for (c, condition) in conditions.iter().enumerate() {
            // Each condition's draws follow its place in the full list, so that a run of a few
            // conditions scores them under the same noise as a run of all.
            let draw = all.iter().position(|x| x == condition).unwrap_or(c);
            for (j, (&i, audio)) in in_test.iter().zip(&audios).enumerate() {
                let mut rng = StdRng::seed_from_u64(seed ^ ((i as u64) << 16) ^ draw as u64);
                let babble: Vec<&[f32]> = (0..6)
                    .map(|t| talkers[(j * 7 + t * 13) % talkers.len()].as_slice())
                    .collect();
                for x in condition.apply(audio, &babble, &mut rng) {
                    let analysis = block_on(analyse_clip(&classifier, &[&x], RATE))?;
                    let overall = analysis.overall.filter(|_| analysis.speech);
                    let views = overall
                        .as_ref()
                        .and_then(|p| p.adaptable.as_ref())
                        .and_then(|parts| view_labels(classifier.model(), parts));
                    for (v, by) in by_view.iter_mut().enumerate() {
                        by[c][fold].push(views.map(|l| l[v]));
                    }
                    let label = overall.map(|p| p.label);
                    truth[c][fold].push(clips[i].label);
                    // None: the gate refused it and nothing was classified, a miss.
                    predicted[c][fold]
                        .push(label.and_then(|l| labels.iter().position(|x| *x == l)));
                }
            }
        }
    }
    let classes = labels.len();
    let mut results: Vec<ConditionResult> = Vec::new();
    for (c, condition) in conditions.iter().enumerate() {
        let per_fold: Vec<f64> = folds
            .iter()
            .map(|&f| recalls(&truth[c][f], &predicted[c][f], classes).0)
            .collect();
        let all_t: Vec<usize> = truth[c].concat();
        let all_p: Vec<Option<usize>> = predicted[c].concat();
        let (_, accuracy, per_class) = recalls(&all_t, &all_p, classes);
        let (ua_mean, ua_sd) = mean_sd(&per_fold);
        let clean = results.first().map_or(ua_mean, |r| r.ua_mean);
        // A view's UA where every classified window had its parts.
        let [ua_cnn_alone, ua_branch_alone] = [0, 1].map(|v| {
            let kept = by_view[v][c]
                .concat()
                .iter()
                .filter(|p| p.is_some())
                .count();
            (kept > 0 && kept == all_p.iter().filter(|p| p.is_some()).count()).then(|| {
                let per_fold: Vec<f64> = folds
                    .iter()
                    .map(|&f| recalls(&truth[c][f], &by_view[v][c][f], classes).0)
                    .collect();
                mean_sd(&per_fold).0
            })
        });
        let alone = |ua: Option<f64>| ua.map_or("–".into(), |u| format!("{:.1} %", 100.0 * u));
        eprintln!(
            "{:<60} UA {:.1} % ± {:.1}  ({:+.1}); the CNN alone {}, the branch alone {}",
            condition.name(),
            100.0 * ua_mean,
            100.0 * ua_sd,
            100.0 * (ua_mean - clean),
            alone(ua_cnn_alone),
            alone(ua_branch_alone)
        );
        results.push(ConditionResult {
            condition: condition.name(),
            ua_mean,
            ua_sd,
            ua_per_fold: per_fold,
            accuracy,
            drop_from_clean: ua_mean - clean,
            gated: all_p.iter().filter(|p| p.is_none()).count(),
            classified: all_t.len(),
            per_class_recall: labels.iter().cloned().zip(per_class).collect(),
            ua_cnn_alone,
            ua_branch_alone,
        });
    }
    Ok(results)
}

/// UA (mean recall over the classes present), accuracy and each class's recall; a missing
/// prediction (gated, nothing classified) is a miss.
fn recalls(truth: &[usize], predicted: &[Option<usize>], classes: usize) -> (f64, f64, Vec<f64>) {
    let (mut hits, mut support) = (vec![0usize; classes], vec![0usize; classes]);
    for (&t, &p) in truth.iter().zip(predicted) {
        support[t] += 1;
        hits[t] += usize::from(p == Some(t));
    }
    let recall: Vec<f64> = hits
        .iter()
        .zip(&support)
        .map(|(&h, &n)| if n == 0 { 0.0 } else { h as f64 / n as f64 })
        .collect();
    let present = support.iter().filter(|&&n| n > 0).count().max(1);
    let ua = recall.iter().sum::<f64>() / present as f64;
    let accuracy = hits.iter().sum::<usize>() as f64 / truth.len().max(1) as f64;
    (ua, accuracy, recall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acoustics::rms;
    use std::f64::consts::PI;

    fn tone(hz: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| (2.0 * PI * hz * i as f64 / RATE as f64).sin() as f32 * 0.5)
            .collect()
    }

    /// Each view is read alone: a branch head whose bias picks class 5 says 5 whatever the
    /// CNN says, and the CNN's label is its classifier's on the states; a model without the
    /// branch has no views.
    #[test]
    fn each_view_is_read_alone() {
        use speech_emotion::model::ModelConfig;
        use speech_emotion::speech_embedding::{POOLED, SpeechBranch, SpeechHead};
        let device = burn::prelude::Device::flex();
        let config = ModelConfig {
            channels: vec![4, 8],
            d_model: 16,
            lstm_hidden: 8,
            attention_hidden: 8,
            ..ModelConfig::default()
        };
        let mut bias = vec![0.0; 8];
        bias[5] = 50.0;
        let mut branch = SpeechBranch::new(8, false, false, &device);
        branch.head = SpeechHead::from_fit(
            vec![0.0; POOLED],
            vec![1.0; POOLED],
            vec![0.0; POOLED * 8],
            bias,
            &device,
        );
        let strict = config.init(&device);
        let net = strict.clone().with_speech(branch);
        let states: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).sin()).collect();
        let parts = Adaptable {
            head_inputs: vec![0.1; POOLED],
            cnn_states: states.clone(),
            strict: vec![0.125; 8],
        };
        let [cnn, speech] = view_labels(&net, &parts).unwrap();
        assert_eq!(speech, 5);
        let x = burn::prelude::Tensor::<2>::from_data(
            burn::prelude::TensorData::new(states, [1, 16]),
            &device,
        );
        let logits: Vec<f32> = net.classify_pooled(x).into_data().iter::<f32>().collect();
        assert_eq!(cnn, speech_emotion::timeline::argmax(&logits));
        assert_eq!(view_labels(&strict, &parts), None);
    }

    #[test]
    fn noise_is_mixed_at_the_asked_snr() {
        let x = tone(440.0, 1.0);
        let mut rng = StdRng::seed_from_u64(1);
        let y = &Condition::WhiteNoise(10.0).apply(&x, &[], &mut rng)[0];
        let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&x) / rms(&noise)).log10();
        assert!((snr - 10.0).abs() < 0.2, "snr {snr}");
    }

    #[test]
    fn filters_pass_and_stop_what_they_should() {
        let gain = |b: Biquad, hz: f64| {
            let mut x = tone(hz, 1.0);
            b.run(&mut x);
            rms(&x[RATE as usize / 2..]) / rms(&tone(hz, 0.5))
        };
        assert!(gain(Biquad::low_pass(5000.0, 0.707, RATE), 500.0) > 0.95);
        assert!(gain(Biquad::low_pass(5000.0, 0.707, RATE), 10_000.0) < 0.3);
        assert!(gain(Biquad::high_pass(300.0, 0.707, RATE), 60.0) < 0.1);
        let peak = gain(Biquad::peak(3000.0, 1.0, 6.0, RATE), 3000.0);
        assert!((peak - 2f32).abs() < 0.05, "peak gain {peak}");
        // The band limit at 8 kHz sampling removes a 6 kHz tone and keeps a 1 kHz one.
        let mut rng = StdRng::seed_from_u64(1);
        let mut limited = |hz: f64| {
            let x = tone(hz, 1.0);
            let y = &Condition::BandLimit(8000).apply(&x, &[], &mut rng)[0];
            rms(&y[2000..20_000]) / rms(&x[2000..20_000])
        };
        assert!(limited(1000.0) > 0.9);
        assert!(limited(6000.0) < 0.05);
    }

    #[test]
    fn reverb_keeps_the_level_and_spreads_an_impulse() {
        let mut x = vec![0f32; RATE as usize];
        x[100] = 1.0;
        let mut rng = StdRng::seed_from_u64(2);
        let y = &Condition::Reverb(0.4).apply(&x, &[], &mut rng)[0];
        let energy = |v: &[f32]| v.iter().map(|s| s * s).sum::<f32>();
        assert!((energy(y) - 1.0).abs() < 0.05, "energy {}", energy(y));
        assert!(y[100 + RATE as usize / 10].abs() > 0.0);
        assert!(y[..100].iter().all(|v| v.abs() < 1e-4));
    }

    #[test]
    fn the_microphone_window_is_3_s_of_the_repeated_line() {
        let mut x = vec![0f32; RATE as usize / 2];
        x.extend(tone(300.0, 1.5));
        x.extend(vec![0f32; RATE as usize / 2]);
        let mut rng = StdRng::seed_from_u64(3);
        let cuts = Condition::MicrophoneWindow.apply(&x, &[], &mut rng);
        assert_eq!(cuts.len(), 2);
        for c in cuts {
            assert_eq!(c.len(), 3 * RATE as usize);
            // 1.5 s of tone and 0.3 s pauses: at least 2.1 s of any 3 s is the line.
            let voiced = c.iter().filter(|v| v.abs() > 1e-3).count();
            assert!(voiced as f64 > 2.0 * RATE as f64, "voiced {voiced}");
        }
    }
}
