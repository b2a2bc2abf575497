//! The eight RAVDESS emotions, in the corpus's code order (code 01 = index 0).

/// Emotion names; index `i` is RAVDESS emotion code `i + 1`.
pub const EMOTIONS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

/// The default label list as owned strings (what a weights file stores).
pub fn default_labels() -> Vec<String> {
    EMOTIONS.iter().map(|s| s.to_string()).collect()
}
