//! The network: a small CNN over the log-mel image, a BiLSTM over its time steps and temporal
//! attention that pools them, then a linear classifier. One definition, every backend.

use crate::adapt::{VoiceProfile, moves_states};
use crate::speech_embedding::SpeechBranch;
use burn::module::Param;
use burn::nn::{
    BatchNorm, BatchNormConfig, BiLstm, BiLstmConfig, Dropout, DropoutConfig, Linear, LinearConfig,
    PaddingConfig2d,
    conv::{Conv2d, Conv2dConfig},
};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, softmax, tanh};
use serde::{Deserialize, Serialize};

/// Shape of the network. Stored in the weights file so a loader can rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub n_mels: usize,
    pub n_frames: usize,
    /// Output channels of each conv block; every block halves both axes.
    pub channels: Vec<usize>,
    /// Width of the per-time-step projection fed to the BiLSTM.
    pub d_model: usize,
    /// Hidden size of each LSTM direction.
    pub lstm_hidden: usize,
    pub attention_hidden: usize,
    pub n_classes: usize,
    pub dropout: f64,
    /// Whether the model carries the pretrained speech-embedding branch
    /// ([`crate::speech_embedding`]). Left out of the header when false, so files without it
    /// read as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub speech_embedding: bool,
    /// The level the branch's window is brought to before its mel (RMS of the loudest frame,
    /// dBFS; [`crate::audio::normalise_level`]). Absent in files whose branch read the
    /// recording's own level, which still load and read it so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_level_dbfs: Option<f32>,
    /// Whether the branch's head also reads the window's prosody statistics
    /// ([`crate::prosody`]). Left out of the header when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prosody: bool,
    /// Whether the branch has a second head, for inputs normalised to the speaker's own voice
    /// ([`crate::adapt::VoiceProfile`]). Left out of the header when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adapted_head: bool,
    /// Whether the adapted view also moves the CNN's pooled states from the speaker's own mean
    /// and spread to the training clips' ([`StateStats`]). Left out of the header when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adapted_states: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            n_mels: 128,
            n_frames: 128,
            channels: vec![16, 32, 64],
            d_model: 128,
            lstm_hidden: 64,
            attention_hidden: 64,
            n_classes: 8,
            dropout: 0.3,
            speech_embedding: false,
            speech_level_dbfs: None,
            prosody: false,
            adapted_head: false,
            adapted_states: false,
        }
    }
}

impl ModelConfig {
    /// This configuration with the speech-embedding branch (reading at
    /// [`crate::speech_embedding::LEVEL_DBFS`]) or without it.
    pub fn with_speech_branch(self, on: bool) -> Self {
        Self {
            speech_embedding: on,
            speech_level_dbfs: on.then_some(crate::speech_embedding::LEVEL_DBFS),
            adapted_head: on && self.adapted_head,
            adapted_states: on && self.adapted_head && self.adapted_states,
            ..self
        }
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(c_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = if x.device().is_autodiff() && self.norm.training.is_enabled() {
            batch_norm_train(&self.norm, x)
        } else {
            self.norm.forward(x)
        };
        // Pooling first: max and ReLU commute, and the ReLU then runs on a quarter of the values.
        relu(max_pool(x, [2, 2]))
    }
}

/// Max pooling over non-overlapping `size` tiles (a stride of `size`, no padding, a ragged
/// edge dropped), as `MaxPool2d` with those settings, written as a reshape and one max per
/// axis: the same values, and 1.4–2.4× faster on the CPU backend, whose pooling kernel is a
/// general one that also tracks indices.
pub fn max_pool(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let (oh, ow) = (h / size[0], w / size[1]);
    let x = if oh * size[0] != h || ow * size[1] != w {
        x.slice([0..b, 0..c, 0..oh * size[0], 0..ow * size[1]])
    } else {
        x
    };
    let x: Tensor<6> = x.reshape([b, c, oh, size[0], ow, size[1]]);
    let x = if size[1] > 1 { x.max_dim(5) } else { x };
    let x = if size[0] > 1 { x.max_dim(3) } else { x };
    x.reshape([b, c, oh, ow])
}

/// `BatchNorm::forward` in training, the same computation (batch mean and biased variance over
/// batch, height and width; running statistics updated with the layer's momentum), written with
/// reductions along the contiguous axes. Burn's own op transposes the activation to reduce it,
/// twice forward and again backward, which made batch norm the costliest part of a training step
/// on the CPU (see trainer/EXPERIMENTS.md, "Training speed").
fn batch_norm_train(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let n = (batch * height * width) as f64;
    let channel_mean = |t: Tensor<4>| t.sum_dim(3).sum_dim(2).sum_dim(0).div_scalar(n);
    let mean = channel_mean(x.clone());
    let centred = x - mean.clone();
    let variance = channel_mean(centred.clone().square());
    let per_channel = [1, channels, 1, 1];
    let scale = norm.gamma.val().reshape(per_channel) / (variance.clone() + norm.epsilon).sqrt();
    let y = centred * scale + norm.beta.val().reshape(per_channel);
    let momentum = norm.momentum;
    for (state, batch_value) in [(&norm.running_mean, mean), (&norm.running_var, variance)] {
        let running = state.value_sync().to_device(&batch_value.device());
        state.update(
            running
                .mul_scalar(1.0 - momentum)
                .add(
                    batch_value
                        .detach()
                        .reshape([channels])
                        .mul_scalar(momentum),
                )
                .detach(),
        );
    }
    y
}

#[derive(Module, Debug)]
pub struct EmotionNet {
    blocks: Vec<ConvBlock>,
    project: Linear,
    lstm: BiLstm,
    attention_hidden: Linear,
    attention_score: Linear,
    dropout: Dropout,
    classify: Linear,
    speech: Option<SpeechBranch>,
    states: Option<StateStats>,
}

/// Each pooled CNN state's mean and spread over the training clips: where the speaker-adapted
/// view moves a voice's own states before the classifier, so that it reads how a recording
/// departs from that voice's habit, as the adapted head does with its inputs.
#[derive(Module, Debug)]
pub struct StateStats {
    pub mean: Param<Tensor<1>>,
    pub spread: Param<Tensor<1>>,
}

impl StateStats {
    pub fn new(mean: Vec<f32>, spread: Vec<f32>, device: &Device) -> Self {
        let param = |v: Vec<f32>| {
            let n = v.len();
            Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
        };
        Self {
            mean: param(mean),
            spread: param(spread),
        }
    }
}

/// The logits and the attention weights over time steps (`[batch, steps]`).
pub struct Output {
    pub logits: Tensor<2>,
    pub attention: Tensor<2>,
}

/// What [`EmotionNet::forward_parts`] keeps for a speaker-adapted view: the branch's head
/// inputs `[batch, head inputs]` and the CNN's pooled states `[batch, 2·lstm_hidden]`.
pub struct AdaptableParts {
    pub head_inputs: Tensor<2>,
    pub cnn_states: Tensor<2>,
}

/// The widest layer a configuration may ask for (a hostile weights header could ask for
/// gigabytes).
pub const MAX_WIDTH: usize = 1024;

impl ModelConfig {
    /// Time steps the LSTM sees after the conv blocks.
    pub fn steps(&self) -> usize {
        self.n_frames
            .checked_shr(self.channels.len() as u32)
            .unwrap_or(0)
    }

    /// Checks that this shape can be built: 1 to log2(n_frames) conv blocks, every width in
    /// 1..=[`MAX_WIDTH`], dropout in [0, 1). The message names the field. (The class count is
    /// checked against the labels by whoever holds them.)
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout: {} is outside [0, 1)", self.dropout));
        }
        if self.channels.is_empty() || self.steps() == 0 {
            return Err(format!(
                "channels: {:?} must hold 1 to {} widths",
                self.channels,
                self.n_frames.max(1).ilog2()
            ));
        }
        let sizes = self.channels.iter().map(|&c| ("channels", c)).chain([
            ("d_model", self.d_model),
            ("lstm_hidden", self.lstm_hidden),
            ("attention_hidden", self.attention_hidden),
        ]);
        for (field, v) in sizes {
            if !(1..=MAX_WIDTH).contains(&v) {
                return Err(format!("{field}: {v} is outside 1..={MAX_WIDTH}"));
            }
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> EmotionNet {
        let mut c_in = 1;
        let blocks = self
            .channels
            .iter()
            .map(|&c| {
                let b = ConvBlock::new(c_in, c, device);
                c_in = c;
                b
            })
            .collect();
        let freq = self.n_mels >> self.channels.len();
        EmotionNet {
            blocks,
            project: LinearConfig::new(c_in * freq, self.d_model).init(device),
            lstm: BiLstmConfig::new(self.d_model, self.lstm_hidden, true).init(device),
            attention_hidden: LinearConfig::new(2 * self.lstm_hidden, self.attention_hidden)
                .init(device),
            attention_score: LinearConfig::new(self.attention_hidden, 1).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            classify: LinearConfig::new(2 * self.lstm_hidden, self.n_classes).init(device),
            speech: self.speech_embedding.then(|| {
                SpeechBranch::new(self.n_classes, self.prosody, self.adapted_head, device)
            }),
            states: (self.speech_embedding && self.adapted_head && self.adapted_states).then(
                || {
                    let n = 2 * self.lstm_hidden;
                    StateStats::new(vec![0.0; n], vec![1.0; n], device)
                },
            ),
        }
    }
}

impl EmotionNet {
    /// `input`: normalised log-mels `[batch, n_mels, n_frames]`.
    pub fn forward(&self, input: Tensor<3>) -> Output {
        let (pooled, attention) = self.pooled(input);
        Output {
            logits: self.classify_pooled(pooled),
            attention,
        }
    }

    /// What the classifier reads: the attention-pooled BiLSTM states `[batch, 2·lstm_hidden]`,
    /// and the attention weights `[batch, steps]`.
    pub fn pooled(&self, input: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let mut x = input.unsqueeze_dim::<4>(1);
        for block in &self.blocks {
            x = block.forward(x);
        }
        // [batch, channels, freq, time] → [batch, time, channels·freq]
        let [batch, channels, freq, time] = x.dims();
        let x = x
            .permute([0, 3, 1, 2])
            .reshape([batch, time, channels * freq]);
        let x = self.dropout.forward(relu(self.project.forward(x)));
        let (h, _) = self.lstm.forward(x, None);
        // Additive attention: one score per time step, softmax over time, weighted sum.
        let scores = self
            .attention_score
            .forward(tanh(self.attention_hidden.forward(h.clone())))
            .squeeze_dim::<2>(2);
        let attention = softmax(scores, 1);
        let pooled = (h * attention.clone().unsqueeze_dim::<3>(2)).sum_dim(1);
        (pooled.squeeze_dim::<2>(1), attention)
    }

    /// The logits of pooled states from [`Self::pooled`].
    pub fn classify_pooled(&self, pooled: Tensor<2>) -> Tensor<2> {
        self.classify.forward(self.dropout.forward(pooled))
    }

    /// [`Self::forward`] joined with the speech-embedding branch when the model has one:
    /// the logits are then the sum of both views' log-probabilities (a product of experts,
    /// equal weights), so a softmax of them gives the joint probabilities. `speech_mel`:
    /// `[batch, frames, N_MELS]` from [`crate::speech_embedding::SpeechFrontEnd::mel`].
    pub fn forward_fused(&self, input: Tensor<3>, speech_mel: Option<Tensor<3>>) -> Output {
        self.forward_parts(input, speech_mel).0
    }

    /// [`Self::forward_fused`], and with it what a speaker-adapted view needs when the branch
    /// has its second head: the CNN's log-probabilities and the branch's head inputs.
    pub fn forward_parts(
        &self,
        input: Tensor<3>,
        speech_mel: Option<Tensor<3>>,
    ) -> (Output, Option<AdaptableParts>) {
        let (states, attention) = self.pooled(input);
        let logits = self.classify_pooled(states.clone());
        let (Some(branch), Some(mel)) = (&self.speech, speech_mel) else {
            return (Output { logits, attention }, None);
        };
        let inputs = branch.inputs(mel);
        let fused = Output {
            logits: self.strict_log_probs(logits, inputs.clone(), branch),
            attention,
        };
        let parts = branch.adapted.is_some().then_some(AdaptableParts {
            head_inputs: inputs,
            cnn_states: states,
        });
        (fused, parts)
    }

    /// The strict joint log-probabilities of windows' parts: the CNN's view (from its pooled
    /// `states`) and the branch's head on its `head_inputs`, a product of experts; `None`
    /// without the branch.
    pub fn strict_from_parts(
        &self,
        head_inputs: Tensor<2>,
        states: Tensor<2>,
    ) -> Option<Tensor<2>> {
        let branch = self.speech.as_ref()?;
        Some(self.strict_log_probs(self.classify_pooled(states), head_inputs, branch))
    }

    fn strict_log_probs(
        &self,
        logits: Tensor<2>,
        inputs: Tensor<2>,
        branch: &SpeechBranch,
    ) -> Tensor<2> {
        log_softmax(logits, 1) + branch.head.log_probs(inputs)
    }

    /// The speaker-adapted view's joint log-probabilities `[batch, n_classes]`, or `None`
    /// without the adapted head or a profile of these values. `values`: each window's head
    /// inputs then CNN states `[batch, values]`; `voice`: the profile of them (and, after them,
    /// of the strict probabilities, [`crate::classifier::Adaptable::profile_values`]). The values
    /// are z-normalised with the profile; the second head reads the head inputs so, and where
    /// the profile heard enough moods ([`crate::adapt::moves_states`]) a model with
    /// [`StateStats`] moves the states onto the training clips' mean and spread before the
    /// CNN's classifier; otherwise the CNN reads the states as they are.
    ///
    /// The result is the adapted view weighted by the profile's
    /// [`VoiceProfile::adapted_share`] against the strict view of the same values
    /// ([`Self::blended_log_probs`]).
    pub fn adapted_log_probs(&self, values: Tensor<2>, voice: &VoiceProfile) -> Option<Tensor<2>> {
        self.blended_log_probs(values, voice, voice.adapted_share())
    }

    /// The adapted view's joint log-probabilities times `share`, plus the strict view's times
    /// `1 − share` (a geometric mean of the two views' probabilities, unnormalised); as
    /// [`Self::adapted_log_probs`] otherwise. `share` 1: the adapted view alone.
    pub fn blended_log_probs(
        &self,
        values: Tensor<2>,
        voice: &VoiceProfile,
        share: f32,
    ) -> Option<Tensor<2>> {
        let branch = self.speech.as_ref()?;
        let head = branch.adapted.as_ref()?;
        let [_, width] = values.dims();
        let inputs = head.inputs();
        let (mean, spread) = voice.mean_spread();
        if voice.windows() == 0 || width <= inputs || mean.len() <= width {
            return None;
        }
        let device = values.device();
        let vector =
            |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        let z = (values.clone() - vector(&mean[..width]).unsqueeze_dim(0))
            / vector(&spread[..width]).unsqueeze_dim(0);
        let raw_states = values.clone().narrow(1, inputs, width - inputs);
        let states = match &self.states {
            Some(s) if moves_states(&mean[width..]) => {
                z.clone().narrow(1, inputs, width - inputs) * s.spread.val().unsqueeze_dim(0)
                    + s.mean.val().unsqueeze_dim(0)
            }
            _ => raw_states.clone(),
        };
        let adapted =
            log_softmax(self.classify_pooled(states), 1) + head.log_probs(z.narrow(1, 0, inputs));
        let share = share.clamp(0.0, 1.0);
        if share == 1.0 {
            return Some(adapted);
        }
        let strict = self.strict_log_probs(
            self.classify_pooled(raw_states),
            values.narrow(1, 0, inputs),
            branch,
        );
        Some(adapted * share + strict * (1.0 - share))
    }

    /// This model with the training clips' [`StateStats`] (the trainer computes them after the
    /// CNN).
    pub fn with_state_stats(self, stats: StateStats) -> Self {
        Self {
            states: Some(stats),
            ..self
        }
    }

    /// Whether the adapted view moves the CNN's states ([`StateStats`]).
    pub fn adapts_states(&self) -> bool {
        self.states.is_some()
    }

    /// The speech-embedding branch, if the model has one.
    pub fn speech(&self) -> Option<&SpeechBranch> {
        self.speech.as_ref()
    }

    /// This model with `branch` as its speech-embedding branch (the trainer fits the branch's
    /// head after the CNN).
    pub fn with_speech(self, branch: SpeechBranch) -> Self {
        Self {
            speech: Some(branch),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn max_pool_is_burns_max_pool_with_the_stride_of_its_size() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex();
        for (shape, size) in [
            ([2, 3, 8, 6], [2, 2]),
            ([1, 4, 9, 7], [2, 2]),
            ([1, 2, 5, 9], [1, 2]),
            ([3, 1, 6, 4], [2, 1]),
        ] {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let want = MaxPool2dConfig::new(size).init().forward(x.clone());
            assert_eq!(
                max_pool(x, size).into_data(),
                want.into_data(),
                "{shape:?} {size:?}"
            );
        }
    }

    #[test]
    fn the_branch_level_is_recorded_and_older_files_read_without_it() {
        let with = ModelConfig::default().with_speech_branch(true);
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["speech_level_dbfs"], -30.0);
        let mut older = json.clone();
        older.as_object_mut().unwrap().remove("speech_level_dbfs");
        let older: ModelConfig = serde_json::from_value(older).unwrap();
        assert!(older.speech_embedding && older.speech_level_dbfs.is_none());
        let without = serde_json::to_value(ModelConfig::default().with_speech_branch(false));
        assert!(without.unwrap().get("speech_level_dbfs").is_none());
    }

    /// Our batch norm in training against Burn's: outputs, gradients of the input and of both
    /// parameters, and the running statistics, on an input with a channel offset and scale.
    #[test]
    fn batch_norm_train_matches_burns() {
        let device = Device::flex().autodiff();
        Device::seed(&device, 3);
        let x = Tensor::<4>::random([4, 3, 5, 6], Distribution::Normal(0.5, 2.0), &device);
        let w = Tensor::<4>::random([4, 3, 5, 6], Distribution::Default, &device);
        let mut norm = BatchNormConfig::new(3).init(&device);
        norm.gamma = Param::from_tensor(Tensor::from_floats([0.5, 1.5, -2.0], &device));
        norm.beta = Param::from_tensor(Tensor::from_floats([0.1, -0.3, 0.7], &device));
        let ours = norm.clone();

        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>, norm: &BatchNorm| {
            let input = x.clone().detach().require_grad();
            let y = f(input.clone());
            let grads = (y.clone() * w.clone()).sum().backward();
            let grad = |t: &Tensor<1>| t.grad(&grads).unwrap().into_data();
            (
                y.into_data(),
                input.grad(&grads).unwrap().into_data(),
                grad(&norm.gamma.val()),
                grad(&norm.beta.val()),
            )
        };
        let expected = run(&|t| norm.forward(t), &norm);
        let got = run(&|t| batch_norm_train(&ours, t), &ours);
        let close = |a: &TensorData, b: &TensorData| {
            a.assert_approx_eq::<f32>(b, burn::tensor::Tolerance::absolute(1e-4))
        };
        close(&got.0, &expected.0);
        close(&got.1, &expected.1);
        close(&got.2, &expected.2);
        close(&got.3, &expected.3);
        close(
            &ours.running_mean.value().into_data(),
            &norm.running_mean.value().into_data(),
        );
        close(
            &ours.running_var.value().into_data(),
            &norm.running_var.value().into_data(),
        );
    }
}
