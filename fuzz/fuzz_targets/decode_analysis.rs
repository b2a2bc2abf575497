//! Any bytes through the path of a dropped file: probe and decode (WAV, FLAC, MP3, Ogg
//! Vorbis/Opus, WebM, MP4/AAC), then the analysis (resampling, windows, speech gate, clip rule,
//! features, a model, segments). Either an analysis or an error comes back; nothing panics, and
//! the probabilities are finite. The model is the seeds' one-channel network: the shipped one
//! (with its speech branch) runs about one input a second under the sanitizer, this one many
//! more, and the decoders and the audio preparation are what reads the untrusted bytes.
#![no_main]

use burn::prelude::Device;
use futures_lite::future::block_on;
use libfuzzer_sys::fuzz_target;
use speech_emotion::classifier::Classifier;
use speech_emotion::decode::AudioStream;
use speech_emotion::timeline::analyse_stream;
use std::io::Cursor;
use std::sync::OnceLock;

static MODEL: &[u8] = include_bytes!("../seeds/weights/tiny.sew");

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::from_bytes(MODEL, &Device::flex()).expect("the seeds' model"))
}

/// Whether a WAV `fmt ` chunk claims more channels × bytes per sample than 16 bits hold.
/// symphonia 0.6.1 multiplies them in a u16: an overflow (found by this target; see
/// tests/hostile_input.rs `a_wav_claiming_65535_channels_is_refused`) that the project's builds
/// wrap and then refuse, but that panics under the fuzzer's overflow checks. Such inputs are
/// skipped so the fuzzer can go past it.
fn known_riff_overflow(data: &[u8]) -> bool {
    data.windows(4).enumerate().any(|(i, w)| {
        w == b"fmt "
            && data.get(i + 10..i + 12).zip(data.get(i + 22..i + 24)).is_some_and(|(c, b)| {
                let channels = u16::from_le_bytes([c[0], c[1]]) as u32;
                let bits = u16::from_le_bytes([b[0], b[1]]) as u32;
                channels * (bits / 8) > u16::MAX as u32
            })
    })
}

fuzz_target!(|data: &[u8]| {
    if known_riff_overflow(data) {
        return;
    }
    let Ok(mut stream) = AudioStream::open(Box::new(Cursor::new(data.to_vec())), None) else {
        return;
    };
    if let Ok(analysis) = block_on(analyse_stream(classifier(), &mut stream, 1.0, &mut |_| {})) {
        if let Some(overall) = &analysis.overall {
            assert!(overall.probabilities.iter().all(|p| p.is_finite()));
        }
    }
});
