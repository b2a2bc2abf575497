//! `trainer train` killed after an epoch and started again with `--resume` ends with the same
//! model as a run that was never stopped.

mod common;

use common::succeed;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_killed_run_resumes_to_the_uninterrupted_result() {
    let speech = common::speech();
    assert!(speech.is_dir(), "RAVDESS not found at {}", speech.display());
    let dir = std::env::temp_dir().join(format!("se-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("path,label,speaker\n");
    for actor in [1, 2] {
        for (code, label) in [("02", "calm"), ("05", "angry"), ("03", "happy")] {
            for statement in ["01", "02"] {
                let file = speech.join(format!(
                    "Actor_{actor:02}/03-01-{code}-02-{statement}-01-{actor:02}.flac"
                ));
                csv.push_str(&format!("{},{label},{actor}\n", file.display()));
            }
        }
    }
    let manifest = dir.join("clips.csv");
    std::fs::write(&manifest, csv).unwrap();
    let trainer = env!("CARGO_BIN_EXE_trainer");
    // A small network, mixup and dropout on: every random stream a resumed run must take up.
    let train = |out: &Path| {
        let mut c = Command::new(trainer);
        c.args([
            "train",
            "--split",
            "all",
            "--epochs",
            "6",
            "--batch-size",
            "4",
        ])
        .args(["--channels", "4,8", "--lstm-hidden", "8", "--mixup", "0.2"])
        .args(["--halve-every", "2", "--no-speech-embedding", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(out);
        c
    };
    let predict = |weights: &Path| {
        let out = succeed(
            Command::new(trainer)
                .args(["predict", "--json", "--weights"])
                .arg(weights)
                .arg(speech.join("Actor_01/03-01-05-02-01-01-01.flac")),
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["probabilities"].clone()
    };

    let whole = dir.join("whole.sew");
    succeed(&mut train(&whole));
    assert!(!whole.with_extension("sew.checkpoint").exists());

    // Killed as soon as its first checkpoint is on disk (mid-way through the second epoch).
    let stopped = dir.join("stopped.sew");
    let checkpoint = dir.join("stopped.sew.checkpoint");
    let mut child = train(&stopped).spawn().unwrap();
    let start = Instant::now();
    while !checkpoint.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before writing a checkpoint"
        );
        assert!(start.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!stopped.exists(), "the run finished before it was killed");

    let resumed = succeed(train(&stopped).arg("--resume"));
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(log.contains("resuming from"), "{log}");
    assert!(
        !log.contains("epoch   1 "),
        "epoch 1 was trained again:\n{log}"
    );
    assert!(!checkpoint.exists(), "the checkpoint is removed at the end");
    assert_eq!(predict(&stopped), predict(&whole));

    // A checkpoint of another recipe is refused, by name.
    let other = dir.join("other.sew");
    std::fs::copy(&stopped, &other).unwrap();
    let mut child = train(&other).spawn().unwrap();
    while !dir.join("other.sew.checkpoint").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let refused = train(&other)
        .args(["--resume", "--lr", "0.01"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("left by another run"));
    std::fs::remove_dir_all(&dir).unwrap();
}
