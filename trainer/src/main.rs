//! `trainer`: train the speech-emotion model on RAVDESS, evaluate it under speaker-independent
//! protocols, and classify files with a weights file.

// glibc's allocator returns each large activation to the kernel and faults it back in at the
// next step (a third of a training epoch's CPU time); mimalloc keeps the pages.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_lite::future::block_on;
use serde_json::json;
use speech_emotion::adapt::VoiceProfile;
use speech_emotion::classifier::Classifier;
use speech_emotion::decode::{isolate, open_file};
use speech_emotion::features::FeatureConfig;
use speech_emotion::model::{MAX_WIDTH, ModelConfig};
use speech_emotion::speech_embedding::MIDDLE_LAYERS;
use speech_emotion::timeline::{self, Basis};
use speech_emotion::weights::{Header, WeightsFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trainer::augment::AugmentConfig;
use trainer::branch_tuning::BranchTuning;
use trainer::data::{Dataset, NoisyCopies, SpeechInputs};
use trainer::train::TrainConfig;
use trainer::{bench, charts, checkpoint, data, evaluate, robustness, speech_onnx, split, train};

/// The speech-embedding network's copy in this repository (see models/speech-embedding/).
const SPEECH_EMBEDDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/speech-embedding/embedding_model.onnx"
);

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
    /// Train on every clip for --epochs, nothing held out (the shipped model).
    All,
}

/// A parser for a numeric option that refuses values outside `lo..=hi` (and NaN), naming the
/// range; clap adds the option's name.
fn ranged<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        let v: T = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
        if v >= lo && v <= hi {
            Ok(v)
        } else {
            Err(format!("{s} is outside {lo}..={hi}"))
        }
    }
}

/// Where the corpus is; shared by `train`, `evaluate` and `robustness`.
#[derive(Args)]
struct CorpusArgs {
    /// Directory searched recursively for RAVDESS files (WAV as downloaded, or FLAC); may be
    /// given more than once (the speech and the song downloads).
    #[arg(
        long,
        required_unless_present = "manifest",
        conflicts_with = "manifest"
    )]
    data: Vec<PathBuf>,
    /// Any other corpus: a CSV with columns path, label, speaker (paths relative to it).
    #[arg(long)]
    manifest: Option<PathBuf>,
}

/// Where the data is and how to train; shared by `train` and `evaluate`.
#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Also train on song clips found under --data (never tested on: figures stay speech).
    #[arg(long)]
    with_song: bool,
    /// Epochs to train (all of them, unless --patience stops earlier).
    #[arg(long, default_value_t = TrainConfig::new().max_epochs, value_parser = ranged(1usize, 10_000))]
    epochs: usize,
    #[arg(long, default_value_t = TrainConfig::new().batch_size, value_parser = ranged(1usize, 4096))]
    batch_size: usize,
    #[arg(long, default_value_t = TrainConfig::new().learning_rate, value_parser = ranged(1e-7, 1.0))]
    lr: f64,
    #[arg(long, default_value_t = TrainConfig::new().label_smoothing, value_parser = ranged(0.0f32, 0.99))]
    label_smoothing: f32,
    /// Extra weight for the surprised class on top of balanced class weights (seeds: 1.5).
    #[arg(long, default_value_t = TrainConfig::new().surprise_boost, value_parser = ranged(0.01f32, 100.0))]
    surprise_boost: f32,
    /// Early stopping: epochs without a better validation UA before stopping, keeping the best
    /// epoch's model. 0 (default): run every epoch and keep the last; the validation actors
    /// then only draw the curves (two actors are too few to pick an epoch by: see
    /// trainer/EXPERIMENTS.md).
    #[arg(long, default_value_t = TrainConfig::new().patience)]
    patience: usize,
    /// Turn every augmentation off.
    #[arg(long)]
    no_augment: bool,
    /// Probability of each augmentation being applied to a clip.
    #[arg(long, default_value_t = AugmentConfig::new().probability, value_parser = ranged(0.0, 1.0))]
    augment_probability: f64,
    /// Largest move of the analysis window off the speech centre, in seconds (0: off).
    #[arg(long, default_value_t = AugmentConfig::new().max_shift_seconds, value_parser = ranged(0.0, 1.5))]
    shift: f64,
    /// Time stretch by a rate in 1 ± this (0: off; see trainer/EXPERIMENTS.md).
    #[arg(long, default_value_t = AugmentConfig::new().max_stretch, value_parser = ranged(0.0, 0.5))]
    stretch: f64,
    /// Pitch shift by up to this many semitones either way (0: off; e.g. 2).
    #[arg(long, default_value_t = AugmentConfig::new().max_pitch_semitones, value_parser = ranged(0.0, 12.0))]
    pitch: f64,
    /// Gaussian noise at an SNR drawn from MIN,MAX dB (0,0: off).
    #[arg(long, value_delimiter = ',', default_values_t = <[f64; 2]>::from(AugmentConfig::new().snr_db),
          value_parser = ranged(-20.0, 100.0))]
    snr: Vec<f64>,
    /// Babble: 3 to 6 other training clips talking at once, at an SNR drawn from MIN,MAX dB
    /// (0,0: off).
    #[arg(long, value_delimiter = ',', default_values_t = <[f64; 2]>::from(AugmentConfig::new().babble_snr_db),
          value_parser = ranged(-20.0, 100.0))]
    babble: Vec<f64>,
    /// Leave out the random microphone colouring (on by default: a presence peak or dip,
    /// sometimes a high- and a low-pass).
    #[arg(long)]
    no_random_eq: bool,
    /// Largest SpecAugment time mask, in frames (0: off).
    #[arg(long, default_value_t = AugmentConfig::new().max_time_mask, value_parser = ranged(0usize, 128))]
    time_mask: usize,
    /// Largest SpecAugment frequency mask, in mel bands (0: off).
    #[arg(long, default_value_t = AugmentConfig::new().max_freq_mask, value_parser = ranged(0usize, 128))]
    freq_mask: usize,
    /// Mixup with λ ~ Beta(α, α) (0: off; e.g. 0.2).
    #[arg(long, default_value_t = AugmentConfig::new().mixup_alpha, value_parser = ranged(0.0, 10.0))]
    mixup: f64,
    /// Recording level: a gain drawn from ± this many dB, clipped at full scale (0: off).
    #[arg(long, default_value_t = AugmentConfig::new().max_gain_db, value_parser = ranged(0.0, 60.0))]
    gain: f64,
    /// Probability of training a clip on the live microphone's view of it: the line repeated
    /// with short pauses, the last 3 s before a random point (0: off).
    #[arg(long, default_value_t = AugmentConfig::new().microphone_window, value_parser = ranged(0.0, 1.0))]
    microphone_window: f64,
    /// Output channels of the conv blocks (each block halves both axes).
    #[arg(long, value_delimiter = ',', default_values_t = ModelConfig::default().channels,
          value_parser = ranged(1usize, MAX_WIDTH))]
    channels: Vec<usize>,
    /// Hidden size of each LSTM direction.
    #[arg(long, default_value_t = ModelConfig::default().lstm_hidden, value_parser = ranged(1usize, MAX_WIDTH))]
    lstm_hidden: usize,
    /// Halve the learning rate every N epochs; 0: halve it after 4 epochs without a better
    /// validation UA instead.
    #[arg(long, default_value_t = TrainConfig::new().halve_every.unwrap_or(0))]
    halve_every: usize,
    /// A cosine learning-rate decay over the epochs in place of halving (--halve-every is then
    /// ignored).
    #[arg(long)]
    cosine: bool,
    /// Keep the mean of the last N epochs' weights rather than the last epoch's (0: the last
    /// epoch's alone, as before row SWA).
    #[arg(long, default_value_t = TrainConfig::new().average_last)]
    average_last: usize,
    /// Subtract each mel band's mean over the clip before normalising (stored in the weights).
    #[arg(long)]
    band_mean_norm: bool,
    /// The speaker-adapted protocol (`evaluate` only): each speaker's log-mels z-normalised per
    /// mel band with statistics of all that speaker's clips, the test speakers' unlabelled
    /// clips included. Report it apart from the strict figures.
    #[arg(long)]
    speaker_adapted: bool,
    /// With --speaker-adapted: adapt only the speech branch's inputs and keep the CNN's
    /// log-mels as they are (a strict CNN with an adapted head, what a page holding one model
    /// could do).
    #[arg(long, requires = "speaker_adapted")]
    adapt_branch_only: bool,
    /// With --adapt-branch-only: each test speaker's profile from this many of their clips,
    /// drawn at random (what a page has heard after that many recordings), not from all of them.
    /// A list (8,16,30) measures each and prints them; the report holds the first.
    #[arg(long, requires = "adapt_branch_only", value_delimiter = ',',
          value_parser = ranged(1usize, 10_000))]
    adapt_clips: Vec<usize>,
    /// With --adapt-branch-only: each test speaker's profile from their clips of this emotion
    /// only (a voice heard in one mood, as a person reading one angry letter); every clip is
    /// still scored.
    #[arg(long, requires = "adapt_branch_only")]
    adapt_emotion: Option<String>,
    /// Seeds the split (--split random), initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = TrainConfig::new().seed)]
    seed: u64,
    /// The pretrained speech-embedding network (embedding_model.onnx of openwakeword 0.4.0):
    /// its branch, with a head fitted on the training clips, joins the CNN.
    #[arg(long, default_value = SPEECH_EMBEDDING)]
    speech_embedding: PathBuf,
    /// Train the CNN alone, without the speech-embedding branch.
    #[arg(long)]
    no_speech_embedding: bool,
    /// Fit the speech branch's head on the clean training clips only. By default it also sees
    /// a noisy copy of each (white noise at 10–30 dB SNR, the same copy on every run) …
    #[arg(long, conflicts_with = "no_speech_embedding")]
    no_speech_noise: bool,
    /// … and a babble copy of each: 3 to 6 other training speakers at 5–25 dB SNR, drawn per
    /// split (held-out voices are never used). This leaves that copy out.
    #[arg(long, conflicts_with = "no_speech_embedding")]
    no_speech_babble: bool,
    /// Babble copies of each training clip for the speech branch, each with its own talkers
    /// and SNR.
    #[arg(long, default_value_t = 1, conflicts_with = "no_speech_babble",
          value_parser = ranged(1usize, 8))]
    speech_babble_copies: usize,
    /// The speaker-adapted view without moving the CNN's pooled states to the training clips'
    /// mean and spread (only the branch's head reads the voice's profile), as before row PS.
    #[arg(long, conflicts_with = "no_speech_embedding")]
    no_adapted_states: bool,
    /// Tune the speech branch's last N middle layers (of 18) and its last conv together with
    /// both heads on the training clips and their copies, starting from the pretrained weights
    /// (the lower layers stay frozen); 0 keeps the whole network frozen, as before row TB.
    #[arg(long, default_value_t = 4, conflicts_with = "no_speech_embedding",
          value_parser = ranged(0usize, MIDDLE_LAYERS))]
    tune_branch: usize,
    /// Passes over the training clips and their copies for --tune-branch.
    #[arg(long, default_value_t = 10, value_parser = ranged(1usize, 10_000))]
    tune_epochs: usize,
    /// Adam's learning rate for --tune-branch.
    #[arg(long, default_value_t = 1e-4, value_parser = ranged(1e-7, 1.0))]
    tune_lr: f64,
    /// The speech branch's head without the window's prosody statistics (F0 by YIN, energy
    /// dynamics, spectral tilt: `speech_emotion::prosody`), as before they were added.
    #[arg(long)]
    no_prosody: bool,
}

/// `MIN,MAX` dB of an SNR option, checked.
fn snr_range(option: &str, values: &[f64]) -> Result<(f64, f64), String> {
    match values {
        [lo, hi] if lo <= hi => Ok((*lo, *hi)),
        [lo, hi] => Err(format!("{option} {lo},{hi}: give the lower SNR first")),
        _ => Err(format!(
            "{option} takes two values, MIN,MAX dB (got {values:?})"
        )),
    }
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, String> {
        let snr = snr_range("--snr", &self.snr)?;
        let babble = snr_range("--babble", &self.babble)?;
        Ok(TrainConfig {
            max_epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            label_smoothing: self.label_smoothing,
            surprise_boost: self.surprise_boost,
            patience: self.patience,
            seed: self.seed,
            augment: (!self.no_augment).then_some(AugmentConfig {
                probability: self.augment_probability,
                max_shift_seconds: self.shift,
                max_stretch: self.stretch,
                max_pitch_semitones: self.pitch,
                snr_db: snr,
                babble_snr_db: babble,
                random_eq: !self.no_random_eq,
                max_time_mask: self.time_mask,
                max_freq_mask: self.freq_mask,
                mixup_alpha: self.mixup,
                max_gain_db: self.gain,
                microphone_window: self.microphone_window,
            }),
            subtract_band_means: self.band_mean_norm,
            speaker_adapted: self.speaker_adapted,
            adapt_log_mels: !self.adapt_branch_only,
            adapt_clips: self.adapt_clips.clone(),
            adapt_emotion: self.adapt_emotion.clone(),
            halve_every: (self.halve_every > 0).then_some(self.halve_every),
            cosine: self.cosine,
            average_last: self.average_last,
            ..TrainConfig::new()
        })
    }

    fn dataset(&self) -> Result<Dataset, String> {
        let features = FeatureConfig::default();
        let speech = if self.no_speech_embedding {
            SpeechInputs::None
        } else {
            SpeechInputs::Branch {
                prosody: !self.no_prosody,
                noisy: self.noisy_copies(),
            }
        };
        match (&self.corpus.data, &self.corpus.manifest) {
            (_, Some(manifest)) => Dataset::load_manifest(manifest, &features, speech),
            (dirs, None) if !dirs.is_empty() => {
                Dataset::load_ravdess(dirs, self.with_song, &features, speech)
            }
            _ => Err("give --data DIR (RAVDESS) or --manifest FILE.csv".into()),
        }
    }

    /// The network's shape for a corpus with these labels.
    fn model_config(&self, labels: usize) -> Result<ModelConfig, String> {
        let config = ModelConfig {
            n_classes: labels,
            channels: self.channels.clone(),
            lstm_hidden: self.lstm_hidden,
            prosody: !self.no_prosody && !self.no_speech_embedding,
            adapted_head: !self.no_speech_embedding,
            adapted_states: !self.no_speech_embedding && !self.no_adapted_states,
            ..ModelConfig::default()
        };
        config.check().map_err(|e| {
            format!(
                "--channels {:?} --lstm-hidden {}: {e}",
                config.channels, self.lstm_hidden
            )
        })?;
        Ok(config)
    }

    /// The speech-embedding network, unless turned off.
    fn speech(&self) -> Result<Option<evaluate::Speech>, String> {
        if self.no_speech_embedding {
            return Ok(None);
        }
        let net = speech_onnx::load(&self.speech_embedding, &burn::prelude::Device::flex())?;
        Ok(Some(evaluate::Speech {
            net,
            noisy: self.noisy_copies(),
            tuning: (self.tune_branch > 0).then_some(BranchTuning {
                layers: self.tune_branch,
                epochs: self.tune_epochs,
                learning_rate: self.tune_lr,
                seed: self.seed,
            }),
        }))
    }

    fn noisy_copies(&self) -> NoisyCopies {
        NoisyCopies {
            white: !self.no_speech_noise,
            babble: if self.no_speech_babble {
                0
            } else {
                self.speech_babble_copies
            },
        }
    }

    /// The corpus as named in reports.
    fn source(&self) -> String {
        let name = |p: &Path| {
            p.file_name()
                .map_or(p.display().to_string(), |n| n.to_string_lossy().to_string())
        };
        match (&self.corpus.data, &self.corpus.manifest) {
            (_, Some(m)) => format!("manifest {}", name(m)),
            (dirs, None) => dirs.iter().map(|d| name(d)).collect::<Vec<_>>().join(" + "),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train one model and write a weights file and a metrics JSON.
    Train {
        #[command(flatten)]
        args: TrainArgs,
        /// Weights file to write.
        #[arg(long)]
        out: PathBuf,
        /// Metrics JSON to write [default: the weights path with .metrics.json].
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "actors")]
        split: SplitKind,
        /// Speakers (RAVDESS actor numbers) held out for testing (--split actors).
        #[arg(
            long,
            alias = "test-speakers",
            value_delimiter = ',',
            default_value = "21,22,23,24"
        )]
        test_actors: Vec<String>,
        /// Actors used for early stopping, never trained on (--split actors).
        #[arg(
            long,
            alias = "val-speakers",
            value_delimiter = ',',
            default_value = "19,20"
        )]
        val_actors: Vec<String>,
        /// Take the CNN from this weights file (trained before on the same split) instead of
        /// training it: only the speech-embedding branch's head is fitted.
        #[arg(long, conflicts_with = "no_speech_embedding")]
        cnn_model: Option<PathBuf>,
        /// Go on from the checkpoint that a stopped run left beside --out (OUT.checkpoint,
        /// written after every epoch and removed when the run ends), as if it had never
        /// stopped. Give the options it was started with.
        #[arg(long, conflicts_with = "cnn_model")]
        resume: bool,
    },
    /// Train one model per fold or seed and report mean ± sd: actor k-fold (default) or the
    /// seeds' random split repeated over several seeds.
    Evaluate {
        #[command(flatten)]
        args: TrainArgs,
        /// Report JSON to write.
        #[arg(long)]
        report: PathBuf,
        #[arg(long, value_enum, default_value = "actors")]
        split: SplitKind,
        /// Number of gender-balanced actor folds (--split actors).
        #[arg(long, default_value_t = 6)]
        folds: usize,
        /// Seeds, one run each (--split random).
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Run only these folds (numbered from 1), e.g. to share the folds between machines
        /// or processes; `merge` joins the reports.
        #[arg(long, value_delimiter = ',')]
        only_folds: Vec<usize>,
        /// Also write each fold's model here as fold-N.sew (--split actors).
        #[arg(long)]
        save_models: Option<PathBuf>,
        /// Take each fold's CNN from fold-N.sew here (an earlier --save-models run of the same
        /// folds) instead of training it: only the speech-embedding branch's head is fitted,
        /// in seconds.
        #[arg(long, conflicts_with = "no_speech_embedding")]
        cnn_models: Option<PathBuf>,
    },
    /// Join reports that ran different folds (`evaluate --only-folds`) or seeds
    /// (`evaluate --split random --seeds`) of the same recipe into one, with its charts.
    Merge {
        /// Report JSON to write.
        #[arg(long)]
        report: PathBuf,
        #[arg(required = true)]
        parts: Vec<PathBuf>,
    },
    /// Print each file's emotion and its probabilities, as the page does: the clip rule for a
    /// clip, the mean over 3-s windows (one per second) for a longer recording. A folder is
    /// searched for audio files (WAV, FLAC, MP3, Ogg, Opus, WebM, M4A/AAC), subfolders included.
    Predict {
        /// Weights file [default: the shipped model].
        #[arg(long)]
        weights: Option<PathBuf>,
        /// One JSON object per file instead of text.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// A CSV table, one row per file (file, emotion, one column per label's probability,
        /// basis, speech, level, duration, error), for spreadsheets.
        #[arg(long)]
        csv: bool,
        /// Also print every window: start, end, level, emotion.
        #[arg(long)]
        windows: bool,
        /// The files are one speaker: their speech, unlabelled, makes a profile of the voice,
        /// and every file is read against it with the model's adapted head (once the files
        /// hold 8 speech windows and 12 s of speech; the page's "one speaker").
        #[arg(long)]
        one_speaker: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Re-score the k-fold test clips under recording conditions (level, band limit, noise,
    /// babble, a small room, a cheap microphone, the live microphone's window), each with the
    /// model of the fold that held its speaker out (`evaluate --save-models DIR`).
    Robustness {
        #[command(flatten)]
        corpus: CorpusArgs,
        /// The fold models, fold-1.sew … fold-K.sew.
        #[arg(long)]
        models: PathBuf,
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=64))]
        folds: u64,
        /// Score only these folds (1-based), e.g. 1,4.
        #[arg(long, value_delimiter = ',')]
        only_folds: Vec<usize>,
        /// Seed of the noise, babble offsets, room responses and microphone cuts.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Score only the conditions whose names contain one of these words, e.g.
        /// microphone,babble (the clean condition is always scored).
        #[arg(long, value_delimiter = ',')]
        conditions: Vec<String>,
        /// Report JSON to write.
        #[arg(long)]
        report: PathBuf,
    },
    /// Training throughput of the default network on random inputs (no data needed): the
    /// figure that bench/train-speed.sh compares with the same network in PyTorch.
    Bench {
        /// Timed steps.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Untimed steps first.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, default_value_t = TrainConfig::new().batch_size as u64,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        batch_size: u64,
        /// One JSON line instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Merge { report, parts } => run_merge(&report, &parts),
        Command::Predict {
            weights,
            json,
            csv,
            windows,
            one_speaker,
            files,
        } => {
            let format = match (json, csv) {
                (true, _) => Format::Json,
                (_, true) => Format::Csv,
                _ => Format::Text,
            };
            predict(weights.as_deref(), format, (windows, one_speaker), &files)
        }
        Command::Robustness {
            corpus,
            models,
            folds,
            only_folds,
            seed,
            conditions,
            report,
        } => run_robustness(
            &corpus,
            &models,
            (folds as usize, &only_folds),
            (seed, &conditions),
            &report,
        ),
        Command::Bench {
            steps,
            warmup,
            batch_size,
            json,
        } => {
            let t = bench::training_throughput(
                &ModelConfig::default(),
                batch_size as usize,
                steps.max(1),
                warmup,
            );
            if json {
                println!("{}", serde_json::to_string(&t).expect("plain struct"));
            } else {
                println!(
                    "{}: {:.1} clips/s ({} steps of {} clips in {:.2} s, {} threads)",
                    t.implementation,
                    t.clips_per_second,
                    t.steps,
                    t.batch_size,
                    t.seconds,
                    t.threads
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Train {
            args,
            out,
            report,
            split,
            test_actors,
            val_actors,
            cnn_model,
            resume,
        } => {
            let report = report.unwrap_or_else(|| out.with_extension("metrics.json"));
            run_train(
                &args,
                (&out, &report),
                split,
                (&test_actors, &val_actors),
                (cnn_model.as_deref(), resume),
            )
        }
        Command::Evaluate {
            args,
            report,
            split,
            folds,
            seeds,
            only_folds,
            save_models,
            cnn_models,
        } => run_evaluate(
            &args,
            &report,
            split,
            (folds, &only_folds),
            &seeds,
            (save_models.as_deref(), cnn_models.as_deref()),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How `predict` prints its results.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Text,
    Json,
    Csv,
}

/// A CSV cell a spreadsheet will not run: text starting with `= + - @`, a tab or a carriage
/// return gets a leading apostrophe (as the page's export does).
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn predict(
    weights: Option<&Path>,
    format: Format,
    (windows, one_speaker): (bool, bool),
    inputs: &[PathBuf],
) -> Result<ExitCode, String> {
    let json = format == Format::Json;
    let path = weights.unwrap_or(Path::new(SHIPPED_WEIGHTS));
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let classifier = Classifier::from_bytes(&bytes, &burn::prelude::Device::flex())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Folders become the audio files in them.
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(data::audio_files(input)?);
        } else {
            files.push(input.clone());
        }
    }
    let mut table = (format == Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(t) = table.as_mut() {
        let mut header = vec!["file".to_string(), "emotion".to_string()];
        header.extend(classifier.labels().iter().map(|l| csv_text(l)));
        // The share of speech time each emotion holds (its segments' time).
        header.extend(
            classifier
                .labels()
                .iter()
                .map(|l| csv_text(&format!("share_{l}"))),
        );
        header.extend(["basis", "speech", "level_dbfs", "duration_s", "error"].map(String::from));
        t.write_record(&header).map_err(|e| e.to_string())?;
    }
    if one_speaker && !classifier.adapts() {
        return Err(format!(
            "{}: this model has no adapted head, so it cannot adapt to a speaker (train it again)",
            path.display()
        ));
    }
    // The page's path exactly: streamed decoding, the clip rule for a clip, a window per second
    // for anything longer.
    let analyse = |file: &PathBuf| {
        isolate(|| -> Result<_, timeline::AnalysisError> {
            let mut stream = open_file(file)?;
            block_on(timeline::analyse_stream(
                &classifier,
                &mut stream,
                1.0,
                &mut |_| {},
            ))
        })
    };
    // One speaker: every file is heard before any is read against the voice.
    let mut analysed: Vec<Option<Result<_, _>>> = Vec::new();
    if one_speaker {
        let mut voice = VoiceProfile::default();
        analysed = files.iter().map(|f| Some(analyse(f))).collect();
        for a in analysed.iter().flatten().flatten() {
            timeline::learn(a, &mut voice);
        }
        for a in analysed.iter_mut().flatten().flatten() {
            block_on(timeline::adapt(&classifier, a, &mut voice, false));
        }
        if !voice.is_ready() {
            eprintln!(
                "not adapted: the files hold {:.1} s of speech in {} windows, and adapting takes {} s in {}",
                voice.seconds(),
                voice.windows(),
                speech_emotion::adapt::MIN_VOICE_SECONDS,
                speech_emotion::adapt::MIN_VOICE_WINDOWS
            );
        }
    }
    let mut failed = 0;
    for (i, file) in files.iter().enumerate() {
        let result = match analysed.get_mut(i).and_then(Option::take) {
            Some(done) => done,
            None => analyse(file),
        };
        let a = match result {
            Ok(a) => a,
            Err(error) => {
                let e = error.to_string();
                failed += 1;
                eprintln!("{}: {e}", file.display());
                if json {
                    println!(
                        "{}",
                        json!({"file": file, "error": e, "code": error.code()})
                    );
                }
                if let Some(t) = table.as_mut() {
                    let mut row = vec![csv_text(&file.display().to_string()), String::new()];
                    row.extend(classifier.labels().iter().map(|_| String::new()));
                    row.extend(classifier.labels().iter().map(|_| String::new()));
                    row.extend([String::new(), String::new(), String::new(), String::new()]);
                    row.push(csv_text(&e));
                    t.write_record(&row).map_err(|e| e.to_string())?;
                }
                continue;
            }
        };
        let (label, probabilities) = match &a.overall {
            Some(p) => (Some(&p.label), Some(&p.probabilities)),
            None => (None, None),
        };
        if let Some(t) = table.as_mut() {
            let mut row = vec![
                csv_text(&file.display().to_string()),
                label.map_or(String::new(), |l| csv_text(l)),
            ];
            match probabilities {
                Some(p) => row.extend(p.iter().map(|v| format!("{v:.4}"))),
                None => row.extend(classifier.labels().iter().map(|_| String::new())),
            }
            row.extend(a.shares.iter().map(|v| format!("{v:.4}")));
            row.extend([
                a.basis.as_str().to_string(),
                a.speech.to_string(),
                format!("{:.1}", a.level_dbfs),
                format!("{:.2}", a.duration),
                String::new(),
            ]);
            t.write_record(&row).map_err(|e| e.to_string())?;
            continue;
        }
        if json {
            let mut out = json!({"file": file, "label": label, "probabilities": probabilities,
                "labels": classifier.labels(), "basis": a.basis, "speech": a.speech,
                "level_dbfs": a.level_dbfs, "duration": a.duration,
                "segments": a.segments, "shares": a.shares, "adaptation": a.adaptation});
            if windows {
                out["windows"] = json!(a.windows);
            }
            println!("{out}");
            continue;
        }
        let basis = match a.basis {
            Basis::Clip => "the clip".to_string(),
            Basis::Windows => format!(
                "mean of {} speech windows",
                a.windows.iter().filter(|w| w.label.is_some()).count()
            ),
            Basis::None => "no window passed the speech gate".to_string(),
        };
        let adapted = match &a.adaptation {
            Some(x) if x.applied => format!(
                ", adapted to the voice's {:.0} s, weight {:.0} %",
                x.seconds,
                100.0 * x.share
            ),
            _ => String::new(),
        };
        println!(
            "{}: {} ({:.1} s, {basis}{}{adapted})",
            file.display(),
            label.map_or("no speech", |l| l.as_str()),
            a.duration,
            if a.speech { "" } else { ", very quiet" }
        );
        for (l, p) in classifier
            .labels()
            .iter()
            .zip(probabilities.into_iter().flatten())
        {
            println!("  {l:<10} {p:.4}");
        }
        if a.basis == Basis::Windows {
            let shares: Vec<String> = classifier
                .labels()
                .iter()
                .zip(&a.shares)
                .filter(|(_, v)| **v > 0.0)
                .map(|(l, v)| format!("{l} {:.0} %", v * 100.0))
                .collect();
            println!("  speech time: {}", shares.join(", "));
            for seg in &a.segments {
                println!(
                    "  {:>7.1}–{:<7.1} {} {:.0} %",
                    seg.start,
                    seg.end,
                    seg.label,
                    seg.confidence * 100.0
                );
            }
        }
        if windows {
            for w in &a.windows {
                println!(
                    "  {:>7.1}–{:<7.1} {:>6.1} dBFS  {}",
                    w.start,
                    w.end,
                    w.level_dbfs,
                    w.label.as_deref().unwrap_or("no speech")
                );
            }
        }
    }
    if let Some(mut t) = table {
        t.flush()
            .map_err(|e| format!("cannot write the table: {e}"))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Creates the folder a file is about to be written to.
fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display())),
        None => Ok(()),
    }
}

fn run_robustness(
    corpus: &CorpusArgs,
    models: &Path,
    (folds, only_folds): (usize, &[usize]),
    (seed, only_conditions): (u64, &[String]),
    report: &Path,
) -> Result<ExitCode, String> {
    if let Some(bad) = only_folds.iter().find(|f| !(1..=folds).contains(*f)) {
        return Err(format!(
            "--only-folds {bad}: folds are numbered 1 to {folds}"
        ));
    }
    let (clips, labels) = match (&corpus.data, &corpus.manifest) {
        (_, Some(m)) => {
            let m = data::read_manifest(m)?;
            (m.clips, m.label_names)
        }
        (dirs, None) if !dirs.is_empty() => (
            data::scan_ravdess(dirs, false)?.clips,
            speech_emotion::labels::default_labels(),
        ),
        _ => return Err("--data or --manifest is needed".into()),
    };
    let conditions: Vec<_> = robustness::Condition::all()
        .into_iter()
        .filter(|c| {
            *c == robustness::Condition::Clean
                || only_conditions.is_empty()
                || only_conditions
                    .iter()
                    .any(|w| c.name().contains(w.as_str()))
        })
        .collect();
    if conditions.len() == 1 && !only_conditions.is_empty() {
        return Err(format!(
            "--conditions {}: no condition's name contains these words (names: {})",
            only_conditions.join(","),
            robustness::Condition::all()
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let results = robustness::evaluate(
        &clips,
        &labels,
        (folds, only_folds),
        models,
        &conditions,
        seed,
    )?;
    write_json(
        report,
        &json!({
            "protocol": format!(
                "the actor {folds}-fold test clips, each scored by the model of the fold that held its speaker out, under each condition; the page's path for a short recording (speech gate, then the clip rule); a clip the gate refuses counts as a miss"
            ),
            "models": models.display().to_string(),
            "folds": if only_folds.is_empty() { (1..=folds).collect() } else { only_folds.to_vec() },
            "seed": seed,
            "conditions": results,
        }),
    )?;
    eprintln!("wrote {}", report.display());
    Ok(ExitCode::SUCCESS)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    create_parent(path)?;
    std::fs::write(
        path,
        serde_json::to_string_pretty(value).expect("serialisable") + "\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run_train(
    args: &TrainArgs,
    (out, report): (&Path, &Path),
    split_kind: SplitKind,
    (test_actors, val_actors): (&[String], &[String]),
    (cnn_model, resume): (Option<&Path>, bool),
) -> Result<ExitCode, String> {
    let config = args.config()?;
    if config.speaker_adapted {
        return Err("--speaker-adapted is for `evaluate`: a weights file does not carry a speaker's profile, so the page could not use such a model".into());
    }
    let speech = args.speech()?;
    let data = args.dataset()?;
    let split = match split_kind {
        SplitKind::Actors => split::by_speakers(&data.clips, test_actors, val_actors)?,
        SplitKind::Random => split::random(&data.clips, 0.2, 0.1, config.seed),
        SplitKind::All => split::all(&data.clips),
    };
    if split.validation.is_empty() && !matches!(split_kind, SplitKind::All) {
        return Err("the validation set is empty: choose --val-actors present in the data".into());
    }
    eprintln!(
        "{} protocol: {} train, {} validation, {} test clips",
        split.protocol,
        split.train.len(),
        split.validation.len(),
        split.test.len()
    );
    let model_config = args.model_config(data.label_names.len())?;
    let cnn = cnn_model
        .map(|path| evaluate::load_cnn(path, &data))
        .transpose()?;
    let checkpoint = checkpoint::Checkpointing {
        path: checkpoint::beside(out),
        resume,
    };
    if !resume && checkpoint.path.exists() {
        eprintln!(
            "note: {} is left from a run that stopped; this run starts over and replaces it (--resume goes on from it)",
            checkpoint.path.display()
        );
    }
    let (trained, test) = evaluate::run(
        &data,
        &split,
        &model_config,
        &config,
        speech.as_ref(),
        cnn,
        Some(&checkpoint),
    )?;
    let model_config = ModelConfig {
        adapted_states: trained.model.adapts_states(),
        ..model_config.with_speech_branch(trained.model.speech().is_some())
    };

    let mut header = Header::new(
        model_config.clone(),
        data.label_names.clone(),
        trained.normalization,
    );
    header.training = json!({
        "data": args.source(),
        "corpus": "RAVDESS (Livingstone & Russo 2018), CC BY-NC-SA 4.0",
        "protocol": split.protocol,
        "test_actors": split.test_speakers,
        "train_clips": split.train.len(),
        "best_epoch": trained.best_epoch,
        "test_ua": test.as_ref().map(|t| t.ua),
    });
    let seconds = trained.seconds;
    let (best_epoch, history) = (trained.best_epoch, trained.history.clone());
    let weights_bytes = write_weights(out, &header, trained.model)?;
    checkpoint.remove();
    let metrics = json!({
        "protocol": split.protocol,
        "test_actors": split.test_speakers,
        "validation_actors": split.validation_speakers,
        "clips": {"train": split.train.len(), "validation": split.validation.len(), "test": split.test.len()},
        "skipped_files": data.skipped,
        "unreadable_files": data.unreadable.iter().map(|(p, e)| json!({"path": p, "error": e})).collect::<Vec<_>>(),
        "accuracy": test.as_ref().map(|t| t.accuracy),
        "ua": test.as_ref().map(|t| t.ua),
        "macro_f1": test.as_ref().map(|t| t.macro_f1),
        "weighted_f1": test.as_ref().map(|t| t.weighted_f1),
        "per_class": test.as_ref().map(|t| &t.per_class),
        "confusion_matrix": test.as_ref().map(|t| &t.confusion),
        "labels": data.label_names,
        "training_seconds": seconds,
        "best_epoch": best_epoch,
        "epochs_run": history.len(),
        "history": history,
        "train_config": config,
        "model_config": model_config,
        "weights_bytes": weights_bytes,
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    write_json(report, &metrics)?;
    write_charts(
        report,
        &match &test {
            Some(t) => format!(
                "{}, test actors {:?}: UA {:.3}, accuracy {:.3}",
                split.protocol, split.test_speakers, t.ua, t.accuracy
            ),
            None => split.protocol.clone(),
        },
        &data.label_names,
        test.as_ref().map(|t| &t.confusion),
        &[("training".into(), history)],
    );
    eprintln!(
        "wrote {} ({} bytes) and {} in {seconds:.0} s",
        out.display(),
        weights_bytes,
        report.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// `<report stem>-confusion.png` and `<report stem>-curves.png` beside the report. A chart that
/// cannot be drawn (no font, say) is reported and skipped: the JSON is already written.
fn write_charts(
    report: &Path,
    title: &str,
    labels: &[String],
    confusion: Option<&Vec<Vec<usize>>>,
    runs: &[(String, Vec<train::EpochStats>)],
) {
    let stem = report
        .file_name()
        .and_then(|n| n.to_str())
        .map_or("report", |n| n.trim_end_matches(".json"));
    let beside = |suffix: &str| report.with_file_name(format!("{stem}-{suffix}.png"));
    let mut drawn = Vec::new();
    if let Some(cm) = confusion {
        let path = beside("confusion");
        drawn.push(charts::confusion_png(&path, title, labels, cm).map(|_| path));
    }
    // CNNs taken from earlier runs (--cnn-models) bring no training history to draw.
    if runs.iter().any(|(_, history)| !history.is_empty()) {
        let path = beside("curves");
        drawn.push(charts::learning_curves_png(&path, title, runs).map(|_| path));
    }
    for result in drawn {
        match result {
            Ok(path) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}

fn run_evaluate(
    args: &TrainArgs,
    report: &Path,
    split_kind: SplitKind,
    (folds, only_folds): (usize, &[usize]),
    seeds: &[u64],
    (save_models, cnn_models): (Option<&Path>, Option<&Path>),
) -> Result<ExitCode, String> {
    let config = args.config()?;
    // Check the arguments before spending minutes on features.
    match split_kind {
        SplitKind::Actors if args.corpus.manifest.is_none() => {
            evaluate::actor_folds(folds)?;
        }
        SplitKind::Actors => {}
        SplitKind::All => {
            return Err("evaluate needs held-out data: --split actors or random".into());
        }
        SplitKind::Random if cnn_models.is_some() => {
            return Err("--cnn-models takes the fold models of --split actors".into());
        }
        SplitKind::Random => {}
    }
    let speech = args.speech()?;
    let mut data = args.dataset()?;
    if let Some(e) = config.adapt_emotion.as_ref()
        && !data.label_names.contains(e)
    {
        return Err(format!(
            "--adapt-emotion {e}: not one of the corpus' labels {:?}",
            data.label_names
        ));
    }
    if config.speaker_adapted && config.adapt_log_mels {
        data.adapt_to_speakers();
    }
    let model_config = args.model_config(data.label_names.len())?;
    let mut progress = |partial: &evaluate::Report| write_json(report, partial);
    let mut save = |fold: usize, trained: train::Trained| match save_models {
        None => Ok(()),
        Some(dir) => {
            let path = dir.join(format!("fold-{fold}.sew"));
            let mut header = Header::new(
                ModelConfig {
                    adapted_states: trained.model.adapts_states(),
                    ..model_config
                        .clone()
                        .with_speech_branch(trained.model.speech().is_some())
                },
                data.label_names.clone(),
                trained.normalization,
            );
            header.training = json!({"protocol": format!("actor {folds}-fold, fold {fold}"),
                "speaker_adapted": config.speaker_adapted});
            if let Some(last) = trained.last_epoch {
                // The CNN of the last epoch alone, beside the average kept, to compare them.
                let dir = dir.join("last-epoch");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let header = Header {
                    model: header.model.clone().with_speech_branch(false),
                    ..header.clone()
                };
                write_weights(&dir.join(format!("fold-{fold}.sew")), &header, last)?;
            }
            write_weights(&path, &header, trained.model).map(|_| ())
        }
    };
    let value = match split_kind {
        SplitKind::Actors => evaluate::kfold(
            &data,
            folds,
            &model_config,
            &config,
            only_folds,
            speech.as_ref(),
            cnn_models,
            &mut progress,
            &mut save,
        )?,
        _ => evaluate::random_splits(
            &data,
            seeds,
            &model_config,
            &config,
            speech.as_ref(),
            &mut progress,
        )?,
    };
    let mut value = value;
    value.speech_embedding = speech.as_ref().and_then(|_| {
        args.speech_embedding
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
    });
    value.speech_noise = speech.is_some().then_some(!args.no_speech_noise);
    value.speech_babble = (speech.is_some() && !args.no_speech_babble).then_some(true);
    value.speech_babble_copies = speech.as_ref().map(|s| s.noisy.babble).filter(|&n| n > 1);
    value.speech_tuning = speech.as_ref().and_then(|s| s.tuning);
    value.cnn_models = cnn_models.map(Path::to_path_buf);
    finish_report(report, &value)
}

fn run_merge(report: &Path, parts: &[PathBuf]) -> Result<ExitCode, String> {
    let values = parts
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{}: not an evaluation report: {e}", p.display()))
        })
        .collect::<Result<Vec<evaluate::Report>, String>>()?;
    let value = evaluate::merge(&values)?;
    finish_report(report, &value)
}

/// Writes a k-fold or random-split report with its charts and prints its summary.
fn finish_report(path: &Path, report: &evaluate::Report) -> Result<ExitCode, String> {
    let runs: Vec<(String, Vec<train::EpochStats>)> = report
        .runs
        .results()
        .iter()
        .map(|r| {
            let name = if r.test_actors.is_empty() {
                format!("seed {}", r.seed)
            } else {
                format!("fold {} (actors {})", r.fold, r.test_actors.join(","))
            };
            (name, r.history.clone())
        })
        .collect();
    let summary = format!(
        "{}: UA {:.3} ± {:.3}",
        report.protocol, report.ua_mean, report.ua_sd
    );
    eprintln!(
        "{summary}, accuracy {:.3} ± {:.3}, macro-F1 {:.3} ± {:.3}",
        report.accuracy_mean, report.accuracy_sd, report.macro_f1_mean, report.macro_f1_sd,
    );
    write_json(path, report)?;
    eprintln!("wrote {}", path.display());
    write_charts(
        path,
        &summary,
        &report.labels,
        Some(&report.confusion_matrix),
        &runs,
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a weights file, creating its folder; returns its size.
fn write_weights(
    path: &Path,
    header: &Header,
    model: speech_emotion::model::EmotionNet,
) -> Result<usize, String> {
    let bytes = WeightsFile::to_bytes(header, model)
        .map_err(|e| format!("cannot serialise the model: {e}"))?;
    create_parent(path)?;
    std::fs::write(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(bytes.len())
}
