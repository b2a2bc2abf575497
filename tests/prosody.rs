//! The F0 tracker against librosa 0.11's pYIN on real speech (references made by
//! `tests/fixtures/pitch/make_reference.py`): where both find a pitch they agree to a fraction
//! of a semitone, and they agree on where there is one.

mod common;

use speech_emotion::audio::resample;
use speech_emotion::decode::decode_file;
use speech_emotion::prosody::{RATE, yin};

#[test]
fn yin_agrees_with_librosa_pyin_on_real_speech() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pitch/pyin.json"),
    )
    .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (frame, hop) = (
        reference["frame"].as_u64().unwrap() as usize,
        reference["hop"].as_u64().unwrap() as usize,
    );
    for (clip, r) in reference["clips"].as_object().unwrap() {
        let d = decode_file(&common::ravdess().join("speech").join(clip)).unwrap();
        let x = resample(&d.channels[0], d.sample_rate, RATE).unwrap();
        let expected: Vec<Option<f64>> = r["f0"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64())
            .collect();
        let (mut errors, mut agree, mut both_voiced_or_not) = (Vec::new(), 0usize, 0usize);
        for (i, want) in expected.iter().enumerate() {
            let start = i * hop;
            if start + frame > x.len() {
                break;
            }
            let got = yin(&x[start..start + frame]);
            agree += 1;
            if got.is_some() == want.is_some() {
                both_voiced_or_not += 1;
            }
            if let (Some(g), Some(w)) = (got, want) {
                errors.push((12.0 * (g as f64 / w).log2()).abs());
            }
        }
        errors.sort_by(f64::total_cmp);
        let median = errors[errors.len() / 2];
        let within_semitone =
            errors.iter().filter(|e| **e < 1.0).count() as f64 / errors.len() as f64;
        let voicing = both_voiced_or_not as f64 / agree as f64;
        eprintln!(
            "{clip}: {} frames voiced in both, median error {median:.3} semitones, {:.1} % within one, voicing agrees on {:.1} % of frames",
            errors.len(),
            100.0 * within_semitone,
            100.0 * voicing
        );
        assert!(
            errors.len() > 50,
            "{clip}: {} voiced frames in both",
            errors.len()
        );
        assert!(median < 0.2, "{clip}: median error {median}");
        assert!(within_semitone > 0.9, "{clip}: {within_semitone}");
        assert!(voicing > 0.8, "{clip}: voicing agrees on {voicing}");
    }
}
