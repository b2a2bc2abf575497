//! The training loop: Adam on class-weighted, label-smoothed cross-entropy for a fixed number of
//! epochs with the learning rate halved on a schedule, keeping the last epoch (the default, and
//! what the k-fold runs showed best); or early stopping on validation UA with the learning rate
//! halved on plateaus. In parts: [`Batcher`] turns clip indices into (augmented) batches,
//! [`step`] is one optimisation step, `train_epoch` one pass over the clips, [`Schedule`] the
//! learning rate and the best epoch, and [`train`] runs the epochs, leaving a checkpoint after
//! each so that a killed run resumes ([`crate::checkpoint`]).

use crate::augment::{AugmentConfig, augmented_features, mask};
use crate::checkpoint::{self, Checkpointing};
use crate::data::Dataset;
use crate::metrics::{Metrics, confusion};
use crate::split::Split;
use burn::config::Config;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use speech_emotion::classifier::{normalise, subtract_band_means};
use speech_emotion::features::LogMel;
use speech_emotion::model::{EmotionNet, ModelConfig};
use speech_emotion::weights::Normalization;
use std::time::Instant;

/// The training recipe, declared once: the trainer's options take their defaults from here and
/// reports record it whole.
#[derive(Config, Debug)]
pub struct TrainConfig {
    #[config(default = 45)]
    pub max_epochs: usize,
    #[config(default = 32)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 0.1)]
    pub label_smoothing: f32,
    /// Class weights ∝ 1 / class frequency ("balanced"), surprised further × this factor.
    #[config(default = 1.0)]
    pub surprise_boost: f32,
    /// Stop after this many epochs without a better validation UA, keeping the best epoch's
    /// model; 0: train all `max_epochs` and keep the last (two validation actors are too few
    /// to pick an epoch by: see trainer/EXPERIMENTS.md).
    #[config(default = 0)]
    pub patience: usize,
    /// Halve the learning rate after this many epochs without improvement.
    #[config(default = 4)]
    pub lr_patience: usize,
    #[config(default = 0.5)]
    pub lr_factor: f64,
    /// A fixed schedule: multiply by `lr_factor` every this many epochs; `None`: on plateaus
    /// of the validation UA (`lr_patience`).
    #[config(default = "Some(12)")]
    pub halve_every: Option<usize>,
    /// Instead of halving: a cosine decay from `learning_rate` at the first epoch to nearly 0
    /// at the last (one cycle over `max_epochs`), so the last epoch's model, which is kept,
    /// comes from small steps.
    #[config(default = false)]
    pub cosine: bool,
    /// Keep the mean of the last this many epochs' weights (and batch-norm statistics) instead
    /// of the last epoch's alone, when the last is kept; 0 or 1: the last epoch's. An average
    /// over the flat end of the schedule (the last 9 of 45 epochs are at one rate) lands nearer
    /// the middle of the minimum the steps wander around (stochastic weight averaging), at no
    /// cost to inference: row SWA of trainer/EXPERIMENTS.md.
    #[config(default = 9)]
    pub average_last: usize,
    #[config(default = 42)]
    pub seed: u64,
    #[config(default = "Some(AugmentConfig::new())")]
    pub augment: Option<AugmentConfig>,
    /// Subtract each mel band's mean over the clip before the train-set scaling.
    #[config(default = false)]
    pub subtract_band_means: bool,
    /// The speaker-adapted protocol ([`crate::data::Dataset::adapt_to_speakers`]); recorded in
    /// reports.
    #[config(default = false)]
    pub speaker_adapted: bool,
    /// With `speaker_adapted`: the CNN's log-mels are adapted too (false: only the speech
    /// branch's inputs, the CNN kept strict).
    #[config(default = true)]
    pub adapt_log_mels: bool,
    /// With `speaker_adapted`: each test speaker's profile from this many of their clips (drawn
    /// with `seed`), as a page adapting after a few recordings; empty: all their clips. With
    /// several counts each is measured and printed, and the first is reported.
    #[config(default = "Vec::new()")]
    pub adapt_clips: Vec<usize>,
    /// With `speaker_adapted`: each test speaker's profile from their clips of this emotion
    /// only (a voice heard in one mood); all clips are still scored.
    #[config(default = "None")]
    pub adapt_emotion: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    // Without validation data these are NaN, which JSON writes as null.
    #[serde(deserialize_with = "nan_if_null")]
    pub validation_loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub validation_ua: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub validation_accuracy: f64,
    pub seconds: f64,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

pub struct Trained {
    /// The model kept (best by validation UA, or the last epoch's), in inference mode.
    pub model: EmotionNet,
    pub normalization: Normalization,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub seconds: f64,
    /// The last epoch's own model when `model` is an average of several (`average_last`),
    /// so that the two can be compared on the same run.
    pub last_epoch: Option<EmotionNet>,
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

/// Turns clip indices into training [`Batch`]es: the data, the train-set statistics and class
/// weights, the recipe, and the babble augmentation's voices (training clips only).
pub struct Batcher<'a> {
    data: &'a Dataset,
    talkers: Vec<&'a [f32]>,
    logmel: LogMel,
    norm: Normalization,
    class_weights: Vec<f32>,
    config: &'a TrainConfig,
    device: Device,
}

impl<'a> Batcher<'a> {
    pub fn new(
        data: &'a Dataset,
        train: &[usize],
        norm: Normalization,
        class_weights: Vec<f32>,
        config: &'a TrainConfig,
        device: Device,
    ) -> Self {
        Self {
            data,
            talkers: train.iter().map(|&i| data.speech[i].as_slice()).collect(),
            logmel: LogMel::new(&data.feature_config),
            norm,
            class_weights,
            config,
            device,
        }
    }

    /// The batch of clips `idx` in `epoch`; `rng` draws mixup's blend and partners.
    pub fn batch(&self, idx: &[usize], epoch: usize, rng: &mut impl Rng) -> Batch {
        let (data, config, norm) = (self.data, self.config, self.norm);
        let (m, t) = (self.logmel.config().n_mels, self.logmel.config().n_frames);
        let k = self.class_weights.len();
        let maps: Vec<Vec<f32>> = idx
            .par_iter()
            .map(|&i| match &config.augment {
                Some(c) => {
                    let stream = config.seed ^ ((epoch as u64) << 40) ^ ((i as u64) << 8);
                    let mut r = StdRng::seed_from_u64(stream);
                    let mut x =
                        augmented_features(&data.speech[i], &self.talkers, &self.logmel, c, &mut r);
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
        let mut weights: Vec<f32> = labels.iter().map(|&y| self.class_weights[y]).collect();
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
                    flat[a * size + j] =
                        lambda * x0[a * size + j] + (1.0 - lambda) * x0[b * size + j];
                }
                for j in 0..k {
                    targets[a * k + j] = lambda * t0[a * k + j] + (1.0 - lambda) * t0[b * k + j];
                }
                weights[a] = lambda * w0[a] + (1.0 - lambda) * w0[b];
            }
        }
        Batch {
            input: Tensor::from_data(TensorData::new(flat, [idx.len(), m, t]), &self.device),
            targets,
            weights,
            labels,
        }
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

/// The learning rate and the bookkeeping of the best validation UA, carried from epoch to epoch
/// (and in a checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub lr: f64,
    best_ua: f64,
    pub best_epoch: usize,
    since_best: usize,
    since_lr: usize,
}

/// What [`Schedule::after_epoch`] decided.
struct Verdict {
    /// A better validation UA than any before.
    improved: bool,
    /// Keep this epoch's model (the best so far, or the last when the last is kept).
    keep: bool,
    stop: bool,
}

impl Schedule {
    fn new(lr: f64) -> Self {
        Self {
            lr,
            best_ua: -1.0,
            best_epoch: 0,
            since_best: 0,
            since_lr: 0,
        }
    }

    /// Books `epoch`'s validation UA (NaN without validation data): which model to keep,
    /// whether to stop early, and the learning rate for the next epoch (halved on plateaus or
    /// every `halve_every` epochs).
    fn after_epoch(
        &mut self,
        epoch: usize,
        val_ua: f64,
        config: &TrainConfig,
        keep_last: bool,
    ) -> Verdict {
        let improved = val_ua > self.best_ua;
        if improved {
            self.best_ua = val_ua;
            self.since_best = 0;
            self.since_lr = 0;
        } else {
            self.since_best += 1;
            self.since_lr += 1;
        }
        let keep = keep_last || improved;
        if keep {
            self.best_epoch = epoch;
        }
        if !keep_last && self.since_best >= config.patience {
            eprintln!(
                "early stop: no better validation UA for {} epochs",
                config.patience
            );
            return Verdict {
                improved,
                keep,
                stop: true,
            };
        }
        if config.cosine {
            self.lr = cosine_rate(config, epoch + 1);
            eprintln!(
                "learning rate {:.1e} for epoch {} (cosine)",
                self.lr,
                epoch + 1
            );
            return Verdict {
                improved,
                keep,
                stop: false,
            };
        }
        if !val_ua.is_nan() && config.halve_every.is_none() && self.since_lr >= config.lr_patience {
            self.lr *= config.lr_factor;
            self.since_lr = 0;
        }
        if let Some(n) = config
            .halve_every
            .filter(|n| *n > 0 && epoch.is_multiple_of(*n))
        {
            self.lr *= config.lr_factor;
            eprintln!(
                "learning rate {:.1e} after {epoch} epochs (fixed schedule, every {n})",
                self.lr
            );
        }
        Verdict {
            improved,
            keep,
            stop: false,
        }
    }
}

/// The cosine schedule's rate for `epoch` (numbered from 1): `learning_rate` at epoch 1, falling
/// along half a cosine to `learning_rate` × (1 − cos(π / max_epochs)) / 2 at the last.
fn cosine_rate(config: &TrainConfig, epoch: usize) -> f64 {
    let progress = (epoch - 1) as f64 / config.max_epochs as f64;
    config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// One pass over the training clips in `order`, in batches: the updated model, the mean loss
/// and the accuracy on the (augmented, mixed) training batches.
fn train_epoch(
    mut model: EmotionNet,
    optim: &mut ModuleOptimizer,
    lr: f64,
    (batcher, batch_size): (&Batcher, usize),
    order: &[usize],
    epoch: usize,
    rng: &mut impl Rng,
) -> (EmotionNet, f64, f64) {
    let bar = ProgressBar::new(order.len() as u64).with_style(
        ProgressStyle::with_template(&format!(
            "epoch {epoch:>3} {{bar:30}} {{pos}}/{{len}} {{msg}} {{elapsed}}"
        ))
        .expect("template"),
    );
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    for idx in order.chunks(batch_size) {
        let batch = batcher.batch(idx, epoch, rng);
        let y = batch.labels.clone();
        let (next, lv, predicted) = step(model, optim, lr, batch);
        model = next;
        correct += predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
        seen += idx.len();
        loss_sum += lv as f64 * idx.len() as f64;
        bar.inc(idx.len() as u64);
        bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
    }
    bar.finish_and_clear();
    let seen = seen.max(1) as f64;
    (model, loss_sum / seen, correct as f64 / seen)
}

/// UA, accuracy and mean loss of `model` (inference mode) on the validation clips; NaN without
/// any.
fn validate(
    model: &EmotionNet,
    data: &Dataset,
    split: &Split,
    norm: Normalization,
    model_config: &ModelConfig,
) -> (f64, f64, f64) {
    if split.validation.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let (pred, loss) = predict(
        model,
        &data.features,
        None,
        &data.labels,
        &split.validation,
        norm,
        (model_config.n_mels, model_config.n_frames),
        &Device::flex(),
    );
    let truth: Vec<usize> = split.validation.iter().map(|&i| data.labels[i]).collect();
    let m = Metrics::from_confusion(
        confusion(&truth, &pred, model_config.n_classes),
        &data.label_names,
    );
    (m.ua, m.accuracy, loss)
}

/// The backend's random stream (dropout) for `epoch`, seeded afresh every epoch so that a
/// resumed run draws what an uninterrupted one would.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ ((epoch as u64) << 32) ^ 0x5eed
}

/// Trains the CNN on `split.train` with the recipe `config`. With `checkpoint`, the run's state
/// is saved there after every epoch, and taken up from there when it asks to resume.
pub fn train(
    data: &Dataset,
    split: &Split,
    model_config: &ModelConfig,
    config: &TrainConfig,
    checkpoint: Option<&Checkpointing>,
) -> Result<Trained, String> {
    let start = Instant::now();
    let train_device = Device::flex().autodiff();
    let norm = train_statistics(
        &data.features,
        &split.train,
        model_config.n_frames,
        config.subtract_band_means,
    );
    let class_weights = class_weights(
        &data.labels,
        &split.train,
        model_config.n_classes,
        (
            data.label_names.iter().position(|l| l == "surprised"),
            config.surprise_boost,
        ),
    );
    let batcher = Batcher::new(
        data,
        &split.train,
        norm,
        class_weights,
        config,
        train_device.clone(),
    );
    // Without validation data, or with early stopping off, the last epoch's model is kept:
    // two validation actors are too few to pick an epoch by (see trainer/EXPERIMENTS.md).
    let keep_last = split.validation.is_empty() || config.patience == 0;

    Device::seed(&train_device, config.seed);
    let run = checkpoint::RunId::new(config, model_config, data, split);
    let resumed = match checkpoint.filter(|c| c.resume) {
        Some(c) => c.load(&run, model_config, &train_device)?,
        None => None,
    };
    let mut state = match resumed {
        Some(state) => state,
        None => checkpoint::State {
            epoch: 0,
            model: model_config.init(&train_device),
            optim: AdamConfig::new().init(),
            best: None,
            order: split.train.clone(),
            rng: ChaCha12Rng::seed_from_u64(config.seed),
            schedule: Schedule::new(config.learning_rate),
            history: Vec::new(),
        },
    };
    let mut best = state.best.take().unwrap_or_else(|| state.model.valid());
    let mut last_epoch = None;
    // Epochs from this one on are averaged into `best`.
    let average_from = (keep_last && config.average_last > 1)
        .then(|| config.max_epochs.saturating_sub(config.average_last) + 1);

    for epoch in state.epoch + 1..=config.max_epochs {
        let t0 = Instant::now();
        Device::seed(&train_device, epoch_seed(config.seed, epoch));
        state.order.shuffle(&mut state.rng);
        let lr = state.schedule.lr;
        let (model, train_loss, train_accuracy) = train_epoch(
            state.model,
            &mut state.optim,
            lr,
            (&batcher, config.batch_size),
            &state.order,
            epoch,
            &mut state.rng,
        );
        state.model = model;
        let inference = state.model.valid();
        let (val_ua, val_accuracy, val_loss) =
            validate(&inference, data, split, norm, model_config);
        let stats = EpochStats {
            epoch,
            learning_rate: lr,
            train_loss,
            train_accuracy,
            validation_loss: val_loss,
            validation_ua: val_ua,
            validation_accuracy: val_accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let verdict = state.schedule.after_epoch(epoch, val_ua, config, keep_last);
        eprintln!(
            "epoch {epoch:>3}  lr {lr:.1e}  train loss {:.3} acc {:.3}  val loss {:.3} UA {:.3} acc {:.3}  {:.0}s{}",
            stats.train_loss,
            stats.train_accuracy,
            stats.validation_loss,
            stats.validation_ua,
            stats.validation_accuracy,
            stats.seconds,
            if verdict.improved { "  *" } else { "" }
        );
        state.history.push(stats);
        if average_from.is_some() && epoch == config.max_epochs {
            last_epoch = Some(inference.clone());
        }
        match average_from {
            Some(from) if epoch > from => best = running_mean(best, &inference, epoch - from + 1),
            _ if verdict.keep => best = inference,
            _ => {}
        }
        state.epoch = epoch;
        if let Some(c) = checkpoint {
            let averaging = average_from.is_some_and(|from| epoch >= from);
            c.save(&run, &state, (!keep_last || averaging).then_some(&best))?;
        }
        if verdict.stop {
            break;
        }
    }
    Ok(Trained {
        model: best,
        normalization: norm,
        best_epoch: state.schedule.best_epoch,
        history: state.history,
        seconds: start.elapsed().as_secs_f64(),
        last_epoch,
    })
}

/// `mean` moved to the mean of `count` models when `model` is the last of them:
/// `mean + (model − mean) / count`, for every parameter and running statistic alike.
pub fn running_mean(mean: EmotionNet, model: &EmotionNet, count: usize) -> EmotionNet {
    struct Blend {
        values: std::vec::IntoIter<burn::tensor::TensorData>,
        weight: f32,
    }
    impl ModuleMapper for Blend {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let data = self.values.next().expect("two models of one configuration");
            let weight = self.weight;
            param.map(|mean| {
                let value = Tensor::from_data(data, &mean.device());
                mean.clone() + (value - mean) * weight
            })
        }
    }
    mean.map(&mut Blend {
        values: float_values(model).into_iter(),
        weight: 1.0 / count as f32,
    })
}

/// Every float parameter and running statistic of `model`, in the order modules visit them.
fn float_values(model: &EmotionNet) -> Vec<burn::tensor::TensorData> {
    struct Collect(Vec<burn::tensor::TensorData>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data());
        }
    }
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_starts_at_the_rate_and_falls_to_nearly_zero() {
        let config = TrainConfig::new().with_cosine(true).with_max_epochs(30);
        let rates: Vec<f64> = (1..=30).map(|e| cosine_rate(&config, e)).collect();
        assert_eq!(rates[0], config.learning_rate);
        assert!(rates.windows(2).all(|w| w[1] < w[0]), "{rates:?}");
        assert!((rates[15] - config.learning_rate / 2.0).abs() < 1e-12);
        assert!(rates[29] > 0.0 && rates[29] < config.learning_rate / 100.0);
    }

    #[test]
    fn running_mean_of_three_models_is_their_mean() {
        let device = Device::flex();
        let config = ModelConfig::default();
        let models: Vec<EmotionNet> = (0..3).map(|_| config.init(&device)).collect();
        let mut mean = models[0].clone();
        for (k, model) in models.iter().enumerate().skip(1) {
            mean = running_mean(mean, model, k + 1);
        }
        let values: Vec<Vec<Vec<f32>>> = models
            .iter()
            .chain([&mean])
            .map(|m| {
                float_values(m)
                    .into_iter()
                    .map(|d| d.try_to_vec::<f32>().unwrap())
                    .collect()
            })
            .collect();
        let mut checked = 0;
        for (p, averaged) in values[3].iter().enumerate() {
            for (i, &v) in averaged.iter().enumerate() {
                let expected = (values[0][p][i] + values[1][p][i] + values[2][p][i]) / 3.0;
                assert!(
                    (v - expected).abs() < 1e-6,
                    "parameter {p}[{i}]: {v} vs {expected}"
                );
                checked += 1;
            }
        }
        // The models differ (random initialisation), so the mean is not any one of them.
        assert_ne!(values[0][0], values[1][0]);
        assert!(checked > 100_000, "{checked} values compared");
    }
}
