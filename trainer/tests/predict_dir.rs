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
