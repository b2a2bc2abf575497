//! Times the two halves of a classification on this machine's CPU (flex backend): the
//! front end and the model, for one 3-s clip; and the log-mel alone (the CNN's features, the
//! part librosa also computes) on a 3-s clip and a 60-s signal. Medians of repeated runs.
//!
//! `cargo run --release --example bench [-- [--json] WEIGHTS [RUNS]]`

use burn::prelude::Device;
use speech_emotion::classifier::Classifier;
use speech_emotion::features::{FeatureConfig, LogMel, power_to_db};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A voiced test signal of `seconds`: a 180 Hz buzz with harmonics, amplitude-modulated like
/// syllables.
fn buzz(seconds: usize, rate: usize) -> Vec<f32> {
    (0..seconds * rate)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let voice: f32 = (1..8)
                .map(|h| (2.0 * std::f32::consts::PI * 180.0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * voice * (0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin())
        })
        .collect()
}

/// Median milliseconds of the log-mel in dB (all frames) of `x`, as librosa's
/// `power_to_db(melspectrogram(x))`.
fn logmel_ms(logmel: &LogMel, x: &[f32], runs: usize) -> f64 {
    let top_db = logmel.config().top_db;
    median(
        (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let (mel, _) = logmel.mel_power(x);
                std::hint::black_box(power_to_db(&mel, top_db));
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut args = std::env::args().skip(1).filter(|a| a != "--json");
    let weights = args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/speech-emotion.sew").into()
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);
    let bytes = std::fs::read(&weights).unwrap_or_else(|e| panic!("cannot read {weights}: {e}"));
    // Weights bytes → a model ready to run (what a page does once per load).
    let load = median(
        (0..runs.div_ceil(3))
            .map(|_| {
                let t0 = Instant::now();
                std::hint::black_box(
                    Classifier::from_bytes(&bytes, &Device::flex()).expect("weights"),
                );
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let classifier = Classifier::from_bytes(&bytes, &Device::flex()).expect("weights");
    let rate = 22_050;
    let clip = buzz(3, rate);
    let (mut front, mut model) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t0 = Instant::now();
        let f = classifier.features(&[&clip], rate as u32).expect("audio");
        let t1 = Instant::now();
        let p = classifier.classify_features(&[f]);
        let t2 = Instant::now();
        assert_eq!(p.len(), 1);
        front.push((t1 - t0).as_secs_f64() * 1e3);
        model.push((t2 - t1).as_secs_f64() * 1e3);
    }
    let total = median(front.iter().zip(&model).map(|(a, b)| a + b).collect());
    let (front, model) = (median(front), median(model));
    let logmel = LogMel::new(&FeatureConfig::default());
    let clip_logmel = logmel_ms(&logmel, &clip, runs);
    let minute_logmel = logmel_ms(&logmel, &buzz(60, rate), runs.div_ceil(3));
    if json {
        println!(
            "{{\"front_end_ms\": {front:.3}, \"model_ms\": {model:.3}, \"total_ms\": {total:.3}, \
             \"logmel_clip_ms\": {clip_logmel:.3}, \"logmel_minute_ms\": {minute_logmel:.3}, \"load_ms\": {load:.3}}}"
        );
    } else {
        println!(
            "one 3-s clip, median of {runs}: front end {front:.2} ms, model {model:.2} ms, \
             total {total:.2} ms"
        );
        println!(
            "log-mel alone (dB, all frames): 3-s clip {clip_logmel:.2} ms, 60-s signal \
             {minute_logmel:.2} ms"
        );
        println!("the weights file to a model: {load:.2} ms");
    }
}
