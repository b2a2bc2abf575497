//! `trainer predict DIR`: every audio file under a folder, as text, JSON or a CSV table.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::speech;

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

/// A folder with two clips (one in a subfolder, named like a spreadsheet formula) and a text
/// file that is not audio by its extension.
fn folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("se-predict-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let clip = |actor: &str, name: &str| speech().join(format!("Actor_{actor}")).join(name);
    std::fs::copy(clip("01", "03-01-05-01-01-01-01.flac"), dir.join("a.flac")).unwrap();
    std::fs::copy(
        clip("02", "03-01-02-01-01-01-02.flac"),
        dir.join("sub").join("=b.flac"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not audio").unwrap();
    dir
}

#[test]
fn a_folder_is_walked_and_tabulated() {
    let dir = folder();
    let out = Command::new(TRAINER)
        .args(["predict", "--csv"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0][0].ends_with("a.flac"), "{text}");
    assert!(rows[1][0].ends_with("=b.flac"), "{text}");
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("file,emotion,neutral,calm,"), "{header}");
    assert!(header.contains(",share_neutral,share_calm,"), "{header}");
    for row in &rows {
        let p: f32 = row[2..10].iter().map(|v| v.parse::<f32>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-3, "{row:?}");
        // A clip is one segment: its emotion holds all the speech time.
        let shares: Vec<f32> = row[10..18].iter().map(|v| v.parse().unwrap()).collect();
        let prob = |i: usize| row[2 + i].parse::<f32>().unwrap();
        let best = (0..8).max_by(|&a, &b| prob(a).total_cmp(&prob(b))).unwrap();
        assert_eq!(shares[best], 1.0, "{row:?}");
        assert_eq!(row[18], "clip");
    }

    let out = Command::new(TRAINER)
        .args(["predict", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_without_audio_is_refused() {
    let dir = std::env::temp_dir().join(format!("se-predict-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not audio").unwrap();
    let out = Command::new(TRAINER)
        .arg("predict")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no audio files in this folder"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A cell that a spreadsheet would run as a formula is written as text.
#[test]
fn formula_like_cells_are_text() {
    let dir = std::env::temp_dir().join(format!("se-predict-formula-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.wav");
    std::fs::write(&file, "junk").unwrap();
    // A relative name starting with "=": run from inside the folder.
    std::fs::rename(&file, dir.join("=HYPERLINK(1).wav")).unwrap();
    let out = Command::new(TRAINER)
        .current_dir(&dir)
        .args(["predict", "--csv", "=HYPERLINK(1).wav"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the file is not audio");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("'=HYPERLINK(1).wav"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--one-speaker`: an actor's clips make a voice, and every clip is read against it once the
/// clips hold enough speech; too few are read strictly, with a message; a model without the
/// adapted head is refused.
#[test]
fn one_speaker_adapts_to_the_voice_the_files_make() {
    let dir = speech().join("Actor_03");
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .collect();
    clips.sort();
    let run = |files: &[PathBuf]| {
        let out = common::succeed(
            Command::new(TRAINER)
                .args(["predict", "--json", "--one-speaker"])
                .args(files),
        );
        let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (rows, String::from_utf8(out.stderr).unwrap())
    };
    let (rows, _) = run(&clips[..12]);
    assert_eq!(rows.len(), 12);
    let mut changed = 0;
    for row in &rows {
        let how = &row["adaptation"];
        assert_eq!(how["applied"], true, "{row}");
        assert!(how["seconds"].as_f64().unwrap() >= 12.0, "{row}");
        let p: Vec<f64> = serde_json::from_value(row["probabilities"].clone()).unwrap();
        let strict: Vec<f64> = serde_json::from_value(how["strict"].clone()).unwrap();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row}");
        changed += usize::from(p.iter().zip(&strict).any(|(a, b)| (a - b).abs() > 1e-4));
    }
    assert!(changed >= 10, "adaptation changed {changed} of 12");

    let (rows, stderr) = run(&clips[..3]);
    assert!(rows.iter().all(|r| r["adaptation"]["applied"] == false));
    assert!(stderr.contains("not adapted"), "{stderr}");

    // A model without the branch, so without the adapted head.
    let config = speech_emotion::ModelConfig {
        channels: vec![4, 8],
        d_model: 16,
        lstm_hidden: 8,
        attention_hidden: 8,
        ..speech_emotion::ModelConfig::default()
    };
    let header = speech_emotion::weights::Header::new(
        config.clone(),
        speech_emotion::labels::default_labels(),
        speech_emotion::weights::Normalization {
            mean: -40.0,
            std: 15.0,
            subtract_band_means: false,
        },
    );
    let bytes =
        speech_emotion::WeightsFile::to_bytes(&header, config.init(&burn::prelude::Device::flex()))
            .unwrap();
    let weights = std::env::temp_dir().join(format!("se-no-head-{}.sew", std::process::id()));
    std::fs::write(&weights, bytes).unwrap();
    let out = Command::new(TRAINER)
        .args(["predict", "--one-speaker", "--weights"])
        .arg(&weights)
        .arg(&clips[0])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&weights);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no adapted head"), "{stderr}");
}
