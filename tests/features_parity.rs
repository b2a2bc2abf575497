//! Our log-mel front end against librosa 0.11 references (tests/fixtures/librosa).

mod common;

use speech_emotion::decode::decode_file;
use speech_emotion::features::{FeatureConfig, LogMel};
use std::path::Path;

const TOLERANCE_DB: f32 = 0.05;

fn chirp(n: usize, rate: f64) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let (f0, f1, dur) = (100.0, 8000.0, 3.0);
            (0.5 * (2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * dur))).sin())
                as f32
        })
        .collect()
}

fn reference(dir: &Path, name: &str) -> Vec<f32> {
    std::fs::read(dir.join(format!("{name}.f32")))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn log_mel_matches_librosa() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/librosa");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let config = FeatureConfig::default();
    let logmel = LogMel::new(&config);
    let clips = index["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 4);
    for clip in clips {
        let name = clip["name"].as_str().unwrap();
        let window = match clip["source"].as_str() {
            None => chirp(config.window_samples, config.sample_rate as f64),
            Some(rel) => {
                let audio = decode_file(&common::ravdess().join(rel)).unwrap();
                assert_eq!(audio.sample_rate, config.sample_rate);
                let offset = clip["offset"].as_u64().unwrap() as usize;
                let mut w = vec![0.0; config.window_samples];
                let part = &audio.channels[0][offset.min(audio.channels[0].len())..];
                let n = part.len().min(w.len());
                w[..n].copy_from_slice(&part[..n]);
                w
            }
        };
        let ours = logmel.compute(&window);
        let theirs = reference(&dir, name);
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let (worst, at) = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .enumerate()
            .fold(
                (0.0f32, 0),
                |acc, (i, d)| if d > acc.0 { (d, i) } else { acc },
            );
        println!(
            "{name}: max |ours - librosa| = {worst:.5} dB at mel {} frame {}",
            at / 128,
            at % 128
        );
        assert!(
            worst <= TOLERANCE_DB,
            "{name}: {worst} dB > {TOLERANCE_DB} dB"
        );
    }
}
