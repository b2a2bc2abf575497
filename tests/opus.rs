//! Opus, the format of voice notes and of the browser's MediaRecorder: an Ogg Opus file made by
//! Debian's opusenc (libopus) from a RAVDESS clip decodes to that clip, and is classified as it.

mod common;

use speech_emotion::decode::{decode_file, open_file};
use speech_emotion::timeline::analyse_stream;

const NAME: &str = "03-01-05-02-01-01-01";

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/opus/{NAME}.opus"))
}

#[test]
fn ogg_opus_decodes_to_the_clip_it_was_made_from() {
    let original =
        decode_file(&common::ravdess().join(format!("original-wav/Actor_01/{NAME}.wav"))).unwrap();
    let opus = decode_file(&fixture()).unwrap();
    assert_eq!(opus.sample_rate, 48_000);
    assert_eq!(opus.channels.len(), 1);
    // The encoder's pre-skip and the end padding are trimmed: the same length, aligned.
    assert_eq!(opus.channels[0].len(), original.channels[0].len());
    let (a, b) = (&original.channels[0], &opus.channels[0]);
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum();
    let energy = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
    let correlation = dot / (energy(a) * energy(b)).sqrt();
    let noise: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x - *y) as f64).powi(2))
        .sum();
    let snr = 10.0 * (energy(a) / noise).log10();
    eprintln!("Ogg Opus at 32 kbit/s: correlation {correlation:.4}, SNR {snr:.1} dB");
    assert!(correlation > 0.97, "{correlation}");
    assert!(snr > 12.0, "{snr} dB");
}

#[test]
fn ogg_opus_is_classified_as_the_clip() {
    let c = common::shipped_classifier();
    let analyse = |path: &std::path::Path| {
        let mut stream = open_file(path).unwrap();
        futures_lite::future::block_on(analyse_stream(&c, &mut stream, 1.0, &mut |_| {})).unwrap()
    };
    let original = analyse(&common::ravdess().join(format!("original-wav/Actor_01/{NAME}.wav")));
    let opus = analyse(&fixture());
    let (o, p) = (original.overall.unwrap(), opus.overall.unwrap());
    let diff = common::max_abs_diff(&o.probabilities, &p.probabilities);
    eprintln!(
        "{} vs {}: max probability difference {diff:.4}",
        o.label, p.label
    );
    assert_eq!(o.label, p.label);
    assert!(diff < 0.05, "{diff}");
}
