//! Reading a corpus: RAVDESS file names, or a manifest CSV of `path,label,speaker` for any other
//! corpus → labelled clips → trimmed speech and log-mel features.

use crate::augment::add_noise;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, rngs::StdRng};
use speech_emotion::adapt::SpeakerProfile;
use speech_emotion::audio::{clip_span, context_window, prepare_mono};
use speech_emotion::classifier::speech_features;
use speech_emotion::decode::{decode_file, isolate};
use speech_emotion::features::{FeatureConfig, LogMel};
use speech_emotion::speech_embedding::{self, SpeechFrontEnd};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Extensions read as audio; anything else in the tree is ignored silently.
pub const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "flac", "mp3", "ogg"];

/// What a RAVDESS file name says: `Modality-Channel-Emotion-Intensity-Statement-Repetition-Actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RavdessName {
    pub song: bool,
    /// 0-based index into the label list (RAVDESS code − 1).
    pub emotion: usize,
    pub strong: bool,
    pub statement: u8,
    pub repetition: u8,
    pub actor: u8,
}

/// Parses a RAVDESS file stem such as `03-01-05-02-01-01-12`. Only audio-only files (modality
/// 03) are accepted.
pub fn parse_ravdess_name(stem: &str) -> Result<RavdessName, String> {
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 7 || parts.iter().any(|p| p.len() != 2) {
        return Err("not of the form MM-CC-EE-II-SS-RR-AA".into());
    }
    let n: Vec<u8> = parts
        .iter()
        .map(|p| {
            p.parse::<u8>()
                .map_err(|_| format!("'{p}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let in_range = |v: u8, lo: u8, hi: u8, what: &str| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{what} {v:02} is outside {lo:02}..{hi:02}"))
        }
    };
    if n[0] != 3 {
        return Err(format!("modality {:02} is not audio-only (03)", n[0]));
    }
    Ok(RavdessName {
        song: in_range(n[1], 1, 2, "vocal channel")? == 2,
        emotion: in_range(n[2], 1, 8, "emotion")? as usize - 1,
        strong: in_range(n[3], 1, 2, "intensity")? == 2,
        statement: in_range(n[4], 1, 2, "statement")?,
        repetition: in_range(n[5], 1, 2, "repetition")?,
        actor: in_range(n[6], 1, 24, "actor")?,
    })
}

/// A labelled recording.
#[derive(Debug, Clone)]
pub struct Clip {
    pub path: PathBuf,
    pub label: usize,
    /// Speaker identity (the RAVDESS actor number, or the manifest's speaker column).
    pub speaker: String,
    /// Only ever trained on, never validated or tested on (RAVDESS song clips): figures stay
    /// those of speech, comparable with runs without them.
    pub train_only: bool,
}

/// The result of scanning a directory: usable clips and what was left out, with reasons.
#[derive(Debug, Default)]
pub struct Scan {
    pub clips: Vec<Clip>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Collects audio files under `dir`, following symbolic links but entering each real folder once
/// (a link back to a parent would otherwise walk forever).
fn walk(
    dir: &Path,
    extensions: &[&str],
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> std::io::Result<()> {
    if !seen.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            walk(&path, extensions, out, seen)?;
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| extensions.contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Extensions `predict DIR` analyses: what the decoder reads.
pub const PREDICT_EXTENSIONS: [&str; 10] = [
    "wav", "flac", "mp3", "ogg", "oga", "opus", "webm", "mka", "m4a", "aac",
];

/// Every file with one of [`PREDICT_EXTENSIONS`] under `dir`, sorted, each folder once.
pub fn audio_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    walk(dir, &PREDICT_EXTENSIONS, &mut files, &mut HashSet::new())
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if files.is_empty() {
        return Err(format!(
            "{}: no audio files in this folder (looked for {})",
            dir.display(),
            PREDICT_EXTENSIONS.join(", ")
        ));
    }
    Ok(files)
}

/// Finds RAVDESS clips anywhere under the `dirs` (the speech and song downloads may sit apart).
/// Song clips are kept only with `with_song`. The same recording found twice (a FLAC copy beside
/// the original WAV) is read once.
pub fn scan_ravdess(dirs: &[PathBuf], with_song: bool) -> Result<Scan, String> {
    let (mut files, mut folders) = (Vec::new(), HashSet::new());
    for dir in dirs {
        walk(dir, &AUDIO_EXTENSIONS, &mut files, &mut folders)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    }
    let mut scan = Scan::default();
    let mut seen = HashSet::new();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        match parse_ravdess_name(stem) {
            Err(why) => scan
                .skipped
                .push((path, format!("name not RAVDESS: {why}"))),
            Ok(name) if name.song && !with_song => {}
            Ok(_) if !seen.insert(stem.to_string()) => scan
                .skipped
                .push((path, "another copy of a recording already read".into())),
            Ok(name) => scan.clips.push(Clip {
                path,
                label: name.emotion,
                speaker: name.actor.to_string(),
                train_only: name.song,
            }),
        }
    }
    Ok(scan)
}

/// Clips with their trimmed speech and log-mel features; unreadable files are reported in
/// `failed`.
pub struct FeatureSet {
    pub clips: Vec<Clip>,
    /// Mono audio at the model's rate, silence trimmed (augmentation redraws windows from it).
    pub speech: Vec<Vec<f32>>,
    /// Features of the centred window, as the page computes them.
    pub features: Vec<Vec<f32>>,
    /// The speech-embedding branch's input for the same window, as the page computes it
    /// (empty with [`SpeechInputs::None`]).
    pub speech_mels: Vec<Vec<f32>>,
    /// The same with white noise added ([`NOISY_SNR_DB`]), for the head's noisy copies
    /// (empty unless [`NoisyCopies::white`]; `--no-speech-noise` leaves them out).
    pub noisy_speech_mels: Vec<Vec<f32>>,
    /// The branch's window as audio, for babble copies made per training split (empty unless
    /// [`NoisyCopies::babble`]).
    pub contexts: Vec<Vec<f32>>,
    pub failed: Vec<(PathBuf, String)>,
}

/// Which inputs of the speech-embedding branch to compute while reading the clips: none when
/// the branch is off, noisy copies unless turned off.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum SpeechInputs {
    None,
    /// `prosody`: with the prosody row (for a head that reads it).
    Branch {
        prosody: bool,
        noisy: NoisyCopies,
    },
}

/// The noisy copies of each training clip the branch's head is fitted on besides the clean
/// clip: white noise (made once per clip; off with `--no-speech-noise`) and babble of other
/// training speakers (made per training split so that no held-out voice is heard; how many
/// with `--speech-babble-copies`, none with `--no-speech-babble`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NoisyCopies {
    pub white: bool,
    /// Babble copies of each clip, each with its own talkers and SNR.
    pub babble: usize,
}

impl SpeechInputs {
    /// Whether the branch's inputs carry the prosody row.
    pub fn prosody(self) -> bool {
        matches!(self, SpeechInputs::Branch { prosody: true, .. })
    }

    fn noisy(self) -> NoisyCopies {
        match self {
            SpeechInputs::None => NoisyCopies::default(),
            SpeechInputs::Branch { noisy, .. } => noisy,
        }
    }
}

/// The SNR range of the speech branch's noisy copies: the CNN's default `--snr`.
pub const NOISY_SNR_DB: (f64, f64) = (10.0, 30.0);

/// The SNR range of its babble copies: the CNN's `--babble` of recipe R.
pub const BABBLE_SNR_DB: (f64, f64) = (5.0, 25.0);

/// A random stream that depends only on the file's name: the same noisy copy on every run, on
/// any number of threads.
pub fn clip_rng(path: &Path) -> StdRng {
    let name = path
        .file_name()
        .map_or(Vec::new(), |n| n.as_encoded_bytes().to_vec());
    let hash = name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    StdRng::seed_from_u64(hash)
}

/// Decodes every clip and computes its features on all cores, with a progress bar.
pub fn extract_features(
    clips: Vec<Clip>,
    config: &FeatureConfig,
    speech_inputs: SpeechInputs,
) -> FeatureSet {
    let logmel = LogMel::new(config);
    let front = SpeechFrontEnd::new(
        config.sample_rate,
        config.window_samples,
        Some(speech_embedding::LEVEL_DBFS),
        speech_inputs.prosody(),
    );
    let bar = ProgressBar::new(clips.len() as u64).with_style(
        ProgressStyle::with_template("features {bar:40} {pos}/{len} {elapsed}").expect("template"),
    );
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = clips.len().div_ceil(workers).max(1);
    let noisy = speech_inputs.noisy();
    struct Extracted {
        speech: Vec<f32>,
        features: Vec<f32>,
        mel: Option<Vec<f32>>,
        white: Option<Vec<f32>>,
        context: Option<Vec<f32>>,
    }
    let results: Vec<Result<Extracted, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = clips
            .chunks(chunk)
            .map(|part| {
                let (logmel, front, bar) = (&logmel, &front, &bar);
                s.spawn(move || {
                    part.iter()
                        .map(|clip| {
                            let r = isolate(|| {
                                let d = decode_file(&clip.path)?;
                                let mono = prepare_mono(
                                    &d.channel_slices(),
                                    d.sample_rate,
                                    config.sample_rate,
                                )
                                .map_err(|e| e.to_string())?;
                                let span = clip_span(&mono, config.sample_rate);
                                let speech = mono[span.0..span.1].to_vec();
                                let features = speech_features(logmel, &speech);
                                let mut out = Extracted {
                                    speech,
                                    features,
                                    mel: None,
                                    white: None,
                                    context: None,
                                };
                                if speech_inputs == SpeechInputs::None {
                                    return Ok(out);
                                }
                                let context = context_window(&mono, span, config.window_samples);
                                out.mel = Some(front.mel(&context).map_err(|e| e.to_string())?);
                                if noisy.white {
                                    let mut white = context.clone();
                                    let mut rng = clip_rng(&clip.path);
                                    let snr = rng.random_range(NOISY_SNR_DB.0..=NOISY_SNR_DB.1);
                                    add_noise(&mut white, snr, &mut rng);
                                    out.white = Some(front.mel(&white).map_err(|e| e.to_string())?);
                                }
                                out.context = (noisy.babble > 0).then_some(context);
                                Ok(out)
                            });
                            bar.inc(1);
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("feature worker"))
            .collect()
    });
    bar.finish_and_clear();
    let mut set = FeatureSet {
        clips: Vec::new(),
        speech: Vec::new(),
        features: Vec::new(),
        speech_mels: Vec::new(),
        noisy_speech_mels: Vec::new(),
        contexts: Vec::new(),
        failed: Vec::new(),
    };
    for (clip, r) in clips.into_iter().zip(results) {
        match r {
            Ok(x) => {
                set.clips.push(clip);
                set.speech.push(x.speech);
                set.features.push(x.features);
                set.speech_mels.extend(x.mel);
                set.noisy_speech_mels.extend(x.white);
                set.contexts.extend(x.context);
            }
            Err(e) => set.failed.push((clip.path, e)),
        }
    }
    set
}

/// A labelled corpus with its features, ready to split and train on.
pub struct Dataset {
    pub clips: Vec<Clip>,
    pub feature_config: FeatureConfig,
    pub speech: Vec<Vec<f32>>,
    pub features: Vec<Vec<f32>>,
    /// Each clip's input to the speech-embedding branch (its window with the recording's own
    /// sound around the speech).
    pub speech_mels: Vec<Vec<f32>>,
    /// The same windows with white noise added, one copy each (see [`NOISY_SNR_DB`]).
    pub noisy_speech_mels: Vec<Vec<f32>>,
    /// The same windows as audio, for babble copies (see [`NoisyCopies::babble`]).
    pub contexts: Vec<Vec<f32>>,
    /// Whether those inputs end in the prosody row ([`SpeechInputs::prosody`]).
    pub prosody: bool,
    pub labels: Vec<usize>,
    pub label_names: Vec<String>,
    pub skipped: usize,
    pub unreadable: Vec<(PathBuf, String)>,
    /// With speaker adaptation: each clip's speaker profile, already applied to `features` and
    /// applied again to features computed during augmentation.
    pub profiles: Option<Vec<Arc<SpeakerProfile>>>,
}

impl Dataset {
    /// The speaker-adapted protocol: each speaker's profile from the clean features of all
    /// their clips (no labels used), applied to those features.
    pub fn adapt_to_speakers(&mut self) {
        let (n_mels, n_frames) = (self.feature_config.n_mels, self.feature_config.n_frames);
        let mut by_speaker: HashMap<&str, Arc<SpeakerProfile>> = HashMap::new();
        for c in &self.clips {
            by_speaker.entry(&c.speaker).or_insert_with(|| {
                let maps: Vec<&[f32]> = self
                    .clips
                    .iter()
                    .zip(&self.features)
                    .filter(|(o, _)| o.speaker == c.speaker)
                    .map(|(_, f)| f.as_slice())
                    .collect();
                Arc::new(SpeakerProfile::from_maps(&maps, n_mels))
            });
        }
        let profiles: Vec<Arc<SpeakerProfile>> = self
            .clips
            .iter()
            .map(|c| by_speaker[c.speaker.as_str()].clone())
            .collect();
        for (f, p) in self.features.iter_mut().zip(&profiles) {
            p.apply(f, n_frames);
        }
        self.profiles = Some(profiles);
    }

    /// Scans `dir` for RAVDESS clips and computes their features, reporting on stderr what was
    /// skipped and what could not be read.
    pub fn load_ravdess(
        dirs: &[PathBuf],
        with_song: bool,
        config: &FeatureConfig,
        speech_inputs: SpeechInputs,
    ) -> Result<Self, String> {
        let scan = scan_ravdess(dirs, with_song)?;
        for (path, why) in &scan.skipped {
            eprintln!("skipped {}: {why}", path.display());
        }
        if scan.clips.is_empty() {
            return Err(format!(
                "no RAVDESS clips found under {} (expected names like 03-01-05-02-01-01-12.wav)",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Self::from_clips(
            scan.clips,
            speech_emotion::labels::default_labels(),
            scan.skipped.len(),
            config,
            speech_inputs,
        )
    }

    /// Reads a manifest (see [`read_manifest`]) and computes the features of its clips.
    pub fn load_manifest(
        path: &Path,
        config: &FeatureConfig,
        speech_inputs: SpeechInputs,
    ) -> Result<Self, String> {
        let manifest = read_manifest(path)?;
        eprintln!(
            "manifest {}: labels {:?}",
            path.display(),
            manifest.label_names
        );
        Self::from_clips(
            manifest.clips,
            manifest.label_names,
            0,
            config,
            speech_inputs,
        )
    }

    fn from_clips(
        clips: Vec<Clip>,
        label_names: Vec<String>,
        skipped: usize,
        config: &FeatureConfig,
        speech_inputs: SpeechInputs,
    ) -> Result<Self, String> {
        eprintln!("{} clips found; computing log-mel features", clips.len());
        let named: HashSet<usize> = clips.iter().map(|c| c.label).collect();
        let set = extract_features(clips, config, speech_inputs);
        for (path, why) in &set.failed {
            eprintln!("unreadable {}: {why}", path.display());
        }
        if set.clips.is_empty() {
            return Err("none of the clips could be read".into());
        }
        // A class the data names but cannot show would be an output the model never learns.
        let mut empty: Vec<&str> = named
            .iter()
            .filter(|&&l| !set.clips.iter().any(|c| c.label == l))
            .map(|&l| label_names[l].as_str())
            .collect();
        empty.sort();
        if !empty.is_empty() {
            return Err(format!(
                "no readable clip is left for {}: fix or remove those files",
                empty.join(", ")
            ));
        }
        Ok(Self {
            labels: set.clips.iter().map(|c| c.label).collect(),
            clips: set.clips,
            feature_config: config.clone(),
            speech: set.speech,
            features: set.features,
            speech_mels: set.speech_mels,
            noisy_speech_mels: set.noisy_speech_mels,
            contexts: set.contexts,
            prosody: speech_inputs.prosody(),
            label_names,
            skipped,
            unreadable: set.failed,
            profiles: None,
        })
    }
}

/// Clips listed in a manifest and the label list they use.
#[derive(Debug)]
pub struct Manifest {
    pub clips: Vec<Clip>,
    pub label_names: Vec<String>,
}

/// Reads a CSV manifest with a header naming the columns `path`, `label` and `speaker` (any
/// order, other columns ignored). Relative paths are taken from the manifest's folder. When
/// every label is one of the eight emotions (any case, or forms such as `fear`, `surprise`),
/// the model's label list is used; otherwise the labels found, sorted, become a custom list
/// that the weights file stores.
pub fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("cannot read manifest {}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "{}: no '{name}' column (the header must name path, label and speaker; found {:?})",
                    path.display(),
                    headers.iter().collect::<Vec<_>>()
                )
            })
    };
    let (c_path, c_label, c_speaker) = (column("path")?, column("label")?, column("speaker")?);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("{} line {line}: {e}", path.display()))?;
        let get = |c: usize, what: &str| match record.get(c) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(format!("{} line {line}: empty {what}", path.display())),
        };
        let file = PathBuf::from(get(c_path, "path")?);
        rows.push((
            if file.is_absolute() {
                file
            } else {
                base.join(file)
            },
            get(c_label, "label")?,
            get(c_speaker, "speaker")?,
        ));
    }
    if rows.is_empty() {
        return Err(format!("{}: no clips listed", path.display()));
    }
    let standard = rows
        .iter()
        .all(|(_, l, _)| speech_emotion::labels::emotion_index(l).is_some());
    let label_names: Vec<String> = if standard {
        speech_emotion::labels::default_labels()
    } else {
        let mut names: Vec<String> = rows.iter().map(|(_, l, _)| l.clone()).collect();
        names.sort();
        names.dedup();
        names
    };
    let clips = rows
        .into_iter()
        .map(|(path, label, speaker)| Clip {
            path,
            label: if standard {
                speech_emotion::labels::emotion_index(&label).expect("checked above")
            } else {
                label_names.binary_search(&label).expect("listed above")
            },
            speaker,
            train_only: false,
        })
        .collect();
    Ok(Manifest { clips, label_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clips_noise_stream_depends_only_on_its_name() {
        let draw = |p: &str| clip_rng(Path::new(p)).random::<u64>();
        assert_eq!(
            draw("/a/03-01-05-01-01-01-01.flac"),
            draw("/b/03-01-05-01-01-01-01.flac")
        );
        assert_ne!(
            draw("/a/03-01-05-01-01-01-01.flac"),
            draw("/a/03-01-05-01-01-01-02.flac")
        );
    }

    #[test]
    fn parses_ravdess_names() {
        let n = parse_ravdess_name("03-01-05-02-01-01-12").unwrap();
        assert_eq!(
            n,
            RavdessName {
                song: false,
                emotion: 4,
                strong: true,
                statement: 1,
                repetition: 1,
                actor: 12
            }
        );
        assert!(parse_ravdess_name("03-02-08-01-02-02-24").unwrap().song);
    }

    #[test]
    fn rejects_other_names() {
        for bad in [
            "recording",
            "03-01-05-02-01-01",
            "03-01-09-02-01-01-12",
            "03-01-05-02-01-01-25",
            "01-01-05-02-01-01-12",
            "03-01-0x-02-01-01-12",
            "03-01-05-02-01-01-12-01",
        ] {
            assert!(parse_ravdess_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn odd_names_are_skipped_and_unreadable_files_reported() {
        let dir = std::env::temp_dir().join(format!("se-scan-{}", std::process::id()));
        let actor = dir.join("Actor_03");
        std::fs::create_dir_all(&actor).unwrap();
        // A broken "recording" with a valid name, a stray file with an odd name, and a copy of a
        // real clip from the corpus when it is there.
        std::fs::write(actor.join("03-01-04-01-01-01-03.wav"), b"not really audio").unwrap();
        std::fs::write(actor.join("my voice memo.wav"), b"x").unwrap();
        std::fs::write(actor.join("README.txt"), b"ignored: not audio by extension").unwrap();
        let corpus = std::env::var_os("RAVDESS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess")
            });
        let real = corpus.join("speech/Actor_03/03-01-05-01-01-01-03.flac");
        let have_real = std::fs::copy(&real, actor.join("03-01-05-01-01-01-03.flac")).is_ok();

        let scan = scan_ravdess(std::slice::from_ref(&dir), false).unwrap();
        assert_eq!(scan.skipped.len(), 1, "{:?}", scan.skipped);
        assert!(scan.skipped[0].1.contains("name not RAVDESS"));
        let set = extract_features(scan.clips, &FeatureConfig::default(), SpeechInputs::None);
        assert_eq!(set.failed.len(), 1, "the broken file is reported");
        assert!(set.failed[0].0.ends_with("03-01-04-01-01-01-03.wav"));
        assert_eq!(set.clips.len(), usize::from(have_real));
        if have_real {
            assert_eq!(set.clips[0].label, 4);
            assert_eq!(set.clips[0].speaker, "3");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn manifests_map_labels_or_keep_a_custom_list() {
        let dir = std::env::temp_dir().join(format!("se-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let standard = dir.join("standard.csv");
        std::fs::write(
            &standard,
            "speaker,path,label\nanna,a.wav,Fear\nbob,/data/b.wav,surprise\n",
        )
        .unwrap();
        let m = read_manifest(&standard).unwrap();
        assert_eq!(m.label_names.len(), 8);
        assert_eq!(m.clips[0].label, 5);
        assert_eq!(m.clips[0].path, dir.join("a.wav"));
        assert_eq!(m.clips[1].label, 7);
        assert_eq!(m.clips[1].path, PathBuf::from("/data/b.wav"));
        assert_eq!(m.clips[1].speaker, "bob");

        let custom = dir.join("custom.csv");
        std::fs::write(
            &custom,
            "path,label,speaker\nx.wav,bored,s1\ny.wav,happy,s2\n",
        )
        .unwrap();
        let m = read_manifest(&custom).unwrap();
        assert_eq!(m.label_names, vec!["bored", "happy"]);
        assert_eq!(m.clips[1].label, 1);

        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "file,label,speaker\nx.wav,happy,s1\n").unwrap();
        assert!(
            read_manifest(&bad)
                .unwrap_err()
                .contains("no 'path' column")
        );
        std::fs::write(&bad, "path,label,speaker\nx.wav,,s1\n").unwrap();
        assert!(
            read_manifest(&bad)
                .unwrap_err()
                .contains("line 2: empty label")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
