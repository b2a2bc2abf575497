//! `trainer train --manifest` on a custom label list, then `trainer predict` with the result:
//! a corpus that is not RAVDESS, end to end.

mod common;

use common::succeed;
use std::path::Path;
use std::process::Command;

#[test]
fn trains_on_a_manifest_with_custom_labels_and_predicts_with_them() {
    let speech = common::speech();
    assert!(
        speech.is_dir(),
        "RAVDESS not found at {} (set RAVDESS_DIR)",
        speech.display()
    );
    let dir = std::env::temp_dir().join(format!("se-manifest-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Arousal instead of emotions: calm and sad are "low", angry and happy "high"; speakers
    // are named, not numbered. Paths are absolute here; relative ones are tested in data.rs.
    let mut csv = String::from("path,label,speaker\n");
    for actor in [1, 2, 3] {
        for (code, label) in [("02", "low"), ("04", "low"), ("05", "high"), ("03", "high")] {
            let file = speech.join(format!(
                "Actor_{actor:02}/03-01-{code}-02-01-01-{actor:02}.flac"
            ));
            csv.push_str(&format!("{},{label},speaker-{actor}\n", file.display()));
        }
    }
    let manifest = dir.join("arousal.csv");
    std::fs::write(&manifest, csv).unwrap();
    let trainer = env!("CARGO_BIN_EXE_trainer");
    let train = |out: &Path, seed: &str| {
        succeed(
            Command::new(trainer)
                .args([
                    "train",
                    "--split",
                    "all",
                    "--epochs",
                    "2",
                    "--batch-size",
                    "6",
                ])
                .args([
                    "--seed",
                    seed,
                    "--pitch",
                    "2",
                    "--stretch",
                    "0.1",
                    "--mixup",
                    "0.2",
                ])
                .arg("--manifest")
                .arg(&manifest)
                .arg("--out")
                .arg(out),
        );
    };
    let clip = speech.join("Actor_01/03-01-05-02-01-01-01.flac");
    let predict = |weights: &Path| {
        let out = succeed(
            Command::new(trainer)
                .args(["predict", "--json", "--weights"])
                .arg(weights)
                .arg(&clip),
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let weights = dir.join("arousal.sew");
    train(&weights, "7");
    let v = predict(&weights);
    // The same seed gives the same model (split, init, shuffling, augmentation), so exactly the
    // same probabilities (the files differ only in Burn's random parameter ids); another seed
    // does not.
    let again = dir.join("again.sew");
    train(&again, "7");
    assert_eq!(predict(&again)["probabilities"], v["probabilities"]);
    let other = dir.join("other.sew");
    train(&other, "8");
    assert_ne!(predict(&other)["probabilities"], v["probabilities"]);
    assert_eq!(v["labels"], serde_json::json!(["high", "low"]));
    assert_eq!(v["probabilities"].as_array().unwrap().len(), 2);

    // A manifest naming no label column is refused with a clear message, and nothing written.
    std::fs::write(&manifest, "path,emotion,speaker\nx.wav,low,a\n").unwrap();
    let refused = dir.join("refused.sew");
    let out = Command::new(trainer)
        .args(["train", "--split", "all", "--epochs", "1", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no 'label' column"));
    assert!(!refused.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
