//! The shipped model on real RAVDESS audio, through the same path as `trainer predict`.

mod common;

use speech_emotion::decode::decode_file;

#[test]
fn original_48k_stereo_wav_and_22k_flac_agree() {
    // Actor 05's stereo original (48 kHz, FLLR chunk, left = right) against the corpus FLAC.
    let c = common::shipped_classifier();
    let name = "03-01-02-01-02-02-05";
    let root = common::ravdess();
    let wav = decode_file(&root.join(format!("original-wav/Actor_05/{name}.wav"))).unwrap();
    assert_eq!(wav.sample_rate, 48_000);
    assert_eq!(wav.channels.len(), 2, "the stereo original");
    let flac = decode_file(&root.join(format!("speech/Actor_05/{name}.flac"))).unwrap();
    let a = c.classify(&wav.channel_slices(), wav.sample_rate).unwrap();
    let b = c
        .classify(&flac.channel_slices(), flac.sample_rate)
        .unwrap();
    assert_eq!(a.probabilities.len(), 8);
    let worst = common::max_abs_diff(&a.probabilities, &b.probabilities);
    // Two resamplers (sox for the FLAC, ours for the WAV) give slightly different audio.
    assert!(
        worst < 0.05,
        "probabilities differ by {worst}: {a:?} vs {b:?}"
    );
}

#[test]
fn shipped_model_recognises_corpus_clips() {
    // The shipped model is trained on all 24 actors, so this checks that the weights and the
    // whole path from file to prediction work, not how well it generalises: that is what the
    // k-fold report (trainer/reports/kfold.json) measures, on actors held out.
    let c = common::shipped_classifier();
    let (mut right, mut total) = (0, 0);
    for actor in 21..=24 {
        let dir = common::ravdess().join(format!("speech/Actor_{actor:02}"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            let truth: usize = stem.split('-').nth(2).unwrap().parse::<usize>().unwrap() - 1;
            let audio = decode_file(&path).unwrap();
            let p = c
                .classify(&audio.channel_slices(), audio.sample_rate)
                .unwrap();
            total += 1;
            right += usize::from(p.label == c.labels()[truth]);
        }
    }
    let accuracy = right as f64 / total as f64;
    println!("actors 21-24 (seen in training): {right}/{total} = {accuracy:.3}");
    assert_eq!(total, 240);
    // Chance is 1/8; a model trained on these clips should get most of them.
    assert!(accuracy > 0.5, "accuracy {accuracy}");
}

#[test]
fn bad_audio_gets_a_clear_error() {
    let c = common::shipped_classifier();
    let err = c.classify(&[&[]], 22_050).unwrap_err().to_string();
    assert!(err.contains("no samples"), "{err}");
    let err = c.classify(&[&[0.0; 100]], 1_000).unwrap_err().to_string();
    assert!(err.contains("not supported"), "{err}");
    let not_audio = std::env::temp_dir().join("speech-emotion-not-audio.wav");
    std::fs::write(&not_audio, b"this is text, not audio").unwrap();
    let err = decode_file(&not_audio).err().unwrap();
    assert!(
        err.to_string().contains("not a readable audio file"),
        "{err}"
    );
    assert_eq!(err.code(), "unsupported-format");
}
