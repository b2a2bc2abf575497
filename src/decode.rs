//! File decoding with symphonia (WAV, FLAC, MP3, Ogg Vorbis, AAC in MP4/M4A), natively and in
//! the page's worker. [`AudioStream`] hands out one packet at a time, so an hour-long
//! recording is never held in memory whole.

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymErr;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

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
    decoder: Box<dyn Decoder>,
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
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| format!("not a readable audio file ({e})"))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or("the file has no audio track")?;
        let params = track.codec_params.clone();
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| format!("unsupported codec ({e})"))?;
        Ok(Self {
            track_id: track.id,
            sample_rate: params
                .sample_rate
                .ok_or("the file does not say its sample rate")?,
            frames: params.n_frames,
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
                Ok(p) => p,
                Err(SymErr::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return None;
                }
                Err(SymErr::ResetRequired) => return None,
                Err(e) => return Some(Err(format!("corrupt audio stream ({e})"))),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymErr::DecodeError(_)) => continue,
                Err(e) => return Some(Err(format!("cannot decode ({e})"))),
            };
            let spec = *decoded.spec();
            if spec.rate != self.sample_rate {
                return Some(Err(format!(
                    "the sample rate changes mid-file ({} → {} Hz)",
                    self.sample_rate, spec.rate
                )));
            }
            let n = spec.channels.count();
            if n == 0 || decoded.frames() == 0 {
                continue;
            }
            let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
            buf.copy_interleaved_ref(decoded);
            let mut channels = vec![Vec::with_capacity(buf.len() / n); n];
            for frame in buf.samples().chunks_exact(n) {
                for (c, s) in channels.iter_mut().zip(frame) {
                    c.push(*s);
                }
            }
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
