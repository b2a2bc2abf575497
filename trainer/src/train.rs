//! The training loop: Adam on class-weighted, label-smoothed cross-entropy for a fixed number of
//! epochs with the learning rate halved on a schedule, keeping the last epoch (the default, and
//! what the k-fold runs showed best); or early stopping on validation UA with the learning rate
//! halved on plateaus.

use crate::augment::{AugmentConfig, augmented_features, mask};
use crate::data::Dataset;
use crate::metrics::{Metrics, confusion};
use crate::split::Split;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::Serialize;
use speech_emotion::classifier::{normalise, subtract_band_means};
use speech_emotion::features::LogMel;
use speech_emotion::model::{EmotionNet, ModelConfig};
use speech_emotion::weights::Normalization;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub label_smoothing: f32,
    /// Class weights ∝ 1 / class frequency ("balanced"), surprised further × this factor.
    pub surprise_boost: f32,
    /// Stop after this many epochs without a better validation UA, keeping the best epoch's
    /// model; 0: train all `max_epochs` and keep the last.
    pub patience: usize,
    /// Halve the learning rate after this many epochs without improvement.
    pub lr_patience: usize,
    pub lr_factor: f64,
    /// A fixed schedule: multiply by `lr_factor` every this many epochs; `None`: on plateaus
    /// of the validation UA (`lr_patience`).
    pub halve_every: Option<usize>,
    pub seed: u64,
    pub augment: Option<AugmentConfig>,
    /// Subtract each mel band's mean over the clip before the train-set scaling.
    pub subtract_band_means: bool,
    /// The speaker-adapted protocol ([`crate::data::Dataset::adapt_to_speakers`]); recorded in
    /// reports.
    pub speaker_adapted: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_epochs: 30,
            batch_size: 32,
            learning_rate: 1e-3,
            label_smoothing: 0.1,
            surprise_boost: 1.0,
            patience: 0,
            lr_patience: 4,
            lr_factor: 0.5,
            halve_every: Some(8),
            seed: 42,
            augment: Some(AugmentConfig::default()),
            subtract_band_means: false,
            speaker_adapted: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub validation_loss: f64,
    pub validation_ua: f64,
    pub validation_accuracy: f64,
    pub seconds: f64,
}

pub struct Trained {
    /// The model kept (best by validation UA, or the last epoch's), in inference mode.
    pub model: EmotionNet,
    pub normalization: Normalization,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub seconds: f64,
}

/// Scalar mean and standard deviation over the training features (after the per-clip band
/// means are taken off, when they are).
pub fn train_statistics(
    features: &[Vec<f32>],
    train: &[usize],
    n_frames: usize,
    subtract_band_means: bool,
) -> Normalization {
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for &i in train {
        // Copy only when the band means come off; otherwise read the features as they are.
        let shifted;
        let x: &[f32] = if subtract_band_means {
            let mut copy = features[i].clone();
            self::subtract_band_means(&mut copy, n_frames);
            shifted = copy;
            &shifted
        } else {
            &features[i]
        };
        for &v in x {
            sum += v as f64;
            sq += (v as f64) * (v as f64);
            n += 1.0;
        }
    }
    let mean = sum / n;
    Normalization {
        mean: mean as f32,
        std: ((sq / n - mean * mean).max(1e-12)).sqrt() as f32,
        subtract_band_means,
    }
}

/// Balanced class weights; the class at `boosted` (surprised, if the label list has it) × `boost`.
pub fn class_weights(
    labels: &[usize],
    train: &[usize],
    classes: usize,
    (boosted, boost): (Option<usize>, f32),
) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &i in train {
        counts[labels[i]] += 1;
    }
    counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            let w = if n == 0 {
                0.0
            } else {
                train.len() as f32 / (classes as f32 * n as f32)
            };
            if Some(c) == boosted { w * boost } else { w }
        })
        .collect()
}

/// Normalised clean features of `idx` as a `[batch, n_mels, n_frames]` tensor.
pub fn batch_input(
    features: &[Vec<f32>],
    idx: &[usize],
    norm: Normalization,
    shape: (usize, usize),
    device: &Device,
) -> Tensor<3> {
    let (m, t) = shape;
    let mut flat = Vec::with_capacity(idx.len() * m * t);
    for &i in idx {
        let start = flat.len();
        flat.extend_from_slice(&features[i]);
        normalise(&mut flat[start..], t, norm);
    }
    Tensor::from_data(TensorData::new(flat, [idx.len(), m, t]), device)
}

/// One training batch: features (augmented when asked, each clip with its own random stream
/// derived from the seed, the epoch and the clip, so runs repeat exactly on any thread count),
/// soft targets with label smoothing, per-clip class weights, and mixup across the batch.
pub struct Batch {
    pub input: Tensor<3>,
    /// Soft targets, `[batch, classes]` row-major.
    pub targets: Vec<f32>,
    /// Per-clip loss weights.
    pub weights: Vec<f32>,
    /// The unmixed label of each clip, for the running train accuracy.
    pub labels: Vec<usize>,
}

#[allow(clippy::too_many_arguments)]
fn training_batch(
    data: &Dataset,
    talkers: &[&[f32]],
    logmel: &LogMel,
    idx: &[usize],
    norm: Normalization,
    class_weights: &[f32],
    config: &TrainConfig,
    epoch: usize,
    rng: &mut StdRng,
    device: &Device,
) -> Batch {
    let (m, t) = (logmel.config().n_mels, logmel.config().n_frames);
    let k = class_weights.len();
    let maps: Vec<Vec<f32>> = idx
        .par_iter()
        .map(|&i| match &config.augment {
            Some(c) => {
                let stream = config.seed ^ ((epoch as u64) << 40) ^ ((i as u64) << 8);
                let mut r = StdRng::seed_from_u64(stream);
                let mut x = augmented_features(&data.speech[i], talkers, logmel, c, &mut r);
                if let Some(p) = &data.profiles {
                    p[i].apply(&mut x, t);
                }
                normalise(&mut x, t, norm);
                mask(&mut x, m, t, c, &mut r);
                x
            }
            None => {
                let mut x = data.features[i].clone();
                normalise(&mut x, t, norm);
                x
            }
        })
        .collect();
    let labels: Vec<usize> = idx.iter().map(|&i| data.labels[i]).collect();
    let mut targets = vec![config.label_smoothing / k as f32; idx.len() * k];
    for (row, &y) in targets.chunks_exact_mut(k).zip(&labels) {
        row[y] += 1.0 - config.label_smoothing;
    }
    let mut weights: Vec<f32> = labels.iter().map(|&y| class_weights[y]).collect();
    let mut flat: Vec<f32> = maps.concat();
    let alpha = config.augment.as_ref().map_or(0.0, |c| c.mixup_alpha);
    if alpha > 0.0 && idx.len() > 1 {
        // Each clip is blended with another of the batch: inputs, targets and weights alike.
        let lambda = Beta::new(alpha, alpha).expect("alpha > 0").sample(rng) as f32;
        let mut partner: Vec<usize> = (0..idx.len()).collect();
        partner.shuffle(rng);
        let size = m * t;
        let (x0, t0, w0) = (flat.clone(), targets.clone(), weights.clone());
        for (a, &b) in partner.iter().enumerate() {
            for j in 0..size {
                flat[a * size + j] = lambda * x0[a * size + j] + (1.0 - lambda) * x0[b * size + j];
            }
            for j in 0..k {
                targets[a * k + j] = lambda * t0[a * k + j] + (1.0 - lambda) * t0[b * k + j];
            }
            weights[a] = lambda * w0[a] + (1.0 - lambda) * w0[b];
        }
    }
    Batch {
        input: Tensor::from_data(TensorData::new(flat, [idx.len(), m, t]), device),
        targets,
        weights,
        labels,
    }
}

/// Weighted soft-target cross-entropy: `Σ_i w_i · (−Σ_c target_ic · log p_ic) / Σ_i w_i`.
fn loss(logits: Tensor<2>, targets: Vec<f32>, weights: Vec<f32>) -> Tensor<2> {
    let [b, k] = logits.dims();
    let device = logits.device();
    let wsum: f32 = weights.iter().sum::<f32>().max(1e-12);
    let target = Tensor::<2>::from_data(TensorData::new(targets, [b, k]), &device);
    let w = Tensor::<2>::from_data(TensorData::new(weights, [b, 1]), &device);
    let per_sample = (log_softmax(logits, 1) * target).sum_dim(1).neg();
    (per_sample * w).sum_dim(0).div_scalar(wsum)
}

/// One optimisation step on `batch`: forward, loss, backward, Adam. Returns the updated model,
/// the batch loss and the predicted class of each clip (before the update).
pub fn step(
    model: EmotionNet,
    optim: &mut ModuleOptimizer,
    lr: f64,
    batch: Batch,
) -> (EmotionNet, f32, Vec<usize>) {
    let logits = model.forward(batch.input).logits;
    let l = loss(logits.clone(), batch.targets, batch.weights);
    let grads = GradientsParams::from_grads(l.backward(), &model);
    let model = optim.step(lr, model, grads);
    let lv: f32 = l.into_scalar();
    let predicted = logits
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|p| p as usize)
        .collect();
    (model, lv, predicted)
}

/// One-hot targets and unit weights: the plain cross-entropy used for validation loss.
fn plain_targets(labels: &[usize], k: usize) -> (Vec<f32>, Vec<f32>) {
    let mut targets = vec![0.0; labels.len() * k];
    for (row, &y) in targets.chunks_exact_mut(k).zip(labels) {
        row[y] = 1.0;
    }
    (targets, vec![1.0; labels.len()])
}

/// Predicted classes and mean loss of `model` (inference mode) over `idx`; with
/// `speech_mels` (every clip's speech-embedding input), through the model's speech branch too.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    model: &EmotionNet,
    features: &[Vec<f32>],
    speech_mels: Option<&[Vec<f32>]>,
    labels: &[usize],
    idx: &[usize],
    norm: Normalization,
    shape: (usize, usize),
    device: &Device,
) -> (Vec<usize>, f64) {
    let mut predicted = Vec::with_capacity(idx.len());
    let mut total = 0.0;
    for chunk in idx.chunks(64) {
        let x = batch_input(features, chunk, norm, shape, device);
        let speech = speech_mels.map(|mels| {
            let frames = mels[chunk[0]].len() / speech_emotion::speech_embedding::N_MELS;
            let flat: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| mels[i].iter().copied())
                .collect();
            Tensor::from_data(
                TensorData::new(
                    flat,
                    [
                        chunk.len(),
                        frames,
                        speech_emotion::speech_embedding::N_MELS,
                    ],
                ),
                device,
            )
        });
        let logits = model.forward_fused(x, speech).logits;
        let y: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
        let (targets, weights) = plain_targets(&y, logits.dims()[1]);
        let l: f32 = loss(logits.clone(), targets, weights).into_scalar();
        total += l as f64 * chunk.len() as f64;
        let am = logits.argmax(1).into_data();
        predicted.extend(am.iter::<i64>().map(|v| v as usize));
    }
    (predicted, total / idx.len().max(1) as f64)
}

pub fn train(
    data: &Dataset,
    split: &Split,
    model_config: &ModelConfig,
    config: &TrainConfig,
) -> Trained {
    let (features, labels, label_names) = (&data.features, &data.labels, &data.label_names);
    let start = Instant::now();
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let logmel = LogMel::new(&data.feature_config);
    let shape = (model_config.n_mels, model_config.n_frames);
    let norm = train_statistics(
        features,
        &split.train,
        model_config.n_frames,
        config.subtract_band_means,
    );
    let weights = class_weights(
        labels,
        &split.train,
        model_config.n_classes,
        (
            label_names.iter().position(|l| l == "surprised"),
            config.surprise_boost,
        ),
    );
    let mut rng = StdRng::seed_from_u64(config.seed);
    burn::tensor::Device::seed(&train_device, config.seed);
    let mut model = model_config.init(&train_device);
    let mut optim = AdamConfig::new().init();
    let mut lr = config.learning_rate;
    let mut history = Vec::new();
    let (mut best_ua, mut best_epoch, mut since_best, mut since_lr) = (-1.0, 0, 0, 0);
    let mut best = model.valid();
    let mut order = split.train.clone();
    // The babble augmentation's voices: training clips only.
    let talkers: Vec<&[f32]> = split
        .train
        .iter()
        .map(|&i| data.speech[i].as_slice())
        .collect();
    let val_truth: Vec<usize> = split.validation.iter().map(|&i| labels[i]).collect();
    // Without validation data, or with early stopping off, the last epoch's model is kept:
    // two validation actors are too few to pick an epoch by (see trainer/EXPERIMENTS.md).
    let keep_last = split.validation.is_empty() || config.patience == 0;

    for epoch in 1..=config.max_epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(order.len() as u64).with_style(
            ProgressStyle::with_template(&format!(
                "epoch {epoch:>3} {{bar:30}} {{pos}}/{{len}} {{msg}} {{elapsed}}"
            ))
            .expect("template"),
        );
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for idx in order.chunks(config.batch_size) {
            let batch = training_batch(
                data,
                &talkers,
                &logmel,
                idx,
                norm,
                &weights,
                config,
                epoch,
                &mut rng,
                &train_device,
            );
            let y = batch.labels.clone();
            let (next, lv, predicted) = step(model, &mut optim, lr, batch);
            model = next;
            correct += predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
            seen += idx.len();
            loss_sum += lv as f64 * idx.len() as f64;
            bar.inc(idx.len() as u64);
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
        }
        bar.finish_and_clear();
        let inference = model.valid();
        // Without validation data (training on everything) the last epoch is kept.
        let (val_ua, val_accuracy, val_loss) = if split.validation.is_empty() {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            let (val_pred, val_loss) = predict(
                &inference,
                features,
                None,
                labels,
                &split.validation,
                norm,
                shape,
                &device,
            );
            let m = Metrics::from_confusion(
                confusion(&val_truth, &val_pred, model_config.n_classes),
                label_names,
            );
            (m.ua, m.accuracy, val_loss)
        };
        let stats = EpochStats {
            epoch,
            learning_rate: lr,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            validation_loss: val_loss,
            validation_ua: val_ua,
            validation_accuracy: val_accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let improved = val_ua > best_ua;
        eprintln!(
            "epoch {epoch:>3}  lr {lr:.1e}  train loss {:.3} acc {:.3}  val loss {:.3} UA {:.3} acc {:.3}  {:.0}s{}",
            stats.train_loss,
            stats.train_accuracy,
            stats.validation_loss,
            stats.validation_ua,
            stats.validation_accuracy,
            stats.seconds,
            if improved { "  *" } else { "" }
        );
        history.push(stats);
        if improved {
            best_ua = val_ua;
            since_best = 0;
            since_lr = 0;
        } else {
            since_best += 1;
            since_lr += 1;
        }
        if keep_last || improved {
            best_epoch = epoch;
            best = inference;
        }
        if !keep_last && since_best >= config.patience {
            eprintln!(
                "early stop: no better validation UA for {} epochs",
                config.patience
            );
            break;
        }
        let plateau = !split.validation.is_empty() && config.halve_every.is_none();
        if plateau && since_lr >= config.lr_patience {
            lr *= config.lr_factor;
            since_lr = 0;
        }
        if let Some(n) = config.halve_every.filter(|n| *n > 0 && epoch % n == 0) {
            lr *= config.lr_factor;
            eprintln!("learning rate {lr:.1e} after {epoch} epochs (fixed schedule, every {n})");
        }
    }
    Trained {
        model: best,
        normalization: norm,
        history,
        best_epoch,
        seconds: start.elapsed().as_secs_f64(),
    }
}
