//! Recordings of any length (`timeline::analyse`) on real RAVDESS clips: a clip gets the same
//! result as `Classifier::classify`, a long recording a window per hop with silence gated.

mod common;

use futures_lite::future::block_on;
use speech_emotion::Classifier;
use speech_emotion::decode::{DecodeError, decode_file, open_file};
use speech_emotion::timeline::{
    Analysis, Basis, Helper, HelperFuture, analyse, analyse_clip, analyse_stream, analyse_with,
};
use std::cell::Cell;

fn clip(actor: u8, name: &str) -> std::path::PathBuf {
    common::ravdess().join(format!("speech/Actor_{actor:02}/{name}"))
}

/// Mono samples, fed to `analyse` in pieces of `piece`.
fn run(c: &Classifier, mono: &[f32], rate: u32, piece: usize) -> (Analysis, usize) {
    let chunks = mono.chunks(piece).map(|c| Ok(vec![c.to_vec()]));
    let mut reports = 0;
    let a = block_on(analyse(c, chunks, rate, 1.0, &mut |_| reports += 1)).unwrap();
    (a, reports)
}

#[test]
fn a_clip_file_streamed_matches_classify() {
    let c = common::shipped_classifier();
    // The original 48 kHz WAV exercises the streaming resampler too.
    for path in [
        clip(22, "03-01-05-02-01-02-22.flac"),
        common::ravdess().join("original-wav/Actor_01/03-01-01-01-01-01-01.wav"),
    ] {
        if !path.exists() {
            panic!("missing {}", path.display());
        }
        let d = decode_file(&path).unwrap();
        let want = c.classify(&d.channel_slices(), d.sample_rate).unwrap();
        let mut stream = open_file(&path).unwrap();
        let got = block_on(analyse_stream(&c, &mut stream, 1.0, &mut |_| {})).unwrap();
        assert_eq!(got.basis, Basis::Clip);
        assert!(got.speech);
        let p = got.overall.unwrap();
        let worst = common::max_abs_diff(&p.probabilities, &want.probabilities);
        assert!(worst < 1e-6, "{}: {worst}", path.display());
        assert_eq!(p.label, want.label);
        let focus = got.focus.unwrap();
        assert_eq!(focus.mel.len(), 128 * 128);
        assert!((focus.attention.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!((got.duration - d.duration_secs()).abs() < 0.01);
    }
}

#[test]
fn a_long_recording_gets_a_window_per_hop_with_silence_gated() {
    let c = common::shipped_classifier();
    // Eight clips of one actor, then 6 s of silence, then eight more: about 70 s.
    let mut mono = Vec::new();
    let files: Vec<_> = std::fs::read_dir(common::ravdess().join("speech/Actor_03"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .take(16)
        .collect();
    let mut files: Vec<_> = files;
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let d = decode_file(f).unwrap();
        assert_eq!(d.sample_rate, 22_050);
        mono.extend(&d.channels[0]);
        if i == 7 {
            mono.extend(vec![0.0; 6 * 22_050]);
        }
    }
    let seconds = mono.len() as f64 / 22_050.0;
    let (a, reports) = run(&c, &mono, 22_050, 4_321);
    assert_eq!(a.basis, Basis::Windows);
    assert!((a.duration - seconds).abs() < 1e-3);
    // Windows start every second; one more ends with the recording.
    let full = ((seconds - 3.0).floor() as usize) + 1;
    assert!(a.windows.len() == full || a.windows.len() == full + 1);
    assert_eq!(a.windows[1].start, 1.0);
    assert!((a.windows.last().unwrap().end - seconds).abs() < 1e-3);
    assert!(
        reports >= a.windows.len() / 8,
        "progress reported {reports} times"
    );
    // The window inside the silence is gated, the others classified.
    let silent_start = files[..8]
        .iter()
        .map(|f| decode_file(f).unwrap().duration_secs())
        .sum::<f64>();
    let inside = a
        .windows
        .iter()
        .find(|w| w.start >= silent_start + 1.0 && w.end <= silent_start + 6.0)
        .expect("a window inside the silence");
    assert!(inside.label.is_none(), "{inside:?}");
    let voiced = a
        .windows
        .iter()
        .filter(|w| w.probabilities.is_some())
        .count();
    assert!(voiced > a.windows.len() / 2);
    // The overall result is the mean over the speech windows.
    let overall = a.overall.unwrap();
    let mean0: f32 = a
        .windows
        .iter()
        .filter_map(|w| w.probabilities.as_ref())
        .map(|p| p[0])
        .sum::<f32>()
        / voiced as f32;
    assert!((overall.probabilities[0] - mean0).abs() < 1e-5);
    assert!(a.focus.is_some());
    // Fed in other pieces, the windows are the same.
    let (b, _) = run(&c, &mono, 22_050, 65_536);
    assert_eq!(a.windows.len(), b.windows.len());
    for (x, y) in a.windows.iter().zip(&b.windows) {
        assert_eq!(x.probabilities, y.probabilities);
    }
    // In one piece, three windows a model call: the same windows, still a batch at a time
    // (a GPU could not hold an hour's windows in one call).
    let c3 = common::shipped_classifier().with_batch(3);
    let (d, reports) = run(&c3, &mono, 22_050, mono.len());
    assert_eq!(a.windows.len(), d.windows.len());
    assert!(reports >= d.windows.len() / 3, "{reports} reports");
    for (x, y) in a.windows.iter().zip(&d.windows) {
        match (&x.probabilities, &y.probabilities) {
            (Some(p), Some(q)) => assert!(common::max_abs_diff(p, q) < 1e-6),
            (p, q) => assert_eq!(p, q),
        }
    }
}

#[test]
fn silence_is_no_speech_and_bad_input_is_refused() {
    let c = common::shipped_classifier();
    let (long, _) = run(&c, &vec![0.0; 10 * 44_100], 44_100, 1_000);
    assert_eq!(long.basis, Basis::None);
    assert!(!long.speech && long.overall.is_none());
    assert!(long.windows.iter().all(|w| w.label.is_none()));
    let (short, _) = run(&c, &vec![0.0; 44_100], 44_100, 1_000);
    assert_eq!(short.basis, Basis::Clip);
    assert!(!short.speech);
    let empty: Vec<Result<Vec<Vec<f32>>, DecodeError>> = vec![];
    let e = block_on(analyse(&c, empty, 22_050, 1.0, &mut |_| {})).unwrap_err();
    assert!(e.to_string().contains("no samples"), "{e}");
    assert_eq!(e.code(), "too-short");
    let e = block_on(analyse(
        &c,
        vec![Ok(vec![vec![0.0; 10]])],
        1_000,
        1.0,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(e.to_string().contains("not supported"), "{e}");
    assert_eq!(e.code(), "bad-audio");
    let bad = vec![Ok(vec![vec![0.0, f32::NAN]])];
    let e = block_on(analyse(&c, bad, 22_050, 1.0, &mut |_| {})).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    assert_eq!(e.code(), "bad-audio");
}

#[test]
fn a_live_clip_is_gated_then_classified_like_a_file() {
    let c = common::shipped_classifier();
    let d = decode_file(&clip(22, "03-01-05-02-01-02-22.flac")).unwrap();
    let want = c.classify(&d.channel_slices(), d.sample_rate).unwrap();
    let got = block_on(analyse_clip(&c, &d.channel_slices(), d.sample_rate)).unwrap();
    assert_eq!(got.basis, Basis::Clip);
    assert_eq!(got.overall.unwrap().probabilities, want.probabilities);
    let hiss: Vec<f32> = (0..3 * 48_000)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 1e-3)
        .collect();
    let quiet = block_on(analyse_clip(&c, &[&hiss], 48_000)).unwrap();
    assert_eq!(quiet.basis, Basis::None);
    assert!(!quiet.speech && quiet.overall.is_none() && quiet.level_dbfs < -50.0);
}

#[test]
fn a_quiet_recording_passes_the_gate_and_gets_the_same_emotion() {
    // A clip recorded 40 dB lower (its loudest frame near −60 dBFS, under the −50 dBFS level
    // that lets anything through): the gate sees its pauses, the CNN's log-mel is relative to
    // its own peak and the speech branch brings the window to one level first.
    let c = common::shipped_classifier();
    let d = decode_file(&clip(22, "03-01-05-02-01-02-22.flac")).unwrap();
    let loud = block_on(analyse_clip(&c, &d.channel_slices(), d.sample_rate)).unwrap();
    let quiet: Vec<f32> = d.channel_slices()[0].iter().map(|s| s * 0.01).collect();
    let got = block_on(analyse_clip(&c, &[&quiet], d.sample_rate)).unwrap();
    assert!(got.speech && got.level_dbfs < -50.0, "{}", got.level_dbfs);
    let (got, want) = (got.overall.unwrap(), loud.overall.unwrap());
    let worst = common::max_abs_diff(&got.probabilities, &want.probabilities);
    assert!(worst < 1e-3, "{worst}");
    assert_eq!(got.label, want.label);
}

#[test]
fn a_recording_longer_than_a_window_is_not_reduced_to_one_utterance() {
    // Speech from the first sample, a pause, a whole line, a pause, more speech to the end:
    // about 6 s of speech. The clip rule's choice of a whole utterance is for a window's worth
    // of audio (the microphone's); a longer recording is the mean over its windows.
    let c = common::shipped_classifier();
    let d = decode_file(&clip(22, "03-01-05-02-01-02-22.flac")).unwrap();
    let mono = d.channel_slices()[0].to_vec();
    let (s, e) = speech_emotion::audio::speech_span(&mono);
    let line = &mono[s..e];
    let pause = vec![0.0; d.sample_rate as usize * 3 / 10];
    let mut x = line[line.len() / 2..].to_vec();
    for part in [&pause[..], line, &pause[..], &line[..line.len() / 2]] {
        x.extend_from_slice(part);
    }
    let (a, _) = run(&c, &x, d.sample_rate, 4_096);
    assert_eq!(a.basis, Basis::Windows);
}

/// A helper as the page's second worker would be: its own copy of the model, here on the same
/// thread; or one that is not ready, or one that fails.
struct SecondModel {
    model: Option<Classifier>,
    fails: bool,
    windows: Cell<usize>,
}

impl Helper for SecondModel {
    fn classify(&self, samples: &[f32], count: usize) -> Option<HelperFuture> {
        let model = self.model.as_ref()?;
        self.windows.set(self.windows.get() + count);
        if self.fails {
            return Some(Box::pin(async { Err("it crashed".to_string()) }));
        }
        if count % 2 == 1 {
            // Declines some batches, as a helper still loading does.
            return Some(Box::pin(async { Ok(None) }));
        }
        let front = model.front_end();
        let len = samples.len() / count;
        assert_eq!(len, front.logmel().config().window_samples);
        let features: Vec<_> = samples.chunks_exact(len).map(|w| front.window(w)).collect();
        let p = model.classify_features(&features);
        Some(Box::pin(async move { Ok(Some(p)) }))
    }
}

/// Half of each batch goes to the helper, and the analysis is the one made alone; a helper not
/// ready or failing leaves its windows to the first.
#[test]
fn a_helper_takes_half_the_windows_and_changes_nothing() {
    let c = common::shipped_classifier();
    let mut mono = Vec::new();
    for name in [
        "03-01-05-02-01-02-22.flac",
        "03-01-03-01-02-01-22.flac",
        "03-01-04-02-02-02-22.flac",
        "03-01-06-01-01-01-22.flac",
        "03-01-08-02-01-01-22.flac",
        "03-01-02-01-02-02-22.flac",
        "03-01-07-02-01-02-22.flac",
    ] {
        mono.extend(&decode_file(&clip(22, name)).unwrap().channels[0]);
    }
    let (alone, _) = run(&c, &mono, 22_050, 4_321);
    let speech = alone.windows.iter().filter(|w| w.label.is_some()).count();
    assert!(speech > 16, "{speech} speech windows");
    for (model, fails) in [
        (Some(common::shipped_classifier()), false),
        (None, false),
        (Some(common::shipped_classifier()), true),
    ] {
        let helper = SecondModel {
            model,
            fails,
            windows: Cell::new(0),
        };
        let chunks = mono.chunks(4_321).map(|c| Ok(vec![c.to_vec()]));
        let got = block_on(analyse_with(
            &c,
            chunks,
            22_050,
            1.0,
            &mut |_| {},
            Some(&helper),
        ))
        .unwrap();
        let asked = helper.windows.get();
        if helper.model.is_some() {
            assert!(
                asked * 2 >= speech - 1 && asked * 2 <= speech + 1,
                "{asked} of {speech}"
            );
        }
        assert_eq!(got.windows.len(), alone.windows.len());
        for (x, y) in got.windows.iter().zip(&alone.windows) {
            assert_eq!(x.label, y.label);
            let worst = common::max_abs_diff(
                x.probabilities.as_deref().unwrap_or_default(),
                y.probabilities.as_deref().unwrap_or_default(),
            );
            assert!(worst < 1e-5, "{worst} at {}", x.start);
        }
        assert_eq!(
            got.overall.unwrap().label,
            alone.overall.as_ref().unwrap().label
        );
        assert_eq!(got.segments.len(), alone.segments.len());
        let (f, g) = (got.focus.unwrap(), alone.focus.as_ref().unwrap());
        assert_eq!((f.start, f.mel.len()), (g.start, g.mel.len()));
    }
}
