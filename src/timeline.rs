//! Recordings of any length: a window every `hop` seconds over the whole recording, each
//! passed through the speech gate and classified, holding no more than a window of audio.
//!
//! A recording whose speech fits in one window also gets the clip rule (trim the silence,
//! centre the window: what the model was trained on), and that is its overall result; a longer
//! one gets the mean probabilities of its speech windows.

use crate::adapt::VoiceProfile;
use crate::audio::{
    AudioError, Level, StreamResampler, check_length, check_rate, clip_span, finite_mono,
    prepare_mono, speech_span,
};
use crate::classifier::{Adaptable, Classifier, Features, FrontEnd, Prediction};
use crate::decode::{AudioStream, DecodeError};
use crate::segments::{self, Segment};
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Recordings up to this long are kept whole, for the clip rule.
pub const CLIP_RULE_MAX_SECONDS: f64 = 30.0;

/// One window of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct WindowResult {
    /// Start and end in seconds from the start of the recording.
    pub start: f64,
    pub end: f64,
    pub level_dbfs: f32,
    /// `None`: below the speech gate, not classified.
    pub label: Option<String>,
    pub probabilities: Option<Vec<f32>>,
    /// Kept for [`adapt`] (models with the adapted head).
    #[serde(skip)]
    pub adaptable: Option<Adaptable>,
}

/// The window shown with the spectrogram: its log-mel (dB, `n_mels` rows of `n_frames`) and
/// the model's attention over its time steps.
#[derive(Debug, Clone, Serialize)]
pub struct Focus {
    pub start: f64,
    pub end: f64,
    pub n_mels: usize,
    pub n_frames: usize,
    pub mel: Vec<f32>,
    pub attention: Vec<f32>,
}

/// What the overall result rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The speech fits one window: the clip rule.
    Clip,
    /// The mean over the windows that passed the speech gate.
    Windows,
    /// No window passed the speech gate.
    None,
}

impl Basis {
    /// The name it is serialised as.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Clip => "clip",
            Basis::Windows => "windows",
            Basis::None => "none",
        }
    }
}

/// Why a recording could not be analysed: its file, or its samples.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisError {
    Decode(DecodeError),
    Audio(AudioError),
}

impl AnalysisError {
    /// A stable name for the kind of failure (see [`DecodeError::code`], [`AudioError::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            AnalysisError::Decode(e) => e.code(),
            AnalysisError::Audio(e) => e.code(),
        }
    }
}

impl fmt::Display for AnalysisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnalysisError::Decode(e) => e.fmt(f),
            AnalysisError::Audio(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AnalysisError {}

impl From<DecodeError> for AnalysisError {
    fn from(e: DecodeError) -> Self {
        AnalysisError::Decode(e)
    }
}

impl From<AudioError> for AnalysisError {
    fn from(e: AudioError) -> Self {
        AnalysisError::Audio(e)
    }
}

impl From<AnalysisError> for String {
    fn from(e: AnalysisError) -> String {
        e.to_string()
    }
}

/// What a recording holds.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub duration: f64,
    pub basis: Basis,
    /// Whether the audio passed the speech gate ([`Level::is_speech`]).
    pub speech: bool,
    pub level_dbfs: f32,
    /// The overall result (also given for a quiet clip, with `speech` false).
    pub overall: Option<Prediction>,
    pub windows: Vec<WindowResult>,
    pub focus: Option<Focus>,
    /// Where one emotion holds, on the windows smoothed over a few seconds ([`segments`]); a
    /// clip is one segment, its speech.
    pub segments: Vec<Segment>,
    /// The share of speech time of each label, in the label order ([`segments::shares`]).
    pub shares: Vec<f32>,
    /// Set by [`adapt`]: how the voice's adaptation went.
    pub adaptation: Option<Adaptation>,
}

/// What [`adapt`] did to an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Adaptation {
    /// Seconds of speech the voice's profile holds, this recording's included.
    pub seconds: f64,
    /// Whether the results are adapted (the profile had heard enough,
    /// [`VoiceProfile::is_ready`]); false: they are the strict ones.
    pub applied: bool,
    /// How much the adapted view weighs against the strict one in adapted results
    /// ([`VoiceProfile::adapted_share`]); 0 where they are not adapted.
    pub share: f32,
    /// The overall probabilities before adaptation.
    pub strict: Option<Vec<f32>>,
}

/// How far an analysis has got, with the windows finished since the last report.
pub struct Progress<'a> {
    pub seconds: f64,
    pub windows: &'a [WindowResult],
}

/// A window cut from the stream: its samples while it waits to be classified (speech only),
/// its features once they are computed.
struct Window {
    start: f64,
    end: f64,
    level: Level,
    samples: Option<Vec<f32>>,
    features: Option<Features>,
}

impl Window {
    /// Whether it passed the speech gate (so it is classified).
    fn is_speech(&self) -> bool {
        self.samples.is_some() || self.features.is_some()
    }

    /// Computes the features from the samples, if not done yet (and lets the samples go).
    fn featurise(&mut self, front: &FrontEnd) {
        if let Some(samples) = self.samples.take()
            && self.features.is_none()
        {
            self.features = Some(front.window(&samples));
        }
    }
}

/// A second classifier working beside this one (the page's second worker, on the other core):
/// given speech windows' samples at the model's rate, `count` windows one after another, it
/// answers their predictions. The work must start when `classify` is called, not when its
/// future is first polled, so that both run at once. `None`, or a future that answers
/// `Ok(None)`: it cannot take them now (not ready yet, or gone), and they are classified here.
pub trait Helper {
    fn classify(&self, samples: &[f32], count: usize) -> Option<HelperFuture>;
}

/// What a [`Helper`] answers: one prediction per window, `None` if it declined them, or why it
/// failed (the windows are then classified here).
pub type HelperFuture = Pin<Box<dyn Future<Output = Result<Option<Vec<Prediction>>, String>>>>;

/// The clip rule's window on mono audio at the model's rate: its speech ([`clip_span`]),
/// centred.
fn clip_window(front: &FrontEnd, mono: &[f32]) -> Window {
    let rate = front.logmel().config().sample_rate;
    let (s, e) = clip_span(mono, rate);
    Window {
        start: s as f64 / rate as f64,
        end: e as f64 / rate as f64,
        level: Level::of(mono),
        samples: None,
        features: Some(front.clip(mono, (s, e))),
    }
}

/// Cuts windows from audio pushed in pieces (any rate, any channels), with the classifier's
/// front end.
struct Windower<'a> {
    front: &'a FrontEnd,
    resampler: StreamResampler,
    rate: f64,
    window: usize,
    hop: usize,
    /// Model-rate samples from absolute index `buf_start` on.
    buf: Vec<f32>,
    buf_start: u64,
    next: u64,
    total: u64,
    /// The whole recording while it is short enough for the clip rule.
    head: Option<Vec<f32>>,
}

impl<'a> Windower<'a> {
    fn new(front: &'a FrontEnd, source_rate: u32, hop_seconds: f64) -> Result<Self, AudioError> {
        check_rate(source_rate)?;
        let config = front.logmel().config();
        let rate = config.sample_rate as f64;
        Ok(Self {
            front,
            resampler: StreamResampler::new(source_rate, config.sample_rate)?,
            rate,
            window: config.window_samples,
            hop: ((hop_seconds.clamp(0.1, 60.0) * rate).round() as usize).max(1),
            buf: Vec::new(),
            buf_start: 0,
            next: 0,
            total: 0,
            head: Some(Vec::new()),
        })
    }

    fn push(&mut self, channels: &[&[f32]]) -> Result<Vec<Window>, AudioError> {
        let samples = self.resampler.push(&finite_mono(channels)?)?;
        Ok(self.take(samples))
    }

    fn take(&mut self, samples: Vec<f32>) -> Vec<Window> {
        let limit = (CLIP_RULE_MAX_SECONDS * self.rate) as usize;
        if let Some(head) = &mut self.head {
            if head.len() + samples.len() > limit {
                self.head = None;
            } else {
                head.extend_from_slice(&samples);
            }
        }
        self.total += samples.len() as u64;
        self.buf.extend(samples);
        let mut out = Vec::new();
        while self.next + self.window as u64 <= self.total {
            let s = (self.next - self.buf_start) as usize;
            out.push(self.cut(s, self.next));
            self.next += self.hop as u64;
        }
        // Keep what the next window needs, and the last window's worth for the end.
        let keep_from = self
            .next
            .min(self.total.saturating_sub(self.window as u64))
            .max(self.buf_start);
        self.buf.drain(..(keep_from - self.buf_start) as usize);
        self.buf_start = keep_from;
        out
    }

    fn cut(&self, offset: usize, start: u64) -> Window {
        let samples = &self.buf[offset..offset + self.window];
        let level = Level::of(samples);
        Window {
            start: start as f64 / self.rate,
            end: (start + self.window as u64) as f64 / self.rate,
            level,
            samples: level.is_speech().then(|| samples.to_vec()),
            features: None,
        }
    }

    /// The last windows (one ending with the recording, if the hops stopped short of its end)
    /// and, for a short recording whose speech fits one window, the clip rule's window.
    fn finish(mut self) -> Result<(Vec<Window>, Option<Window>, f64), AudioError> {
        let rest = self.resampler.finish()?;
        let mut out = self.take(rest);
        if self.total == 0 {
            return Err(AudioError::Empty);
        }
        check_length(self.total, self.rate as u32)?;
        let window = self.window as u64;
        let last_end = (self.next > 0).then(|| self.next - self.hop as u64 + window);
        if self.total > window && last_end.is_some_and(|e| e < self.total) {
            let start = self.total - window;
            out.push(self.cut((start - self.buf_start) as usize, start));
        }
        let clip = self.head.as_ref().and_then(|head| {
            // Whether the speech fits one window is the trimmed speech's length; where in it
            // the window goes is the clip rule's.
            let span = speech_span(head);
            (span.1 - span.0 <= self.window).then(|| clip_window(self.front, head))
        });
        Ok((out, clip, self.total as f64 / self.rate))
    }
}

/// For each label, the window that gave it its highest probability (shown with the
/// spectrogram when that label wins overall).
type Strongest = Vec<Option<(f32, Window, Prediction)>>;

/// Classifies the gated windows of `pending` and appends them to `done`. With a `helper`, the
/// second half of them goes to it while this half is classified here.
async fn classify_windows(
    classifier: &Classifier,
    pending: &mut Vec<Window>,
    done: &mut Vec<WindowResult>,
    strongest: &mut Strongest,
    helper: Option<&dyn Helper>,
) {
    let front = classifier.front_end();
    let speech: Vec<usize> = (0..pending.len())
        .filter(|&i| pending[i].is_speech())
        .collect();
    let half = speech.len().div_ceil(2);
    let remote = helper.filter(|_| speech.len() >= 2).and_then(|h| {
        let samples: Vec<f32> = speech[half..]
            .iter()
            .flat_map(|&i| pending[i].samples.iter().flatten().copied())
            .collect();
        h.classify(&samples, speech.len() - half)
    });
    let here = if remote.is_some() { half } else { speech.len() };
    let away = &speech[here..];
    let mut features_of = |which: &[usize]| -> Vec<Features> {
        which
            .iter()
            .map(|&i| {
                pending[i].featurise(front);
                pending[i].features.clone().unwrap_or_default()
            })
            .collect()
    };
    let features = features_of(&speech[..here]);
    let mut predictions = if features.is_empty() {
        Vec::new()
    } else {
        classifier.classify_features_async(&features).await
    };
    if let Some(remote) = remote {
        match remote.await {
            Ok(Some(p)) if p.len() == away.len() => predictions.extend(p),
            answer => {
                // The helper declined, failed or answered nonsense: classify its windows here.
                match answer {
                    Err(e) => log_helper_failure(&e),
                    Ok(Some(p)) => log_helper_failure(&format!(
                        "{} predictions for {} windows",
                        p.len(),
                        away.len()
                    )),
                    Ok(None) => {}
                }
                let features = features_of(away);
                predictions.extend(classifier.classify_features_async(&features).await);
            }
        }
    }
    let mut predictions = predictions.into_iter();
    for mut w in pending.drain(..) {
        let p = if w.is_speech() {
            predictions.next()
        } else {
            None
        };
        done.push(WindowResult {
            start: w.start,
            end: w.end,
            level_dbfs: w.level.peak_dbfs,
            label: p.as_ref().map(|p| p.label.clone()),
            probabilities: p.as_ref().map(|p| p.probabilities.clone()),
            adaptable: p.as_ref().and_then(|p| p.adaptable.clone()),
        });
        let Some(p) = p else { continue };
        let top = argmax(&p.probabilities);
        let score = p.probabilities[top];
        if strongest[top].as_ref().is_none_or(|(s, _, _)| score > *s) {
            // Shown with the spectrogram if it stays the strongest: its log-mel is needed.
            w.featurise(front);
            strongest[top] = Some((score, w, p));
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn log_helper_failure(e: &str) {
    web_sys::console::warn_1(
        &format!("the second worker failed, its windows run here: {e}").into(),
    );
}

#[cfg(not(target_arch = "wasm32"))]
fn log_helper_failure(e: &str) {
    eprintln!("the helper failed, its windows run here: {e}");
}

/// The index of the largest probability (or score).
pub fn argmax(p: &[f32]) -> usize {
    (0..p.len())
        .max_by(|&a, &b| p[a].total_cmp(&p[b]))
        .unwrap_or(0)
}

/// The mean of some windows' probabilities (at least one).
pub(crate) fn mean_probabilities(windows: &[&Vec<f32>]) -> Vec<f32> {
    let mut mean = vec![0f32; windows[0].len()];
    for p in windows {
        for (m, v) in mean.iter_mut().zip(p.iter()) {
            *m += v / windows.len() as f32;
        }
    }
    mean
}

/// Analyses a recording given as chunks of channels at `rate` Hz (a file being decoded, or
/// audio already in memory), a window every `hop_seconds`. `progress` hears about every batch.
pub async fn analyse<I>(
    classifier: &Classifier,
    chunks: I,
    rate: u32,
    hop_seconds: f64,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Analysis, AnalysisError>
where
    I: IntoIterator<Item = Result<Vec<Vec<f32>>, DecodeError>>,
{
    analyse_with(classifier, chunks, rate, hop_seconds, progress, None).await
}

/// [`analyse`] with a [`Helper`] that classifies half of each batch of windows meanwhile (the
/// same results, in about half the time where the helper has a core of its own).
pub async fn analyse_with<I>(
    classifier: &Classifier,
    chunks: I,
    rate: u32,
    hop_seconds: f64,
    progress: &mut dyn FnMut(Progress<'_>),
    helper: Option<&dyn Helper>,
) -> Result<Analysis, AnalysisError>
where
    I: IntoIterator<Item = Result<Vec<Vec<f32>>, DecodeError>>,
{
    // With a helper each half is one model call's worth.
    let batch = classifier.batch() * if helper.is_some() { 2 } else { 1 };
    let mut windower = Windower::new(classifier.front_end(), rate, hop_seconds)?;
    let (mut pending, mut done) = (Vec::new(), Vec::new());
    let mut strongest: Strongest = (0..classifier.labels().len()).map(|_| None).collect();
    let mut reported = 0;
    for chunk in chunks {
        let chunk = chunk?;
        let slices: Vec<&[f32]> = chunk.iter().map(|c| c.as_slice()).collect();
        pending.extend(windower.push(&slices)?);
        // A batch at a time however long the chunk: a GPU cannot hold an hour's windows at once.
        while pending.len() >= batch {
            let rest = pending.split_off(batch);
            classify_windows(classifier, &mut pending, &mut done, &mut strongest, helper).await;
            pending = rest;
            progress(Progress {
                seconds: windower.total as f64 / windower.rate,
                windows: &done[reported..],
            });
            reported = done.len();
        }
    }
    let (last, clip, duration) = windower.finish()?;
    pending.extend(last);
    while !pending.is_empty() {
        let rest = pending.split_off(batch.min(pending.len()));
        classify_windows(classifier, &mut pending, &mut done, &mut strongest, helper).await;
        pending = rest;
    }
    progress(Progress {
        seconds: duration,
        windows: &done[reported..],
    });
    summarise(classifier, duration, done, clip, strongest).await
}

/// [`analyse`] on a file being decoded.
pub async fn analyse_stream(
    classifier: &Classifier,
    stream: &mut AudioStream,
    hop_seconds: f64,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Analysis, AnalysisError> {
    let rate = stream.sample_rate();
    let chunks = std::iter::from_fn(|| stream.next_chunk());
    analyse(classifier, chunks, rate, hop_seconds, progress).await
}

/// One short stretch of audio (a microphone's last seconds): if it passes the speech gate, the
/// clip rule; otherwise an analysis with basis `"none"` and nothing classified.
pub async fn analyse_clip(
    classifier: &Classifier,
    channels: &[&[f32]],
    rate: u32,
) -> Result<Analysis, AnalysisError> {
    let config = &classifier.header().features;
    let mono = prepare_mono(channels, rate, config.sample_rate)?;
    let level = Level::of(&mono);
    let level_dbfs = level.peak_dbfs;
    let duration = mono.len() as f64 / config.sample_rate as f64;
    if !level.is_speech() {
        return Ok(Analysis {
            duration,
            basis: Basis::None,
            speech: false,
            level_dbfs,
            overall: None,
            windows: Vec::new(),
            focus: None,
            segments: Vec::new(),
            shares: vec![0.0; classifier.labels().len()],
            adaptation: None,
        });
    }
    let clip = clip_window(classifier.front_end(), &mono);
    summarise(classifier, duration, Vec::new(), Some(clip), Vec::new()).await
}

async fn summarise(
    classifier: &Classifier,
    duration: f64,
    windows: Vec<WindowResult>,
    clip: Option<Window>,
    mut strongest: Strongest,
) -> Result<Analysis, AnalysisError> {
    let config = &classifier.header().features;
    let focus = |w: &Window, p: &Prediction| Focus {
        start: w.start,
        end: w.end,
        n_mels: config.n_mels,
        n_frames: config.n_frames,
        mel: w
            .features
            .as_ref()
            .map(|f| f.logmel.clone())
            .unwrap_or_default(),
        attention: p.attention.clone(),
    };
    let loudest = windows.iter().map(|w| w.level_dbfs).fold(-120.0, f32::max);
    if let Some(c) = clip {
        let p = classifier
            .classify_features_async(&[c.features.clone().unwrap_or_default()])
            .await
            .remove(0);
        let level = c.level.peak_dbfs.max(loudest);
        let speech = c.level.is_speech() || windows.iter().any(|w| w.label.is_some());
        let clip = vec![Segment {
            start: c.start,
            end: c.end,
            label: p.label.clone(),
            confidence: p.probabilities[argmax(&p.probabilities)],
        }];
        return Ok(Analysis {
            duration,
            basis: Basis::Clip,
            speech,
            level_dbfs: level,
            focus: Some(focus(&c, &p)),
            overall: Some(p),
            windows,
            shares: segments::shares(&clip, classifier.labels()),
            segments: clip,
            adaptation: None,
        });
    }
    let overall = windows_overall(classifier, &windows);
    let focus = overall
        .as_ref()
        .and_then(|o| strongest[argmax(&o.probabilities)].take())
        .map(|(_, w, p)| focus(&w, &p));
    let found = segments::segments(&windows, classifier.labels());
    Ok(Analysis {
        duration,
        basis: if overall.is_some() {
            Basis::Windows
        } else {
            Basis::None
        },
        speech: overall.is_some(),
        level_dbfs: loudest,
        overall,
        shares: segments::shares(&found, classifier.labels()),
        segments: found,
        windows,
        focus,
        adaptation: None,
    })
}

/// The mean of the speech windows' probabilities, if any window had speech.
fn windows_overall(classifier: &Classifier, windows: &[WindowResult]) -> Option<Prediction> {
    let speech: Vec<&Vec<f32>> = windows
        .iter()
        .filter_map(|w| w.probabilities.as_ref())
        .collect();
    (!speech.is_empty()).then(|| {
        let mean = mean_probabilities(&speech);
        Prediction {
            label: classifier.labels()[argmax(&mean)].clone(),
            probabilities: mean,
            attention: Vec::new(),
            adaptable: None,
        }
    })
}

/// Adds an analysis' speech to `voice`: a clip's speech, or each speech window's new seconds
/// (windows overlap). Nothing from a model without the adapted head or audio without speech.
pub fn learn(analysis: &Analysis, voice: &mut VoiceProfile) {
    // A quiet clip is still classified (and says so): it is no sample of the voice.
    if !analysis.speech {
        return;
    }
    if analysis.basis == Basis::Clip {
        if let (Some(p), Some(s)) = (&analysis.overall, analysis.segments.first())
            && let Some(a) = &p.adaptable
        {
            voice.add(&a.profile_values(), s.end - s.start);
        }
        return;
    }
    let mut heard_to = f64::NEG_INFINITY;
    for w in &analysis.windows {
        if let Some(a) = &w.adaptable {
            voice.add(&a.profile_values(), w.end - w.start.max(heard_to));
            heard_to = w.end;
        }
    }
}

/// Adapts an analysis to its speaker's voice: with `learn`, its speech goes into `voice` first
/// ([`learn`]); then, once `voice` has heard enough ([`VoiceProfile::is_ready`]), every
/// classified window and the overall result are scored again with the model's adapted view, and
/// the segments and shares follow. A model without the adapted head, or audio without speech,
/// leaves the analysis as it was.
pub async fn adapt(
    classifier: &Classifier,
    analysis: &mut Analysis,
    voice: &mut VoiceProfile,
    learn: bool,
) {
    if !classifier.adapts() || analysis.overall.is_none() || !analysis.speech {
        return;
    }
    if learn {
        self::learn(analysis, voice);
    }
    let clip = analysis.basis == Basis::Clip;
    let strict = analysis.overall.as_ref().map(|p| p.probabilities.clone());
    let applied = voice.is_ready() && rescore(classifier, analysis, voice, clip).await;
    analysis.adaptation = Some(Adaptation {
        seconds: voice.seconds(),
        applied,
        share: if applied { voice.adapted_share() } else { 0.0 },
        strict,
    });
}

/// Replaces the analysis' results with adapted ones (the windows', then the clip's or the
/// windows' mean as the overall result); false where nothing could be adapted.
async fn rescore(
    classifier: &Classifier,
    analysis: &mut Analysis,
    voice: &VoiceProfile,
    clip: bool,
) -> bool {
    let labels = classifier.labels();
    let clip_parts = clip
        .then(|| analysis.overall.as_ref().and_then(|p| p.adaptable.as_ref()))
        .flatten();
    if clip && clip_parts.is_none() {
        return false;
    }
    // The windows and the clip in one batch: the clip's parts last.
    let parts: Vec<&Adaptable> = analysis
        .windows
        .iter()
        .filter_map(|w| w.adaptable.as_ref())
        .chain(clip_parts)
        .collect();
    if parts.is_empty() {
        return false;
    }
    let Some(mut adapted) = classifier.adapt(&parts, voice).await else {
        return false;
    };
    let clip_probabilities = clip.then(|| adapted.pop()).flatten();
    let mut adapted = adapted.into_iter();
    for w in analysis
        .windows
        .iter_mut()
        .filter(|w| w.adaptable.is_some())
    {
        let p = adapted.next().unwrap_or_default();
        w.label = Some(labels[argmax(&p)].clone());
        w.probabilities = Some(p);
    }
    let strict_label = analysis.overall.as_ref().map(|p| p.label.clone());
    match (clip_probabilities, analysis.overall.as_mut()) {
        (Some(p), Some(overall)) => {
            let top = argmax(&p);
            overall.label = labels[top].clone();
            for s in &mut analysis.segments {
                s.label = overall.label.clone();
                s.confidence = p[top];
            }
            overall.probabilities = p;
        }
        _ => {
            analysis.overall = windows_overall(classifier, &analysis.windows);
            analysis.segments = segments::segments(&analysis.windows, labels);
            // The spectrogram's window spoke most for the strict label: not for a new one.
            if analysis.overall.as_ref().map(|p| p.label.clone()) != strict_label {
                analysis.focus = None;
            }
        }
    }
    analysis.shares = segments::shares(&analysis.segments, labels);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_within_a_window_however_long_the_recording() {
        // Ten minutes of 48 kHz stereo in 0.1-s pieces: the windower never holds more than a
        // window plus a piece, and forgets the head once past the clip-rule limit.
        let config = crate::features::FeatureConfig::default();
        let front = FrontEnd::new(&config, &crate::model::ModelConfig::default());
        let mut w = Windower::new(&front, 48_000, 1.0).unwrap();
        let piece: Vec<f32> = (0..4_800)
            .map(|i| ((i as f32) * 0.01).sin() * 0.3)
            .collect();
        let mut windows = 0;
        let mut most = 0;
        for _ in 0..6_000 {
            windows += w.push(&[&piece, &piece]).unwrap().len();
            most = most.max(w.buf.len());
        }
        assert!(
            most <= config.window_samples + 2 * 2_205 + 1024,
            "held {most} samples"
        );
        assert!(w.head.is_none());
        let (last, clip, seconds) = w.finish().unwrap();
        assert!((seconds - 600.0).abs() < 1e-3, "{seconds}");
        assert!(clip.is_none());
        assert_eq!(windows + last.len(), 598);
    }
}
