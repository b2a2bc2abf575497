//! Train / validation / test splits.
//!
//! `actors`: speaker-independent. The test actors are never seen in training or validation;
//! validation actors (for early stopping) are also disjoint from training.
//! `random`: the seeds' protocol, stratified 80/20 over clips, for comparison only (the same
//! actors and sentences then sit on both sides).

use crate::data::Clip;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Split {
    pub protocol: String,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
    pub test_speakers: Vec<String>,
    pub validation_speakers: Vec<String>,
}

/// Every clip for training, none held out: for the shipped model, trained for a fixed number of
/// epochs chosen from the k-fold runs.
pub fn all(clips: &[Clip]) -> Split {
    Split {
        protocol: "all clips for training (no held-out data; figures come from the k-fold runs)"
            .into(),
        train: (0..clips.len()).collect(),
        validation: vec![],
        test: vec![],
        test_speakers: vec![],
        validation_speakers: vec![],
    }
}

pub fn by_speakers(
    clips: &[Clip],
    test: &[String],
    validation: &[String],
) -> Result<Split, String> {
    if let Some(a) = test.iter().find(|a| validation.contains(a)) {
        return Err(format!(
            "speaker {a} is both a test and a validation speaker"
        ));
    }
    let mut s = Split {
        protocol: "actor-held-out".into(),
        train: vec![],
        validation: vec![],
        test: vec![],
        test_speakers: test.to_vec(),
        validation_speakers: validation.to_vec(),
    };
    for (i, c) in clips.iter().enumerate() {
        if test.contains(&c.speaker) {
            s.test.push(i);
        } else if validation.contains(&c.speaker) {
            s.validation.push(i);
        } else {
            s.train.push(i);
        }
    }
    for (name, part) in [("test", &s.test), ("train", &s.train)] {
        if part.is_empty() {
            return Err(format!(
                "the {name} set is empty with test speakers {test:?} and validation speakers {validation:?}"
            ));
        }
    }
    Ok(s)
}

/// Stratified split: `test_fraction` of each class to test, then `validation_fraction` of the
/// rest of each class to validation.
pub fn random(clips: &[Clip], test_fraction: f64, validation_fraction: f64, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let classes = clips.iter().map(|c| c.label).max().map_or(0, |m| m + 1);
    let mut s = Split {
        protocol: "random-stratified".into(),
        train: vec![],
        validation: vec![],
        test: vec![],
        test_speakers: vec![],
        validation_speakers: vec![],
    };
    for class in 0..classes {
        let mut idx: Vec<usize> = (0..clips.len())
            .filter(|&i| clips[i].label == class)
            .collect();
        idx.shuffle(&mut rng);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        let n_val = ((idx.len() - n_test) as f64 * validation_fraction).round() as usize;
        s.test.extend_from_slice(&idx[..n_test]);
        s.validation.extend_from_slice(&idx[n_test..n_test + n_val]);
        s.train.extend_from_slice(&idx[n_test + n_val..]);
    }
    s
}
