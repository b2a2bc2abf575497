//! File decoding, natively and in the page's worker: symphonia reads the containers (WAV, FLAC,
//! MP3, Ogg, WebM/Matroska, MP4/M4A) and decodes PCM, FLAC, MP3, Vorbis and AAC; Opus packets go
//! to the `opus-decoder` crate. [`AudioStream`] hands out one packet at a time, so an hour-long
//! recording is never held in memory whole.

use std::fmt;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymErr;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;

/// Decoded audio: one sample vector per channel, and the sample rate.
pub struct Decoded {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
}

impl Decoded {
    pub fn channel_slices(&self) -> Vec<&[f32]> {
        self.channels.iter().map(|c| c.as_slice()).collect()
    }

    pub fn duration_secs(&self) -> f64 {
        self.channels.first().map_or(0, |c| c.len()) as f64 / self.sample_rate as f64
    }
}

/// Why a file could not be decoded. The messages are sentences fit to show a user; [`code`]
/// (`DecodeError::code`) is what programs match on (the page's library passes it on).
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The file could not be opened or read.
    Unreadable(String),
    /// No container this build reads (the prober's reason).
    NotAudio(String),
    /// A container without an audio track.
    NoAudioTrack,
    /// An audio track in a codec this build does not decode (Opus, …).
    UnsupportedCodec(String),
    /// The header gives no usable sample rate.
    NoSampleRate,
    /// The stream is damaged beyond the packets a player would skip.
    Corrupt(String),
    /// The sample rate changes mid-file (from, to).
    RateChanges(u32, u32),
    ChannelsChange,
    /// The file decodes to nothing.
    NoSamples,
    /// The decoder panicked on this file (caught natively by [`isolate`]).
    DecoderFailed(String),
}

impl DecodeError {
    /// A stable name for the kind of failure: `"unsupported-format"` (not audio this build
    /// reads: another decoder, such as the browser's, may), `"corrupt-file"` or
    /// `"unreadable-file"`.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotAudio(_)
            | DecodeError::NoAudioTrack
            | DecodeError::UnsupportedCodec(_) => "unsupported-format",
            DecodeError::Unreadable(_) => "unreadable-file",
            _ => "corrupt-file",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unreadable(e) => write!(f, "cannot open: {e}"),
            DecodeError::NotAudio(e) => write!(f, "not a readable audio file ({e})"),
            DecodeError::NoAudioTrack => write!(f, "the file has no audio track"),
            DecodeError::UnsupportedCodec(e) => write!(f, "unsupported codec ({e})"),
            DecodeError::NoSampleRate => write!(f, "the file does not say its sample rate"),
            DecodeError::Corrupt(e) => write!(f, "corrupt audio stream ({e})"),
            DecodeError::RateChanges(a, b) => {
                write!(f, "the sample rate changes mid-file ({a} → {b} Hz)")
            }
            DecodeError::ChannelsChange => write!(f, "the channel count changes mid-file"),
            DecodeError::NoSamples => write!(f, "the file holds no audio samples"),
            DecodeError::DecoderFailed(why) => {
                write!(f, "the decoder failed on this file ({why})")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

// Callers that gather several kinds of failure as messages (the trainer's reader) use `?`.
impl From<DecodeError> for String {
    fn from(e: DecodeError) -> String {
        e.to_string()
    }
}

/// An audio file being decoded, packet by packet.
pub struct AudioStream {
    format: Box<dyn FormatReader>,
    decoder: Decoder,
    track_id: u32,
    sample_rate: u32,
    frames: Option<u64>,
}

impl AudioStream {
    /// Probes the container and opens its first audio track. `extension` (without the dot)
    /// helps the probe.
    pub fn open(
        source: Box<dyn MediaSource>,
        extension: Option<&str>,
    ) -> Result<Self, DecodeError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| DecodeError::NotAudio(e.to_string()))?;
        // First audio track whose codec is known (0.5: codec != CODEC_TYPE_NULL).
        let track = format
            .first_track_known_codec(TrackType::Audio)
            .ok_or(DecodeError::NoAudioTrack)?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or(DecodeError::NoAudioTrack)?
            .clone();
        let decoder = if params.codec == CODEC_ID_OPUS {
            // Opus always decodes at 48 kHz, whatever rate the container says it was made from.
            let channels = params.channels.as_ref().map_or(1, |c| c.count());
            let pre_skip = params.extra_data.as_deref().map_or(0, opus_pre_skip);
            Decoder::Opus(Box::new(OpusStream::new(channels, pre_skip)?))
        } else {
            Decoder::Symphonia(
                symphonia::default::get_codecs()
                    .make_audio_decoder(&params, &AudioDecoderOptions::default())
                    .map_err(|e| DecodeError::UnsupportedCodec(e.to_string()))?,
            )
        };
        let sample_rate = match decoder {
            Decoder::Opus(_) => OPUS_RATE,
            // 0.6.1 reports Some(0) for a WAV whose header says 0 Hz (0.5.5 panicked).
            Decoder::Symphonia(_) => params
                .sample_rate
                .filter(|&r| r > 0)
                .ok_or(DecodeError::NoSampleRate)?,
        };
        let track_id = track.id;
        // 0.6 moved the frame count from the codec parameters to the track.
        let frames = track.num_frames;
        Ok(Self {
            track_id,
            sample_rate,
            frames,
            format,
            decoder,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Length in seconds, when the container says it.
    pub fn duration_secs(&self) -> Option<f64> {
        self.frames.map(|n| n as f64 / self.sample_rate as f64)
    }

    /// The next packet's samples, one vector per channel; `None` at the end. Damaged packets
    /// are skipped, as players do.
    pub fn next_chunk(&mut self) -> Option<Result<Vec<Vec<f32>>, DecodeError>> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                // 0.6 signals the end with Ok(None); a truncated file may still end in EOF.
                Ok(None) => return None,
                Err(SymErr::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return None;
                }
                Err(SymErr::ResetRequired) => return None,
                Err(e) => return Some(Err(DecodeError::Corrupt(e.to_string()))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoder = match &mut self.decoder {
                Decoder::Opus(opus) => match opus.decode(&packet) {
                    Some(channels) => return Some(Ok(channels)),
                    None => continue,
                },
                Decoder::Symphonia(d) => d,
            };
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymErr::DecodeError(_)) => continue,
                Err(e) => return Some(Err(DecodeError::Corrupt(e.to_string()))),
            };
            let rate = decoded.spec().rate();
            if rate != self.sample_rate {
                return Some(Err(DecodeError::RateChanges(self.sample_rate, rate)));
            }
            let n = decoded.spec().channels().count();
            if n == 0 || decoded.frames() == 0 {
                continue;
            }
            // One plane per channel, converted to f32.
            let mut channels: Vec<Vec<f32>> = Vec::with_capacity(n);
            decoded.copy_to_vecs_planar(&mut channels);
            return Some(Ok(channels));
        }
    }
}

enum Decoder {
    Symphonia(Box<dyn AudioDecoder>),
    Opus(Box<OpusStream>),
}

/// The rate Opus decodes at.
const OPUS_RATE: u32 = 48_000;
/// The longest Opus packet: 120 ms at 48 kHz.
const OPUS_MAX_FRAMES: usize = 5_760;

/// The samples the encoder asks to discard at the start, from the identification header
/// ("OpusHead", RFC 7845 §5.1) that Ogg and WebM both carry.
fn opus_pre_skip(head: &[u8]) -> usize {
    match head {
        [
            b'O',
            b'p',
            b'u',
            b's',
            b'H',
            b'e',
            b'a',
            b'd',
            _,
            _,
            lo,
            hi,
            ..,
        ] => u16::from_le_bytes([*lo, *hi]) as usize,
        _ => 0,
    }
}

/// An Opus track: packets from symphonia's demuxer, decoded by `opus-decoder`.
struct OpusStream {
    decoder: opus_decoder::OpusDecoder,
    channels: usize,
    /// Interleaved output of one packet.
    pcm: Vec<f32>,
    /// Pre-skip samples not yet discarded.
    skip: usize,
}

impl OpusStream {
    fn new(channels: usize, pre_skip: usize) -> Result<Self, DecodeError> {
        // Surround (channel mapping family 1) needs the multistream decoder: not worth it for
        // speech, and rare.
        if !(1..=2).contains(&channels) {
            return Err(DecodeError::UnsupportedCodec(format!(
                "Opus with {channels} channels: mono and stereo are read"
            )));
        }
        let decoder = opus_decoder::OpusDecoder::new(OPUS_RATE, channels)
            .map_err(|e| DecodeError::UnsupportedCodec(format!("Opus: {e}")))?;
        Ok(Self {
            decoder,
            channels,
            pcm: vec![0.0; OPUS_MAX_FRAMES * channels],
            skip: pre_skip,
        })
    }

    /// One packet's samples per channel, trimmed: the encoder's pre-skip at the start (the
    /// container may mark it on the packets too: taken once), the container's padding at the
    /// end. `None` for a damaged packet (skipped, as players do) or one trimmed away.
    fn decode(&mut self, packet: &Packet) -> Option<Vec<Vec<f32>>> {
        let frames = self
            .decoder
            .decode_float(&packet.data, &mut self.pcm, false)
            .ok()?;
        let start = (packet.trim_start.get() as usize)
            .max(self.skip)
            .min(frames);
        self.skip = self.skip.saturating_sub(start);
        let end = frames
            .saturating_sub(packet.trim_end.get() as usize)
            .max(start);
        if start == end {
            return None;
        }
        let c = self.channels;
        Some(
            (0..c)
                .map(|ch| (start..end).map(|i| self.pcm[i * c + ch]).collect())
                .collect(),
        )
    }
}

/// Decodes a whole audio file (short clips: training data, `trainer predict` on clips).
#[cfg(not(target_arch = "wasm32"))]
pub fn decode_file(path: &std::path::Path) -> Result<Decoded, DecodeError> {
    let mut stream = open_file(path)?;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    while let Some(chunk) = stream.next_chunk() {
        let chunk = chunk?;
        if channels.is_empty() {
            channels = vec![Vec::new(); chunk.len()];
        }
        if chunk.len() != channels.len() {
            return Err(DecodeError::ChannelsChange);
        }
        for (c, add) in channels.iter_mut().zip(chunk) {
            c.extend(add);
        }
    }
    if channels.is_empty() || channels[0].is_empty() {
        return Err(DecodeError::NoSamples);
    }
    Ok(Decoded {
        channels,
        sample_rate: stream.sample_rate(),
    })
}

/// Opens a file for streaming decoding.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_file(path: &std::path::Path) -> Result<AudioStream, DecodeError> {
    let file = std::fs::File::open(path).map_err(|e| DecodeError::Unreadable(e.to_string()))?;
    AudioStream::open(Box::new(file), path.extension().and_then(|e| e.to_str()))
}

/// Runs `f`, turning a panic inside it (a decoder or resampler bug on a crafted file) into an
/// error message, so that one bad file cannot stop a batch. Native only: the wasm build aborts on
/// a panic, and the page restarts its worker instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn isolate<T, E: From<DecodeError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        Err(DecodeError::DecoderFailed(why).into())
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn isolate_turns_a_panic_into_that_files_error() {
        let r: Result<(), DecodeError> = isolate(|| panic!("index out of bounds"));
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the decoder failed on this file (index out of bounds)"
        );
        assert_eq!(e.code(), "corrupt-file");
        assert_eq!(isolate::<_, String>(|| Ok(3)), Ok(3));
        assert_eq!(isolate::<(), String>(|| Err("no".into())), Err("no".into()));
    }
}
