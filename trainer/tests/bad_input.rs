//! The trainer's CLI on bad input: a clear message and a failure status, never a panic or a hang.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::speech;

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("se-bad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A manifest in `dir` of (path, label, speaker) rows.
fn manifest<const N: usize>(dir: &Path, rows: [(&PathBuf, &str, &str); N]) -> PathBuf {
    let mut csv = String::from("path,label,speaker\n");
    for (path, label, speaker) in rows {
        csv += &format!("{},{label},{speaker}\n", path.display());
    }
    let path = dir.join("m.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// Runs the trainer; asserts it failed cleanly (exit 1 or clap's 2, not a panic's 101) and that
/// stderr says `says`.
fn refused(args: &[&str], says: &str) -> Output {
    let out = Command::new(TRAINER).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{args:?}: {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(says),
        "{args:?}: wanted {says:?} in\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

#[test]
fn out_of_range_options_are_refused_by_name() {
    let data = speech();
    let data = data.to_str().unwrap();
    for (option, value, says) in [
        ("--batch-size", "0", "outside 1..=4096"),
        ("--augment-probability", "2", "outside 0..=1"),
        ("--epochs", "0", "outside 1..=10000"),
        ("--lr", "NaN", "outside"),
        ("--channels", "16,0,64", "outside 1..=1024"),
        ("--tune-branch", "19", "outside 0..=18"),
        ("--tune-lr", "NaN", "outside"),
        ("--speech-babble-copies", "0", "outside 1..=8"),
    ] {
        refused(
            &["train", "--data", data, "--out", "x.sew", option, value],
            says,
        );
    }
    refused(
        &["train", "--data", data, "--out", "x.sew", "--snr", "30,10"],
        "give the lower SNR first",
    );
    refused(
        &["train", "--data", data, "--out", "x.sew", "--babble", "5"],
        "--babble takes two values",
    );
    let models = scratch("no-models");
    refused(
        &[
            "robustness",
            "--data",
            data,
            "--models",
            models.to_str().unwrap(),
            "--conditions",
            "thunder",
            "--report",
            "r.json",
        ],
        "no condition's name contains these words",
    );
}

#[cfg(unix)]
#[test]
fn a_folder_with_symlink_loops_is_walked_once() {
    let dir = scratch("loops");
    let actor = dir.join("Actor_01");
    std::fs::create_dir_all(&actor).unwrap();
    let clip = "03-01-05-02-01-01-01.flac";
    std::fs::copy(speech().join("Actor_01").join(clip), actor.join(clip)).unwrap();
    // Two links back to the top: without a guard, 2^depth paths to walk.
    std::os::unix::fs::symlink(&dir, actor.join("a")).unwrap();
    std::os::unix::fs::symlink(&dir, actor.join("b")).unwrap();
    let start = Instant::now();
    // One clip: the split refuses it, but only after the walk (which found it once).
    let out = refused(
        &[
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--out",
            dir.join("x.sew").to_str().unwrap(),
            "--epochs",
            "1",
        ],
        "1 clips found",
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    drop(out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_class_whose_clips_are_all_unreadable_is_refused() {
    let dir = scratch("empty-class");
    let broken = dir.join("broken.wav");
    std::fs::write(&broken, b"RIFF\0\0\0\0WAVEnot audio").unwrap();
    let good = speech().join("Actor_01/03-01-05-02-01-01-01.flac");
    let manifest = manifest(&dir, [(&good, "high", "a"), (&broken, "low", "b")]);
    refused(
        &[
            "train",
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            dir.join("x.sew").to_str().unwrap(),
            "--split",
            "all",
        ],
        "no readable clip is left for low",
    );
    assert!(!dir.join("x.sew").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_emotion_the_corpus_lacks_is_refused_by_name() {
    let dir = scratch("no-such-emotion");
    let clip = |name: &str| speech().join("Actor_01").join(name);
    let (high, low) = (
        clip("03-01-05-02-01-01-01.flac"),
        clip("03-01-01-01-01-01-01.flac"),
    );
    let manifest = manifest(&dir, [(&high, "high", "a"), (&low, "low", "b")]);
    refused(
        &[
            "evaluate",
            "--manifest",
            manifest.to_str().unwrap(),
            "--report",
            dir.join("r.json").to_str().unwrap(),
            "--speaker-adapted",
            "--adapt-branch-only",
            "--adapt-emotion",
            "angry",
        ],
        "--adapt-emotion angry: not one of the corpus' labels [\"high\", \"low\"]",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
