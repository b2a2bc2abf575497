//! `trainer`: train the speech-emotion model on RAVDESS, and classify files with a weights file.

mod augment;
mod data;
mod metrics;
mod split;
mod train;

use clap::{Parser, Subcommand, ValueEnum};
use metrics::{Metrics, confusion};
use serde_json::json;
use speech_emotion::classifier::Classifier;
use speech_emotion::decode::decode_file;
use speech_emotion::features::FeatureConfig;
use speech_emotion::labels::default_labels;
use speech_emotion::model::ModelConfig;
use speech_emotion::weights::{Header, WeightsFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where `predict` looks for weights when none are named: the shipped model.
const SHIPPED_WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/speech-emotion.sew");

#[derive(Parser)]
#[command(
    version,
    about = "Train and run the speech-emotion model (RAVDESS, 8 emotions)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitKind {
    /// Speaker-independent: test (and validation) actors never seen in training.
    Actors,
    /// The seeds' protocol, stratified 80/20 over clips (for comparison only).
    Random,
}

#[derive(Subcommand)]
enum Command {
    /// Train on a RAVDESS directory and write a weights file and a metrics JSON.
    Train {
        /// Directory searched recursively for RAVDESS files (WAV as downloaded, or FLAC).
        #[arg(long)]
        data: PathBuf,
        /// Weights file to write.
        #[arg(long)]
        out: PathBuf,
        /// Metrics JSON to write [default: the weights path with .metrics.json].
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "actors")]
        split: SplitKind,
        /// Actors held out for testing (--split actors).
        #[arg(long, value_delimiter = ',', default_value = "21,22,23,24")]
        test_actors: Vec<u8>,
        /// Actors used for early stopping, never trained on (--split actors).
        #[arg(long, value_delimiter = ',', default_value = "19,20")]
        val_actors: Vec<u8>,
        /// Also train on song clips found under --data.
        #[arg(long)]
        with_song: bool,
        #[arg(long, default_value_t = 40)]
        epochs: usize,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 0.1)]
        label_smoothing: f32,
        /// Extra weight for the surprised class on top of balanced class weights (seeds: 1.5).
        #[arg(long, default_value_t = 1.0)]
        surprise_boost: f32,
        #[arg(long, default_value_t = 10)]
        patience: usize,
        #[arg(long)]
        no_augment: bool,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Print each file's emotion and its 8 probabilities.
    Predict {
        /// Weights file [default: the shipped model].
        #[arg(long)]
        weights: Option<PathBuf>,
        /// One JSON object per file instead of text.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Predict {
            weights,
            json,
            files,
        } => predict(weights.as_deref(), json, &files),
        Command::Train {
            data,
            out,
            report,
            split,
            test_actors,
            val_actors,
            with_song,
            epochs,
            batch_size,
            lr,
            label_smoothing,
            surprise_boost,
            patience,
            no_augment,
            seed,
        } => {
            let config = train::TrainConfig {
                max_epochs: epochs,
                batch_size,
                learning_rate: lr,
                label_smoothing,
                surprise_boost,
                patience,
                seed,
                augment: (!no_augment).then(augment::AugmentConfig::default),
                ..Default::default()
            };
            let report = report.unwrap_or_else(|| out.with_extension("metrics.json"));
            run_train(
                &data,
                &out,
                &report,
                split,
                &test_actors,
                &val_actors,
                with_song,
                &config,
            )
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn predict(weights: Option<&Path>, json: bool, files: &[PathBuf]) -> Result<ExitCode, String> {
    let path = weights.unwrap_or(Path::new(SHIPPED_WEIGHTS));
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let classifier = Classifier::from_bytes(&bytes, &burn::prelude::Device::flex())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut failed = 0;
    for file in files {
        let result = decode_file(file).and_then(|d| {
            classifier
                .classify(&d.channel_slices(), d.sample_rate)
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(p) if json => println!(
                "{}",
                json!({"file": file, "label": p.label, "probabilities": p.probabilities,
                       "labels": classifier.labels()})
            ),
            Ok(p) => {
                println!("{}: {}", file.display(), p.label);
                for (label, prob) in classifier.labels().iter().zip(&p.probabilities) {
                    println!("  {label:<10} {prob:.4}");
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", file.display());
                if json {
                    println!("{}", json!({"file": file, "error": e}));
                }
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[allow(clippy::too_many_arguments)]
fn run_train(
    data_dir: &Path,
    out: &Path,
    report: &Path,
    split_kind: SplitKind,
    test_actors: &[u8],
    val_actors: &[u8],
    with_song: bool,
    config: &train::TrainConfig,
) -> Result<ExitCode, String> {
    let scan = data::scan_ravdess(data_dir, with_song)?;
    for (path, why) in &scan.skipped {
        eprintln!("skipped {}: {why}", path.display());
    }
    if scan.clips.is_empty() {
        return Err(format!(
            "no RAVDESS clips found under {} (expected names like 03-01-05-02-01-01-12.wav)",
            data_dir.display()
        ));
    }
    eprintln!(
        "{} clips found; computing log-mel features",
        scan.clips.len()
    );
    let features = FeatureConfig::default();
    let set = data::extract_features(scan.clips, &features);
    for (path, why) in &set.failed {
        eprintln!("unreadable {}: {why}", path.display());
    }
    let labels: Vec<usize> = set.clips.iter().map(|c| c.label).collect();
    let split = match split_kind {
        SplitKind::Actors => split::by_speakers(&set.clips, test_actors, val_actors)?,
        SplitKind::Random => split::random(&set.clips, 0.2, 0.1, config.seed),
    };
    if split.validation.is_empty() {
        return Err("the validation set is empty: choose --val-actors present in the data".into());
    }
    eprintln!(
        "{} protocol: {} train, {} validation, {} test clips",
        split.protocol,
        split.train.len(),
        split.validation.len(),
        split.test.len()
    );
    let names = default_labels();
    let model_config = ModelConfig::default();
    let trained = train::train(
        &set.features,
        &labels,
        &names,
        &split,
        &model_config,
        config,
    );

    let device = burn::prelude::Device::flex();
    let shape = (model_config.n_mels, model_config.n_frames);
    let (pred, _) = train::predict(
        &trained.model,
        &set.features,
        &labels,
        &split.test,
        trained.normalization,
        shape,
        &device,
    );
    let truth: Vec<usize> = split.test.iter().map(|&i| labels[i]).collect();
    let test = Metrics::from_confusion(confusion(&truth, &pred, names.len()), &names);
    eprintln!(
        "test ({}): UA {:.3}  accuracy {:.3}  macro-F1 {:.3}  weighted-F1 {:.3}  ({} clips)",
        split.protocol, test.ua, test.accuracy, test.macro_f1, test.weighted_f1, test.n
    );

    let provenance = json!({
        "data": data_dir.file_name().map(|n| n.to_string_lossy().to_string()),
        "corpus": "RAVDESS (Livingstone & Russo 2018), CC BY-NC-SA 4.0",
        "protocol": split.protocol,
        "test_actors": split.test_speakers,
        "train_clips": split.train.len(),
        "best_epoch": trained.best_epoch,
        "test_ua": test.ua,
    });
    let mut header = Header::new(model_config.clone(), names.clone(), trained.normalization);
    header.training = provenance;
    let bytes = WeightsFile::to_bytes(&header, trained.model)
        .map_err(|e| format!("cannot serialise the model: {e}"))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let metrics = json!({
        "protocol": split.protocol,
        "test_actors": split.test_speakers,
        "validation_actors": split.validation_speakers,
        "clips": {"train": split.train.len(), "validation": split.validation.len(), "test": split.test.len()},
        "skipped_files": scan.skipped.len(),
        "unreadable_files": set.failed.iter().map(|(p, e)| json!({"path": p, "error": e})).collect::<Vec<_>>(),
        "accuracy": test.accuracy,
        "ua": test.ua,
        "macro_f1": test.macro_f1,
        "weighted_f1": test.weighted_f1,
        "per_class": test.per_class,
        "confusion_matrix": test.confusion,
        "labels": names,
        "training_seconds": trained.seconds,
        "best_epoch": trained.best_epoch,
        "epochs_run": trained.history.len(),
        "history": trained.history,
        "train_config": config,
        "model_config": model_config,
        "weights_bytes": bytes.len(),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    std::fs::write(
        report,
        serde_json::to_string_pretty(&metrics).expect("serialisable") + "\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", report.display()))?;
    eprintln!(
        "wrote {} ({} bytes) and {} in {:.0} s",
        out.display(),
        bytes.len(),
        report.display(),
        trained.seconds
    );
    Ok(ExitCode::SUCCESS)
}
