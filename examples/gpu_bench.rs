//! The model on a real GPU through Burn's native wgpu backend (Vulkan on Linux), against the
//! CPU backend (flex) on the same machine: one 3-s clip, a batch of 64 analysis windows, a
//! long recording through the same analysis as `trainer predict` (at the CPU's and the GPU's
//! windows per call), and the GPU's time by batch size. Every GPU result is checked against
//! the CPU's (largest probability difference). Medians of repeated runs, after warm-up.
//!
//! `cargo run --release --features native-gpu --example gpu_bench -- [WEIGHTS] [RUNS] [MINUTES]`
//!
//! The long recording is a synthetic voiced signal (a buzz modulated like syllables), so the
//! benchmark runs where the corpus is not at hand; the figures are model and front-end times,
//! which do not depend on what is said.

use burn::prelude::Device;
use speech_emotion::classifier::{CPU_BATCH, Classifier, Features, GPU_BATCH, Prediction};
use speech_emotion::timeline;
use std::time::Instant;

const RATE: usize = 22_050;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A voiced test signal of `seconds`: a buzz with harmonics whose pitch drifts, amplitude-
/// modulated like syllables.
fn buzz(seconds: usize) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..seconds * RATE)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let f0 = 160.0 + 40.0 * (2.0 * std::f32::consts::PI * 0.1 * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 / RATE as f32;
            let voice: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
            0.2 * voice * (0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin())
        })
        .collect()
}

/// Median milliseconds of `f` over `runs` calls, after two unmeasured ones (shader compilation
/// and buffer pools on the GPU).
fn time_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    for _ in 0..2 {
        std::hint::black_box(f());
    }
    let mut last = None;
    let times = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            last = Some(f());
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    (median(times), last.expect("at least one run"))
}

/// The largest difference between two sets of probabilities.
fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Median milliseconds of the model alone on the first `n` of `windows`.
fn batch_ms(classifier: &Classifier, windows: &[Features], n: usize, runs: usize) -> f64 {
    time_ms(runs, || classifier.classify_features(&windows[..n])).0
}

/// Seconds of `long` through the analysis of `trainer predict` (a window every second), and
/// the windows' probabilities.
fn analyse(classifier: &Classifier, long: &[f32]) -> (f64, Vec<Vec<f32>>) {
    let t0 = Instant::now();
    let analysis = futures_lite::future::block_on(timeline::analyse(
        classifier,
        [Ok(vec![long.to_vec()])],
        RATE as u32,
        1.0,
        &mut |_| {},
    ))
    .expect("the long recording is analysed");
    let seconds = t0.elapsed().as_secs_f64();
    let probs = analysis
        .windows
        .into_iter()
        .filter_map(|w| w.probabilities)
        .collect();
    (seconds, probs)
}

fn probabilities(p: Vec<Prediction>) -> Vec<Vec<f32>> {
    p.into_iter().map(|p| p.probabilities).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let weights = args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/speech-emotion.sew").into()
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);
    let minutes: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    let bytes = std::fs::read(&weights).unwrap_or_else(|e| panic!("cannot read {weights}: {e}"));

    let t0 = Instant::now();
    let gpu = match Device::wgpu_options().init_with_setup() {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            println!(
                "adapter: {} ({:?}, {:?}, driver {} {})\n",
                info.name, info.device_type, info.backend, info.driver, info.driver_info
            );
            device
        }
        Err(e) => {
            eprintln!("no GPU adapter: {e:?}");
            std::process::exit(1);
        }
    };
    let gpu = Classifier::from_bytes(&bytes, &gpu).expect("weights on the GPU");
    let gpu_start = t0.elapsed().as_secs_f64();
    let cpu = Classifier::from_bytes(&bytes, &Device::flex()).expect("weights on the CPU");

    // The features are the CPU's work on both backends (the page computes them in wasm too).
    let signal = buzz(66);
    let clip = cpu
        .features(&[&signal[..3 * RATE]], RATE as u32)
        .expect("clip");
    let windows: Vec<Features> = (0..64)
        .map(|i| cpu.front_end().window(&signal[i * RATE..(i + 3) * RATE]))
        .collect();
    let (front_ms, _) = time_ms(runs, || cpu.features(&[&signal[..3 * RATE]], RATE as u32));
    let long = buzz(60 * minutes);

    let seconds = (60 * minutes) as f64;

    println!("| the model, median of {runs} | CPU (flex, one thread) | GPU (wgpu) | ratio |");
    println!("|---|---|---|---|");
    let one = std::slice::from_ref(&clip);
    let (c_clip, c_probs) = time_ms(runs, || probabilities(cpu.classify_features(one)));
    let (g_clip, g_probs) = time_ms(runs, || probabilities(gpu.classify_features(one)));
    let mut worst = max_diff(&g_probs, &c_probs);
    println!(
        "| one 3-s clip (model only) | {c_clip:.2} ms | {g_clip:.2} ms | {:.2}x |",
        c_clip / g_clip
    );
    let c_batch = batch_ms(&cpu, &windows, 64, runs.div_ceil(3));
    let g_batch = batch_ms(&gpu, &windows, 64, runs);
    // (64 windows need a 67 MB buffer: browsers bind at most 128 MiB by default.)
    println!(
        "| a batch of 64 windows | {c_batch:.1} ms ({:.2} a window) | {g_batch:.1} ms ({:.2} a window) | {:.1}x |",
        c_batch / 64.0,
        g_batch / 64.0,
        c_batch / g_batch
    );
    worst = worst.max(max_diff(
        &probabilities(gpu.classify_features(&windows)),
        &probabilities(cpu.classify_features(&windows)),
    ));
    let (c_long, c_windows) = analyse(&cpu, &long);
    let gpu = gpu.with_batch(CPU_BATCH);
    let (g8_long, g8_windows) = analyse(&gpu, &long);
    let gpu = gpu.with_batch(GPU_BATCH);
    let (g_long, g_windows) = analyse(&gpu, &long);
    for (name, c, g) in [
        (format!("{CPU_BATCH} windows a call"), c_long, g8_long),
        (
            format!("{GPU_BATCH} windows a call on the GPU"),
            c_long,
            g_long,
        ),
    ] {
        println!(
            "| a {minutes}-min recording analysed, front end on the CPU, {name} | {c:.1} s ({:.0}x real time) | {g:.1} s ({:.0}x real time) | {:.1}x |",
            seconds / c,
            seconds / g,
            c / g
        );
    }
    for w in [&g8_windows, &g_windows] {
        worst = worst.max(max_diff(w, &c_windows));
    }

    println!();
    println!("| windows a call | GPU ms a call | GPU ms a window |");
    println!("|---|---|---|");
    for n in [1, 2, 4, 8, 16, 32, 64] {
        let ms = batch_ms(&gpu, &windows, n, runs);
        println!("| {n} | {ms:.1} | {:.2} |", ms / n as f64);
    }
    println!();
    println!("front end of one clip (CPU): {front_ms:.2} ms");
    println!("GPU start and weights upload: {gpu_start:.2} s");
    println!(
        "largest GPU-CPU probability difference over the clip, the batches and {} windows of the recording: {worst:.1e}",
        c_windows.len()
    );
    if worst > 1e-3 || g_windows.len() != c_windows.len() || g8_windows.len() != c_windows.len() {
        eprintln!("the GPU's results differ from the CPU's by more than 1e-3");
        std::process::exit(1);
    }
}
