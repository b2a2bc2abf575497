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
        let (in_test, in_validation) = (test.contains(&c.speaker), validation.contains(&c.speaker));
        if c.train_only && (in_test || in_validation) {
            // A held-out speaker's extra clips are neither trained on nor scored.
            continue;
        }
        if in_test {
            s.test.push(i);
        } else if in_validation {
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
            .filter(|&i| clips[i].label == class && !clips[i].train_only)
            .collect();
        idx.shuffle(&mut rng);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        let n_val = ((idx.len() - n_test) as f64 * validation_fraction).round() as usize;
        s.test.extend_from_slice(&idx[..n_test]);
        s.validation.extend_from_slice(&idx[n_test..n_test + n_val]);
        s.train.extend_from_slice(&idx[n_test + n_val..]);
    }
    s.train
        .extend((0..clips.len()).filter(|&i| clips[i].train_only));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(speaker: &str, label: usize, train_only: bool) -> Clip {
        Clip {
            path: "x.wav".into(),
            label,
            speaker: speaker.into(),
            train_only,
        }
    }

    #[test]
    fn train_only_clips_never_reach_validation_or_test() {
        let clips: Vec<Clip> = ["1", "2", "3"]
            .iter()
            .flat_map(|s| (0..10).map(move |i| clip(s, i % 2, i >= 8)))
            .collect();
        let s = by_speakers(&clips, &["1".into()], &["2".into()]).unwrap();
        assert!(
            s.test
                .iter()
                .all(|&i| !clips[i].train_only && clips[i].speaker == "1")
        );
        assert_eq!(s.test.len(), 8);
        assert_eq!(s.validation.len(), 8);
        // Speaker 3's clips, its two extra ones included.
        assert_eq!(s.train.len(), 10);

        let r = random(&clips, 0.2, 0.1, 7);
        assert!(
            r.test
                .iter()
                .chain(&r.validation)
                .all(|&i| !clips[i].train_only)
        );
        let mut all: Vec<usize> = r
            .train
            .iter()
            .chain(&r.test)
            .chain(&r.validation)
            .copied()
            .collect();
        all.sort();
        assert_eq!(all, (0..clips.len()).collect::<Vec<_>>());
    }
}
