//! File decoding with symphonia (WAV, FLAC, MP3, Ogg Vorbis, AAC in MP4/M4A), natively and in
//! the page's worker. [`AudioStream`] hands out one packet at a time, so an hour-long
//! recording is never held in memory whole.

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymErr;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

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

/// An audio file being decoded, packet by packet. Errors are sentences fit to show a user.
pub struct AudioStream {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    frames: Option<u64>,
}

impl AudioStream {
    /// Probes the container and opens its first audio track. `extension` (without the dot)
    /// helps the probe.
    pub fn open(source: Box<dyn MediaSource>, extension: Option<&str>) -> Result<Self, String> {
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
            .map_err(|e| format!("not a readable audio file ({e})"))?;
        // First audio track whose codec is known (0.5: codec != CODEC_TYPE_NULL).
        let track = format
            .first_track_known_codec(TrackType::Audio)
            .ok_or("the file has no audio track")?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or("the file has no audio track")?
            .clone();
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| format!("unsupported codec ({e})"))?;
        let sample_rate = params
            .sample_rate
            // 0.6.1 reports Some(0) for a WAV whose header says 0 Hz (0.5.5 panicked).
            .filter(|&r| r > 0)
            .ok_or("the file does not say its sample rate")?;
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
    pub fn next_chunk(&mut self) -> Option<Result<Vec<Vec<f32>>, String>> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                // 0.6 signals the end with Ok(None); a truncated file may still end in EOF.
                Ok(None) => return None,
                Err(SymErr::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return None;
                }
                Err(SymErr::ResetRequired) => return None,
                Err(e) => return Some(Err(format!("corrupt audio stream ({e})"))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymErr::DecodeError(_)) => continue,
                Err(e) => return Some(Err(format!("cannot decode ({e})"))),
            };
            let rate = decoded.spec().rate();
            if rate != self.sample_rate {
                return Some(Err(format!(
                    "the sample rate changes mid-file ({} → {} Hz)",
                    self.sample_rate, rate
                )));
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

/// Decodes a whole audio file (short clips: training data, `trainer predict` on clips).
#[cfg(not(target_arch = "wasm32"))]
pub fn decode_file(path: &std::path::Path) -> Result<Decoded, String> {
    let mut stream = open_file(path)?;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    while let Some(chunk) = stream.next_chunk() {
        let chunk = chunk?;
        if channels.is_empty() {
            channels = vec![Vec::new(); chunk.len()];
        }
        if chunk.len() != channels.len() {
            return Err("the channel count changes mid-file".into());
        }
        for (c, add) in channels.iter_mut().zip(chunk) {
            c.extend(add);
        }
    }
    if channels.is_empty() || channels[0].is_empty() {
        return Err("the file holds no audio samples".into());
    }
    Ok(Decoded {
        channels,
        sample_rate: stream.sample_rate(),
    })
}

/// Opens a file for streaming decoding.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_file(path: &std::path::Path) -> Result<AudioStream, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    AudioStream::open(Box::new(file), path.extension().and_then(|e| e.to_str()))
}

/// Runs `f`, turning a panic inside it (a decoder or resampler bug on a crafted file) into an
/// error message, so that one bad file cannot stop a batch. Native only: the wasm build aborts on
/// a panic, and the page restarts its worker instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn isolate<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        Err(format!("the decoder failed on this file ({why})"))
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn isolate_turns_a_panic_into_that_files_error() {
        let r: Result<(), String> = isolate(|| panic!("index out of bounds"));
        assert_eq!(
            r,
            Err("the decoder failed on this file (index out of bounds)".into())
        );
        assert_eq!(isolate(|| Ok(3)), Ok(3));
        assert_eq!(isolate::<()>(|| Err("no".into())), Err("no".into()));
    }
}
