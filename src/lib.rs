//! speech-emotion: speech emotion recognition that runs the same code natively and in the browser.
//!
//! The pipeline reads top to bottom:
//! [`audio`] (any rate, any channels → mono 22.05 kHz, 3-s window) →
//! [`features`] (128×128 log-mel, librosa-compatible) →
//! [`model`] (CNN + BiLSTM + temporal attention in Burn) →
//! [`classifier`] (normalise, run, softmax → 8 probabilities).
//! [`speech_embedding`] is a second, pretrained view of the same window (16 kHz mel →
//! Google's speech embedding → a linear head) whose log-probabilities join the CNN's.
//! [`timeline`] cuts recordings of any length into windows and [`segments`] says what they hold
//! over time (smoothed, as segments and shares of speech time).
//! [`adapt`] normalises log-mels per speaker when several recordings of them are at hand.
//! [`weights`] is the one file format that carries a trained model, and [`labels`] the emotions.
//! The trainer and the WebAssembly facade ([`wasm`], browser only) both call these modules.

pub mod adapt;
pub mod audio;
pub mod classifier;
pub mod decode;
pub mod features;
pub mod labels;
pub mod model;
pub mod prosody;
pub mod segments;
pub mod speech_embedding;
pub mod timeline;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub mod weights;

pub use classifier::{Classifier, Prediction};
pub use features::FeatureConfig;
pub use labels::EMOTIONS;
pub use model::{EmotionNet, ModelConfig};
pub use weights::{WeightsError, WeightsFile};
