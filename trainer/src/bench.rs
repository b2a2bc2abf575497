//! Training throughput on its own: the model, the loss and Adam for a fixed number of steps on
//! one random batch, so that the figure compares with `bench/torch_reference.py` (the same
//! network in PyTorch) and leaves data preparation out.

use crate::train::{Batch, step};
use burn::optim::AdamConfig;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use speech_emotion::model::ModelConfig;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub implementation: String,
    pub threads: usize,
    pub batch_size: usize,
    pub steps: usize,
    pub seconds: f64,
    pub clips_per_second: f64,
}

/// Trains `config`'s network for `warmup` untimed and then `steps` timed steps of `batch_size`
/// random clips.
pub fn training_throughput(
    config: &ModelConfig,
    batch_size: usize,
    steps: usize,
    warmup: usize,
) -> Throughput {
    let device = Device::flex().autodiff();

    let mut rng = StdRng::seed_from_u64(0);
    Device::seed(&device, 0);
    let (m, t, k) = (config.n_mels, config.n_frames, config.n_classes);
    let input: Vec<f32> = (0..batch_size * m * t)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let labels: Vec<usize> = (0..batch_size).map(|_| rng.random_range(0..k)).collect();
    let mut targets = vec![0.1 / k as f32; batch_size * k];
    for (row, &y) in targets.chunks_exact_mut(k).zip(&labels) {
        row[y] += 0.9;
    }
    let weights: Vec<f32> = (0..batch_size)
        .map(|_| rng.random_range(0.5..1.5))
        .collect();
    let batch = || Batch {
        input: Tensor::from_data(TensorData::new(input.clone(), [batch_size, m, t]), &device),
        targets: targets.clone(),
        weights: weights.clone(),
        labels: labels.clone(),
    };
    let mut model = config.init(&device);
    let mut optim = AdamConfig::new().init();
    let mut start = Instant::now();
    for i in 0..warmup + steps {
        if i == warmup {
            start = Instant::now();
        }
        model = step(model, &mut optim, 1e-3, batch()).0;
    }
    let seconds = start.elapsed().as_secs_f64();
    Throughput {
        implementation: "trainer (Burn flex)".into(),
        threads: rayon::current_num_threads(),
        batch_size,
        steps,
        seconds,
        clips_per_second: (steps * batch_size) as f64 / seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reports_its_steps_and_a_rate() {
        let config = ModelConfig {
            channels: vec![4],
            ..ModelConfig::default()
        };
        let t = training_throughput(&config, 2, 2, 1);
        assert_eq!((t.steps, t.batch_size), (2, 2));
        assert!(t.seconds > 0.0 && t.clips_per_second.is_finite() && t.clips_per_second > 0.0);
    }
}
