//! The speech-embedding branch's trained part: a multinomial logistic regression on the
//! pooled embeddings of the training clips' analysis windows, fitted after the CNN in a few
//! seconds; then, by default, the network's upper layers tuned with it
//! ([`crate::branch_tuning`]).

use crate::acoustics::{babble_noise, babble_voices, mix_at_snr};
use crate::branch_tuning::{self, BranchTuning};
use crate::data::{BABBLE_SNR_DB, Dataset, NoisyCopies, clip_rng};
use burn::prelude::*;
use rand::Rng;
use rayon::prelude::*;
use speech_emotion::adapt::VoiceProfile;
use speech_emotion::model::EmotionNet;
use speech_emotion::speech_embedding::{
    self, N_MELS, SpeechBranch, SpeechEmbedding, SpeechFrontEnd, SpeechHead, head_inputs,
};
use std::collections::HashMap;
use std::time::Instant;

/// L2 penalty on the weights, per clip (mean loss + L2/2 · |W|²): about scikit-learn's
/// `LogisticRegression(C=0.01)` at this corpus' size, the setting screened in
/// trainer/EXPERIMENTS.md.
pub const L2: f64 = 0.08;
const ITERATIONS: usize = 600;

/// What the head reads for each of `idx`'s clips ([`head_inputs`]): the pooled embeddings, and the
/// prosody statistics where `prosody` (the inputs' last row).
pub fn clip_head_inputs(
    net: &SpeechEmbedding,
    mels: &[Vec<f32>],
    idx: &[usize],
    prosody: bool,
) -> Vec<Vec<f32>> {
    let inputs: Vec<&[f32]> = idx.iter().map(|&i| mels[i].as_slice()).collect();
    inputs_of(net, &inputs, prosody)
}

/// What the head reads for each of the branch's `inputs` (all of one shape).
pub fn inputs_of(net: &SpeechEmbedding, inputs: &[&[f32]], prosody: bool) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(32) {
        let p = head_inputs(net, input_batch(chunk, &device), prosody);
        let width = p.dims()[1];
        let p = p.into_data().try_to_vec::<f32>().expect("f32");
        out.extend(p.chunks_exact(width).map(|c| c.to_vec()));
    }
    out
}

/// Each class's weight for labels `y`: clips / (classes present × its clips), so every class
/// present weighs the same in the loss; 0 for a class with no clips.
pub fn balanced_class_weights(y: &[usize], n_classes: usize) -> Vec<f64> {
    let n = y.len().max(1) as f64;
    let mut counts = vec![0usize; n_classes];
    for &label in y {
        counts[label] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n / (present * c as f64)
            }
        })
        .collect()
}

/// The branch's inputs (all of one shape) as one batch `[inputs, rows, N_MELS]`.
pub fn input_batch(inputs: &[&[f32]], device: &Device) -> Tensor<3> {
    let rows = inputs.first().map_or(0, |x| x.len() / N_MELS);
    let flat: Vec<f32> = inputs.iter().flat_map(|x| x.iter().copied()).collect();
    Tensor::<3>::from_data(TensorData::new(flat, [inputs.len(), rows, N_MELS]), device)
}

/// Fits the head on `x` (pooled embeddings) and `y`: features standardised with their own
/// mean and spread, then softmax regression with balanced class weights (as the CNN's loss)
/// and [`L2`], by full-batch Adam.
pub fn fit(x: &[Vec<f32>], y: &[usize], n_classes: usize, device: &Device) -> SpeechHead {
    let n = x.len().max(1) as f64;
    let class_weight = balanced_class_weights(y, n_classes);
    let d = x.first().map_or(0, |row| row.len());
    let mut mean = vec![0.0f64; d];
    let mut var = vec![0.0f64; d];
    for row in x {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64 / n;
        }
    }
    for row in x {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (*v as f64 - m).powi(2) / n;
        }
    }
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / v.sqrt().max(1e-6)).collect();
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            row.iter()
                .zip(&mean)
                .zip(&inv_std)
                .map(|((v, m), s)| (*v as f64 - m) * s)
                .collect()
        })
        .collect();
    // Parameters: weights [d][c] then biases [c].
    let c = n_classes;
    let mut theta = vec![0.0f64; d * c + c];
    let (mut m1, mut m2) = (vec![0.0f64; theta.len()], vec![0.0f64; theta.len()]);
    let (lr, b1, b2) = (0.05, 0.9, 0.999);
    let mut probs = vec![0.0f64; c];
    for t in 1..=ITERATIONS {
        let mut grad = vec![0.0f64; theta.len()];
        for (row, &label) in z.iter().zip(y) {
            for (k, p) in probs.iter_mut().enumerate() {
                *p = theta[d * c + k]
                    + row
                        .iter()
                        .enumerate()
                        .map(|(j, v)| v * theta[j * c + k])
                        .sum::<f64>();
            }
            let top = probs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = probs
                .iter_mut()
                .map(|p| {
                    *p = (*p - top).exp();
                    *p
                })
                .sum();
            for (k, p) in probs.iter().enumerate() {
                let g = class_weight[label] * (p / total - if k == label { 1.0 } else { 0.0 }) / n;
                for (j, v) in row.iter().enumerate() {
                    grad[j * c + k] += g * v;
                }
                grad[d * c + k] += g;
            }
        }
        for (g, w) in grad[..d * c].iter_mut().zip(&theta[..d * c]) {
            *g += L2 * w;
        }
        for i in 0..theta.len() {
            m1[i] = b1 * m1[i] + (1.0 - b1) * grad[i];
            m2[i] = b2 * m2[i] + (1.0 - b2) * grad[i] * grad[i];
            let m_hat = m1[i] / (1.0 - b1.powi(t as i32));
            let v_hat = m2[i] / (1.0 - b2.powi(t as i32));
            theta[i] -= lr * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
    let f32s = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
    SpeechHead::from_fit(
        f32s(&mean),
        f32s(&inv_std),
        f32s(&theta[..d * c]),
        f32s(&theta[d * c..]),
        device,
    )
}

/// The speaker-adapted view of the branch's inputs: every clip's head inputs z-normalised with
/// its speaker's [`VoiceProfile`], built from that speaker's clips in `profile_from` (unlabelled;
/// all of them, or the few a page would have heard).
pub fn speaker_normalised(
    inputs: &[Vec<f32>],
    speakers: &[&str],
    profile_from: &[usize],
) -> Vec<Vec<f32>> {
    let profiles = speaker_profiles(inputs, speakers, profile_from, |_| 0.0);
    inputs
        .iter()
        .zip(speakers)
        .map(|(x, s)| {
            profiles
                .get(s)
                .and_then(|p| p.normalise(x))
                .unwrap_or_else(|| x.clone())
        })
        .collect()
}

/// Each speaker's [`VoiceProfile`] of `values`, from the rows in `profile_from`, row `i`
/// bringing `seconds(i)` of speech.
pub fn speaker_profiles<'a>(
    values: &[Vec<f32>],
    speakers: &[&'a str],
    profile_from: &[usize],
    seconds: impl Fn(usize) -> f64,
) -> HashMap<&'a str, VoiceProfile> {
    let mut profiles: HashMap<&str, VoiceProfile> = HashMap::new();
    for &i in profile_from {
        profiles
            .entry(speakers[i])
            .or_default()
            .add(&values[i], seconds(i));
    }
    profiles
}

/// The talkers of clip `i`'s babble: 3 to 6 clips of `train` (with repeats) whose speaker is not
/// clip `i`'s; none if no other speaker trains.
fn babble_talkers(speakers: &[&str], train: &[usize], i: usize, rng: &mut impl Rng) -> Vec<usize> {
    let others: Vec<usize> = train
        .iter()
        .copied()
        .filter(|&j| speakers[j] != speakers[i])
        .collect();
    babble_voices(&others, rng)
}

/// The branch's inputs for `copies` babble copies of each of the `train` clips, copy by copy:
/// 3 to 6 other training speakers talking at once under the clip's window, at
/// [`BABBLE_SNR_DB`], drawn afresh for each copy (the same copies on every run with the same
/// split; the first is the same whatever the count).
fn babble_copies(data: &Dataset, train: &[usize], copies: usize) -> Vec<Vec<f32>> {
    let config = &data.feature_config;
    let front = SpeechFrontEnd::new(
        config.sample_rate,
        config.window_samples,
        Some(speech_embedding::LEVEL_DBFS),
        data.prosody,
    );
    let speakers: Vec<&str> = data.clips.iter().map(|c| c.speaker.as_str()).collect();
    let per_clip: Vec<Vec<Vec<f32>>> = train
        .par_iter()
        .map(|&i| {
            let mut rng = clip_rng(&data.clips[i].path);
            (0..copies)
                .map(|_| {
                    let voices: Vec<&[f32]> = babble_talkers(&speakers, train, i, &mut rng)
                        .into_iter()
                        .map(|j| data.speech[j].as_slice())
                        .collect();
                    let context = &data.contexts[i];
                    let noise = babble_noise(&voices, context.len(), &mut rng);
                    let snr = rng.random_range(BABBLE_SNR_DB.0..=BABBLE_SNR_DB.1);
                    // The window was read once already, so its front end cannot fail on it now.
                    front
                        .mel(&mix_at_snr(context, &noise, snr))
                        .unwrap_or_else(|_| data.speech_mels[i].clone())
                })
                .collect()
        })
        .collect();
    // Copy by copy, so that each block lines up with the labels of `train`.
    let mut blocks: Vec<Vec<Vec<f32>>> = (0..copies)
        .map(|_| Vec::with_capacity(train.len()))
        .collect();
    for clip in per_clip {
        for (block, mel) in blocks.iter_mut().zip(clip) {
            block.push(mel);
        }
    }
    blocks.into_iter().flatten().collect()
}

/// `model` with the speech-embedding branch: `net` and a head fitted on the `train` clips.
/// With `noisy`, the head also sees noisy copies of each training clip (white noise: the
/// dataset's `noisy_speech_mels`; babble: [`babble_copies`]), as the CNN sees noise among its
/// augmentations. With `adapted`, the branch also gets its second head, fitted on the clean
/// clips' inputs normalised per training speaker ([`speaker_normalised`]). With `tuning`, the
/// network's upper layers are then trained with both heads on the same inputs.
pub fn attach(
    model: EmotionNet,
    net: &SpeechEmbedding,
    data: &Dataset,
    train: &[usize],
    (noisy, adapted, tuning): (NoisyCopies, bool, Option<&BranchTuning>),
) -> EmotionNet {
    let t0 = Instant::now();
    let device = Device::flex();
    let n_classes = data.label_names.len();
    let labels: Vec<usize> = train.iter().map(|&i| data.labels[i]).collect();
    let babble = (noisy.babble > 0).then(|| babble_copies(data, train, noisy.babble));
    // Every input the strict head learns from: the clean clips, then their copies.
    let mut inputs: Vec<&[f32]> = train
        .iter()
        .map(|&i| data.speech_mels[i].as_slice())
        .collect();
    if noisy.white {
        inputs.extend(train.iter().map(|&i| data.noisy_speech_mels[i].as_slice()));
    }
    if let Some(mels) = &babble {
        inputs.extend(mels.iter().map(Vec::as_slice));
    }
    let y: Vec<usize> = labels.iter().cycle().take(inputs.len()).copied().collect();
    // With tuning, the frozen layers run once for the first fit and every pass of the tuning.
    let stems = tuning.map(|t| branch_tuning::Stems::new(net, &inputs, data.prosody, t));
    let x = match &stems {
        Some(stems) => stems.head_inputs(net),
        None => inputs_of(net, &inputs, data.prosody),
    };
    let mut head = fit(&x, &y, n_classes, &device);
    let speakers: Vec<&str> = train
        .iter()
        .map(|&i| data.clips[i].speaker.as_str())
        .collect();
    // Fitted on the clean clips (the first inputs) normalised per training speaker.
    let mut adapted = adapted.then(|| {
        let all: Vec<usize> = (0..train.len()).collect();
        fit(
            &speaker_normalised(&x[..train.len()], &speakers, &all),
            &labels,
            n_classes,
            &device,
        )
    });
    let mut net = net.clone();
    if let (Some(tuning), Some(stems)) = (tuning, &stems) {
        // The adapted head is tuned with the network: one fitted afterwards on features the
        // network was trained to separate on these very clips would trust them too much.
        let voices = adapted.as_ref().map(|head| {
            let mut by_speaker: HashMap<&str, Vec<usize>> = HashMap::new();
            for (k, s) in speakers.iter().enumerate() {
                by_speaker.entry(s).or_default().push(k);
            }
            let mut speakers: Vec<Vec<usize>> = by_speaker.into_values().collect();
            speakers.sort();
            branch_tuning::Voices { head, speakers }
        });
        let tuned = branch_tuning::tune(
            (&net, &head, voices.as_ref()),
            (stems, &y),
            n_classes,
            tuning,
        );
        (net, head, adapted) = (tuned.0, tuned.1, tuned.2.or(adapted));
    }
    eprintln!(
        "speech-embedding head{} fitted on {} clips{} in {:.1} s",
        if adapted.is_some() {
            "s (strict and speaker-adapted)"
        } else {
            ""
        },
        train.len(),
        match (noisy.white, noisy.babble > 0) {
            (false, false) => "",
            (true, false) => " and their noisy copies",
            (false, true) => " and their babble copies",
            (true, true) => " and their noisy and babble copies",
        },
        t0.elapsed().as_secs_f64()
    );
    model.with_speech(SpeechBranch { net, head, adapted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Clip;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use speech_emotion::features::FeatureConfig;
    use speech_emotion::speech_embedding::POOLED;

    /// Babble is made of training clips of other speakers only: never the clip's own voice,
    /// never a clip outside the split (a held-out speaker).
    #[test]
    fn babble_talkers_are_other_training_speakers() {
        let speakers = ["a", "a", "b", "b", "c", "c", "held-out"];
        let train = [0, 1, 2, 3, 4, 5];
        let mut rng = StdRng::seed_from_u64(3);
        for i in train {
            for _ in 0..50 {
                let talkers = babble_talkers(&speakers, &train, i, &mut rng);
                assert!((3..=6).contains(&talkers.len()), "{talkers:?}");
                for j in talkers {
                    assert!(train.contains(&j) && speakers[j] != speakers[i], "{i}: {j}");
                }
            }
        }
        assert!(babble_talkers(&speakers, &[0, 1], 0, &mut rng).is_empty());
    }

    /// N babble copies come copy by copy (each block lines up with the clips), the first block
    /// is the single copy, and the second was drawn afresh.
    #[test]
    fn babble_copies_line_up_and_differ() {
        let config = FeatureConfig::default();
        let mut rng = StdRng::seed_from_u64(5);
        let mut audio =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.3f32..0.3)).collect() };
        let n = 6;
        let clips: Vec<Clip> = (0..n)
            .map(|i| Clip {
                path: format!("clip-{i}.wav").into(),
                label: i % 2,
                speaker: format!("{}", i / 2),
                train_only: false,
            })
            .collect();
        let data = Dataset {
            clips,
            speech: (0..n).map(|_| audio(config.sample_rate as usize)).collect(),
            contexts: (0..n).map(|_| audio(config.window_samples)).collect(),
            speech_mels: vec![Vec::new(); n],
            feature_config: config,
            features: Vec::new(),
            noisy_speech_mels: Vec::new(),
            prosody: false,
            labels: (0..n).map(|i| i % 2).collect(),
            label_names: vec!["a".into(), "b".into()],
            skipped: 0,
            unreadable: Vec::new(),
            profiles: None,
        };
        let train = [0, 1, 2, 3, 5];
        let one = babble_copies(&data, &train, 1);
        let two = babble_copies(&data, &train, 2);
        assert_eq!((one.len(), two.len()), (train.len(), 2 * train.len()));
        assert_eq!(one[..], two[..train.len()]);
        for k in 0..train.len() {
            assert!(!two[k].is_empty());
            assert_ne!(
                two[k],
                two[train.len() + k],
                "clip {k}'s two copies are the same"
            );
        }
    }

    /// Three classes that differ in a few of the pooled values, with noise elsewhere: the fitted
    /// head tells them apart on fresh samples, and its probabilities sum to one.
    #[test]
    fn fit_separates_classes() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut sample = |label: usize| -> Vec<f32> {
            (0..POOLED)
                .map(|j| {
                    let signal = if j % 3 == label && j < 30 { 2.0 } else { 0.0 };
                    signal + rng.random_range(-1.0..1.0) + 50.0
                })
                .collect()
        };
        let y: Vec<usize> = (0..150).map(|i| i % 3).collect();
        let x: Vec<Vec<f32>> = y.iter().map(|&l| sample(l)).collect();
        let device = Device::flex();
        let head = fit(&x, &y, 3, &device);
        let test_y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let test_x: Vec<f32> = test_y.iter().flat_map(|&l| sample(l)).collect();
        let log_probs = head.log_probs(Tensor::from_data(
            TensorData::new(test_x, [60, POOLED]),
            &device,
        ));
        let probs = log_probs.clone().exp().sum_dim(1).into_data();
        for p in probs.iter::<f32>() {
            assert!((p - 1.0).abs() < 1e-4, "{p}");
        }
        let predicted = log_probs.argmax(1).into_data();
        let correct = predicted
            .iter::<i64>()
            .zip(&test_y)
            .filter(|(p, t)| *p as usize == **t)
            .count();
        assert!(correct >= 57, "{correct} of 60");
    }
}
