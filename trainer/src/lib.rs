//! The trainer's parts, in the order a run uses them: the corpus and its features ([`data`],
//! [`split`]), augmentation ([`augment`], [`acoustics`]), training ([`train`], [`checkpoint`],
//! [`speech_head`], [`branch_tuning`], [`speech_onnx`]), and what reports it ([`evaluate`],
//! [`metrics`], [`robustness`], [`charts`], [`bench`]). The `trainer` binary is the command line over them;
//! the fuzz targets (`fuzz/`) call the manifest reader from here.

pub mod acoustics;
pub mod augment;
pub mod bench;
pub mod branch_tuning;
pub mod charts;
pub mod checkpoint;
pub mod data;
pub mod evaluate;
pub mod metrics;
pub mod robustness;
pub mod speech_head;
pub mod speech_onnx;
pub mod split;
pub mod train;
