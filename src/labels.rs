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

/// The index in [`EMOTIONS`] of a label as people write it: any case, and the usual other
/// forms (`fear`, `anger`, `happiness`, `surprise`, `disgusted`, …). `None` if it is not one of
/// the eight.
pub fn emotion_index(label: &str) -> Option<usize> {
    let l = label.trim().to_lowercase();
    let canonical = match l.as_str() {
        "neu" | "neutrality" => "neutral",
        "calmness" => "calm",
        "hap" | "happiness" | "joy" | "joyful" => "happy",
        "sadness" => "sad",
        "ang" | "anger" => "angry",
        "fea" | "fear" | "afraid" => "fearful",
        "dis" | "disgusted" => "disgust",
        "sur" | "surprise" | "surprize" => "surprised",
        other => other,
    };
    EMOTIONS.iter().position(|e| *e == canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_with_case_and_common_forms() {
        assert_eq!(emotion_index("Fear"), Some(5));
        assert_eq!(emotion_index(" SURPRISE "), Some(7));
        assert_eq!(emotion_index("neutral"), Some(0));
        assert_eq!(emotion_index("boredom"), None);
    }
}
