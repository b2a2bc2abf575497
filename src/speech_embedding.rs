//! A second, pretrained view of the analysis window: Google's `speech_embedding` network
//! (Lin et al., "Training keyword spotters with limited and synthesized speech data", 2020;
//! trained on a large speech corpus), as shipped in the `openwakeword` 0.4.0 wheel on PyPI
//! (CC BY-NC-SA 4.0). It is frozen: only a small linear head on top is trained here. Its
//! log-probabilities are added to the CNN's (see [`crate::model::EmotionNet::forward_fused`]).
//!
//! The network slides over 76 frames of a 32-band log-mel at 16 kHz, 8 frames at a time. Its
//! time axis has no padding and a total stride of 8, so running it once over a whole window
//! gives exactly the per-position embeddings, at a fraction of the cost.

use crate::audio::{AudioError, normalise_level, resample};
use crate::features::{FeatureConfig, LogMel, power_to_db};
use crate::prosody;
use burn::module::Param;
use burn::nn::{
    Linear, LinearConfig, PaddingConfig2d,
    conv::{Conv2d, Conv2dConfig},
};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, log_softmax, relu};

/// The network's sample rate, mel bands and embedding width.
pub const RATE: u32 = 16_000;
pub const N_MELS: usize = 32;
pub const DIM: usize = 96;
/// Pooled statistics per window: the mean and the spread of the embeddings over time.
pub const POOLED: usize = 2 * DIM;
/// Mel frames one embedding sees; frames between two embeddings.
pub const FRAMES_PER_EMBEDDING: usize = 76;
pub const STEP: usize = 8;

/// The front end the network was trained with: 25-ms Hann windows every 10 ms (not centred),
/// a 512-point FFT, 32 Slaney mel bands from 60 to 3 800 Hz, power in dB of 16-bit sample
/// values, floored 80 dB under the window's maximum, then `dB / 10 + 2`. For a head that reads
/// prosody, the branch's input has one row more: the [`prosody::statistics`] of the same
/// 16-kHz window, zero-padded to `N_MELS` values.
pub struct SpeechFrontEnd {
    logmel: LogMel,
    from_rate: u32,
    frames: usize,
    level_dbfs: Option<f32>,
    prosody: bool,
}

/// The level new models' branch reads its window at (RMS of the loudest 93-ms frame): the
/// network's input is in absolute dB, and a recording's level says more about the microphone
/// than about the speaker. About that of the median RAVDESS clip.
pub const LEVEL_DBFS: f32 = -30.0;

impl SpeechFrontEnd {
    /// For windows of `window_samples` at `from_rate` Hz (the CNN's analysis window), each
    /// brought to `level_dbfs` first where given ([`crate::audio::normalise_level`]), with the
    /// prosody row when `prosody`.
    pub fn new(
        from_rate: u32,
        window_samples: usize,
        level_dbfs: Option<f32>,
        prosody: bool,
    ) -> Self {
        let samples = window_samples as u64 * RATE as u64 / from_rate.max(1) as u64;
        let config = FeatureConfig {
            sample_rate: RATE,
            window_samples: samples as usize,
            n_fft: 512,
            hop_length: 160,
            n_mels: N_MELS,
            n_frames: 0,
            fmin: 60.0,
            fmax: 3_800.0,
            top_db: 80.0,
        };
        let logmel = LogMel::with_framing(&config, 400, false);
        Self {
            frames: logmel.frames(samples as usize).max(FRAMES_PER_EMBEDDING),
            logmel,
            from_rate,
            level_dbfs,
            prosody,
        }
    }

    /// Rows of the branch's input per window (`rows × N_MELS` values from [`Self::mel`]): the
    /// mel frames, and the prosody row where there is one.
    pub fn frames(&self) -> usize {
        self.frames + self.prosody as usize
    }

    /// One analysis window → the network's input, `frames × N_MELS`, time first. Shorter
    /// input is padded with the floor, longer input cut, so every window has the same shape.
    pub fn mel(&self, window: &[f32]) -> Result<Vec<f32>, AudioError> {
        let x = match self.level_dbfs {
            Some(level) => {
                let mut w = window.to_vec();
                normalise_level(&mut w, level);
                resample(&w, self.from_rate, RATE)?
            }
            None => resample(window, self.from_rate, RATE)?,
        };
        let (power, frames) = self.logmel.mel_power(&x);
        // dB of 16-bit sample values (the network was trained on int16 audio cast to float):
        // the core's dB with its floor 80 dB under the top, moved back to an absolute level.
        const INT16: f64 = 32_768.0;
        let power: Vec<f64> = power.iter().map(|p| p * INT16 * INT16).collect();
        let top = power.iter().cloned().fold(0.0, f64::max);
        let top_db = 10.0 * top.max(1e-10).log10();
        let db = power_to_db(&power, 80.0);
        let scaled = |d: f64| ((d + top_db) / 10.0 + 2.0) as f32;
        let mut out = vec![scaled(-80.0); self.frames * N_MELS];
        for t in 0..frames.min(self.frames) {
            for m in 0..N_MELS {
                out[t * N_MELS + m] = scaled(db[m * frames + t]);
            }
        }
        if self.prosody {
            let mut row = [0f32; N_MELS];
            row[..prosody::N].copy_from_slice(&prosody::statistics(&x));
            out.extend_from_slice(&row);
        }
        Ok(out)
    }
}

/// How many middle layers there are ([`SpeechEmbedding::stem`] and [`SpeechEmbedding::tail`]
/// split the network between two of them).
pub const MIDDLE_LAYERS: usize = LAYERS.len();

/// One conv layer after the first: (input channels, output channels, kernel along time
/// (3, no padding) rather than along frequency (3, padded by 1)).
const LAYERS: [(usize, usize, bool); 18] = [
    (24, 24, false),
    (24, 24, true),
    (24, 48, false),
    (48, 48, true),
    (48, 48, false),
    (48, 48, true),
    (48, 72, false),
    (72, 72, true),
    (72, 72, false),
    (72, 72, true),
    (72, 96, false),
    (96, 96, true),
    (96, 96, false),
    (96, 96, true),
    (96, 96, false),
    (96, 96, true),
    (96, 96, false),
    (96, 96, true),
];

/// Max pooling after these layers: 2×2, or along frequency only.
const POOLS: [(usize, [usize; 2]); 5] = [
    (1, [2, 2]),
    (5, [1, 2]),
    (9, [2, 2]),
    (13, [1, 2]),
    (17, [2, 2]),
];

/// The frozen network: a 3×3 conv with batch norm, 18 separable-style convs, a last 3×1 conv.
#[derive(Module, Debug)]
pub struct SpeechEmbedding {
    first: Conv2d,
    /// The first layer's batch norm as a per-channel affine map (inference only).
    first_scale: Param<Tensor<1>>,
    first_shift: Param<Tensor<1>>,
    layers: Vec<Conv2d>,
    last: Conv2d,
}

/// Parameters of [`SpeechEmbedding`] as plain arrays (ONNX/PyTorch layout
/// `[out, in, time, frequency]`), for importing the published network.
pub struct SpeechEmbeddingWeights {
    pub first: Vec<f32>,
    pub first_scale: Vec<f32>,
    pub first_shift: Vec<f32>,
    /// Weight and bias of each of the 18 middle layers.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
    pub last: Vec<f32>,
}

fn conv(c_in: usize, c_out: usize, along_time: bool, bias: bool, device: &Device) -> Conv2d {
    let (kernel, padding) = if along_time {
        ([3, 1], PaddingConfig2d::Valid)
    } else {
        ([1, 3], PaddingConfig2d::Explicit(0, 1, 0, 1))
    };
    Conv2dConfig::new([c_in, c_out], kernel)
        .with_padding(padding)
        .with_bias(bias)
        .init(device)
}

impl SpeechEmbedding {
    /// The architecture with untrained parameters (a weights file or [`Self::from_weights`]
    /// fills them).
    pub fn new(device: &Device) -> Self {
        Self {
            first: Conv2dConfig::new([1, 24], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(0, 1, 0, 1))
                .with_bias(false)
                .init(device),
            first_scale: Param::from_tensor(Tensor::ones([24], device)),
            first_shift: Param::from_tensor(Tensor::zeros([24], device)),
            layers: LAYERS
                .iter()
                .map(|&(i, o, t)| conv(i, o, t, true, device))
                .collect(),
            last: conv(96, 96, true, false, device),
        }
    }

    /// The published parameters; every array must have its layer's size.
    pub fn from_weights(w: SpeechEmbeddingWeights, device: &Device) -> Result<Self, String> {
        fn set(
            conv: &mut Conv2d,
            weight: Vec<f32>,
            bias: Option<Vec<f32>>,
            name: &str,
        ) -> Result<(), String> {
            let shape = conv.weight.val().dims();
            if weight.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "{name}: {} weights, expected {shape:?}",
                    weight.len()
                ));
            }
            let device = conv.weight.val().device();
            conv.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), &device));
            if let Some(b) = bias {
                if b.len() != shape[0] {
                    return Err(format!("{name}: {} biases, expected {}", b.len(), shape[0]));
                }
                conv.bias = Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(b, [shape[0]]),
                    &device,
                )));
            }
            Ok(())
        }
        let mut net = Self::new(device);
        if w.layers.len() != LAYERS.len() {
            return Err(format!(
                "{} middle layers, expected {}",
                w.layers.len(),
                LAYERS.len()
            ));
        }
        set(&mut net.first, w.first, None, "first layer")?;
        for (k, (layer, (weight, bias))) in net.layers.iter_mut().zip(w.layers).enumerate() {
            set(layer, weight, Some(bias), &format!("layer {}", k + 1))?;
        }
        set(&mut net.last, w.last, None, "last layer")?;
        for (v, name, param) in [
            (w.first_scale, "batch norm scale", &mut net.first_scale),
            (w.first_shift, "batch norm shift", &mut net.first_shift),
        ] {
            if v.len() != 24 {
                return Err(format!("{name}: {} values, expected 24", v.len()));
            }
            *param = Param::from_tensor(Tensor::from_data(TensorData::new(v, [24]), device));
        }
        Ok(net)
    }

    /// `mel`: `[batch, frames, N_MELS]` from [`SpeechFrontEnd::mel`] →
    /// `[batch, 1 + (frames - 76) / 8, DIM]`, one embedding per 8 frames.
    pub fn forward(&self, mel: Tensor<3>) -> Tensor<3> {
        self.tail(self.stem(mel, MIDDLE_LAYERS), MIDDLE_LAYERS)
    }

    /// The first conv and the middle layers before `until` (with their pooling):
    /// `[batch, channels, time, frequency]`. With [`Self::tail`] from the same layer it is
    /// [`Self::forward`]; the split lets the trainer keep the lower layers' output of a clip
    /// once and tune the upper ones.
    pub fn stem(&self, mel: Tensor<3>, until: usize) -> Tensor<4> {
        let x = relu(self.first.forward(mel.unsqueeze_dim::<4>(1)));
        let x = x * self.first_scale.val().reshape([1, 24, 1, 1])
            + self.first_shift.val().reshape([1, 24, 1, 1]);
        self.middle(act(x), 0..until.min(MIDDLE_LAYERS))
    }

    /// The middle layers from `from` on and the last conv: [`Self::stem`]'s output → the
    /// embeddings, `[batch, steps, DIM]`.
    pub fn tail(&self, x: Tensor<4>, from: usize) -> Tensor<3> {
        let x = self.middle(x, from.min(MIDDLE_LAYERS)..MIDDLE_LAYERS);
        // [batch, DIM, steps, 1] → [batch, steps, DIM]
        let x = self.last.forward(x);
        let [batch, dim, steps, _] = x.dims();
        x.reshape([batch, dim, steps]).swap_dims(1, 2)
    }

    fn middle(&self, mut x: Tensor<4>, layers: std::ops::Range<usize>) -> Tensor<4> {
        for k in layers {
            x = act(self.layers[k].forward(x));
            if let Some((_, size)) = POOLS.iter().find(|(after, _)| *after == k) {
                x = crate::model::max_pool(x, *size);
            }
        }
        x
    }

    /// The mean and the spread (population standard deviation) of the embeddings over time:
    /// `[batch, POOLED]`.
    pub fn pooled(&self, mel: Tensor<3>) -> Tensor<2> {
        pool(self.forward(mel))
    }
}

/// The network's activation after every conv but the last.
fn act(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, 0.2).clamp_min(-0.4)
}

/// Embeddings `[batch, steps, DIM]` → their mean and spread over time, `[batch, POOLED]`.
pub fn pool(e: Tensor<3>) -> Tensor<2> {
    let mean = e.clone().mean_dim(1);
    // The tiny floor keeps the gradient finite where a value never moves (tuning the branch);
    // the spreads are far above it.
    let spread = (e - mean.clone())
        .square()
        .mean_dim(1)
        .add_scalar(1e-10)
        .sqrt();
    Tensor::cat(vec![mean, spread], 2).squeeze_dim::<2>(1)
}

/// The trained part: pooled statistics standardised with the training set's mean and spread,
/// then a linear classifier (multinomial logistic regression).
#[derive(Module, Debug)]
pub struct SpeechHead {
    mean: Param<Tensor<1>>,
    inv_std: Param<Tensor<1>>,
    classify: Linear,
}

impl SpeechHead {
    /// A head reading `inputs` values: [`POOLED`], or [`POOLED`] + [`prosody::N`].
    pub fn new(n_classes: usize, inputs: usize, device: &Device) -> Self {
        Self {
            mean: Param::from_tensor(Tensor::zeros([inputs], device)),
            inv_std: Param::from_tensor(Tensor::ones([inputs], device)),
            classify: LinearConfig::new(inputs, n_classes).init(device),
        }
    }

    /// The number of values it reads.
    pub fn inputs(&self) -> usize {
        self.mean.dims()[0]
    }

    /// From fitted values: `weight` is `[inputs][n_classes]` row-major, `inputs` the length of
    /// `mean`.
    pub fn from_fit(
        mean: Vec<f32>,
        inv_std: Vec<f32>,
        weight: Vec<f32>,
        bias: Vec<f32>,
        device: &Device,
    ) -> Self {
        let (n_classes, inputs) = (bias.len(), mean.len());
        let mut head = Self::new(n_classes, inputs, device);
        let tensor1 = |v: Vec<f32>| {
            let n = v.len();
            Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
        };
        head.mean = tensor1(mean);
        head.inv_std = tensor1(inv_std);
        head.classify.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [inputs, n_classes]),
            device,
        ));
        head.classify.bias = Some(tensor1(bias));
        head
    }

    /// `[batch, inputs]` → log-probabilities `[batch, n_classes]`.
    pub fn log_probs(&self, pooled: Tensor<2>) -> Tensor<2> {
        log_softmax(self.classify.forward(self.standardise(pooled)), 1)
    }

    /// The inputs on the training set's scale, as the classifier reads them.
    pub fn standardise(&self, inputs: Tensor<2>) -> Tensor<2> {
        (inputs - self.mean.val().unsqueeze_dim(0)) * self.inv_std.val().unsqueeze_dim(0)
    }

    /// The linear classifier after the standardisation.
    pub fn classifier(&self) -> &Linear {
        &self.classify
    }

    /// The same standardisation with another classifier (one trained further).
    pub fn with_classifier(self, classify: Linear) -> Self {
        Self { classify, ..self }
    }
}

/// The frozen network and its trained heads: one for any clip, and optionally one for inputs
/// z-normalised with the speaker's own statistics ([`crate::adapt::VoiceProfile`]).
#[derive(Module, Debug)]
pub struct SpeechBranch {
    pub net: SpeechEmbedding,
    pub head: SpeechHead,
    pub adapted: Option<SpeechHead>,
}

impl SpeechBranch {
    pub fn new(n_classes: usize, prosody: bool, adapted: bool, device: &Device) -> Self {
        let inputs = POOLED + if prosody { prosody::N } else { 0 };
        Self {
            net: SpeechEmbedding::new(device),
            head: SpeechHead::new(n_classes, inputs, device),
            adapted: adapted.then(|| SpeechHead::new(n_classes, inputs, device)),
        }
    }

    /// What the heads read from the branch's input ([`head_inputs`]).
    pub fn inputs(&self, input: Tensor<3>) -> Tensor<2> {
        head_inputs(&self.net, input, self.prosody())
    }

    /// Whether the head reads prosody (the input's last row).
    pub fn prosody(&self) -> bool {
        self.head.inputs() > POOLED
    }

    /// `[batch, rows, N_MELS]` (from [`SpeechFrontEnd::mel`]) → log-probabilities
    /// `[batch, n_classes]`.
    pub fn log_probs(&self, input: Tensor<3>) -> Tensor<2> {
        self.head.log_probs(self.inputs(input))
    }
}

/// What the head reads from the branch's input `[batch, rows, N_MELS]`: the pooled embeddings
/// of the mel rows, then (with `prosody`) the statistics in the last row, `[batch, inputs]`.
pub fn head_inputs(net: &SpeechEmbedding, input: Tensor<3>, prosody: bool) -> Tensor<2> {
    let (mel, stats) = split_input(input, prosody);
    join_inputs(net.pooled(mel), stats)
}

/// The branch's input `[batch, rows, N_MELS]` → the mel rows `[batch, frames, N_MELS]` and,
/// with `prosody`, the statistics of the last row `[batch, prosody::N]`.
pub fn split_input(input: Tensor<3>, prosody: bool) -> (Tensor<3>, Option<Tensor<2>>) {
    if !prosody {
        return (input, None);
    }
    let [batch, rows, _] = input.dims();
    let mel = input.clone().narrow(1, 0, rows - 1);
    let stats = input
        .narrow(1, rows - 1, 1)
        .narrow(2, 0, prosody::N)
        .reshape([batch, prosody::N]);
    (mel, Some(stats))
}

/// Pooled embeddings and the prosody statistics, where there are some → the head's inputs.
pub fn join_inputs(pooled: Tensor<2>, stats: Option<Tensor<2>>) -> Tensor<2> {
    match stats {
        Some(stats) => Tensor::cat(vec![pooled, stats], 1),
        None => pooled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn a_window_gives_one_embedding_per_eight_frames() {
        let front = SpeechFrontEnd::new(22_050, 3 * 22_050, None, false);
        assert_eq!(front.frames(), 297);
        let device = Device::flex();
        let net = SpeechEmbedding::new(&device);
        for (frames, steps) in [(297, 28), (76, 1), (84, 2)] {
            let mel = Tensor::<3>::random([2, frames, N_MELS], Distribution::Default, &device);
            assert_eq!(net.forward(mel.clone()).dims(), [2, steps, DIM]);
            let pooled = net.pooled(mel).into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(pooled.len(), 2 * POOLED);
            assert!(pooled.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn stem_and_tail_split_the_network_anywhere() {
        let device = Device::flex();
        let net = SpeechEmbedding::new(&device);
        let mel = Tensor::<3>::random([2, 120, N_MELS], Distribution::Default, &device);
        let whole = net.forward(mel.clone());
        for at in [0, 7, 14, MIDDLE_LAYERS] {
            let split = net.tail(net.stem(mel.clone(), at), at);
            let gap: f32 = (split - whole.clone()).abs().max().into_scalar();
            assert!(
                gap == 0.0,
                "split after {at} middle layers differs by {gap}"
            );
        }
    }

    #[test]
    fn front_end_pads_short_windows_and_survives_silence() {
        let front = SpeechFrontEnd::new(22_050, 3 * 22_050, None, false);
        let silence = front.mel(&vec![0.0; 3 * 22_050]).unwrap();
        assert_eq!(silence.len(), 297 * N_MELS);
        assert!(silence.iter().all(|v| v.is_finite()));
        let short: Vec<f32> = (0..11_025).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let mel = front.mel(&short).unwrap();
        assert_eq!(mel.len(), 297 * N_MELS);
        // The last frames are padding: the floor, 8 dB (0.8 after scaling) under the top.
        let top = mel.iter().cloned().fold(f32::MIN, f32::max);
        let last = mel[296 * N_MELS];
        assert!((top - last - 8.0).abs() < 1e-4, "top {top}, padding {last}");
    }
}
