//! The weights file: round trip, and clear refusals of files it must not load.

use burn::prelude::*;
use speech_emotion::labels::default_labels;
use speech_emotion::model::ModelConfig;
use speech_emotion::weights::{FORMAT_VERSION, Header, Normalization, WeightsError, WeightsFile};
use speech_emotion::{Classifier, FeatureConfig};

fn small_config() -> ModelConfig {
    ModelConfig {
        channels: vec![4, 8],
        d_model: 16,
        lstm_hidden: 8,
        attention_hidden: 8,
        ..ModelConfig::default()
    }
}

fn file_bytes() -> (Header, Vec<u8>, Device) {
    let device = Device::flex();
    let config = small_config();
    let header = Header::new(
        config.clone(),
        default_labels(),
        Normalization {
            mean: -40.0,
            std: 15.0,
            subtract_band_means: false,
        },
    );
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
