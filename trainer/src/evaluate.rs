//! Evaluation protocols that train several models: actor k-fold cross-validation (the
//! headline, speaker-independent) and repeated random stratified splits (the seeds' protocol,
//! for comparison).

use crate::checkpoint::Checkpointing;
use crate::data::{Clip, Dataset};
use crate::metrics::{ClassMetrics, Metrics, confusion};
use crate::speech_head;
use crate::split::{self, Split};
use crate::train::{self, TrainConfig};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use speech_emotion::adapt::{VoiceProfile, moods_heard, moves_states};
use speech_emotion::model::{ModelConfig, StateStats};
use speech_emotion::speech_embedding::SpeechEmbedding;
use speech_emotion::weights::WeightsFile;
use std::path::{Path, PathBuf};

/// RAVDESS actors: odd numbers are male, even female.
const ACTORS: u8 = 24;

/// `k` disjoint groups of actors, each with as many men as women: fold `i` takes the
/// `i`-th share of the male actors and of the female actors, in actor order.
pub fn actor_folds(k: usize) -> Result<Vec<Vec<u8>>, String> {
    let per_gender = ACTORS as usize / 2;
    if k < 2 || !per_gender.is_multiple_of(k) {
        return Err(format!(
            "--folds {k}: gender-balanced folds need a divisor of {per_gender} of at least 2 (2, 3, 4, 6 or 12)"
        ));
    }
    let men: Vec<u8> = (1..=ACTORS).filter(|a| a % 2 == 1).collect();
    let women: Vec<u8> = (1..=ACTORS).filter(|a| a % 2 == 0).collect();
    let share = per_gender / k;
    Ok((0..k)
        .map(|i| {
            let mut fold: Vec<u8> = men[i * share..(i + 1) * share].to_vec();
            fold.extend_from_slice(&women[i * share..(i + 1) * share]);
            fold.sort();
            fold
        })
        .collect())
}

/// Validation actors for a fold: one man and one woman from the next fold, so they are always
/// training actors of this fold, never its test actors.
pub fn validation_actors(folds: &[Vec<u8>], fold: usize) -> Vec<u8> {
    let next = &folds[(fold + 1) % folds.len()];
    let man = next.iter().find(|a| *a % 2 == 1).copied();
    let woman = next.iter().find(|a| *a % 2 == 0).copied();
    man.into_iter().chain(woman).collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// 1-based fold number (k-fold) or 0 (random split).
    #[serde(default)]
    pub fold: usize,
    #[serde(deserialize_with = "speaker_names")]
    pub test_actors: Vec<String>,
    #[serde(deserialize_with = "speaker_names")]
    pub validation_actors: Vec<String>,
    pub seed: u64,
    pub ua: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub best_epoch: usize,
    pub training_seconds: f64,
    pub confusion_matrix: Vec<Vec<usize>>,
    pub history: Vec<train::EpochStats>,
}

/// Speakers as strings, also from reports that wrote RAVDESS actors as numbers.
fn speaker_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<Value>::deserialize(d)?;
    Ok(values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect())
}

/// Test and validation speakers of each fold, and how they were chosen.
#[derive(Debug)]
pub struct FoldPlan {
    pub test: Vec<Vec<String>>,
    pub validation: Vec<Vec<String>>,
    pub protocol: String,
}

/// The k-fold plan for a corpus: RAVDESS's 24 actors get gender-balanced folds
/// ([`actor_folds`]); any other set of speakers (a manifest) is sorted and dealt round-robin
/// into `k` folds, each validated on the first speaker of the next fold.
pub fn fold_plan(clips: &[Clip], k: usize) -> Result<FoldPlan, String> {
    let mut speakers: Vec<String> = clips.iter().map(|c| c.speaker.clone()).collect();
    speakers.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    speakers.dedup();
    let ravdess: Vec<String> = (1..=ACTORS).map(|a| a.to_string()).collect();
    let names = |v: &[u8]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    if speakers == ravdess {
        let folds = actor_folds(k)?;
        return Ok(FoldPlan {
            validation: (0..k)
                .map(|i| names(&validation_actors(&folds, i)))
                .collect(),
            test: folds.iter().map(|f| names(f)).collect(),
            protocol: format!(
                "actor {k}-fold cross-validation, gender-balanced folds, validation actors from the training side"
            ),
        });
    }
    if k < 2 || speakers.len() < k + 1 {
        return Err(format!(
            "--folds {k}: needs at least 2 folds and more speakers than folds ({} found)",
            speakers.len()
        ));
    }
    let mut test = vec![Vec::new(); k];
    for (i, s) in speakers.into_iter().enumerate() {
        test[i % k].push(s);
    }
    let validation = (0..k).map(|i| vec![test[(i + 1) % k][0].clone()]).collect();
    Ok(FoldPlan {
        test,
        validation,
        protocol: format!(
            "speaker {k}-fold cross-validation, speakers dealt round-robin, one validation speaker from the training side"
        ),
    })
}

/// The speech-embedding branch for a run: the frozen network (the clips' inputs to it are in
/// the dataset).
pub struct Speech {
    pub net: SpeechEmbedding,
    /// The noisy copies of each training clip the head is fitted on too.
    pub noisy: crate::data::NoisyCopies,
    /// Whether and how the network's upper layers are tuned with the head.
    pub tuning: Option<crate::branch_tuning::BranchTuning>,
}

/// Trains on `split` (or takes `cnn`, a CNN trained before on the same split), adds the
/// speech-embedding branch fitted on the training clips when `speech` is given, and measures
/// the model on the test part (if there is one).
pub fn run(
    data: &Dataset,
    split: &Split,
    model_config: &ModelConfig,
    config: &TrainConfig,
    speech: Option<&Speech>,
    cnn: Option<train::Trained>,
    checkpoint: Option<&Checkpointing>,
) -> Result<(train::Trained, Option<Metrics>), String> {
    let mut trained = match cnn {
        Some(cnn) => cnn,
        None => train::train(data, split, model_config, config, checkpoint)?,
    };
    if let Some(s) = speech {
        let heads = (
            s.noisy,
            model_config.adapted_head || config.speaker_adapted,
            s.tuning.as_ref(),
        );
        trained.model = speech_head::attach(trained.model, &s.net, data, &split.train, heads);
        let shape = (model_config.n_mels, model_config.n_frames);
        if heads.1 && model_config.adapted_states {
            let stats = state_stats(data, &split.train, &trained, shape);
            trained.model = trained.model.with_state_stats(stats);
        }
        if config.speaker_adapted && !split.test.is_empty() {
            let metrics = adapted_metrics(data, split, &trained, model_config, config);
            return Ok((trained, Some(metrics)));
        }
    }
    if split.test.is_empty() {
        return Ok((trained, None));
    }
    let metrics = test_metrics(
        data,
        split,
        &trained,
        model_config,
        speech.map(|_| data.speech_mels.as_slice()),
    );
    Ok((trained, Some(metrics)))
}

fn test_metrics(
    data: &Dataset,
    split: &Split,
    trained: &train::Trained,
    model_config: &ModelConfig,
    speech_mels: Option<&[Vec<f32>]>,
) -> Metrics {
    let (pred, _) = train::predict(
        &trained.model,
        &data.features,
        speech_mels,
        &data.labels,
        &split.test,
        trained.normalization,
        (model_config.n_mels, model_config.n_frames),
        &burn::prelude::Device::flex(),
    );
    scored(data, split, &pred, &split.protocol)
}

/// Metrics of predictions `pred` for `split`'s test clips, printed with `what` they measure.
fn scored(data: &Dataset, split: &Split, pred: &[usize], what: &str) -> Metrics {
    let truth: Vec<usize> = split.test.iter().map(|&i| data.labels[i]).collect();
    let metrics = Metrics::from_confusion(
        confusion(&truth, pred, data.label_names.len()),
        &data.label_names,
    );
    eprintln!(
        "test ({what}): UA {:.3}  accuracy {:.3}  macro-F1 {:.3}  weighted-F1 {:.3}  ({} clips)",
        metrics.ua, metrics.accuracy, metrics.macro_f1, metrics.weighted_f1, metrics.n
    );
    metrics
}

/// Test metrics of the model's speaker-adapted view (`EmotionNet::adapted_log_probs`, as the
/// page reads it: the adapted view weighted against the strict one by how much speech the
/// profile heard): the test clips' head inputs and CNN states normalised with their speaker's
/// profile, built from all that speaker's clips, from `config.adapt_clips` of them drawn at
/// random (what a page would have heard before), or from those of `config.adapt_emotion`.
/// With several clip counts, each is measured and printed, and the first is returned. Each
/// also prints the UA of fixed blends of the two views and of other [`speech_emotion::adapt::EVEN_SECONDS`].
fn adapted_metrics(
    data: &Dataset,
    split: &Split,
    trained: &train::Trained,
    model_config: &ModelConfig,
    config: &TrainConfig,
) -> Metrics {
    use burn::prelude::*;
    use burn::tensor::activation::softmax;
    let device = Device::flex();
    // The model's own network: tuned with its heads (`speech.net` is the pretrained one).
    let net = &trained.model.speech().expect("the branch").net;
    let inputs = speech_head::clip_head_inputs(net, &data.speech_mels, &split.test, data.prosody);
    let speakers: Vec<&str> = split
        .test
        .iter()
        .map(|&i| data.clips[i].speaker.as_str())
        .collect();
    let shape = (model_config.n_mels, model_config.n_frames);
    let states = pooled_states(data, &split.test, trained, shape);
    let tensor = |rows: &[&[f32]]| {
        let w = rows[0].len();
        Tensor::<2>::from_data(TensorData::new(rows.concat(), [rows.len(), w]), &device)
    };
    // What the page's profile learns from each window: the head inputs, the CNN's states and
    // the strict probabilities.
    let mut values: Vec<Vec<f32>> = Vec::with_capacity(states.len());
    for (x, s) in inputs.chunks(64).zip(states.chunks(64)) {
        let strict = trained
            .model
            .strict_from_parts(tensor(&slices(x)), tensor(&slices(s)))
            .expect("the branch");
        let classes = strict.dims()[1];
        let p: Vec<f32> = softmax(strict, 1).into_data().iter::<f32>().collect();
        for ((x, s), p) in x.iter().zip(s).zip(p.chunks(classes)) {
            values.push([x.as_slice(), s, p].concat());
        }
    }
    let rate = data.feature_config.sample_rate as f64;
    let seconds = |i: usize| data.speech[split.test[i]].len() as f64 / rate;
    let width = inputs.first().map_or(0, Vec::len) + states.first().map_or(0, Vec::len);
    let counts: Vec<Option<usize>> = match config.adapt_clips.as_slice() {
        [] => vec![None],
        ks => ks.iter().map(|&k| Some(k)).collect(),
    };
    let mut first = None;
    for k in counts {
        let heard = heard_clips(data, split, &speakers, k, config);
        let profiles = speech_head::speaker_profiles(&values, &speakers, &heard, seconds);
        // Each clip's log-probabilities: the adapted view alone, the strict one, the page's blend.
        let n = split.test.len();
        let (mut adapted, mut strict, mut pred) =
            (vec![Vec::new(); n], vec![Vec::new(); n], vec![0; n]);
        for (speaker, profile) in &profiles {
            let mine: Vec<usize> = (0..n).filter(|&i| speakers[i] == *speaker).collect();
            let moods = &profile.mean_spread().0[width..];
            eprintln!(
                "  speaker {speaker}: {:.0} s of speech in {} clips, {:.1} moods heard, states {}, adapted share {:.2}",
                profile.seconds(),
                profile.windows(),
                moods_heard(moods),
                if moves_states(moods) { "moved" } else { "kept" },
                profile.adapted_share()
            );
            for chunk in mine.chunks(64) {
                let v: Vec<&[f32]> = chunk.iter().map(|&i| &values[i][..width]).collect();
                let views = [1.0, 0.0].map(|share| {
                    let joint = trained
                        .model
                        .blended_log_probs(tensor(&v), profile, share)
                        .expect("attach fits the adapted head under --speaker-adapted");
                    let classes = joint.dims()[1];
                    let flat: Vec<f32> = joint.into_data().iter::<f32>().collect();
                    flat.chunks(classes)
                        .map(<[f32]>::to_vec)
                        .collect::<Vec<_>>()
                });
                let joint = trained
                    .model
                    .adapted_log_probs(tensor(&v), profile)
                    .expect("attach fits the adapted head under --speaker-adapted");
                let [a, s] = views;
                for (((&i, a), s), p) in chunk
                    .iter()
                    .zip(a)
                    .zip(s)
                    .zip(joint.argmax(1).into_data().iter::<i64>())
                {
                    (adapted[i], strict[i], pred[i]) = (a, s, p as usize);
                }
            }
        }
        print_blends(data, split, &speakers, &profiles, &adapted, &strict);
        let clips = match k {
            Some(k) => format!("{k} of their clips"),
            None => "all their clips".into(),
        };
        let heard = match &config.adapt_emotion {
            Some(e) => format!("each speaker's profile from {clips} labelled {e} only"),
            None => format!("each speaker's profile from {clips}"),
        };
        let m = scored(
            data,
            split,
            &pred,
            &format!("{}, speaker-adapted ({heard})", split.protocol),
        );
        first.get_or_insert(m);
    }
    first.expect("at least one clip count")
}

/// The test clips (indices into `split.test`) a speaker's profile hears: `k` of each
/// speaker's drawn at random with the seed (the same draw for every `k`, so a smaller `k`'s
/// clips are among a larger one's), or all; only those of `config.adapt_emotion` if set.
fn heard_clips(
    data: &Dataset,
    split: &Split,
    speakers: &[&str],
    k: Option<usize>,
    config: &TrainConfig,
) -> Vec<usize> {
    use rand::{SeedableRng, seq::SliceRandom};
    let mut heard: Vec<usize> = (0..split.test.len()).collect();
    if let Some(k) = k {
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        heard.shuffle(&mut rng);
        let mut taken: std::collections::HashMap<&str, usize> = Default::default();
        heard.retain(|&i| {
            let n = taken.entry(speakers[i]).or_default();
            *n += 1;
            *n <= k
        });
    }
    if let Some(emotion) = &config.adapt_emotion {
        // A voice heard in one mood only (a person reading one angry letter).
        heard.retain(|&i| data.label_names[data.labels[split.test[i]]] == *emotion);
    }
    heard
}

/// Prints the test UA of the two views blended with fixed shares, and with each speaker's
/// share `s / (s + even)` for other `even` than [`speech_emotion::adapt::EVEN_SECONDS`] (`s`: the seconds their
/// profile heard): what the page's rule was chosen from.
fn print_blends(
    data: &Dataset,
    split: &Split,
    speakers: &[&str],
    profiles: &std::collections::HashMap<&str, VoiceProfile>,
    adapted: &[Vec<f32>],
    strict: &[Vec<f32>],
) {
    let truth: Vec<usize> = split.test.iter().map(|&i| data.labels[i]).collect();
    let ua = |share: &dyn Fn(usize) -> f32| {
        let pred: Vec<usize> = (0..truth.len())
            .map(|i| {
                let w = share(i);
                let blend: Vec<f32> = adapted[i]
                    .iter()
                    .zip(&strict[i])
                    .map(|(a, s)| w * a + (1.0 - w) * s)
                    .collect();
                speech_emotion::timeline::argmax(&blend)
            })
            .collect();
        let c = confusion(&truth, &pred, data.label_names.len());
        Metrics::from_confusion(c, &data.label_names).ua
    };
    let fixed: Vec<String> = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|&w| format!("{w}: {:.3}", ua(&|_| w)))
        .collect();
    eprintln!("  blend, adapted share fixed  {}", fixed.join("  "));
    let by_seconds: Vec<String> = [5.0, 10.0, 20.0, 30.0, 60.0, 120.0]
        .iter()
        .map(|&even: &f64| {
            let share = |i: usize| {
                let s = profiles.get(speakers[i]).map_or(0.0, VoiceProfile::seconds);
                (s / (s + even)) as f32
            };
            format!("{even} s: {:.3}", ua(&share))
        })
        .collect();
    eprintln!("  blend, share s/(s+even)  {}", by_seconds.join("  "));
}

fn slices(rows: &[Vec<f32>]) -> Vec<&[f32]> {
    rows.iter().map(Vec::as_slice).collect()
}

/// The CNN's pooled states of `clips` (their clip windows), a row each.
fn pooled_states(
    data: &Dataset,
    clips: &[usize],
    trained: &train::Trained,
    shape: (usize, usize),
) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let mut out = Vec::with_capacity(clips.len());
    for chunk in clips.chunks(64) {
        let x = train::batch_input(&data.features, chunk, trained.normalization, shape, &device);
        let (states, _) = trained.model.pooled(x);
        let width = states.dims()[1];
        let flat: Vec<f32> = states.into_data().iter::<f32>().collect();
        out.extend(flat.chunks(width).map(<[f32]>::to_vec));
    }
    out
}

/// The training clips' [`StateStats`]: each pooled CNN state's mean and spread, as a
/// [`VoiceProfile`] of them all computes them, so that a voice's states z-normalised by its own
/// profile are moved back onto the same scale.
fn state_stats(
    data: &Dataset,
    train: &[usize],
    trained: &train::Trained,
    shape: (usize, usize),
) -> StateStats {
    let mut all = VoiceProfile::default();
    let states = pooled_states(data, train, trained, shape);
    for s in &states {
        all.add(s, 0.0);
    }
    let (mean, spread) = all.mean_spread();
    StateStats::new(mean, spread, &Device::flex())
}

fn result(split: &Split, seed: u64, trained: &train::Trained, m: &Metrics) -> RunResult {
    RunResult {
        fold: 0,
        test_actors: split.test_speakers.clone(),
        validation_actors: split.validation_speakers.clone(),
        seed,
        ua: m.ua,
        accuracy: m.accuracy,
        macro_f1: m.macro_f1,
        weighted_f1: m.weighted_f1,
        best_epoch: trained.best_epoch,
        training_seconds: trained.seconds,
        confusion_matrix: m.confusion.clone(),
        history: trained.history.clone(),
    }
}

/// A CNN trained before (a weights file from `evaluate --save-models` or `train`), to add the
/// speech-embedding branch to without training it again. Its labels must be the corpus'.
pub fn load_cnn(path: &Path, data: &Dataset) -> Result<train::Trained, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = WeightsFile::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if file.header.labels != data.label_names {
        return Err(format!(
            "{}: its labels {:?} are not the corpus' {:?}",
            path.display(),
            file.header.labels,
            data.label_names
        ));
    }
    let model = file
        .model(&burn::prelude::Device::flex())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("CNN taken from {} (not trained again)", path.display());
    Ok(train::Trained {
        model,
        normalization: file.header.normalization,
        history: Vec::new(),
        // The epoch the file's own training kept, where its header says so.
        best_epoch: file.header.training["best_epoch"].as_u64().unwrap_or(0) as usize,
        seconds: 0.0,
        last_epoch: None,
    })
}

/// Mean and sample standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// An evaluation report: what `evaluate` writes (after every fold or seed) and `merge` reads
/// back and joins. The figures are the mean and sample sd over the runs; the confusion matrix and
/// per-class figures are pooled over them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub protocol: String,
    pub labels: Vec<String>,
    pub ua_mean: f64,
    pub ua_sd: f64,
    pub accuracy_mean: f64,
    pub accuracy_sd: f64,
    pub macro_f1_mean: f64,
    pub macro_f1_sd: f64,
    pub weighted_f1_mean: f64,
    pub weighted_f1_sd: f64,
    /// `confusion_matrix[true][predicted]`, summed over the runs.
    pub confusion_matrix: Vec<Vec<usize>>,
    pub pooled_per_class: Vec<ClassMetrics>,
    pub training_seconds_total: f64,
    #[serde(flatten)]
    pub runs: Runs,
    /// The recipe and the network as the run recorded them (older reports have fewer fields, so
    /// these stay JSON: `merge` compares them whole).
    pub train_config: Value,
    pub model_config: Value,
    /// The speech-embedding network's file name; `None`: no branch.
    #[serde(default)]
    pub speech_embedding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_noise: Option<bool>,
    /// Whether the head saw babble copies (on unless `--no-speech-babble`); absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_babble: Option<bool>,
    /// Babble copies per clip where more than one (`--speech-babble-copies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_babble_copies: Option<usize>,
    /// How the branch's upper layers were tuned (`--tune-branch`); absent when frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_tuning: Option<crate::branch_tuning::BranchTuning>,
    /// The folder of CNNs taken instead of training (`--cnn-models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnn_models: Option<PathBuf>,
}

/// The runs of a report: k-fold folds or random-split seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Runs {
    Folds {
        folds_done: usize,
        folds_planned: usize,
        seed: u64,
        folds: Vec<RunResult>,
    },
    Seeds {
        seeds: Vec<u64>,
        seeds_done: usize,
        runs: Vec<RunResult>,
    },
}

impl Runs {
    pub fn results(&self) -> &[RunResult] {
        match self {
            Runs::Folds { folds, .. } => folds,
            Runs::Seeds { runs, .. } => runs,
        }
    }
}

impl Report {
    /// Summarises `runs` (k-fold: `Runs::Folds`; random splits: `Runs::Seeds`).
    fn new(
        protocol: String,
        labels: &[String],
        runs: Runs,
        train_config: Value,
        model_config: Value,
    ) -> Self {
        let results = runs.results();
        let stat =
            |get: fn(&RunResult) -> f64| mean_sd(&results.iter().map(get).collect::<Vec<_>>());
        let (ua_mean, ua_sd) = stat(|r| r.ua);
        let (accuracy_mean, accuracy_sd) = stat(|r| r.accuracy);
        let (macro_f1_mean, macro_f1_sd) = stat(|r| r.macro_f1);
        let (weighted_f1_mean, weighted_f1_sd) = stat(|r| r.weighted_f1);
        let k = labels.len();
        let mut summed = vec![vec![0usize; k]; k];
        for r in results {
            for (row, add) in summed.iter_mut().zip(&r.confusion_matrix) {
                for (a, b) in row.iter_mut().zip(add) {
                    *a += b;
                }
            }
        }
        let pooled = Metrics::from_confusion(summed, labels);
        Self {
            protocol,
            labels: labels.to_vec(),
            ua_mean,
            ua_sd,
            accuracy_mean,
            accuracy_sd,
            macro_f1_mean,
            macro_f1_sd,
            weighted_f1_mean,
            weighted_f1_sd,
            confusion_matrix: pooled.confusion,
            pooled_per_class: pooled.per_class,
            training_seconds_total: results.iter().map(|r| r.training_seconds).sum(),
            runs,
            train_config,
            model_config,
            speech_embedding: None,
            speech_noise: None,
            speech_babble: None,
            speech_babble_copies: None,
            speech_tuning: None,
            cnn_models: None,
        }
    }
}

/// Actor k-fold cross-validation. `progress` gets the report so far after every fold, so a
/// run that is cut off still leaves the folds it finished; `save_model` gets each fold's model
/// (numbered from 1), for later test-time experiments without retraining.
#[allow(clippy::too_many_arguments)]
pub fn kfold(
    data: &Dataset,
    k: usize,
    model_config: &ModelConfig,
    config: &TrainConfig,
    only: &[usize],
    speech: Option<&Speech>,
    cnn_models: Option<&Path>,
    progress: &mut dyn FnMut(&Report) -> Result<(), String>,
    save_model: &mut dyn FnMut(usize, train::Trained) -> Result<(), String>,
) -> Result<Report, String> {
    let plan = fold_plan(&data.clips, k)?;
    if let Some(bad) = only.iter().find(|f| !(1..=k).contains(*f)) {
        return Err(format!("--only-folds {bad}: folds are numbered 1 to {k}"));
    }
    let mut runs = Vec::new();
    let report = |runs: &[RunResult]| {
        kfold_report(
            plan.protocol.clone(),
            k,
            runs,
            &data.label_names,
            json!(config),
            json!(model_config),
        )
    };
    for (i, (test, val)) in plan.test.iter().zip(&plan.validation).enumerate() {
        if !only.is_empty() && !only.contains(&(i + 1)) {
            continue;
        }
        eprintln!(
            "fold {}/{k}: test speakers {test:?}, validation speakers {val:?}",
            i + 1
        );
        let split = split::by_speakers(&data.clips, test, val)?;
        let cnn = cnn_models
            .map(|dir| load_cnn(&dir.join(format!("fold-{}.sew", i + 1)), data))
            .transpose()?;
        let (trained, m) = run(data, &split, model_config, config, speech, cnn, None)?;
        let m = m.expect("folds have test actors");
        runs.push(RunResult {
            fold: i + 1,
            ..result(&split, config.seed, &trained, &m)
        });
        save_model(i + 1, trained)?;
        progress(&report(&runs))?;
    }
    Ok(report(&runs))
}

fn kfold_report(
    protocol: String,
    k: usize,
    runs: &[RunResult],
    labels: &[String],
    config: Value,
    model_config: Value,
) -> Report {
    let runs = Runs::Folds {
        folds_done: runs.len(),
        folds_planned: k,
        seed: config["seed"].as_u64().unwrap_or_default(),
        folds: runs.to_vec(),
    };
    Report::new(protocol, labels, runs, config, model_config)
}

/// Joins reports of the same protocol and recipe that ran different folds
/// (`evaluate --only-folds`) or different seeds (`evaluate --split random --seeds`) into one.
pub fn merge(parts: &[Report]) -> Result<Report, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let mut runs: Vec<RunResult> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let differs =
            |what: &str| Err(format!("report {} differs from the first in {what}", i + 1));
        if part.protocol != first.protocol {
            return differs("protocol");
        }
        if part.labels != first.labels {
            return differs("labels");
        }
        if part.model_config != first.model_config {
            return differs("model_config");
        }
        match (&part.runs, &first.runs) {
            (
                Runs::Folds {
                    folds_planned: a, ..
                },
                Runs::Folds {
                    folds_planned: b, ..
                },
            ) => {
                if a != b {
                    return differs("folds_planned");
                }
                if part.train_config != first.train_config {
                    return differs("train_config");
                }
            }
            // Random-split reports carry each run's seed in the recipe; the rest must match.
            (Runs::Seeds { .. }, Runs::Seeds { .. }) => {
                if without_seed(&part.train_config) != without_seed(&first.train_config) {
                    return differs("train_config");
                }
            }
            _ => {
                return Err(format!(
                    "report {} is not of the first one's protocol",
                    i + 1
                ));
            }
        }
        let kfold = matches!(part.runs, Runs::Folds { .. });
        for r in part.runs.results() {
            let key = |x: &RunResult| if kfold { x.fold as u64 } else { x.seed };
            if runs.iter().any(|o| key(o) == key(r)) {
                let what = if kfold { "fold" } else { "seed" };
                return Err(format!("{what} {} appears twice", key(r)));
            }
            runs.push(r.clone());
        }
    }
    let (train_config, model_config) = (first.train_config.clone(), first.model_config.clone());
    let mut merged = match first.runs {
        Runs::Folds { folds_planned, .. } => {
            runs.sort_by_key(|r| r.fold);
            kfold_report(
                first.protocol.clone(),
                folds_planned,
                &runs,
                &first.labels,
                train_config,
                model_config,
            )
        }
        Runs::Seeds { .. } => {
            runs.sort_by_key(|r| r.seed);
            let seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
            random_report(&seeds, &runs, &first.labels, train_config, model_config)
        }
    };
    merged.speech_embedding = first.speech_embedding.clone();
    merged.speech_noise = first.speech_noise;
    merged.speech_babble = first.speech_babble;
    merged.speech_babble_copies = first.speech_babble_copies;
    merged.speech_tuning = first.speech_tuning;
    merged.cnn_models = first.cnn_models.clone();
    Ok(merged)
}

fn without_seed(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.remove("seed");
    }
    config
}

fn random_report(
    seeds: &[u64],
    runs: &[RunResult],
    labels: &[String],
    config: Value,
    model_config: Value,
) -> Report {
    let runs = Runs::Seeds {
        seeds: seeds.to_vec(),
        seeds_done: runs.len(),
        runs: runs.to_vec(),
    };
    Report::new(
        "random stratified 80/20 over clips (same actors and sentences on both sides; comparison only)".into(),
        labels,
        runs,
        config,
        model_config,
    )
}

/// The seeds' protocol: stratified random 80/20 over clips, once per seed. `progress` as for
/// [`kfold`].
pub fn random_splits(
    data: &Dataset,
    seeds: &[u64],
    model_config: &ModelConfig,
    config: &TrainConfig,
    speech: Option<&Speech>,
    progress: &mut dyn FnMut(&Report) -> Result<(), String>,
) -> Result<Report, String> {
    let mut runs = Vec::new();
    let report = |runs: &[RunResult]| {
        random_report(
            seeds,
            runs,
            &data.label_names,
            json!(config),
            json!(model_config),
        )
    };
    for &seed in seeds {
        eprintln!("random split, seed {seed}");
        let split = split::random(&data.clips, 0.2, 0.1, seed);
        let config = TrainConfig {
            seed,
            ..config.clone()
        };
        let (trained, m) = run(data, &split, model_config, &config, speech, None, None)?;
        let m = m.expect("random splits have a test part");
        runs.push(result(&split, seed, &trained, &m));
        progress(&report(&runs))?;
    }
    Ok(report(&runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_folds_are_disjoint_balanced_and_cover_all_actors() {
        let folds = actor_folds(6).unwrap();
        assert_eq!(folds.len(), 6);
        let mut all: Vec<u8> = folds.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (1..=24).collect::<Vec<u8>>());
        for (i, f) in folds.iter().enumerate() {
            assert_eq!(f.len(), 4);
            assert_eq!(f.iter().filter(|a| *a % 2 == 1).count(), 2, "fold {f:?}");
            let val = validation_actors(&folds, i);
            assert_eq!(val.len(), 2);
            assert!(
                val.iter().all(|a| !f.contains(a)),
                "validation {val:?} in test {f:?}"
            );
        }
        assert_eq!(folds[0], vec![1, 2, 3, 4]);
    }

    #[test]
    fn other_speakers_are_dealt_round_robin_with_validation_from_the_training_side() {
        let clips: Vec<Clip> = ["s10", "s2", "s3", "s1", "s2"]
            .iter()
            .map(|s| Clip {
                path: "x.wav".into(),
                label: 0,
                speaker: s.to_string(),
                train_only: false,
            })
            .collect();
        let plan = fold_plan(&clips, 2).unwrap();
        assert_eq!(plan.test, vec![vec!["s1", "s2"], vec!["s10", "s3"]]);
        assert_eq!(plan.validation, vec![vec!["s10"], vec!["s1"]]);
        assert!(
            fold_plan(&clips, 4).is_err(),
            "4 speakers cannot make 4 folds"
        );
    }

    #[test]
    fn unbalanced_fold_counts_are_refused() {
        assert!(actor_folds(5).is_err());
        assert!(actor_folds(1).is_err());
        assert!(actor_folds(12).is_ok());
    }

    fn run(fold: usize, seed: u64, correct: usize) -> RunResult {
        RunResult {
            fold,
            test_actors: vec![],
            validation_actors: vec![],
            seed,
            ua: correct as f64 / 2.0,
            accuracy: correct as f64 / 2.0,
            macro_f1: 0.0,
            weighted_f1: 0.0,
            best_epoch: 1,
            training_seconds: 1.0,
            confusion_matrix: vec![vec![correct, 0], vec![2 - correct, 0]],
            history: vec![],
        }
    }

    #[test]
    fn random_split_reports_merge_by_seed_and_refuse_a_seed_twice() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let part = |seeds: &[u64], runs: &[RunResult]| {
            random_report(seeds, runs, &labels, json!({"seed": 42}), json!({}))
        };
        let a = part(&[3], &[run(0, 3, 2)]);
        let b = part(&[1, 2], &[run(0, 1, 0), run(0, 2, 1)]);
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        assert!(matches!(&merged.runs, Runs::Seeds { seeds, .. } if seeds == &[1, 2, 3]));
        assert!((merged.accuracy_mean - 0.5).abs() < 1e-12);
        assert_eq!(merged.confusion_matrix, [[3, 0], [3, 0]]);
        // What is written reads back as the same report.
        let back: Report = serde_json::from_value(json!(merged)).unwrap();
        assert_eq!(json!(back), json!(merged));
        assert!(
            merge(&[a.clone(), a])
                .unwrap_err()
                .contains("seed 3 appears twice")
        );
        let other = random_report(
            &[5],
            &[run(0, 5, 1)],
            &labels,
            json!({"seed": 42, "max_epochs": 2}),
            json!({}),
        );
        assert!(merge(&[b, other]).unwrap_err().contains("train_config"));
    }

    #[test]
    fn kfold_reports_merge_by_fold() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let part =
            |runs: &[RunResult]| kfold_report("p".into(), 3, runs, &labels, json!({}), json!({}));
        let merged = merge(&[
            part(&[run(3, 42, 1)]),
            part(&[run(1, 42, 2), run(2, 42, 0)]),
        ])
        .unwrap();
        let folds: Vec<usize> = merged.runs.results().iter().map(|f| f.fold).collect();
        assert_eq!(folds, [1, 2, 3]);
        assert!(matches!(merged.runs, Runs::Folds { folds_done: 3, .. }));
        let back: Report = serde_json::from_value(json!(merged)).unwrap();
        assert!(matches!(
            back.runs,
            Runs::Folds {
                folds_planned: 3,
                ..
            }
        ));
        assert!(
            merge(&[part(&[run(1, 42, 2)]), part(&[run(1, 42, 2)])])
                .unwrap_err()
                .contains("fold 1 appears twice")
        );
    }

    #[test]
    fn every_committed_evaluation_report_reads_back() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let mut files: Vec<PathBuf> = [
            "kfold.json",
            "kfold-adapted.json",
            "kfold-cnn.json",
            "random-split.json",
        ]
        .iter()
        .map(|f| dir.join(f))
        .collect();
        for entry in std::fs::read_dir(dir.join("experiments")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".json") && !name.contains("robustness") {
                files.push(path);
            }
        }
        assert!(files.len() > 20);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let report: Report =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(!report.runs.results().is_empty(), "{}", f.display());
        }
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
    }
}
