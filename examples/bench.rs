//! Times the two halves of a classification on this machine's CPU (flex backend): the log-mel
//! front end and the model, for one 3-s clip, median of repeated runs.
//!
//! `cargo run --release --example bench [-- WEIGHTS [RUNS]]`

use burn::prelude::Device;
use speech_emotion::classifier::Classifier;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let weights = args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/speech-emotion.sew").into()
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);
    let bytes = std::fs::read(&weights).unwrap_or_else(|e| panic!("cannot read {weights}: {e}"));
    let classifier = Classifier::from_bytes(&bytes, &Device::flex()).expect("weights");
    // A voiced 3-s test signal: a 180 Hz buzz with harmonics, amplitude-modulated like syllables.
    let rate = 22_050;
    let clip: Vec<f32> = (0..3 * rate)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let voice: f32 = (1..8)
                .map(|h| (2.0 * std::f32::consts::PI * 180.0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * voice * (0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin())
        })
        .collect();
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
    println!(
        "one 3-s clip, median of {runs}: log-mel {:.2} ms, model {:.2} ms, total {:.2} ms",
        median(front.clone()),
        median(model.clone()),
        median(front.iter().zip(&model).map(|(a, b)| a + b).collect())
    );
}
