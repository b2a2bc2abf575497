//! The training loop: Adam on class-weighted, label-smoothed cross-entropy, early stopping on
//! validation UA, learning-rate reduction on plateau.

use crate::augment::{AugmentConfig, augment};
use crate::metrics::{Metrics, confusion};
use crate::split::Split;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use speech_emotion::classifier::normalise;
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
    /// Stop after this many epochs without a better validation UA.
    pub patience: usize,
    /// Halve the learning rate after this many epochs without improvement.
    pub lr_patience: usize,
    pub lr_factor: f64,
    pub seed: u64,
    pub augment: Option<AugmentConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_epochs: 40,
            batch_size: 32,
            learning_rate: 1e-3,
            label_smoothing: 0.1,
            surprise_boost: 1.0,
            patience: 10,
            lr_patience: 4,
            lr_factor: 0.5,
            seed: 42,
            augment: Some(AugmentConfig::default()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
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
    /// The best model by validation UA, in inference mode.
    pub model: EmotionNet,
    pub normalization: Normalization,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub seconds: f64,
}

/// Scalar mean and standard deviation over the training features.
pub fn train_statistics(features: &[Vec<f32>], train: &[usize]) -> Normalization {
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for &i in train {
        for &v in &features[i] {
            sum += v as f64;
            sq += (v as f64) * (v as f64);
            n += 1.0;
        }
    }
    let mean = sum / n;
    Normalization {
        mean: mean as f32,
        std: ((sq / n - mean * mean).max(1e-12)).sqrt() as f32,
    }
}

pub fn class_weights(labels: &[usize], train: &[usize], classes: usize, surprise: f32) -> Vec<f32> {
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
            if c == 7 { w * surprise } else { w }
        })
        .collect()
}

fn batch_input(
    features: &[Vec<f32>],
    idx: &[usize],
    norm: Normalization,
    shape: (usize, usize),
    augment_with: Option<(&AugmentConfig, &mut StdRng)>,
    device: &Device,
) -> Tensor<3> {
    let (m, t) = shape;
    let mut flat = Vec::with_capacity(idx.len() * m * t);
    let mut rng = augment_with;
    for &i in idx {
        let mut x = features[i].clone();
        normalise(&mut x, norm);
        if let Some((c, r)) = rng.as_mut() {
            augment(&mut x, m, t, c, *r);
        }
        flat.extend_from_slice(&x);
    }
    Tensor::from_data(TensorData::new(flat, [idx.len(), m, t]), device)
}

/// Weighted soft-target cross-entropy: mean over the batch of `w_y · −Σ target · log p`.
fn loss(logits: Tensor<2>, labels: &[usize], weights: &[f32], smoothing: f32) -> Tensor<2> {
    let [b, k] = logits.dims();
    let device = logits.device();
    let mut target = vec![smoothing / k as f32; b * k];
    let mut w = vec![0f32; b];
    for (i, &y) in labels.iter().enumerate() {
        target[i * k + y] += 1.0 - smoothing;
        w[i] = weights[y];
    }
    let wsum: f32 = w.iter().sum::<f32>().max(1e-12);
    let target = Tensor::<2>::from_data(TensorData::new(target, [b, k]), &device);
    let w = Tensor::<2>::from_data(TensorData::new(w, [b, 1]), &device);
    let per_sample = (log_softmax(logits, 1) * target).sum_dim(1).neg();
    (per_sample * w).sum_dim(0).div_scalar(wsum)
}

/// Predicted classes and mean loss of `model` (inference mode) over `idx`.
pub fn predict(
    model: &EmotionNet,
    features: &[Vec<f32>],
    labels: &[usize],
    idx: &[usize],
    norm: Normalization,
    shape: (usize, usize),
    device: &Device,
) -> (Vec<usize>, f64) {
    let weights = vec![1.0; 64];
    let mut predicted = Vec::with_capacity(idx.len());
    let mut total = 0.0;
    for chunk in idx.chunks(64) {
        let x = batch_input(features, chunk, norm, shape, None, device);
        let logits = model.forward(x).logits;
        let y: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
        let l: f32 = loss(logits.clone(), &y, &weights, 0.0).into_scalar();
        total += l as f64 * chunk.len() as f64;
        let am = logits.argmax(1).into_data();
        predicted.extend(am.iter::<i64>().map(|v| v as usize));
    }
    (predicted, total / idx.len().max(1) as f64)
}

pub fn train(
    features: &[Vec<f32>],
    labels: &[usize],
    label_names: &[String],
    split: &Split,
    model_config: &ModelConfig,
    config: &TrainConfig,
) -> Trained {
    let start = Instant::now();
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let shape = (model_config.n_mels, model_config.n_frames);
    let norm = train_statistics(features, &split.train);
    let weights = class_weights(
        labels,
        &split.train,
        model_config.n_classes,
        config.surprise_boost,
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
    let val_truth: Vec<usize> = split.validation.iter().map(|&i| labels[i]).collect();

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
            let x = batch_input(
                features,
                idx,
                norm,
                shape,
                config.augment.as_ref().map(|c| (c, &mut rng)),
                &train_device,
            );
            let y: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
            let logits = model.forward(x).logits;
            let l = loss(logits.clone(), &y, &weights, config.label_smoothing);
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(lr, model, grads);
            let lv: f32 = l.into_scalar();
            let am = logits.argmax(1).into_data();
            correct += am
                .iter::<i64>()
                .zip(&y)
                .filter(|(p, t)| *p as usize == **t)
                .count();
            seen += idx.len();
            loss_sum += lv as f64 * idx.len() as f64;
            bar.inc(idx.len() as u64);
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
        }
        bar.finish_and_clear();
        let inference = model.valid();
        let (val_pred, val_loss) = predict(
            &inference,
            features,
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
        let stats = EpochStats {
            epoch,
            learning_rate: lr,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            validation_loss: val_loss,
            validation_ua: m.ua,
            validation_accuracy: m.accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let improved = m.ua > best_ua;
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
            best_ua = m.ua;
            best_epoch = epoch;
            best = inference;
            since_best = 0;
            since_lr = 0;
        } else {
            since_best += 1;
            since_lr += 1;
            if since_best >= config.patience {
                eprintln!(
                    "early stop: no better validation UA for {} epochs",
                    config.patience
                );
                break;
            }
            if since_lr >= config.lr_patience {
                lr *= config.lr_factor;
                since_lr = 0;
            }
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
