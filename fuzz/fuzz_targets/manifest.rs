//! Any bytes as a training manifest: read, or refused with a message; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    // The reader takes a path, as the trainer's --manifest does: one file per process.
    let path = PathBuf::from(std::env::temp_dir())
        .join(format!("speech-emotion-fuzz-{}.csv", std::process::id()));
    std::fs::write(&path, data).expect("temporary file");
    let _ = trainer::data::read_manifest(&path);
});
