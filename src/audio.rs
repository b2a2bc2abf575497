//! Audio preparation: any sample rate and channel count → mono at the model's rate, and the
//! rule that places the fixed analysis window on a clip.
//!
//! Window rule (one function, used by the trainer and the page alike): leading and trailing
//! silence is trimmed by frame energy ([`TRIM_TOP_DB`] below the loudest frame), then the
//! window is centred on what remains: longer speech loses equal parts at both ends, shorter
//! speech is zero-padded equally on both sides. RAVDESS clips start with about a second of
//! silence, so without trimming a 3-s window would hold little speech.

use rubato::{FftFixedIn, Resampler};
use std::fmt;

/// Lowest and highest input sample rates accepted.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 192_000;
/// Frames quieter than this many dB below the loudest frame count as silence when trimming.
pub const TRIM_TOP_DB: f32 = 40.0;
/// The speech gate ([`Level::is_speech`]): audio whose loudest 93-ms frame reaches this RMS
/// level (dB relative to full scale) passes. Just under nearly all RAVDESS speech: about 10 of
/// its 1 440 clips (soft-spoken, −56 to −51 dBFS) fall below it; the median clip peaks at −30.
pub const SPEECH_GATE_DBFS: f32 = -50.0;
/// Quieter audio passes the gate if its loudest frame reaches this level and stands
/// [`QUIET_SPEECH_CONTRAST_DB`] above its quiet frames: speech recorded 20 or 30 dB lower,
/// far from the microphone, has pauses; an empty room's hum or hiss is steady.
pub const QUIET_SPEECH_DBFS: f32 = -85.0;
pub const QUIET_SPEECH_CONTRAST_DB: f32 = 20.0;
/// Pauses that split a recording into utterances for the clip rule ([`clip_span`]): this
/// many dB under the loudest frame, for at least this long.
pub const PAUSE_DB: f32 = 30.0;
pub const MIN_PAUSE_SECONDS: f32 = 0.2;
/// Shortest whole utterance [`clip_span`] prefers to speech cut by an edge.
pub const MIN_UTTERANCE_SECONDS: f32 = 0.5;
/// Most gain [`normalise_level`] applies.
pub const MAX_GAIN_DB: f32 = 60.0;
/// Shortest recording analysed: about one syllable.
pub const MIN_SECONDS: f64 = 0.2;
/// Largest sample magnitude accepted. Float files may overshoot ±1 a little; values far beyond
/// are not audio (and overflow the resampler's FFT near ±3e38).
pub const MAX_AMPLITUDE: f32 = 1e3;
const TRIM_FRAME: usize = 2048;
const TRIM_HOP: usize = 512;

/// Why audio could not be prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioError {
    NoChannels,
    Empty,
    ChannelLengthsDiffer,
    UnsupportedRate(u32),
    NonFinite,
    /// The peak amplitude: far outside ±1, so the numbers are not audio as this tool reads it.
    OutOfRange(f32),
    /// The length in seconds: shorter than [`MIN_SECONDS`].
    TooShort(f64),
    Resample(String),
}

impl AudioError {
    /// A stable name for the kind of failure: `"too-short"` (nothing, or less than
    /// [`MIN_SECONDS`]) or `"bad-audio"` (samples that are not audio as this tool reads it).
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::Empty | AudioError::TooShort(_) => "too-short",
            _ => "bad-audio",
        }
    }
}

impl fmt::Display for AudioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioError::NoChannels => write!(f, "the audio has no channels"),
            AudioError::Empty => write!(f, "the audio holds no samples"),
            AudioError::ChannelLengthsDiffer => write!(f, "the channels have different lengths"),
            AudioError::UnsupportedRate(r) => write!(
                f,
                "sample rate {r} Hz is not supported (accepted: {MIN_RATE}–{MAX_RATE} Hz)"
            ),
            AudioError::NonFinite => write!(f, "the audio contains NaN or infinite samples"),
            AudioError::OutOfRange(peak) => write!(
                f,
                "the samples reach {peak:.1e}: audio stays within ±1 (float files) and this is far beyond it"
            ),
            AudioError::TooShort(secs) => write!(
                f,
                "the recording is {secs:.2} s long: too short to hold speech (at least {MIN_SECONDS} s)"
            ),
            AudioError::Resample(e) => write!(f, "resampling failed: {e}"),
        }
    }
}

impl std::error::Error for AudioError {}

/// Averages the channels into one.
pub fn to_mono(channels: &[&[f32]]) -> Result<Vec<f32>, AudioError> {
    let first = channels.first().ok_or(AudioError::NoChannels)?;
    if channels.iter().any(|c| c.len() != first.len()) {
        return Err(AudioError::ChannelLengthsDiffer);
    }
    if channels.len() == 1 {
        return Ok(first.to_vec());
    }
    let scale = 1.0 / channels.len() as f32;
    Ok((0..first.len())
        .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * scale)
        .collect())
}

/// Resamples mono audio from `from` Hz to `to` Hz (FFT resampler, delay compensated, length
/// `ceil(len · to / from)`).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    let mut stream = StreamResampler::new(from, to)?;
    let mut out = stream.push(samples)?;
    out.extend(stream.finish()?);
    Ok(out)
}

/// [`resample`] for audio that arrives in pieces (a long file being decoded, a microphone):
/// the concatenated output of [`push`](Self::push) and [`finish`](Self::finish) equals
/// `resample` of the whole signal, while only one FFT block is held.
pub struct StreamResampler {
    inner: Option<FftFixedIn<f32>>,
    from: u32,
    to: u32,
    pending: Vec<f32>,
    /// Output samples still to drop: the filter's delay.
    skip: usize,
    consumed: u64,
    emitted: u64,
}

impl StreamResampler {
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1)
                    .map_err(|e| AudioError::Resample(e.to_string()))?,
            )
        };
        Ok(Self {
            skip: inner.as_ref().map_or(0, |r| r.output_delay()),
            inner,
            from,
            to,
            pending: Vec::new(),
            consumed: 0,
            emitted: 0,
        })
    }

    /// Feeds samples; returns the output that is ready.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, AudioError> {
        self.consumed += samples.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            self.emitted += samples.len() as u64;
            return Ok(samples.to_vec());
        };
        self.pending.extend_from_slice(samples);
        let mut chunks = Vec::new();
        let mut pos = 0;
        while pos + r.input_frames_next() <= self.pending.len() {
            let n = r.input_frames_next();
            let mut out = r
                .process(&[&self.pending[pos..pos + n]], None)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            chunks.push(out.remove(0));
            pos += n;
        }
        self.pending.drain(..pos);
        let mut out = Vec::new();
        for c in chunks {
            self.take(&c, &mut out);
        }
        Ok(out)
    }

    fn take(&mut self, chunk: &[f32], out: &mut Vec<f32>) {
        let s = self.skip.min(chunk.len());
        self.skip -= s;
        out.extend_from_slice(&chunk[s..]);
        self.emitted += (chunk.len() - s) as u64;
    }

    /// Flushes the rest: the total output is `ceil(pushed · to / from)` samples. The resampler
    /// is spent afterwards.
    pub fn finish(&mut self) -> Result<Vec<f32>, AudioError> {
        let wanted = (self.consumed * self.to as u64).div_ceil(self.from as u64);
        let mut out = Vec::new();
        let Some(mut r) = self.inner.take() else {
            return Ok(out);
        };
        let err = |e: &dyn fmt::Display| AudioError::Resample(e.to_string());
        let pending = std::mem::take(&mut self.pending);
        // rubato refuses an empty partial block; `None` is the same block of zeros.
        let chunk = if pending.is_empty() {
            r.process_partial::<&[f32]>(None, None)
        } else {
            r.process_partial(Some(&[&pending[..]]), None)
        }
        .map_err(|e| err(&e))?;
        self.take(&chunk[0], &mut out);
        // Flush the filter's delay line until the whole signal is out.
        while self.emitted < wanted {
            let chunk = r
                .process_partial::<&[f32]>(None, None)
                .map_err(|e| err(&e))?;
            if chunk[0].is_empty() {
                break;
            }
            self.take(&chunk[0], &mut out);
        }
        let before = self.emitted - out.len() as u64;
        out.resize(wanted.saturating_sub(before) as usize, 0.0);
        Ok(out)
    }
}

/// Checks the input and turns it into mono samples at `target_rate`.
pub fn prepare_mono(
    channels: &[&[f32]],
    rate: u32,
    target_rate: u32,
) -> Result<Vec<f32>, AudioError> {
    check_rate(rate)?;
    let mono = finite_mono(channels)?;
    if mono.is_empty() {
        return Err(AudioError::Empty);
    }
    check_length(mono.len() as u64, rate)?;
    resample(&mono, rate, target_rate)
}

/// Refuses sample rates outside [`MIN_RATE`]..=[`MAX_RATE`].
pub fn check_rate(rate: u32) -> Result<(), AudioError> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(AudioError::UnsupportedRate(rate))
    }
}

/// Refuses recordings shorter than [`MIN_SECONDS`]: `samples` at `rate` Hz.
pub fn check_length(samples: u64, rate: u32) -> Result<(), AudioError> {
    let secs = samples as f64 / rate as f64;
    if secs < MIN_SECONDS {
        Err(AudioError::TooShort(secs))
    } else {
        Ok(())
    }
}

/// [`to_mono`], refusing NaN, infinite and absurdly large samples (checked on every channel, so
/// opposite channels cannot cancel out).
pub fn finite_mono(channels: &[&[f32]]) -> Result<Vec<f32>, AudioError> {
    let mut peak = 0.0f32;
    for s in channels.iter().flat_map(|c| c.iter()) {
        if !s.is_finite() {
            return Err(AudioError::NonFinite);
        }
        peak = peak.max(s.abs());
    }
    if peak > MAX_AMPLITUDE {
        return Err(AudioError::OutOfRange(peak));
    }
    to_mono(channels)
}

/// Mean power of each frame (2048 samples, hop 512; a recording shorter than a frame is one
/// shorter frame).
fn frame_powers(samples: &[f32]) -> Vec<f32> {
    let frames = samples.len().saturating_sub(TRIM_FRAME) / TRIM_HOP + 1;
    (0..frames)
        .map(|i| {
            let start = i * TRIM_HOP;
            let frame = &samples[start..(start + TRIM_FRAME).min(samples.len())];
            frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32
        })
        .collect()
}

/// The span `[start, end)` of `samples` left after trimming leading and trailing silence.
/// All-silent audio keeps its full span.
pub fn speech_span(samples: &[f32]) -> (usize, usize) {
    let power = frame_powers(samples);
    match frames_above(&power, TRIM_TOP_DB) {
        Some((first, last)) => frame_span((first, last), samples.len()),
        None => (0, samples.len()),
    }
}

/// The largest of the frame powers (0 for none).
fn loudest(power: &[f32]) -> f32 {
    power.iter().cloned().fold(0.0f32, f32::max)
}

/// A frame power in dB relative to full scale, −120 for digital silence.
pub(crate) fn dbfs(power: f32) -> f32 {
    (10.0 * power.max(1e-12).log10()).max(-120.0)
}

/// First and last frame within `db` of the loudest; `None` for silence.
fn frames_above(power: &[f32], db: f32) -> Option<(usize, usize)> {
    let max = loudest(power);
    if max <= 0.0 {
        return None;
    }
    let threshold = max * 10f32.powf(-db / 10.0);
    let first = power.iter().position(|&e| e >= threshold)?;
    let last = power.iter().rposition(|&e| e >= threshold)?;
    Some((first, last))
}

/// Frames `first..=last` as samples of a recording of `len`.
fn frame_span((first, last): (usize, usize), len: usize) -> (usize, usize) {
    (first * TRIM_HOP, (last * TRIM_HOP + TRIM_FRAME).min(len))
}

/// The speech the clip rule centres on, for audio at `rate` Hz: the trimmed speech
/// ([`speech_span`]), unless that runs into an edge of the recording (a microphone's last
/// seconds cut in the middle of a line) and pauses of at least [`MIN_PAUSE_SECONDS`],
/// [`PAUSE_DB`] under the loudest frame, split it. Then the longest utterance that is whole
/// (touches neither edge) is taken, if one of at least [`MIN_UTTERANCE_SECONDS`] exists, else
/// the longest piece: the model was trained on one line at a time, centred.
pub fn clip_span(samples: &[f32], rate: u32) -> (usize, usize) {
    let power = frame_powers(samples);
    let Some((first, last)) = frames_above(&power, TRIM_TOP_DB) else {
        return (0, samples.len());
    };
    let whole = frame_span((first, last), samples.len());
    if first > 0 && last + 1 < power.len() {
        return whole;
    }
    let quiet = loudest(&power) * 10f32.powf(-PAUSE_DB / 10.0);
    // Frames lying wholly inside a pause of the shortest length, wherever it falls on the hop
    // grid: a run that long is a pause.
    let pause_samples = (MIN_PAUSE_SECONDS * rate as f32) as usize;
    let min_run = pause_samples.saturating_sub(TRIM_FRAME + TRIM_HOP - 1) / TRIM_HOP + 1;
    let mut utterances = Vec::new();
    let (mut start, mut end, mut run) = (first, first, 0);
    for (i, &p) in power.iter().enumerate().take(last + 1).skip(first) {
        if p < quiet {
            run += 1;
            continue;
        }
        if run >= min_run {
            utterances.push((start, end));
            start = i;
        }
        (end, run) = (i, 0);
    }
    utterances.push((start, end));
    let min_len = (MIN_UTTERANCE_SECONDS * rate as f32) as usize;
    let spans: Vec<((usize, usize), bool)> = utterances
        .into_iter()
        .map(|(a, b)| {
            (
                frame_span((a, b), samples.len()),
                a > 0 && b + 1 < power.len(),
            )
        })
        .collect();
    let longest = |whole_only: bool| {
        spans
            .iter()
            .filter(|(span, is_whole)| (*is_whole || !whole_only) && span.1 - span.0 >= min_len)
            .map(|(span, _)| *span)
            .max_by_key(|(a, b)| b - a)
    };
    longest(true).or_else(|| longest(false)).unwrap_or(whole)
}

/// How loud a stretch of audio is, from the RMS of its 93-ms frames (2048 samples at
/// 22.05 kHz), in dB relative to full scale; −120 for digital silence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// The loudest frame.
    pub peak_dbfs: f32,
    /// The quiet frames: the 10th percentile of those that are not digital silence (pauses,
    /// the room's own noise, however faint; zeros, as padding or a stream's first samples,
    /// are no pause). The peak when every frame is silent.
    pub floor_dbfs: f32,
}

impl Level {
    pub fn of(samples: &[f32]) -> Self {
        let power = frame_powers(samples);
        let peak = dbfs(loudest(&power));
        let mut sounding: Vec<f32> = power.into_iter().filter(|&p| p > 0.0).collect();
        sounding.sort_by(f32::total_cmp);
        Self {
            peak_dbfs: peak,
            floor_dbfs: sounding.get(sounding.len() / 10).map_or(peak, |&p| dbfs(p)),
        }
    }

    /// The speech gate, one rule for files, long recordings and the microphone, in the page
    /// and the CLI: loud enough ([`SPEECH_GATE_DBFS`]), or quieter but clearly louder than its
    /// own pauses ([`QUIET_SPEECH_DBFS`], [`QUIET_SPEECH_CONTRAST_DB`]): a quiet recording of
    /// speech passes, the steady hum or hiss of an empty room does not.
    pub fn is_speech(&self) -> bool {
        self.peak_dbfs >= SPEECH_GATE_DBFS
            || (self.peak_dbfs >= QUIET_SPEECH_DBFS
                && self.peak_dbfs - self.floor_dbfs >= QUIET_SPEECH_CONTRAST_DB)
    }
}

/// RMS level of the loudest frame ([`Level::peak_dbfs`]), without the floor's sorting.
pub fn peak_level_dbfs(samples: &[f32]) -> f32 {
    dbfs(loudest(&frame_powers(samples)))
}

/// Whether audio passes the speech gate ([`Level::is_speech`]).
pub fn has_speech(samples: &[f32]) -> bool {
    Level::of(samples).is_speech()
}

/// Scales `samples` so that their loudest frame has an RMS of `level_dbfs`, by at most
/// [`MAX_GAIN_DB`] up; digital silence stays silent.
pub fn normalise_level(samples: &mut [f32], level_dbfs: f32) {
    let peak = peak_level_dbfs(samples);
    if peak <= -120.0 {
        return;
    }
    let gain = 10f32.powf((level_dbfs - peak).min(MAX_GAIN_DB) / 20.0);
    for s in samples {
        *s *= gain;
    }
}

/// Places the analysis window of `len` samples on a clip (see the module docs for the rule).
pub fn analysis_window(samples: &[f32], len: usize) -> Vec<f32> {
    let (start, end) = speech_span(samples);
    window_at(&samples[start..end], len, 0)
}

/// A window of `len` samples centred on `speech` (already trimmed), moved `shift` samples later
/// (negative: earlier); whatever falls outside `speech` is zero. The trainer shifts windows to
/// augment; the page always uses shift 0.
pub fn window_at(speech: &[f32], len: usize, shift: isize) -> Vec<f32> {
    cut(speech, centred_start(speech.len(), len) + shift, len)
}

/// The same window as [`window_at`] (shift 0) on the speech `span` of `mono`, but with the
/// recording's own sound around the speech where `window_at` has zeros (zeros only beyond the
/// recording). The speech-embedding branch reads this: it was trained on natural audio and
/// takes digital silence for something else.
pub fn context_window(mono: &[f32], (start, end): (usize, usize), len: usize) -> Vec<f32> {
    cut(
        mono,
        start as isize + centred_start(end.saturating_sub(start), len),
        len,
    )
}

/// Start of a `len`-sample window centred on `n` samples, in their coordinates; negative
/// means leading zeros. Odd remainders go to the end, both when cutting and when padding.
fn centred_start(n: usize, len: usize) -> isize {
    if n >= len {
        ((n - len) / 2) as isize
    } else {
        -(((len - n) / 2) as isize)
    }
}

/// `len` samples of `samples` from `start` on, zero where that falls outside them.
fn cut(samples: &[f32], start: isize, len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    for (i, v) in out.iter_mut().enumerate() {
        let j = start + i as isize;
        if j >= 0 && (j as usize) < samples.len() {
            *v = samples[j as usize];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_window_is_the_clip_window_with_the_recording_around_it() {
        let mono: Vec<f32> = (0..100).map(|i| i as f32).collect();
        // Speech 40..50 in a window of 20: the clip window pads it with zeros, the context
        // window keeps samples 35..55.
        let clip = window_at(&mono[40..50], 20, 0);
        let context = context_window(&mono, (40, 50), 20);
        assert_eq!(&clip[5..15], &context[5..15]);
        assert_eq!(clip[0], 0.0);
        assert_eq!(context, (35..55).map(|i| i as f32).collect::<Vec<_>>());
        // Zeros only beyond the recording.
        let edge = context_window(&mono, (0, 4), 10);
        assert_eq!(edge[..6], [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
        // Longer speech: both cut the same middle.
        assert_eq!(
            context_window(&mono, (10, 90), 20),
            window_at(&mono[10..90], 20, 0)
        );
    }

    fn tone(rate: u32, secs: f32, hz: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_frequency() {
        let x = tone(48_000, 1.0, 440.0);
        let y = resample(&x, 48_000, 22_050).unwrap();
        assert_eq!(y.len(), 22_050);
        // Compare with the ideal tone at the new rate, away from the edges.
        let ideal = tone(22_050, 1.0, 440.0);
        let err = (2000..20000)
            .map(|i| (y[i] - ideal[i]).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn streaming_resampler_matches_resampling_the_whole_signal() {
        let x = tone(44_100, 1.3, 440.0);
        let whole = resample(&x, 44_100, 22_050).unwrap();
        for piece in [1, 700, 1024, 5000] {
            let mut s = StreamResampler::new(44_100, 22_050).unwrap();
            let mut out = Vec::new();
            for c in x.chunks(piece) {
                out.extend(s.push(c).unwrap());
            }
            out.extend(s.finish().unwrap());
            assert_eq!(out, whole, "pieces of {piece}");
        }
        // A length that is a whole number of blocks leaves nothing for the last partial block.
        let whole_blocks = tone(44_100, 1.0, 440.0)[..43 * 1024].to_vec();
        assert_eq!(
            resample(&whole_blocks, 44_100, 22_050).unwrap().len(),
            43 * 512
        );
        let mut same = StreamResampler::new(22_050, 22_050).unwrap();
        assert_eq!(same.push(&[1.0, 2.0]).unwrap(), vec![1.0, 2.0]);
        assert!(same.finish().unwrap().is_empty());
    }

    #[test]
    fn the_gate_passes_speech_levels_and_stops_silence_and_hiss() {
        assert!(has_speech(&tone(22_050, 1.0, 200.0)));
        // A steady tone 60 dB down: loud enough for quiet speech, but without pauses.
        let hum: Vec<f32> = tone(22_050, 1.0, 200.0).iter().map(|s| s * 1e-3).collect();
        assert!(!has_speech(&hum), "{:?}", Level::of(&hum));
        assert!(!has_speech(&vec![0.0; 22_050]));
        // Syllables with pauses, as quiet as the hum, over a room's faint noise (−95 dBFS):
        // speech. (A recording 20 dB down brings a quiet room to about −105 dBFS.)
        let mut syllables = Vec::new();
        for _ in 0..4 {
            syllables.extend(hum[..4_000].iter());
            syllables.extend(hum[..4_000].iter().map(|s| s * 0.05));
        }
        let level = Level::of(&syllables);
        assert!(
            level.peak_dbfs < SPEECH_GATE_DBFS && has_speech(&syllables),
            "{level:?}"
        );
        // The hum after digital silence (a stream's start, padding): zeros are no pause.
        let mut padded = vec![0.0; 22_050];
        padded.extend(hum.iter());
        assert!(!has_speech(&padded), "{:?}", Level::of(&padded));
        assert_eq!(peak_level_dbfs(&[]), -120.0);
        // A full-scale sine has an RMS of −3 dBFS; 0.5 amplitude −9.
        assert!((peak_level_dbfs(&tone(22_050, 1.0, 200.0)) + 9.03).abs() < 0.05);
    }

    /// Asserts that `span` starts at `start` (up to a frame early, as trimming does: frames
    /// are 2048 samples) and lasts about `secs`.
    fn assert_span(span: (usize, usize), start: usize, secs: f32, rate: usize) {
        assert!(
            span.0 <= start && start - span.0 < 2_048,
            "{span:?} should start at {start}"
        );
        let got = (span.1 - span.0) as f32 / rate as f32;
        assert!(
            (got - secs).abs() < 0.2,
            "{span:?} lasts {got} s, not {secs}"
        );
    }

    #[test]
    fn the_clip_rule_prefers_a_whole_utterance_to_speech_cut_by_the_edges() {
        let rate = 22_050;
        let line = |secs: f32| tone(rate as u32, secs, 300.0);
        let pause = |secs: f32| vec![0.0; (secs * rate as f32) as usize];
        // The end of one line, a pause, a whole line, a pause, the start of the next.
        let mut x = line(0.6);
        let whole_start = x.len() + pause(0.3).len();
        for part in [pause(0.3), line(1.5), pause(0.3), line(0.5)] {
            x.extend(part);
        }
        assert_span(clip_span(&x, rate as u32), whole_start, 1.5, rate);
        // Speech that does not reach an edge is trimmed as before.
        let mut file = pause(0.5);
        file.extend(x.iter());
        file.extend(pause(0.5));
        assert_eq!(clip_span(&file, rate as u32), speech_span(&file));
        // No whole utterance: the longest piece, not both pieces and the pause between.
        let mut cut = line(0.6);
        let piece_start = cut.len() + pause(0.3).len();
        cut.extend(pause(0.3));
        cut.extend(line(1.2));
        let span = clip_span(&cut, rate as u32);
        assert_span(span, piece_start, 1.2, rate);
        assert!(cut.len() - span.1 < TRIM_HOP, "{span:?}");
        // A short pause inside the whole utterance does not split it.
        let mut words = line(0.6);
        let words_start = words.len() + pause(0.3).len();
        for part in [
            pause(0.3),
            line(0.5),
            pause(0.1),
            line(0.5),
            pause(0.3),
            line(0.4),
        ] {
            words.extend(part);
        }
        assert_span(clip_span(&words, rate as u32), words_start, 1.1, rate);
    }

    #[test]
    fn level_normalisation_sets_the_loudest_frame_and_leaves_silence() {
        let mut quiet: Vec<f32> = tone(22_050, 1.0, 200.0).iter().map(|s| s * 0.01).collect();
        normalise_level(&mut quiet, -20.0);
        assert!((peak_level_dbfs(&quiet) + 20.0).abs() < 0.01);
        let mut silence = vec![0.0; 4_096];
        normalise_level(&mut silence, -20.0);
        assert!(silence.iter().all(|&s| s == 0.0));
        // 100 dB down: raised by the most gain allowed, not to −20.
        let mut faint = vec![1e-5; 4_096];
        normalise_level(&mut faint, -20.0);
        assert!((peak_level_dbfs(&faint) - (-100.0 + MAX_GAIN_DB)).abs() < 0.1);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            prepare_mono(&[], 22_050, 22_050),
            Err(AudioError::NoChannels)
        );
        assert_eq!(
            prepare_mono(&[&[0.0; 10]], 4_000, 22_050),
            Err(AudioError::UnsupportedRate(4_000))
        );
        assert_eq!(prepare_mono(&[&[]], 22_050, 22_050), Err(AudioError::Empty));
        assert_eq!(
            prepare_mono(&[&[0.0, f32::NAN]], 22_050, 22_050),
            Err(AudioError::NonFinite)
        );
        let mut loud = vec![0.1; 44_100];
        loud[7] = 3e38;
        assert_eq!(
            prepare_mono(&[&loud], 44_100, 22_050),
            Err(AudioError::OutOfRange(3e38))
        );
        // Opposite channels would cancel in the mix; each is checked.
        assert_eq!(
            prepare_mono(&[&[1e30; 22_050], &[-1e30; 22_050]], 22_050, 22_050),
            Err(AudioError::OutOfRange(1e30))
        );
        assert_eq!(
            prepare_mono(&[&[0.5]], 22_050, 22_050),
            Err(AudioError::TooShort(1.0 / 22_050.0))
        );
        assert!(prepare_mono(&[&[0.5; 4_410]], 22_050, 22_050).is_ok());
        assert_eq!(
            prepare_mono(&[&[0.0; 3], &[0.0; 2]], 22_050, 22_050),
            Err(AudioError::ChannelLengthsDiffer)
        );
    }

    #[test]
    fn stereo_is_averaged() {
        let m = to_mono(&[&[1.0, 0.0], &[0.0, 1.0]]).unwrap();
        assert_eq!(m, vec![0.5, 0.5]);
    }

    #[test]
    fn window_is_centred_on_speech() {
        // 1 s silence, 1 s tone, 2 s silence at 22.05 kHz; window 3 s.
        let rate = 22_050;
        let mut x = vec![0.0; rate];
        x.extend(tone(rate as u32, 1.0, 300.0));
        x.extend(vec![0.0; 2 * rate]);
        let w = analysis_window(&x, 3 * rate);
        assert_eq!(w.len(), 3 * rate);
        let first = w.iter().position(|s| s.abs() > 1e-3).unwrap();
        let last = w.iter().rposition(|s| s.abs() > 1e-3).unwrap();
        let centre = (first + last) / 2;
        assert!(
            (centre as i64 - (3 * rate / 2) as i64).abs() < 1200,
            "centre {centre}"
        );
    }

    #[test]
    fn windows_cut_long_speech_and_pad_short_speech_and_shift() {
        let speech: Vec<f32> = (1..=6).map(|v| v as f32).collect();
        assert_eq!(window_at(&speech, 4, 0), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(window_at(&speech, 4, 2), vec![4.0, 5.0, 6.0, 0.0]);
        assert_eq!(
            window_at(&speech, 9, 0),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]
        );
        assert_eq!(window_at(&speech, 9, 1)[..3], [1.0, 2.0, 3.0]);
        assert_eq!(window_at(&speech, 9, -1)[..3], [0.0, 0.0, 1.0]);
        assert_eq!(window_at(&speech, 3, 10), vec![0.0; 3]);
    }
}
