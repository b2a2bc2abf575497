//! Tuning the speech branch's upper layers on the corpus (`--tune-branch N`). The pretrained
//! network's lower layers stay frozen and run once per clip; its last `N` middle layers, the
//! last conv and the heads' classifiers are then trained together, starting from the
//! pretrained weights and the fitted heads, with the heads' standardisations kept as fitted.
//! The strict head learns from shuffled batches of all inputs; the speaker-adapted head from
//! one batch per training speaker, normalised with that batch's own statistics as the page's
//! voice profile normalises a voice. Tuning for the strict head alone cost the adapted view
//! two points (trainer/EXPERIMENTS.md, row TB).

use crate::speech_head::{L2, balanced_class_weights, input_batch};
use burn::module::Module;
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use speech_emotion::adapt::MIN_SPREAD;
use speech_emotion::speech_embedding::{
    MIDDLE_LAYERS, SpeechEmbedding, SpeechHead, join_inputs, pool, split_input,
};
use std::time::Instant;

/// How the branch is tuned: how many of the network's middle layers (counted from the top;
/// the last conv is always tuned with them), for how many passes, at which learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchTuning {
    pub layers: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl BranchTuning {
    /// The first tuned middle layer: the ones below it stay frozen.
    pub fn first_tuned(&self) -> usize {
        MIDDLE_LAYERS - self.layers.min(MIDDLE_LAYERS)
    }
}

const BATCH: usize = 32;

#[derive(Module, Debug)]
struct Tuned {
    net: SpeechEmbedding,
    classify: Linear,
    adapted: Option<Linear>,
}

/// The speaker-adapted head tuned beside the strict one: its fitted start, and the inputs of
/// each training speaker (indices into the clean inputs), whose statistics normalise them as a
/// [`speech_emotion::adapt::VoiceProfile`] of all their clips does.
pub struct Voices<'a> {
    pub head: &'a SpeechHead,
    pub speakers: Vec<Vec<usize>>,
}

/// The frozen layers' output of each input, flattened, with its prosody statistics: computed
/// once, for the heads' first fit ([`Stems::head_inputs`]) and every pass of [`tune`].
pub struct Stems {
    /// The first tuned middle layer.
    from: usize,
    shape: [usize; 3],
    values: Vec<Vec<f32>>,
    stats: Vec<Vec<f32>>,
}

impl Stems {
    /// `net`'s layers below the ones `config` tunes, run on `inputs` (the branch's inputs, as
    /// in the dataset).
    pub fn new(
        net: &SpeechEmbedding,
        inputs: &[&[f32]],
        prosody: bool,
        config: &BranchTuning,
    ) -> Self {
        let device = Device::flex();
        let from = config.first_tuned();
        let (mut values, mut stats) = (Vec::new(), Vec::new());
        let mut shape = [0; 3];
        for chunk in inputs.chunks(BATCH) {
            let (mel, s) = split_input(input_batch(chunk, &device), prosody);
            let x = net.stem(mel, from);
            let [_, c, t, f] = x.dims();
            shape = [c, t, f];
            let x = x.into_data().try_to_vec::<f32>().expect("f32");
            values.extend(x.chunks_exact(c * t * f).map(<[f32]>::to_vec));
            if let Some(s) = s {
                let w = s.dims()[1];
                let s = s.into_data().try_to_vec::<f32>().expect("f32");
                stats.extend(s.chunks_exact(w).map(<[f32]>::to_vec));
            }
        }
        Stems {
            from,
            shape,
            values,
            stats,
        }
    }

    /// The stems and prosody statistics of some inputs, as tensors on `device`.
    fn batch(&self, batch: &[usize], device: &Device) -> (Tensor<4>, Option<Tensor<2>>) {
        let [c, t, f] = self.shape;
        let x: Vec<f32> = batch
            .iter()
            .flat_map(|&i| self.values[i].iter().copied())
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [batch.len(), c, t, f]), device);
        let s = (!self.stats.is_empty()).then(|| {
            let w = self.stats[batch[0]].len();
            let s: Vec<f32> = batch
                .iter()
                .flat_map(|&i| self.stats[i].iter().copied())
                .collect();
            Tensor::<2>::from_data(TensorData::new(s, [batch.len(), w]), device)
        });
        (x, s)
    }

    /// The heads' inputs through `net`'s upper layers: what `speech_head::inputs_of` gives
    /// for the same inputs, without running the frozen layers again.
    pub fn head_inputs(&self, net: &SpeechEmbedding) -> Vec<Vec<f32>> {
        let device = Device::flex();
        let all: Vec<usize> = (0..self.values.len()).collect();
        let mut out = Vec::with_capacity(all.len());
        for batch in all.chunks(BATCH) {
            let (x, s) = self.batch(batch, &device);
            let p = join_inputs(pool(net.tail(x, self.from)), s);
            let width = p.dims()[1];
            let p = p.into_data().try_to_vec::<f32>().expect("f32");
            out.extend(p.chunks_exact(width).map(<[f32]>::to_vec));
        }
        out
    }
}

/// Trains the upper layers of `net` and the classifier of `head` (and of `voices`' adapted
/// head, where given) on the inputs whose `stems` are given, with their `labels`, classes
/// weighted as in the heads' fit and the classifiers' weights under the same L2 penalty.
/// Returns the tuned network, strict head and adapted head.
pub fn tune(
    (net, head, voices): (&SpeechEmbedding, &SpeechHead, Option<&Voices>),
    (stems, labels): (&Stems, &[usize]),
    n_classes: usize,
    config: &BranchTuning,
) -> (SpeechEmbedding, SpeechHead, Option<SpeechHead>) {
    let t0 = Instant::now();
    let from = stems.from;
    assert_eq!(
        from,
        config.first_tuned(),
        "stems cut where the tuning starts"
    );
    let n = labels.len().max(1) as f64;
    let class_weight: Vec<f32> = balanced_class_weights(labels, n_classes)
        .into_iter()
        .map(|w| w as f32)
        .collect();

    let device = Device::flex().autodiff();
    // The standardisation is the fitted one: read, never learnt.
    let scale = head.clone().fork(&device).no_grad();
    let adapted_scale = voices.map(|v| v.head.clone().fork(&device).no_grad());
    let mut model = Tuned {
        net: net.clone(),
        classify: head.classifier().clone(),
        adapted: voices.map(|v| v.head.classifier().clone()),
    }
    .fork(&device)
    .train()
    .set_require_grad(true);
    let mut optim = AdamConfig::new().init();
    let mut rng = ChaCha12Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Class-weighted cross-entropy of `logits` for `batch`, mean over the batch.
    let cross_entropy = |logits: Tensor<2>, batch: &[usize]| {
        let b = batch.len();
        let mut onehot = vec![0f32; b * n_classes];
        let mut w = vec![0f32; b];
        for (k, &i) in batch.iter().enumerate() {
            onehot[k * n_classes + labels[i]] = 1.0;
            w[k] = class_weight[labels[i]];
        }
        let target = Tensor::<2>::from_data(TensorData::new(onehot, [b, n_classes]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(w, [b, 1]), &device);
        let per_clip = (log_softmax(logits, 1) * target).sum_dim(1).neg() * w;
        per_clip.sum_dim(0).div_scalar(b as f32).reshape([1])
    };
    let penalty = |weights: Tensor<2>| weights.square().sum().mul_scalar(L2 as f32 / 2.0);
    let speakers = voices.map_or(0, |v| v.speakers.len());
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        // Strict batches, and one batch of each speaker's clips for the adapted head, mixed.
        let mut steps: Vec<Option<&[usize]>> = order.chunks(BATCH).map(Some).collect();
        steps.extend((0..speakers).map(|_| None));
        steps.shuffle(&mut rng);
        let mut next_speaker = 0;
        let (mut total, mut right) = (0.0f64, 0usize);
        for step in steps {
            let loss = match step {
                Some(batch) => {
                    let (x, s) = stems.batch(batch, &device);
                    let inputs = join_inputs(pool(model.net.tail(x, from)), s);
                    let logits = model.classify.forward(scale.standardise(inputs));
                    let predicted = logits.clone().argmax(1).into_data();
                    right += predicted
                        .iter::<i64>()
                        .zip(batch)
                        .filter(|(p, i)| *p as usize == labels[**i])
                        .count();
                    let loss = cross_entropy(logits, batch) + penalty(model.classify.weight.val());
                    total += loss.clone().into_scalar::<f32>() as f64 * batch.len() as f64;
                    loss
                }
                None => {
                    let (voices, adapted, adapted_scale) = (
                        voices.expect("speaker steps only with voices"),
                        model.adapted.as_ref().expect("an adapted head"),
                        adapted_scale.as_ref().expect("an adapted head"),
                    );
                    let batch = &voices.speakers[next_speaker];
                    next_speaker += 1;
                    let (x, s) = stems.batch(batch, &device);
                    let inputs = join_inputs(pool(model.net.tail(x, from)), s);
                    // As a profile of all the speaker's clips normalises them.
                    let mean = inputs.clone().mean_dim(0);
                    let spread = (inputs.clone() - mean.clone())
                        .square()
                        .mean_dim(0)
                        .add_scalar(1e-12)
                        .sqrt()
                        .clamp_min(MIN_SPREAD as f32);
                    let z = (inputs - mean) / spread;
                    let logits = adapted.forward(adapted_scale.standardise(z));
                    cross_entropy(logits, batch) + penalty(adapted.weight.val())
                }
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
        }
        eprintln!(
            "branch tuning epoch {epoch}/{}: loss {:.4}, training accuracy {:.1} % ({:.0} s)",
            config.epochs,
            total / n,
            100.0 * right as f64 / n,
            t0.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "speech branch's top {} layers tuned on {} inputs in {:.0} s",
        config.layers,
        labels.len(),
        t0.elapsed().as_secs_f64()
    );
    let model = model.valid();
    let adapted = voices
        .zip(model.adapted)
        .map(|(v, classify)| v.head.clone().with_classifier(classify));
    (
        model.net,
        head.clone().with_classifier(model.classify),
        adapted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech_head::{fit, inputs_of};
    use rand::Rng;
    use speech_emotion::speech_embedding::{N_MELS, SpeechEmbedding, head_inputs};
    use speech_emotion::weights::WeightsFile;

    /// Mean log-probability of each input's own class under `net` and `head`.
    fn fit_of(net: &SpeechEmbedding, head: &SpeechHead, inputs: &[&[f32]], y: &[usize]) -> f32 {
        let x = input_batch(inputs, &Device::flex());
        let lp = head.log_probs(head_inputs(net, x, false));
        let lp = lp.into_data().try_to_vec::<f32>().unwrap();
        let n_classes = lp.len() / y.len();
        y.iter()
            .enumerate()
            .map(|(i, &c)| lp[i * n_classes + c])
            .sum::<f32>()
            / y.len() as f32
    }

    #[test]
    fn tuning_fits_the_upper_layers_and_leaves_the_lower_ones() {
        let device = Device::flex();
        // The pretrained network as the shipped model carries it.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/speech-emotion.sew");
        let file = WeightsFile::from_bytes(&std::fs::read(path).unwrap()).unwrap();
        let net = file.model(&device).unwrap().speech().unwrap().net.clone();
        let mut rng = ChaCha12Rng::seed_from_u64(7);
        // Two classes: the second has more energy in the upper bands, hidden in noise (values
        // on the network's input scale, dB / 10 + 2).
        let (frames, n) = (140, 24);
        let mels: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                (0..frames * N_MELS)
                    .map(|k| {
                        let band = k % N_MELS;
                        let lift = if i % 2 == 1 && band >= N_MELS / 2 {
                            0.05
                        } else {
                            0.0
                        };
                        rng.random_range(2.0f32..6.0) + lift
                    })
                    .collect()
            })
            .collect();
        let inputs: Vec<&[f32]> = mels.iter().map(Vec::as_slice).collect();
        let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let config = BranchTuning {
            layers: 3,
            epochs: 8,
            learning_rate: 1e-4,
            seed: 1,
        };
        let stems = Stems::new(&net, &inputs, false, &config);
        // The cached lower layers and the upper ones give the whole network's head inputs.
        let x = inputs_of(&net, &inputs, false);
        let gap = x
            .iter()
            .flatten()
            .zip(stems.head_inputs(&net).iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(gap < 1e-4, "{gap}");
        let head = fit(&x, &y, 2, &device);
        let (tuned, tuned_head, _) = tune((&net, &head, None), (&stems, &y), 2, &config);
        let (before, after) = (
            fit_of(&net, &head, &inputs, &y),
            fit_of(&tuned, &tuned_head, &inputs, &y),
        );
        assert!(
            after > before + 0.1 * before.abs(),
            "log-likelihood {before} → {after}"
        );
        // The layers under the tuned ones give the same output as before.
        let from = MIDDLE_LAYERS - config.layers;
        let x = Tensor::<3>::from_data(
            TensorData::new(mels[0].clone(), [1, frames, N_MELS]),
            &device,
        );
        let gap: f32 = (net.stem(x.clone(), from) - tuned.stem(x.clone(), from))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(gap, 0.0);
        let moved: f32 = (net.forward(x.clone()) - tuned.forward(x))
            .abs()
            .max()
            .into_scalar();
        assert!(moved > 0.0, "the tuned layers did not change");
    }
}
