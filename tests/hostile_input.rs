//! Crafted files through the path of `trainer predict` and the page (open → stream → analyse):
//! each gets a clear message or a result, never a panic.

mod common;

use futures_lite::future::block_on;
use speech_emotion::decode::open_file;
use speech_emotion::timeline::analyse_stream;
use std::path::PathBuf;

/// A PCM WAV: `format` 1 (integer) or 3 (float), `bits` per sample, the given payload.
fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend(format.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend((rate * align as u32).to_le_bytes());
    fmt.extend(align.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    let mut body = b"WAVEfmt ".to_vec();
    body.extend((fmt.len() as u32).to_le_bytes());
    body.extend(fmt);
    body.extend(b"data");
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// Half a second of a 16-bit tone at `rate` Hz.
fn tone(rate: u32) -> Vec<u8> {
    (0..rate / 2)
        .flat_map(|i| {
            let v = (i as f32 * 0.06).sin() * 12_000.0;
            (v as i16).to_le_bytes()
        })
        .collect()
}

fn syncsafe(n: u32) -> [u8; 4] {
    [
        (n >> 21) as u8 & 0x7f,
        (n >> 14) as u8 & 0x7f,
        (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]
}

/// An ID3v2.4 tag with an extended header whose tag-restrictions byte is `restrictions`.
fn id3v24(restrictions: u8) -> Vec<u8> {
    let text = b"\x03encoder\x00";
    let mut body = Vec::new();
    // Extended header: size, one flag byte, flags (restrictions), its length and value.
    body.extend(syncsafe(8));
    body.extend([1, 0x10, 1, restrictions]);
    body.extend(b"TSSE");
    body.extend(syncsafe(text.len() as u32));
    body.extend([0, 0]);
    body.extend(text);
    body.extend([0; 16]);
    let mut tag = b"ID3\x04\x00\x40".to_vec();
    tag.extend(syncsafe(body.len() as u32));
    tag.extend(body);
    tag
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("se-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The outcome of analysing `bytes` as a file: the overall label, or the message.
fn analyse(name: &str, bytes: &[u8]) -> Result<Option<String>, String> {
    let c = common::shipped_classifier();
    let path = write(name, bytes);
    let mut stream = open_file(&path)?;
    let a = block_on(analyse_stream(&c, &mut stream, 1.0, &mut |_| {}))?;
    Ok(a.overall.map(|p| p.label))
}

#[test]
fn an_id3v24_tag_with_restrictions_is_read_past() {
    let mut bytes = id3v24(0x40);
    bytes.extend(wav(1, 1, 16_000, 16, &tone(16_000)));
    let got = analyse("id3.wav", &bytes);
    assert!(got.is_ok(), "{got:?}");
}

#[test]
fn a_zero_sample_rate_is_refused() {
    let got = analyse("rate0.wav", &wav(1, 1, 0, 16, &tone(16_000)));
    assert_eq!(got, Err("the file does not say its sample rate".into()));
}

#[test]
fn absurd_float_samples_are_refused() {
    for (rate, value) in [(44_100, 3e38f32), (22_050, 1e30), (44_100, -3.4e38)] {
        let data: Vec<u8> = (0..rate)
            .flat_map(|i| (if i % 2 == 0 { value } else { -value }).to_le_bytes())
            .collect();
        let got = analyse("huge.wav", &wav(3, 1, rate, 32, &data)).unwrap_err();
        assert!(got.contains("far beyond"), "{rate} Hz, {value}: {got}");
    }
}

#[test]
fn a_recording_too_short_for_speech_is_refused() {
    let got = analyse("one.wav", &wav(1, 1, 22_050, 16, &[0x00, 0x40])).unwrap_err();
    assert!(got.contains("too short to hold speech"), "{got}");
}

/// Found by the fuzzer (`scripts/fuzz.sh decode_analysis`): a WAV header claiming 65 535
/// channels. symphonia 0.6.1 multiplies the channel count by the sample size in 16 bits; our
/// builds wrap that (no overflow checks in release) and then refuse the channel count. Where
/// overflow checks are on it panics inside the decoder, and `isolate` (as `predict` and the
/// trainer use it) turns that into an error too.
#[test]
fn a_wav_claiming_65535_channels_is_refused() {
    let mut bytes = wav(1, 1, 16_000, 16, &tone(16_000));
    bytes[22..24].copy_from_slice(&u16::MAX.to_le_bytes());
    let got = speech_emotion::decode::isolate(|| analyse("channels.wav", &bytes));
    let e = got.unwrap_err();
    assert!(e.contains("channel") || e.contains("overflow"), "{e}");
}
