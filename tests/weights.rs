//! The weights file: round trip, and clear refusals of files it must not load.

mod common;

use burn::prelude::*;
use common::{small_config, small_header};
use speech_emotion::labels::default_labels;
use speech_emotion::model::ModelConfig;
use speech_emotion::weights::{FORMAT_VERSION, Header, Normalization, WeightsError, WeightsFile};
use speech_emotion::{Classifier, FeatureConfig};

fn file_bytes() -> (Header, Vec<u8>, Device) {
    let device = Device::flex();
    let config = small_config();
    let header = small_header(config.clone());
    let model = config.init(&device);
    (
        header.clone(),
        WeightsFile::to_bytes(&header, model).unwrap(),
        device,
    )
}

fn test_clip() -> Vec<f32> {
    (0..30_000)
        .map(|i| ((i as f32 * 0.031).sin() + (i as f32 * 0.0071).sin()) * 0.3)
        .collect()
}

#[test]
fn round_trip_keeps_header_and_outputs() {
    let (header, bytes, device) = file_bytes();
    let file = WeightsFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.header, header);
    // Two loads of the same bytes give the same model; a fresh init gives a different one.
    let a = Classifier::from_bytes(&bytes, &device).unwrap();
    let b = Classifier::from_bytes(&bytes, &device).unwrap();
    let clip = test_clip();
    let pa = a.classify(&[&clip], 22_050).unwrap();
    let pb = b.classify(&[&clip], 22_050).unwrap();
    assert_eq!(pa.probabilities, pb.probabilities);
    assert!((pa.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let other = WeightsFile::to_bytes(&header, small_config().init(&device)).unwrap();
    let pc = Classifier::from_bytes(&other, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    assert_ne!(pa.probabilities, pc.probabilities);
}

/// A model with the speech-embedding branch: the header says so, the branch's parameters travel
/// in the record, and the branch changes the answer (it is used, and loaded, not re-drawn).
#[test]
fn speech_branch_round_trips_and_is_used() {
    let device = Device::flex();
    let config = ModelConfig {
        speech_embedding: true,
        ..small_config()
    };
    let (plain_header, plain_bytes, _) = file_bytes();
    // Files without the branch keep the header they always had.
    let json = serde_json::to_string(&plain_header).unwrap();
    assert!(!json.contains("speech_embedding"), "{json}");
    let header = Header {
        model: config.clone(),
        ..plain_header
    };
    let cnn = WeightsFile::from_bytes(&plain_bytes)
        .unwrap()
        .model(&device)
        .unwrap();
    let branch = speech_emotion::speech_embedding::SpeechBranch::new(8, false, false, &device);
    let bytes = WeightsFile::to_bytes(&header, cnn.with_speech(branch)).unwrap();
    let file = WeightsFile::from_bytes(&bytes).unwrap();
    assert!(file.header.model.speech_embedding);
    let clip = test_clip();
    let a = Classifier::from_bytes(&bytes, &device).unwrap();
    let b = Classifier::from_bytes(&bytes, &device).unwrap();
    let pa = a.classify(&[&clip], 22_050).unwrap();
    assert_eq!(
        pa.probabilities,
        b.classify(&[&clip], 22_050).unwrap().probabilities
    );
    assert!((pa.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let plain = Classifier::from_bytes(&plain_bytes, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    assert_ne!(pa.probabilities, plain.probabilities);
    assert_eq!(
        pa.attention, plain.attention,
        "the CNN part is the same model"
    );
}

/// `base` with the speech-embedding branch, and a model of that shape (untrained).
fn with_branch(base: ModelConfig, device: &Device) -> (ModelConfig, speech_emotion::EmotionNet) {
    let config = ModelConfig {
        speech_embedding: true,
        ..base
    };
    let branch = speech_emotion::speech_embedding::SpeechBranch::new(8, false, false, device);
    let model = config.init(device).with_speech(branch);
    (config, model)
}

/// Large tensors are stored as int8 blocks, the rest as f16: a file of the full-size model is
/// under 30 % of its f32 record, and answers within 0.02 of the model it was written from.
#[test]
fn large_tensors_are_stored_as_int8_and_answer_as_the_model_did() {
    use burn::module::Module;
    let device = Device::flex();
    let (config, model) = with_branch(ModelConfig::default(), &device);
    let header = small_header(config);
    let clip = test_clip();
    let f32_bytes = model.clone().into_record().into_bytes().unwrap().len();
    let f32_model = Classifier::new(header.clone(), model.clone(), &device);
    let bytes = WeightsFile::to_bytes(&header, model).unwrap();
    assert!(
        bytes.len() * 10 < f32_bytes * 3,
        "{} bytes against {f32_bytes} as f32",
        bytes.len()
    );
    let stored = Classifier::from_bytes(&bytes, &device).unwrap();
    let a = f32_model.classify(&[&clip], 22_050).unwrap();
    let b = stored.classify(&[&clip], 22_050).unwrap();
    let diff = common::max_abs_diff(&a.probabilities, &b.probabilities);
    assert!(
        diff < 0.02,
        "{diff}: {:?} against {:?}",
        a.probabilities,
        b.probabilities
    );
}

/// Files of format version 1 (every parameter f16) still load, and give what the same values
/// give when stored now.
#[test]
fn version_1_files_with_f16_parameters_still_load() {
    use burn::module::{Module, ModuleMapper, Param};
    struct ToHalf;
    impl ModuleMapper for ToHalf {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| t.cast(burn::tensor::DType::F16))
        }
    }
    let device = Device::flex();
    let config = small_config();
    let mut header = small_header(config.clone());
    let model = config.init(&device).map(&mut ToHalf);
    let now = WeightsFile::to_bytes(&header, model.clone()).unwrap();
    header.format_version = 1;
    let json = serde_json::to_vec(&header).unwrap();
    let mut v1 = b"SPEMOTW\0".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&(json.len() as u32).to_le_bytes());
    v1.extend_from_slice(&json);
    v1.extend_from_slice(&model.into_record().into_bytes().unwrap());
    let clip = test_clip();
    let a = Classifier::from_bytes(&v1, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    let b = Classifier::from_bytes(&now, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    assert_eq!(a.probabilities, b.probabilities);
}

#[test]
fn int8_blocks_round_trip_within_half_a_step() {
    use speech_emotion::weights::{BLOCK, dequantize, quantize};
    let values: Vec<f32> = (0..3 * BLOCK + 5)
        .map(|i| match i / BLOCK {
            0 => (i as f32 * 0.37).sin() * 3.0,
            1 => 0.0,
            _ => (i as f32 * 1.3).cos() * 1e-3,
        })
        .collect();
    let (codes, scales) = quantize(&values);
    assert_eq!(codes.len(), values.len());
    assert_eq!(scales.len(), 4);
    assert_eq!(scales[1], 0.0, "an all-zero block");
    let back = dequantize(&codes, &scales);
    for (i, (v, b)) in values.iter().zip(&back).enumerate() {
        let step = scales[i / BLOCK];
        assert!(
            (v - b).abs() <= step * 0.5 + 1e-9,
            "{i}: {v} came back as {b}"
        );
    }
    // Each block keeps its own range: the small block is not rounded to zero by the large one.
    assert!(back[2 * BLOCK..].iter().any(|v| *v != 0.0));
    assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
}

/// An int8 tensor whose scales are missing, of the wrong length, or not finite is refused
/// with a message, as a damaged or hostile file.
#[test]
fn int8_tensors_without_valid_scales_are_refused() {
    let device = Device::flex();
    let (config, model) = with_branch(small_config(), &device);
    let bytes = WeightsFile::to_bytes(&small_header(config), model).unwrap();
    let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let record = &bytes[16 + json_len..];
    let tensors =
        burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(record.to_vec()))
            .unwrap()
            .into_tensors()
            .unwrap();
    let scale = tensors
        .iter()
        .position(|t| t.name.ends_with(".q8scale"))
        .expect("the branch has int8 tensors");
    let rebuilt = |tensors: Vec<burn_pack::Tensor>| {
        let mut out = bytes[..16 + json_len].to_vec();
        out.extend_from_slice(&burn_pack::Writer::new(tensors).into_bytes().unwrap());
        WeightsFile::from_bytes(&out)
            .err()
            .expect("refused")
            .to_string()
    };
    let mut without = tensors.clone();
    without.remove(scale);
    let msg = rebuilt(without);
    assert!(msg.contains("int8 values without their scales"), "{msg}");
    let mut short = tensors.clone();
    let t = short.remove(scale);
    short.push(burn_pack::Tensor::new(
        t.name.clone(),
        burn::tensor::DType::F32,
        [1],
        None,
        burn::tensor::Bytes::from_bytes_vec(1.0f32.to_le_bytes().to_vec()),
    ));
    let msg = rebuilt(short);
    assert!(msg.contains("int8 values without their scales"), "{msg}");
    let mut bad = tensors;
    let t = bad.remove(scale);
    let n = t.shape.num_elements();
    let mut nan = vec![0u8; 4 * n];
    nan[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    bad.push(burn_pack::Tensor::new(
        t.name.clone(),
        burn::tensor::DType::F32,
        [n],
        None,
        burn::tensor::Bytes::from_bytes_vec(nan),
    ));
    let msg = rebuilt(bad);
    assert!(msg.contains("not finite"), "{msg}");
}

#[test]
fn other_format_version_is_refused_with_both_versions_named() {
    let (_, mut bytes, _) = file_bytes();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = WeightsFile::from_bytes(&bytes).err().unwrap();
    assert_eq!(
        err,
        WeightsError::Version {
            file: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("version {}", FORMAT_VERSION + 1)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("reads versions 1 to {FORMAT_VERSION}")),
        "{msg}"
    );
}

#[test]
fn other_feature_configuration_is_refused_with_the_difference() {
    let device = Device::flex();
    let mut header = Header::new(
        small_config(),
        default_labels(),
        Normalization {
            mean: 0.0,
            std: 1.0,
            subtract_band_means: false,
        },
    );
    header.features = FeatureConfig {
        n_mels: 64,
        ..FeatureConfig::default()
    };
    let bytes = WeightsFile::to_bytes(&header, small_config().init(&device)).unwrap();
    let msg = WeightsFile::from_bytes(&bytes).err().unwrap().to_string();
    assert!(
        msg.contains("features.n_mels: file has 64, this build uses 128"),
        "{msg}"
    );
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    assert_eq!(
        WeightsFile::from_bytes(b"RIFF\0\0\0\0WAVEfmt ").err(),
        Some(WeightsError::NotAWeightsFile)
    );
    let (_, bytes, _) = file_bytes();
    assert_eq!(
        WeightsFile::from_bytes(&bytes[..20]).err(),
        Some(WeightsError::Truncated)
    );
    let cut = WeightsFile::from_bytes(&bytes[..bytes.len() / 2])
        .err()
        .unwrap();
    assert!(matches!(cut, WeightsError::Record(_)), "{cut:?}");
}

/// A file whose header was changed after the model was built, as a hostile or damaged file.
fn with_header(change: impl Fn(&mut Header)) -> Vec<u8> {
    let (mut header, _, device) = file_bytes();
    change(&mut header);
    WeightsFile::to_bytes(&header, small_config().init(&device)).unwrap()
}

/// A change to a header, as a hostile file would make it.
type Change = Box<dyn Fn(&mut Header)>;

#[test]
fn hostile_headers_are_refused_naming_the_field() {
    let cases: Vec<(&str, Change)> = vec![
        ("model.dropout", Box::new(|h| h.model.dropout = 2.0)),
        (
            "labels",
            Box::new(|h| {
                h.labels.clear();
                h.model.n_classes = 0;
            }),
        ),
        ("model.n_classes", Box::new(|h| h.model.n_classes = 3)),
        (
            "labels[2]",
            Box::new(|h| h.labels[2] = "<img src=x onerror=alert(1)>".into()),
        ),
        ("labels[1]", Box::new(|h| h.labels[1] = "x".repeat(500))),
        ("labels[3]", Box::new(|h| h.labels[3] = "neutral".into())),
        (
            "normalization.mean",
            Box::new(|h| h.normalization.mean = 1e30),
        ),
        ("normalization.std", Box::new(|h| h.normalization.std = 0.0)),
        (
            "model.lstm_hidden",
            Box::new(|h| h.model.lstm_hidden = 1 << 30),
        ),
        ("model.channels", Box::new(|h| h.model.channels = vec![])),
        (
            "model.channels",
            Box::new(|h| h.model.channels = vec![4; 9]),
        ),
    ];
    for (field, change) in cases {
        let err = WeightsFile::from_bytes(&with_header(change)).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(field), "{field}: {msg}");
    }
}

#[test]
fn a_header_that_disagrees_with_its_parameters_is_refused() {
    let device = Device::flex();
    // The header promises wider layers than the parameters hold.
    let bytes = with_header(|h| h.model.channels = vec![4, 16]);
    let err = Classifier::from_bytes(&bytes, &device).err().unwrap();
    assert!(err.to_string().contains("parameters"), "{err}");
}

#[test]
fn an_oversized_header_length_is_refused_before_reading() {
    let (_, mut bytes, _) = file_bytes();
    bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = WeightsFile::from_bytes(&bytes).err().unwrap();
    assert!(matches!(err, WeightsError::Header(_)), "{err:?}");
}
