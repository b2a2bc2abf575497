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

/// Parameters are stored as f16 (about half the bytes of f32), and files written before that,
/// with f32 parameters, still load and give the same answers within f16 rounding.
#[test]
fn parameters_are_stored_as_half_floats_and_f32_files_still_load() {
    use burn::module::Module;
    let (header, bytes, device) = file_bytes();
    let model = WeightsFile::from_bytes(&bytes)
        .unwrap()
        .model(&device)
        .unwrap();
    let json = serde_json::to_vec(&header).unwrap();
    let f32_record = model.into_record().into_bytes().unwrap().to_vec();
    let half_record = bytes.len() - 16 - json.len();
    // Tensor names and offsets weigh in on a model this small (about 0.5 on the shipped one).
    assert!(
        half_record * 4 < f32_record.len() * 3,
        "{half_record} bytes against {} as f32",
        f32_record.len()
    );
    // The layout of a file written with f32 parameters.
    let mut legacy = bytes[..16 + json.len()].to_vec();
    legacy.extend_from_slice(&f32_record);
    let clip = test_clip();
    let a = Classifier::from_bytes(&legacy, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    let b = Classifier::from_bytes(&bytes, &device)
        .unwrap()
        .classify(&[&clip], 22_050)
        .unwrap();
    assert_eq!(
        a.probabilities, b.probabilities,
        "the f32 file holds the f16 values"
    );
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
        msg.contains(&format!("reads version {FORMAT_VERSION}")),
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
