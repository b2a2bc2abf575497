//! Property tests: audio preparation, the streaming resampler, the speech gate and the window
//! rule hold for any rate, length, channel count and amplitude, not just for the clips the
//! other tests use. Nothing here may panic; every result keeps its documented shape.

use proptest::prelude::*;
use speech_emotion::audio::{
    AudioError, Level, MAX_AMPLITUDE, MAX_GAIN_DB, MAX_RATE, MIN_RATE, MIN_SECONDS,
    StreamResampler, clip_span, context_window, normalise_level, prepare_mono, resample,
    speech_span, window_at,
};
use speech_emotion::classifier::FrontEnd;
use speech_emotion::features::FeatureConfig;
use speech_emotion::model::ModelConfig;

/// A piece of a made-up recording: silence, a tone or noise, at some level, for some samples.
#[derive(Debug, Clone)]
enum Piece {
    Silence(usize),
    Tone { hz: f32, amp: f32, len: usize },
    Noise { amp: f32, len: usize, seed: u32 },
}

fn piece() -> impl Strategy<Value = Piece> {
    let amp = (-9.0f32..0.0).prop_map(|e| 10f32.powf(e));
    prop_oneof![
        (0usize..30_000).prop_map(Piece::Silence),
        (20.0f32..10_000.0, amp.clone(), 0usize..30_000).prop_map(|(hz, amp, len)| Piece::Tone {
            hz,
            amp,
            len
        }),
        (amp, 0usize..30_000, any::<u32>()).prop_map(|(amp, len, seed)| Piece::Noise {
            amp,
            len,
            seed
        }),
    ]
}

/// Pieces one after another at 22.05 kHz.
fn recording(pieces: &[Piece]) -> Vec<f32> {
    let mut out = Vec::new();
    for p in pieces {
        match *p {
            Piece::Silence(n) => out.resize(out.len() + n, 0.0),
            Piece::Tone { hz, amp, len } => out.extend(
                (0..len)
                    .map(|i| amp * (2.0 * std::f32::consts::PI * hz * i as f32 / 22_050.0).sin()),
            ),
            Piece::Noise { amp, len, seed } => {
                let mut state = seed | 1;
                out.extend((0..len).map(|_| {
                    // xorshift: cheap, deterministic noise in [-amp, amp].
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    amp * (state as f32 / u32::MAX as f32 * 2.0 - 1.0)
                }))
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn preparing_any_audio_gives_mono_at_the_rate_or_a_reason(
        rate in prop_oneof![Just(0u32), 1u32..400_000, Just(MIN_RATE), Just(MAX_RATE)],
        channels in 0usize..4,
        len in 0usize..20_000,
        scale in prop_oneof![Just(0.0f32), (-6.0f32..6.0).prop_map(|e| 10f32.powf(e))],
    ) {
        let data: Vec<Vec<f32>> = (0..channels)
            .map(|c| (0..len).map(|i| ((i * (c + 3)) % 17) as f32 / 8.5 - 1.0).map(|v| v * scale).collect())
            .collect();
        let slices: Vec<&[f32]> = data.iter().map(|c| c.as_slice()).collect();
        match prepare_mono(&slices, rate, 22_050) {
            Ok(mono) => {
                prop_assert!((MIN_RATE..=MAX_RATE).contains(&rate));
                prop_assert!(len as f64 / rate as f64 >= MIN_SECONDS);
                prop_assert!(scale <= MAX_AMPLITUDE);
                let want = len as f64 * 22_050.0 / rate as f64;
                prop_assert!((mono.len() as f64 - want).abs() <= 2.0, "{} vs {want}", mono.len());
                prop_assert!(mono.iter().all(|v| v.is_finite()));
            }
            Err(AudioError::NoChannels) => prop_assert_eq!(channels, 0),
            Err(AudioError::UnsupportedRate(r)) => prop_assert_eq!(r, rate),
            Err(AudioError::OutOfRange(peak)) => prop_assert!(peak > MAX_AMPLITUDE),
            Err(AudioError::Empty) => prop_assert_eq!(len, 0),
            Err(AudioError::TooShort(_)) => prop_assert!((len as f64 / rate as f64) < MIN_SECONDS),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn streaming_in_any_pieces_gives_the_whole_signal_resampled(
        from in prop_oneof![Just(8_000u32), Just(16_000), Just(44_100), Just(48_000), MIN_RATE..MAX_RATE],
        len in 1usize..40_000,
        pieces in prop::collection::vec(1usize..5_000, 1..12),
    ) {
        let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.037).sin() * 0.5).collect();
        let whole = resample(&x, from, 22_050).unwrap();
        let mut stream = StreamResampler::new(from, 22_050).unwrap();
        let mut got = Vec::new();
        let mut at = 0;
        for p in pieces.iter().cycle() {
            if at >= len {
                break;
            }
            let end = (at + p).min(len);
            got.extend(stream.push(&x[at..end]).unwrap());
            at = end;
        }
        got.extend(stream.finish().unwrap());
        prop_assert_eq!(got.len(), whole.len());
        let worst = got.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        prop_assert!(worst < 1e-3, "{worst}");
    }

    #[test]
    fn the_gate_and_the_window_rule_hold_for_any_recording(
        pieces in prop::collection::vec(piece(), 0..8),
    ) {
        let x = recording(&pieces);
        let level = Level::of(&x);
        prop_assert!(level.peak_dbfs.is_finite() && level.floor_dbfs <= level.peak_dbfs);
        prop_assert!((-120.0..=0.1).contains(&level.peak_dbfs));
        for (start, end) in [speech_span(&x), clip_span(&x, 22_050)] {
            prop_assert!(start <= end && end <= x.len(), "{start}..{end} of {}", x.len());
        }
        // The clip rule's span lies inside the trimmed speech.
        let (s, e) = speech_span(&x);
        let (cs, ce) = clip_span(&x, 22_050);
        prop_assert!(s <= cs && ce <= e);
        let len = 3 * 22_050;
        prop_assert_eq!(window_at(&x[cs..ce], len, 0).len(), len);
        prop_assert_eq!(context_window(&x, (cs, ce), len).len(), len);
        let mut y = x.clone();
        normalise_level(&mut y, -30.0);
        let after = Level::of(&y).peak_dbfs;
        prop_assert!(y.iter().all(|v| v.is_finite()));
        if level.peak_dbfs > -120.0 {
            prop_assert!(after <= -30.0 + 0.01 && after >= (level.peak_dbfs + MAX_GAIN_DB).min(-30.0) - 0.01,
                "{} → {after}", level.peak_dbfs);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_recording_gives_finite_features_of_the_model_shape(
        pieces in prop::collection::vec(piece(), 1..6),
    ) {
        let x = recording(&pieces);
        prop_assume!(!x.is_empty());
        let config = FeatureConfig::default();
        let front = FrontEnd::new(&config, &ModelConfig::default().with_speech_branch(true));
        let f = front.clip(&x, clip_span(&x, config.sample_rate));
        prop_assert_eq!(f.logmel.len(), config.n_mels * config.n_frames);
        prop_assert!(f.logmel.iter().all(|v| v.is_finite()));
        let mel = f.speech_mel.unwrap();
        prop_assert!(!mel.is_empty() && mel.iter().all(|v| v.is_finite()));
    }
}
