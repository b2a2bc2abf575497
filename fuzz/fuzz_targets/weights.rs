//! A weights file is either refused with a [`WeightsError`] or gives a classifier; nothing
//! panics. The header's sizes are capped before anything is allocated.
#![no_main]

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use speech_emotion::classifier::Classifier;

fuzz_target!(|data: &[u8]| {
    let _ = Classifier::from_bytes(data, &Device::flex());
});
