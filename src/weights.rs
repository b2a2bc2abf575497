//! The weights file: one self-describing file per trained model.
//!
//! Layout: the magic `SPEMOTW\0`, the format version (u32 LE), the header length (u32 LE), a
//! JSON [`Header`] (feature configuration, model shape, labels, normalisation statistics,
//! window rule, training provenance), then the parameters as a burnpack record.
//! A file is only accepted when its format version and feature configuration are the ones this
//! build computes; the error says what differs.
//!
//! Storage (version 2): every large weight tensor as int8 in blocks of [`BLOCK`] values, each
//! block with its own f32 scale (symmetric, the block's largest magnitude at ±127), beside it as
//! `NAME.q8scale`; the small tensors (biases, norms, the heads) as f16. That is a little over a
//! quarter of the f32 bytes. Version 1 files (every tensor f16) still load.

use crate::audio::TRIM_TOP_DB;
use crate::features::FeatureConfig;
use crate::model::{EmotionNet, ModelConfig};
use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAGIC: &[u8; 8] = b"SPEMOTW\0";
/// Bumped whenever the layout or the meaning of a field changes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build still reads (all-f16 parameters).
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Values per int8 block, each block with its own scale.
pub const BLOCK: usize = 64;
/// Tensors with fewer values than this stay f16: their bytes are few and biases and norms
/// shift every output.
pub const MIN_QUANTIZED: usize = 4096;
const SCALE_SUFFIX: &str = ".q8scale";

/// How the analysis window is placed; part of the compatibility check.
pub fn window_rule() -> String {
    format!("trim-{TRIM_TOP_DB}dB-centre")
}

/// How log-mels are normalised: optionally each mel band minus its mean over the clip's
/// frames (removes the speaker's and the microphone's spectral colour), then
/// `(x - mean) / std` with train-set statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
    #[serde(default)]
    pub subtract_band_means: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub features: FeatureConfig,
    pub window_rule: String,
    pub model: ModelConfig,
    pub labels: Vec<String>,
    pub normalization: Normalization,
    /// Free-form provenance written by the trainer (data, protocol, date, licence).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// A decoded weights file: its header and the model's parameter record.
pub struct WeightsFile {
    pub header: Header,
    pub record: ModuleRecord,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WeightsError {
    NotAWeightsFile,
    Truncated,
    Version { file: u32, supported: u32 },
    Header(String),
    Incompatible(Vec<String>),
    Record(String),
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::NotAWeightsFile => {
                write!(f, "not a speech-emotion weights file (wrong magic bytes)")
            }
            WeightsError::Truncated => write!(f, "the weights file is truncated"),
            WeightsError::Version { file, supported } => write!(
                f,
                "weights file format version {file} is not supported: this build reads versions {OLDEST_FORMAT_VERSION} to {supported}"
            ),
            WeightsError::Header(e) => write!(f, "the weights file header is invalid: {e}"),
            WeightsError::Incompatible(diffs) => write!(
                f,
                "the weights file was made for another configuration: {}",
                diffs.join("; ")
            ),
            WeightsError::Record(e) => write!(f, "the model parameters do not load: {e}"),
        }
    }
}

impl std::error::Error for WeightsError {}

impl Header {
    pub fn new(model: ModelConfig, labels: Vec<String>, normalization: Normalization) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            features: FeatureConfig::default(),
            window_rule: window_rule(),
            model,
            labels,
            normalization,
            training: serde_json::Value::Null,
        }
    }

    /// What differs between this header and what this build computes.
    pub fn differences(&self) -> Vec<String> {
        let mut diffs = Vec::new();
        let ours = serde_json::to_value(FeatureConfig::default()).expect("serialisable");
        let theirs = serde_json::to_value(&self.features).expect("serialisable");
        if let (Some(o), Some(t)) = (ours.as_object(), theirs.as_object()) {
            for (k, v) in o {
                if t.get(k) != Some(v) {
                    let got = t.get(k).map_or("missing".to_string(), |x| x.to_string());
                    diffs.push(format!("features.{k}: file has {got}, this build uses {v}"));
                }
            }
        }
        if self.window_rule != window_rule() {
            diffs.push(format!(
                "window rule: file has {}, this build uses {}",
                self.window_rule,
                window_rule()
            ));
        }
        if self.model.n_mels != self.features.n_mels
            || self.model.n_frames != self.features.n_frames
        {
            diffs.push("model input shape does not match the feature shape".into());
        }
        diffs
    }

    /// Checks every field a file could set to something this build cannot run: the message names
    /// the field. Sizes are capped so that a hostile header cannot ask for gigabytes.
    pub fn validate(&self) -> Result<(), String> {
        let labels = &self.labels;
        if labels.is_empty() || labels.len() > MAX_LABELS {
            return Err(format!(
                "labels: {} labels, expected 1 to {MAX_LABELS}",
                labels.len()
            ));
        }
        for (i, l) in labels.iter().enumerate() {
            if l.trim().is_empty() || l.chars().count() > MAX_LABEL_CHARS {
                return Err(format!(
                    "labels[{i}]: a label must have 1 to {MAX_LABEL_CHARS} characters"
                ));
            }
            if l.chars().any(|c| c.is_control() || "<>&\"'`".contains(c)) {
                return Err(format!(
                    "labels[{i}]: {l:?} has a control or markup character"
                ));
            }
            if labels[..i].contains(l) {
                return Err(format!("labels[{i}]: {l:?} appears twice"));
            }
        }
        let m = &self.model;
        if m.n_classes != labels.len() {
            return Err(format!(
                "model.n_classes: {} outputs for {} labels",
                m.n_classes,
                labels.len()
            ));
        }
        m.check().map_err(|e| format!("model.{e}"))?;
        let n = self.normalization;
        if !(n.mean.is_finite() && n.mean.abs() <= 1e4) {
            return Err(format!(
                "normalization.mean: {} is not a level in dB",
                n.mean
            ));
        }
        if !(n.std.is_finite() && n.std > 1e-3 && n.std <= 1e4) {
            return Err(format!(
                "normalization.std: {} is not a positive spread in dB",
                n.std
            ));
        }
        Ok(())
    }
}

/// The stored form of one f32 parameter tensor: int8 blocks and their scales when it is large,
/// else f16.
fn store_tensor(tensor: burn_pack::Tensor) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let (name, dtype, shape, id, bytes) = tensor.into_parts().map_err(record_error)?;
    let data = TensorData::try_from_bytes(bytes, shape.clone(), dtype).map_err(record_error)?;
    if dtype != DType::F32 || shape.num_elements() < MIN_QUANTIZED {
        let data = match dtype {
            DType::F32 => data.convert_dtype(DType::F16),
            _ => data,
        };
        let (bytes, shape, dtype) = data.into_parts();
        return Ok(vec![burn_pack::Tensor::new(name, dtype, shape, id, bytes)]);
    }
    let values = data.try_into_vec::<f32>().map_err(record_error)?;
    let (codes, scales) = quantize(&values);
    let scale_data = TensorData::new(scales, [values.len().div_ceil(BLOCK)]);
    let (scale_bytes, scale_shape, _) = scale_data.into_parts();
    let (code_bytes, _, _) = TensorData::new(codes, shape.clone()).into_parts();
    Ok(vec![
        burn_pack::Tensor::new(
            format!("{name}{SCALE_SUFFIX}"),
            DType::F32,
            scale_shape,
            None,
            scale_bytes,
        ),
        burn_pack::Tensor::new(name, DType::I8, shape, id, code_bytes),
    ])
}

/// Symmetric int8 codes of `values` in blocks of [`BLOCK`], and each block's scale.
pub fn quantize(values: &[f32]) -> (Vec<i8>, Vec<f32>) {
    let mut codes = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len().div_ceil(BLOCK));
    for block in values.chunks(BLOCK) {
        let peak = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = peak / 127.0;
        scales.push(scale);
        codes.extend(block.iter().map(|v| {
            if scale > 0.0 {
                (v / scale).round().clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        }));
    }
    (codes, scales)
}

/// The values int8 `codes` stand for, given each block's scale.
pub fn dequantize(codes: &[i8], scales: &[f32]) -> Vec<f32> {
    codes
        .chunks(BLOCK)
        .zip(scales)
        .flat_map(|(block, scale)| block.iter().map(move |c| f32::from(*c) * scale))
        .collect()
}

/// The record of a stored parameter list: int8 tensors back to f32 with their scales, checked
/// (a file is untrusted input).
fn restore_record(record: &[u8]) -> Result<ModuleRecord, WeightsError> {
    let tensors = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(record.to_vec()))
        .and_then(|r| r.into_tensors())
        .map_err(record_error)?;
    if !tensors.iter().any(|t| t.dtype == DType::I8) {
        return ModuleRecord::from_bytes(Bytes::from_bytes_vec(record.to_vec()))
            .map_err(record_error);
    }
    let mut scales = std::collections::HashMap::new();
    let mut rest = Vec::with_capacity(tensors.len());
    for t in tensors {
        match t.name.strip_suffix(SCALE_SUFFIX) {
            Some(of) => {
                let of = of.to_string();
                let (_, dtype, shape, _, bytes) = t.into_parts().map_err(record_error)?;
                let values = TensorData::try_from_bytes(bytes, shape, dtype)
                    .map_err(record_error)?
                    .try_into_vec::<f32>()
                    .map_err(|_| WeightsError::Record(format!("the scales of {of} are not f32")))?;
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(WeightsError::Record(format!(
                        "the scales of {of} are not finite"
                    )));
                }
                scales.insert(of, values);
            }
            None => rest.push(t),
        }
    }
    let mut restored = Vec::with_capacity(rest.len());
    for t in rest {
        if t.dtype != DType::I8 {
            restored.push(t);
            continue;
        }
        let (name, dtype, shape, id, bytes) = t.into_parts().map_err(record_error)?;
        let codes = TensorData::try_from_bytes(bytes, shape.clone(), dtype)
            .map_err(record_error)?
            .try_into_vec::<i8>()
            .map_err(record_error)?;
        let scale = scales
            .remove(&name)
            .filter(|s| {
                s.len() == codes.len().div_ceil(BLOCK) && codes.len() == shape.num_elements()
            })
            .ok_or_else(|| {
                WeightsError::Record(format!("{name}: int8 values without their scales"))
            })?;
        let (bytes, shape, dtype) = TensorData::new(dequantize(&codes, &scale), shape).into_parts();
        restored.push(burn_pack::Tensor::new(name, dtype, shape, id, bytes));
    }
    if let Some(name) = scales.keys().next() {
        return Err(WeightsError::Record(format!(
            "scales for {name}, which is not int8"
        )));
    }
    let bytes = burn_pack::Writer::new(restored)
        .into_bytes()
        .map_err(record_error)?;
    ModuleRecord::from_bytes(bytes).map_err(record_error)
}

fn record_error(e: impl fmt::Debug) -> WeightsError {
    WeightsError::Record(format!("{e:?}"))
}

/// Limits on what a weights header may ask for.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_CHARS: usize = 40;
/// The JSON header is a few kilobytes; anything far larger is not ours.
const MAX_HEADER_BYTES: usize = 1 << 20;

impl WeightsFile {
    /// Serialises a model and its header. Large tensors are stored as int8 blocks, the rest as
    /// f16 (see the module's notes); the page and the CLI both read these same values back as
    /// f32.
    pub fn to_bytes(header: &Header, model: EmotionNet) -> Result<Vec<u8>, WeightsError> {
        let json = serde_json::to_vec(header).map_err(|e| WeightsError::Header(e.to_string()))?;
        let f32_record = model.into_record().into_bytes().map_err(record_error)?;
        let mut stored = Vec::new();
        for tensor in burn_pack::Reader::from_bytes(f32_record)
            .and_then(|r| r.into_tensors())
            .map_err(record_error)?
        {
            stored.extend(store_tensor(tensor)?);
        }
        let record = burn_pack::Writer::new(stored)
            .into_bytes()
            .map_err(record_error)?;
        let mut out = Vec::with_capacity(16 + json.len() + record.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&header.format_version.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&record);
        Ok(out)
    }

    /// Parses and checks a weights file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(WeightsError::NotAWeightsFile);
        }
        let u32_at = |at: usize| -> Result<u32, WeightsError> {
            let b = bytes.get(at..at + 4).ok_or(WeightsError::Truncated)?;
            Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
        };
        let version = u32_at(8)?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(WeightsError::Version {
                file: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u32_at(12)? as usize;
        if len > MAX_HEADER_BYTES {
            return Err(WeightsError::Header(format!(
                "{len} bytes of header, more than {MAX_HEADER_BYTES}"
            )));
        }
        let json = bytes.get(16..16 + len).ok_or(WeightsError::Truncated)?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| WeightsError::Header(e.to_string()))?;
        if header.format_version != version {
            return Err(WeightsError::Header(
                "the header's format version disagrees with the file's".into(),
            ));
        }
        header.validate().map_err(WeightsError::Header)?;
        let diffs = header.differences();
        if !diffs.is_empty() {
            return Err(WeightsError::Incompatible(diffs));
        }
        let record = restore_record(&bytes[16 + len..])?;
        Ok(Self { header, record })
    }

    /// Builds the model on `device` with these parameters, in inference mode.
    pub fn model(&self, device: &Device) -> Result<EmotionNet, WeightsError> {
        self.header
            .model
            .init(device)
            .try_load_record(self.record.clone().cast_to_module_dtype())
            .map(|m| m.valid())
            .map_err(|e| WeightsError::Record(format!("{e:?}")))
    }
}
