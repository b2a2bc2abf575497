//! Speaker adaptation through the page's path: a model with the adapted head keeps each
//! window's parts (the head inputs and the CNN's pooled states), a voice profile fills as clips
//! are heard, and once it has heard enough the results are the adapted view's, weighted against
//! the strict one by the speech heard; a model without that head is left as it was.

mod common;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use common::{small_config, small_header};
use futures_lite::future::block_on;
use speech_emotion::Classifier;
use speech_emotion::adapt::{
    MIN_VOICE_SECONDS, MIN_VOICE_WINDOWS, VoiceProfile, moods_heard, moves_states,
};
use speech_emotion::classifier::Adaptable;
use speech_emotion::model::{EmotionNet, ModelConfig, StateStats};
use speech_emotion::speech_embedding::{POOLED, SpeechBranch, SpeechHead};
use speech_emotion::timeline::{adapt, analyse_clip};
use speech_emotion::weights::WeightsFile;

/// A small model with the branch (its embedding network as initialised: the adapted path does
/// not depend on what it learned) and two heads that differ; with `states`, the training
/// clips' statistics of the CNN's pooled states too. Also the model as the classifier loaded
/// it, to compute the CNN's part by hand.
fn classifier(adapted: bool, states: bool) -> (Classifier, EmotionNet) {
    let device = Device::flex();
    let config = ModelConfig {
        speech_embedding: true,
        adapted_head: adapted,
        adapted_states: adapted && states,
        ..small_config()
    };
    let header = small_header(config.clone());
    let mut branch = SpeechBranch::new(8, false, false, &device);
    let head = |seed: f32| {
        SpeechHead::from_fit(
            vec![0.0; POOLED],
            vec![1.0; POOLED],
            head_weight(seed),
            vec![0.0; 8],
            &device,
        )
    };
    branch.head = head(0.37);
    branch.adapted = adapted.then(|| head(0.71));
    let mut model = config.init(&device).with_speech(branch);
    if config.adapted_states {
        let n = 2 * config.lstm_hidden;
        let mean = (0..n).map(|i| 0.3 * (i as f32).sin()).collect();
        let spread = (0..n).map(|i| 0.5 + 0.1 * i as f32).collect();
        model = model.with_state_stats(StateStats::new(mean, spread, &device));
    }
    let bytes = WeightsFile::to_bytes(&header, model).unwrap();
    let loaded = WeightsFile::from_bytes(&bytes)
        .unwrap()
        .model(&device)
        .unwrap();
    assert_eq!(loaded.adapts_states(), adapted && states);
    (Classifier::from_bytes(&bytes, &device).unwrap(), loaded)
}

/// The CNN's log-probabilities of pooled `states`, through `model`'s classifier.
fn cnn_log_probs(model: &EmotionNet, states: &[f32]) -> Vec<f32> {
    let device = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(states.to_vec(), [1, states.len()]), &device);
    log_softmax(model.classify_pooled(x), 1)
        .into_data()
        .iter::<f32>()
        .collect()
}

/// Head `seed`'s weights as [`classifier`] draws them: `[inputs][classes]`, row-major.
fn head_weight(seed: f32) -> Vec<f32> {
    (0..POOLED * 8)
        .map(|i| (i as f32 * seed).sin() * 0.2)
        .collect()
}

/// cnn + log_softmax(x · W), by hand: a view's joint log-probabilities, unnormalised.
fn joint(cnn_log_probs: &[f32], x: &[f32], weight: &[f32]) -> Vec<f32> {
    let logits: Vec<f32> = (0..8)
        .map(|k| {
            x.iter()
                .enumerate()
                .map(|(j, v)| v * weight[j * 8 + k])
                .sum()
        })
        .collect();
    cnn_log_probs
        .iter()
        .zip(log_softmax_of(&logits))
        .map(|(a, b)| a + b)
        .collect()
}

fn log_softmax_of(v: &[f32]) -> Vec<f32> {
    let top = v.iter().cloned().fold(f32::MIN, f32::max);
    let sum: f32 = v.iter().map(|x| (x - top).exp()).sum();
    v.iter().map(|x| x - top - sum.ln()).collect()
}

/// Probabilities of unnormalised log-probabilities.
fn softmax_of(v: &[f32]) -> Vec<f32> {
    log_softmax_of(v).iter().map(|v| v.exp()).collect()
}

/// The page's adapted result by hand: the adapted view's joint log-probabilities weighted by
/// `voice`'s adapted share against the strict view's (the strict head on the raw inputs, the
/// CNN on the raw states).
fn blended(
    model: &EmotionNet,
    voice: &VoiceProfile,
    adapted: &[f32],
    parts: &Adaptable,
) -> Vec<f32> {
    let strict = joint(
        &cnn_log_probs(model, &parts.cnn_states),
        &parts.head_inputs,
        &head_weight(0.37),
    );
    let w = voice.adapted_share();
    let mix: Vec<f32> = adapted
        .iter()
        .zip(&strict)
        .map(|(a, s)| w * a + (1.0 - w) * s)
        .collect();
    softmax_of(&mix)
}

fn close(a: &[f32], b: &[f32]) -> bool {
    // The weights file stores parameters as f16.
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 2e-3)
}

/// A voiced clip: a glide at `f0` Hz with two harmonics, 1.5 s in 3 s of silence.
fn clip(f0: f32) -> Vec<f32> {
    let rate = 22_050.0;
    (0..66_150)
        .map(|i| {
            let t = i as f32 / rate;
            if !(0.75..2.25).contains(&t) {
                return 0.0;
            }
            let f = f0 * (1.0 + 0.2 * (t - 0.75));
            (1..=3)
                .map(|h| (std::f32::consts::TAU * f * h as f32 * t).sin() * 0.2 / h as f32)
                .sum()
        })
        .collect()
}

#[test]
fn the_adapted_view_takes_over_once_the_voice_is_heard() {
    for states in [true, false] {
        adapts_once_heard(states);
    }
}

/// With `states`, the CNN's pooled states are moved too: z-normalised with the voice's profile,
/// then put on the training clips' mean and spread; without, they are read as they are.
fn adapts_once_heard(states: bool) {
    let (c, model) = classifier(true, states);
    assert!(c.adapts());
    let mut voice = VoiceProfile::default();
    let mut applied_at = None;
    for (n, f0) in [
        110.0, 130.0, 150.0, 170.0, 190.0, 210.0, 230.0, 250.0, 270.0, 290.0,
    ]
    .into_iter()
    .enumerate()
    {
        let audio = clip(f0);
        let mut analysis = block_on(analyse_clip(&c, &[&audio], 22_050)).unwrap();
        let strict = analysis.overall.clone().unwrap();
        let parts = strict
            .adaptable
            .clone()
            .expect("a model with the adapted head keeps parts");
        block_on(adapt(&c, &mut analysis, &mut voice, true));
        let how = analysis.adaptation.clone().unwrap();
        assert_eq!(how.strict.as_ref(), Some(&strict.probabilities));
        assert!((how.seconds - voice.seconds()).abs() < 1e-9);
        let overall = analysis.overall.unwrap();
        if !how.applied {
            assert!(!voice.is_ready(), "clip {n}");
            assert_eq!(overall.probabilities, strict.probabilities);
            continue;
        }
        applied_at.get_or_insert(n);
        // The adapted result is the CNN's log-probabilities plus the adapted head's on the
        // inputs normalised with the voice heard so far, this clip included.
        let z = voice.normalise(&parts.profile_values()).unwrap();
        let (head_z, rest) = z.split_at(POOLED);
        let states_z = &rest[..parts.cnn_states.len()];
        let (mean, _) = voice.mean_spread();
        let moods = &mean[POOLED + parts.cnn_states.len()..];
        // The random model's strict probabilities are spread over many classes.
        assert!(moves_states(moods), "{} moods", moods_heard(moods));
        let cnn_states: Vec<f32> = if states {
            let n = states_z.len();
            (0..n)
                .map(|i| states_z[i] * (0.5 + 0.1 * i as f32) + 0.3 * (i as f32).sin())
                .collect()
        } else {
            parts.cnn_states.clone()
        };
        let adapted = joint(
            &cnn_log_probs(&model, &cnn_states),
            head_z,
            &head_weight(0.71),
        );
        let by_hand = blended(&model, &voice, &adapted, &parts);
        assert!(
            close(&overall.probabilities, &by_hand),
            "{:?} {by_hand:?}",
            overall.probabilities
        );
        assert!((overall.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_ne!(overall.probabilities, strict.probabilities);
        assert_eq!(analysis.segments[0].label, overall.label);
    }
    // Each clip brings its 1.5 s of speech and one window: ready once both thresholds are met.
    let expected = ((MIN_VOICE_SECONDS / 1.5).ceil() as usize).max(MIN_VOICE_WINDOWS) - 1;
    assert!(
        applied_at.is_some_and(|n| n.abs_diff(expected) <= 1),
        "adapted from clip {applied_at:?}, expected about {expected}"
    );
}

/// The adaptable parts of [`clip`] at `f0`.
fn parts_of(c: &Classifier, f0: f32) -> Adaptable {
    c.classify(&[&clip(f0)], 22_050)
        .unwrap()
        .adaptable
        .expect("a model with the adapted head keeps parts")
}

#[test]
fn a_voice_heard_in_one_mood_keeps_the_cnn_states_as_they_are() {
    let (c, model) = classifier(true, true);
    let parts = parts_of(&c, 200.0);
    // Eight windows the strict model heard as one class: a profile of one mood.
    let mut voice = VoiceProfile::default();
    let mut one_mood = parts.clone();
    one_mood.strict = vec![0.0; 8];
    one_mood.strict[4] = 1.0;
    for k in 0..8 {
        let mut w = one_mood.clone();
        for (i, v) in w.head_inputs.iter_mut().enumerate() {
            *v += 0.01 * ((k * 7 + i) % 5) as f32;
        }
        for (i, v) in w.cnn_states.iter_mut().enumerate() {
            *v += 0.01 * ((k * 3 + i) % 4) as f32;
        }
        voice.add(&w.profile_values(), 1.5);
    }
    let (mean, _) = voice.mean_spread();
    assert!(!moves_states(&mean[POOLED + parts.cnn_states.len()..]));
    let adapted = block_on(c.adapt(&[&parts], &voice)).unwrap().remove(0);
    let z = voice.normalise(&parts.profile_values()).unwrap();
    let adapted_view = joint(
        &cnn_log_probs(&model, &parts.cnn_states),
        &z[..POOLED],
        &head_weight(0.71),
    );
    let by_hand = blended(&model, &voice, &adapted_view, &parts);
    assert!(close(&adapted, &by_hand), "{adapted:?} {by_hand:?}");
}

#[test]
fn parts_of_the_wrong_width_are_not_adapted() {
    let (c, _) = classifier(true, true);
    let parts = parts_of(&c, 200.0);
    let mut voice = VoiceProfile::default();
    for _ in 0..8 {
        voice.add(&parts.profile_values(), 1.5);
    }
    assert!(block_on(c.adapt(&[&parts], &voice)).is_some());
    let mut short = parts.clone();
    short.cnn_states.pop();
    assert!(block_on(c.adapt(&[&short], &voice)).is_none());
    let mut long = parts.clone();
    long.head_inputs.push(0.0);
    assert!(block_on(c.adapt(&[&parts, &long], &voice)).is_none());
}

#[test]
fn a_model_without_the_adapted_head_is_left_as_it_was() {
    let (c, _) = classifier(false, true);
    assert!(!c.adapts());
    let mut voice = VoiceProfile::default();
    for f0 in [
        120.0, 160.0, 200.0, 240.0, 280.0, 320.0, 360.0, 400.0, 440.0, 480.0,
    ] {
        let audio = clip(f0);
        let mut analysis = block_on(analyse_clip(&c, &[&audio], 22_050)).unwrap();
        let before = analysis.overall.clone().unwrap();
        assert!(before.adaptable.is_none());
        block_on(adapt(&c, &mut analysis, &mut voice, true));
        assert!(analysis.adaptation.is_none());
        assert_eq!(
            analysis.overall.unwrap().probabilities,
            before.probabilities
        );
    }
    assert_eq!(voice.windows(), 0);
}

#[test]
fn the_strict_result_is_the_sum_of_the_parts() {
    let (c, model) = classifier(true, true);
    let audio = clip(200.0);
    let p = c.classify(&[&audio], 22_050).unwrap();
    let parts = p.adaptable.clone().unwrap();
    assert_eq!(parts.head_inputs.len(), POOLED);
    assert_eq!(parts.cnn_states.len(), 2 * small_config().lstm_hidden);
    let by_hand = softmax_of(&joint(
        &cnn_log_probs(&model, &parts.cnn_states),
        &parts.head_inputs,
        &head_weight(0.37),
    ));
    assert!(
        close(&p.probabilities, &by_hand),
        "{:?} {by_hand:?}",
        p.probabilities
    );
}

#[test]
fn a_quiet_recording_teaches_the_voice_nothing() {
    let (c, _) = classifier(true, true);
    // 60 dB under the clips above: classified (a file always gets an answer) but not speech.
    let quiet: Vec<f32> = clip(200.0).iter().map(|v| v * 1e-3).collect();
    let mut voice = VoiceProfile::default();
    let chunks = std::iter::once(Ok(vec![quiet]));
    let mut analysis = block_on(speech_emotion::timeline::analyse(
        &c,
        chunks,
        22_050,
        1.0,
        &mut |_| {},
    ))
    .unwrap();
    assert!(!analysis.speech && analysis.overall.is_some());
    block_on(adapt(&c, &mut analysis, &mut voice, true));
    assert_eq!(voice.windows(), 0);
    assert!(analysis.adaptation.is_none());
}
