//! From audio to a prediction: the one path shared by `trainer predict` and the page.

use crate::adapt::VoiceProfile;
use crate::audio::{AudioError, clip_span, context_window, prepare_mono, window_at};
use crate::features::{FeatureConfig, LogMel};
use crate::model::{EmotionNet, ModelConfig};
use crate::speech_embedding::{self, SpeechFrontEnd};
use crate::weights::{Header, Normalization, WeightsError, WeightsFile};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Serialize;

/// What the model says about one clip.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// One probability per label, in the weights file's label order.
    pub probabilities: Vec<f32>,
    /// Attention over the LSTM's time steps (sums to 1).
    pub attention: Vec<f32>,
    /// What a speaker-adapted view of this window needs, from a model with the adapted head.
    #[serde(skip)]
    pub adaptable: Option<Adaptable>,
}

/// One window's parts for [`Classifier::adapt`]: the speech branch's head inputs, the CNN's
/// pooled states and the strict probabilities (all go into the speaker's [`VoiceProfile`], in
/// that order: [`Self::profile_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptable {
    pub head_inputs: Vec<f32>,
    pub cnn_states: Vec<f32>,
    pub strict: Vec<f32>,
}

impl Adaptable {
    /// What a [`VoiceProfile`] learns from this window: the head inputs, the CNN's states, then
    /// the strict probabilities (whose mean says which moods the profile heard).
    pub fn profile_values(&self) -> Vec<f32> {
        [self.head_inputs.as_slice(), &self.cnn_states, &self.strict].concat()
    }
}

/// Normalises one clip's log-mel map (`n_mels` rows of `n_frames`) in place, as the weights
/// file says (see [`Normalization`]).
pub fn normalise(features: &mut [f32], n_frames: usize, norm: Normalization) {
    if norm.subtract_band_means {
        subtract_band_means(features, n_frames);
    }
    for v in features.iter_mut() {
        *v = (*v - norm.mean) / norm.std;
    }
}

/// Each row (mel band) minus its mean over the frames.
pub fn subtract_band_means(features: &mut [f32], n_frames: usize) {
    for row in features.chunks_exact_mut(n_frames) {
        let mean = row.iter().sum::<f32>() / n_frames as f32;
        for v in row.iter_mut() {
            *v -= mean;
        }
    }
}

/// Trimmed speech (see [`crate::audio::speech_span`]) → log-mel dB features (`n_mels × n_frames`, not normalised)
/// of the centred analysis window.
pub fn speech_features(logmel: &LogMel, speech: &[f32]) -> Vec<f32> {
    logmel.compute(&window_at(speech, logmel.config().window_samples, 0))
}

/// What the model reads from one analysis window.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Log-mel dB, `n_mels × n_frames`, not normalised: the CNN's input (and what the page
    /// draws).
    pub logmel: Vec<f32>,
    /// The speech-embedding branch's input (`frames × 32`), for models that have the branch.
    pub speech_mel: Option<Vec<f32>>,
}

/// Everything computed from audio before the network: the log-mel and, for models with the
/// speech-embedding branch, its 16 kHz mel.
pub struct FrontEnd {
    logmel: LogMel,
    speech: Option<SpeechFrontEnd>,
}

impl FrontEnd {
    /// The front end for `features`, with the speech branch's part when `model` has it.
    pub fn new(features: &FeatureConfig, model: &ModelConfig) -> Self {
        Self {
            logmel: LogMel::new(features),
            speech: model.speech_embedding.then(|| {
                SpeechFrontEnd::new(
                    features.sample_rate,
                    features.window_samples,
                    model.speech_level_dbfs,
                    model.prosody,
                )
            }),
        }
    }

    pub fn logmel(&self) -> &LogMel {
        &self.logmel
    }

    /// Features of the clip rule's window: centred on the speech `span` of `mono` (audio at
    /// the model's rate), zeros around the trimmed speech for the log-mel, the recording's
    /// own sound around it for the speech branch ([`context_window`]).
    pub fn clip(&self, mono: &[f32], span: (usize, usize)) -> Features {
        let len = self.logmel.config().window_samples;
        Features {
            logmel: speech_features(&self.logmel, &mono[span.0..span.1]),
            speech_mel: self
                .speech
                .as_ref()
                .map(|s| speech_mel(s, &context_window(mono, span, len))),
        }
    }

    /// Features of one analysis window at the model's rate.
    pub fn window(&self, window: &[f32]) -> Features {
        Features {
            logmel: self.logmel.compute(window),
            speech_mel: self.speech.as_ref().map(|s| speech_mel(s, window)),
        }
    }
}

/// The speech branch's input for a window at the model's own rate (which always resamples).
fn speech_mel(front: &SpeechFrontEnd, window: &[f32]) -> Vec<f32> {
    front
        .mel(window)
        .expect("a window at the model's own rate resamples")
}

/// Windows of a long recording per model call on a CPU: a batch costs about its windows'
/// time there, and small batches report progress often.
pub const CPU_BATCH: usize = 8;
/// … and on a GPU, which runs a batch of 64 windows in about twice the time of one
/// (`examples/gpu_bench.rs` on an H100: 54 ms for 64, 31 ms for one).
pub const GPU_BATCH: usize = 64;

/// A loaded model with its front end, ready to classify audio.
pub struct Classifier {
    header: Header,
    model: EmotionNet,
    front: FrontEnd,
    device: Device,
    batch: usize,
}

impl Classifier {
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, WeightsError> {
        let file = WeightsFile::from_bytes(bytes)?;
        let model = file.model(device)?;
        Ok(Self::new(file.header, model, device))
    }

    pub fn new(header: Header, model: EmotionNet, device: &Device) -> Self {
        Self {
            front: FrontEnd::new(&header.features, &header.model),
            header,
            model,
            device: device.clone(),
            batch: CPU_BATCH,
        }
    }

    /// The same classifier with `windows` per model call in long recordings ([`GPU_BATCH`]
    /// for a GPU device); the results do not depend on it.
    pub fn with_batch(mut self, windows: usize) -> Self {
        self.batch = windows.max(1);
        self
    }

    /// Windows of a long recording per model call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The network, for reading a prediction's parts apart (its two views).
    pub fn model(&self) -> &EmotionNet {
        &self.model
    }

    pub fn front_end(&self) -> &FrontEnd {
        &self.front
    }

    pub fn labels(&self) -> &[String] {
        &self.header.labels
    }

    /// Features of the clip's analysis window.
    pub fn features(&self, channels: &[&[f32]], rate: u32) -> Result<Features, AudioError> {
        let mono = prepare_mono(channels, rate, self.front.logmel.config().sample_rate)?;
        let rate = self.front.logmel.config().sample_rate;
        Ok(self.front.clip(&mono, clip_span(&mono, rate)))
    }

    fn input(&self, features: &[Features]) -> Tensor<3> {
        let config = self.front.logmel.config();
        let mut flat = Vec::with_capacity(features.len() * config.n_mels * config.n_frames);
        for f in features {
            let start = flat.len();
            flat.extend_from_slice(&f.logmel);
            normalise(
                &mut flat[start..],
                config.n_frames,
                self.header.normalization,
            );
        }
        Tensor::from_data(
            TensorData::new(flat, [features.len(), config.n_mels, config.n_frames]),
            &self.device,
        )
    }

    /// The speech branch's input for the batch, when the model has the branch.
    fn speech_input(&self, features: &[Features]) -> Option<Tensor<3>> {
        let frames = self.front.speech.as_ref()?.frames();
        let mut flat = Vec::with_capacity(features.len() * frames * speech_embedding::N_MELS);
        for f in features {
            let mel = f
                .speech_mel
                .as_ref()
                .expect("features made by this classifier's front end");
            flat.extend_from_slice(mel);
        }
        Some(Tensor::from_data(
            TensorData::new(flat, [features.len(), frames, speech_embedding::N_MELS]),
            &self.device,
        ))
    }

    /// The model's outputs for a batch, one row per window, to be read back at once (one
    /// round trip on WebGPU): the probabilities, the attention, then, from a model with the
    /// adapted head, the head inputs and the CNN's states. With the widths of the last two (0
    /// without them).
    fn run(&self, features: &[Features]) -> (Tensor<2>, [usize; 2]) {
        let (out, parts) = self
            .model
            .forward_parts(self.input(features), self.speech_input(features));
        let mut rows = vec![softmax(out.logits, 1), out.attention];
        let mut widths = [0, 0];
        if let Some(p) = parts {
            widths = [p.head_inputs.dims()[1], p.cnn_states.dims()[1]];
            rows.extend([p.head_inputs, p.cnn_states]);
        }
        (Tensor::cat(rows, 1), widths)
    }

    fn predictions(
        &self,
        read: Vec<f32>,
        [inputs, states]: [usize; 2],
        n: usize,
    ) -> Vec<Prediction> {
        let classes = self.header.labels.len();
        let row_len = read.len() / n.max(1);
        let steps = row_len.saturating_sub(classes + inputs + states);
        read.chunks_exact(row_len.max(1))
            .map(|row| {
                let (p, rest) = row.split_at(classes);
                let (attention, parts) = rest.split_at(steps);
                Prediction {
                    label: self.header.labels[crate::timeline::argmax(p)].clone(),
                    probabilities: p.to_vec(),
                    attention: attention.to_vec(),
                    adaptable: (inputs > 0).then(|| Adaptable {
                        head_inputs: parts[..inputs].to_vec(),
                        cnn_states: parts[inputs..].to_vec(),
                        strict: p.to_vec(),
                    }),
                }
            })
            .collect()
    }

    /// Classifies a batch of feature maps (synchronous read-back: CPU backends).
    pub fn classify_features(&self, features: &[Features]) -> Vec<Prediction> {
        let (out, widths) = self.run(features);
        let read = out.into_data().try_to_vec::<f32>().expect("f32 output");
        self.predictions(read, widths, features.len())
    }

    /// Classifies a batch of feature maps, reading results back asynchronously (WebGPU).
    pub async fn classify_features_async(&self, features: &[Features]) -> Vec<Prediction> {
        let (out, widths) = self.run(features);
        let read = out.into_data_async().await.expect("read back the outputs");
        self.predictions(
            read.try_to_vec::<f32>().expect("f32 output"),
            widths,
            features.len(),
        )
    }

    /// Whether the model can adapt to a speaker (its branch has the adapted head).
    pub fn adapts(&self) -> bool {
        self.model
            .speech()
            .is_some_and(|branch| branch.adapted.is_some())
    }

    /// The adapted head's joint log-probabilities for windows' parts, their head inputs
    /// normalised with `voice`; `None` where the model has no adapted head or the voice has
    /// not been heard.
    fn adapted_logits(&self, parts: &[&Adaptable], voice: &VoiceProfile) -> Option<Tensor<2>> {
        let first = parts.first()?;
        let inputs = self.model.speech()?.adapted.as_ref()?.inputs();
        let states = 2 * self.header.model.lstm_hidden;
        if first.head_inputs.len() != inputs || first.cnn_states.len() != states {
            return None;
        }
        let width = inputs + states;
        let mut values = Vec::with_capacity(parts.len() * width);
        for p in parts {
            if p.head_inputs.len() != inputs || p.cnn_states.len() != states {
                return None;
            }
            values.extend_from_slice(&p.head_inputs);
            values.extend_from_slice(&p.cnn_states);
        }
        let values = Tensor::from_data(TensorData::new(values, [parts.len(), width]), &self.device);
        let joint = self.model.adapted_log_probs(values, voice)?;
        Some(softmax(joint, 1))
    }

    /// The speaker-adapted probabilities of windows classified before (their
    /// [`Prediction::adaptable`] parts): the CNN's view as it was, the branch's through the
    /// adapted head on inputs normalised with `voice`. `None` where the model cannot adapt.
    pub async fn adapt(&self, parts: &[&Adaptable], voice: &VoiceProfile) -> Option<Vec<Vec<f32>>> {
        let probs = self.adapted_logits(parts, voice)?;
        let classes = probs.dims()[1];
        let flat = probs
            .into_data_async()
            .await
            .ok()?
            .try_to_vec::<f32>()
            .ok()?;
        Some(flat.chunks_exact(classes).map(|c| c.to_vec()).collect())
    }

    /// Classifies one clip given as channels of samples at `rate` Hz.
    pub fn classify(&self, channels: &[&[f32]], rate: u32) -> Result<Prediction, AudioError> {
        let f = self.features(channels, rate)?;
        Ok(self.classify_features(&[f]).remove(0))
    }
}
