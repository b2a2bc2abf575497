//! The WebAssembly facade: the thin edge between the page and the shared core.
//!
//! Built twice: a small CPU bundle (Burn's flex backend) and, with the `webgpu` feature, a
//! bundle that also holds Burn's wgpu backend. The page loads the CPU one unless the browser
//! offers WebGPU.

use crate::adapt::VoiceProfile;
use crate::classifier::{Adaptable, CPU_BATCH, Classifier, GPU_BATCH, Prediction};
use crate::decode::{AudioStream, DecodeError};
use crate::timeline::{self, AnalysisError, Helper, HelperFuture, Progress};
use crate::weights::WeightsFile;
use burn::prelude::Device;
use js_sys::{Float32Array, Function, Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{Blob, FileReaderSync};

unsafe extern "C" {
    /// Synthesised by the linker: runs the static constructors (in the WebGPU bundle, the
    /// `inventory` registrations of cubecl's IR). A module that never calls it gets it run
    /// again before every exported function, which made each call into the WebGPU bundle
    /// cost seconds; one explicit call tells the linker to leave the exports alone.
    fn __wasm_call_ctors();
}

/// Runs when the module is instantiated: the static constructors, once; a panic's message
/// goes to the console and to the worker's `onWasmPanic` (the module aborts after a panic, so
/// the page must restart it).
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: called once, first thing after instantiation, before any code that reads what
    // the constructors register.
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
        // For people: what went wrong, without the source location.
        let message = info.payload_as_str().unwrap_or("unknown cause").to_string();
        let global = js_sys::global();
        if let Ok(hook) = js_sys::Reflect::get(&global, &"onWasmPanic".into())
            && let Some(hook) = hook.dyn_ref::<Function>()
        {
            let _ = hook.call1(&global, &message.into());
        }
    }));
}

/// Panics on purpose: the browser test of the page's recovery calls it.
#[wasm_bindgen(js_name = panicForTesting)]
pub fn panic_for_testing() {
    panic!("a panic asked for by a test");
}

fn has_webgpu() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .ok()
        .filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device, String> {
    if !has_webgpu() {
        return Err("this browser does not expose WebGPU (navigator.gpu)".into());
    }
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU initialisation failed: {e:?}"))
}

#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, String> {
    let _ = has_webgpu();
    Err("this bundle was built without WebGPU".into())
}

/// A loaded model on one backend.
#[wasm_bindgen]
pub struct Engine {
    classifier: Rc<Classifier>,
    backend: String,
    /// The voices heard so far, by the caller's names (the microphone, a batch of files).
    voices: Voices,
}

type Voices = Rc<RefCell<HashMap<String, VoiceProfile>>>;

/// Adapts a finished analysis to the named voice (learning from it first with `learn`); the
/// analysis as it was without a name.
async fn adapted(
    classifier: &Classifier,
    voices: &Voices,
    voice: Option<String>,
    learn: bool,
    analysis: Result<timeline::Analysis, AnalysisError>,
) -> Result<timeline::Analysis, AnalysisError> {
    let Some(name) = voice else {
        return analysis;
    };
    let mut analysis = analysis?;
    // Out of the map while the analysis awaits: requests run one at a time, but a borrow must
    // not be held across an await.
    let mut profile = voices.borrow_mut().remove(&name).unwrap_or_default();
    timeline::adapt(classifier, &mut analysis, &mut profile, learn).await;
    voices.borrow_mut().insert(name, profile);
    Ok(analysis)
}

#[wasm_bindgen]
impl Engine {
    /// Loads weights and starts a backend, `"webgpu"` or `"cpu"` (which to try first is the
    /// library's choice: it knows whether the browser has an adapter before fetching this
    /// bundle). Rejects with an `Error` that has a `code`.
    pub fn create(weights: Vec<u8>, backend: String) -> Promise {
        future_to_promise(async move {
            let file = WeightsFile::from_bytes(&weights).map_err(|e| coded("bad-weights", e))?;
            let (device, batch) = match backend.as_str() {
                "cpu" => (Device::flex(), CPU_BATCH),
                "webgpu" => (
                    webgpu_device()
                        .await
                        .map_err(|e| coded("webgpu-unavailable", e))?,
                    GPU_BATCH,
                ),
                other => {
                    return Err(coded(
                        "invalid-argument",
                        format!("unknown backend '{other}' (use webgpu or cpu)"),
                    ));
                }
            };
            let model = file.model(&device).map_err(|e| coded("bad-weights", e))?;
            Ok(Engine {
                classifier: Rc::new(Classifier::new(file.header, model, &device).with_batch(batch)),
                backend,
                voices: Voices::default(),
            }
            .into())
        })
    }

    /// The backend in use: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// The label list, in the order of the probabilities.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.classifier.labels().to_vec()
    }

    /// Whether the model can adapt to a voice (its weights carry the adapted head).
    #[wasm_bindgen(getter)]
    pub fn adapts(&self) -> bool {
        self.classifier.adapts()
    }

    /// Forgets what was heard of the named voice.
    #[wasm_bindgen(js_name = forgetVoice)]
    pub fn forget_voice(&self, voice: String) {
        self.voices.borrow_mut().remove(&voice);
    }

    /// Analyses a file (a `File` or `Blob`) where it lies, decoding it piece by piece in this
    /// worker: a window every `hop_seconds`, `progress({seconds, windows})` after each batch.
    /// Resolves to the analysis (overall result, windows, the spectrogram's window); rejects
    /// with a readable message. Only for workers (it reads with `FileReaderSync`). With a
    /// `voice` name, the recording's speech goes into that voice and the results are adapted
    /// to it once it has heard enough ([`timeline::adapt`]). With `helper`, a function
    /// `(samples: Float32Array, count) => Promise` that hands windows to a second worker's
    /// [`classifyWindows`](Self::classify_windows), half of each batch goes there.
    #[wasm_bindgen(js_name = analyseFile)]
    pub fn analyse_file(
        &self,
        file: Blob,
        extension: Option<String>,
        hop_seconds: f64,
        progress: Function,
        voice: Option<String>,
        helper: Option<Function>,
    ) -> Promise {
        let classifier = self.classifier.clone();
        let voices = self.voices.clone();
        future_to_promise(async move {
            let source = BlobSource::new(file).map_err(|e| coded("unreadable-file", e))?;
            let mut stream = AudioStream::open(Box::new(source), extension.as_deref())
                .map_err(|e| coded(e.code(), e))?;
            let total = stream.duration_secs();
            let rate = stream.sample_rate();
            let chunks = std::iter::from_fn(|| stream.next_chunk());
            Recording::new(hop_seconds, total, progress, voice, helper)
                .analyse(&classifier, &voices, chunks, rate)
                .await
        })
    }

    /// [`analyse_file`](Self::analyse_file) for audio already decoded (by WebAudio, for
    /// formats the worker cannot read): channels' data at `sample_rate` Hz.
    #[wasm_bindgen(js_name = analyseChannels)]
    pub fn analyse_channels(
        &self,
        channels: Vec<Float32Array>,
        sample_rate: f32,
        hop_seconds: f64,
        progress: Function,
        voice: Option<String>,
        helper: Option<Function>,
    ) -> Promise {
        let classifier = self.classifier.clone();
        let voices = self.voices.clone();
        future_to_promise(async move {
            let rate = whole_rate(sample_rate)?;
            // Hand the audio over a second at a time, as a decoder would.
            let piece = rate;
            let len = channels.first().map_or(0, |c| c.length());
            let total = Some(len as f64 / rate as f64);
            let chunks = (0..len).step_by(piece as usize).map(|start| {
                let end = (start + piece).min(len);
                Ok::<_, DecodeError>(
                    channels
                        .iter()
                        .map(|c| c.subarray(start, end.min(c.length())).to_vec())
                        .collect(),
                )
            });
            Recording::new(hop_seconds, total, progress, voice, helper)
                .analyse(&classifier, &voices, chunks, rate)
                .await
        })
    }

    /// The second worker's part of a long recording ([`analyse_file`](Self::analyse_file)'s
    /// `helper`): `count` speech windows at the model's rate, one after another in `samples`,
    /// classified. Resolves to their predictions, in order.
    #[wasm_bindgen(js_name = classifyWindows)]
    pub fn classify_windows(&self, samples: Float32Array, count: usize) -> Promise {
        let classifier = self.classifier.clone();
        let samples = samples.to_vec();
        future_to_promise(async move {
            let front = classifier.front_end();
            let len = front.logmel().config().window_samples;
            if count == 0 || samples.len() != count * len || samples.iter().any(|v| !v.is_finite())
            {
                return Err(coded(
                    "invalid-argument",
                    format!("{} samples are not {count} windows of {len}", samples.len()),
                ));
            }
            let features: Vec<_> = samples.chunks_exact(len).map(|w| front.window(w)).collect();
            let shared: Vec<SharedPrediction> = classifier
                .classify_features_async(&features)
                .await
                .into_iter()
                .map(SharedPrediction::from)
                .collect();
            to_js(&shared)
        })
    }

    /// One short stretch of audio (the microphone's last seconds): the speech gate, then the
    /// clip rule. Resolves to an analysis whose `basis` is `"none"` when the gate closed. With
    /// a `voice` name, adapted to that voice once it has heard enough; with `learn`, this
    /// clip's speech is heard first (the microphone learns from windows that do not overlap).
    #[wasm_bindgen(js_name = analyseClip)]
    pub fn analyse_clip(
        &self,
        channels: Vec<Float32Array>,
        sample_rate: f32,
        voice: Option<String>,
        learn: bool,
    ) -> Promise {
        let classifier = self.classifier.clone();
        let voices = self.voices.clone();
        let data: Vec<Vec<f32>> = channels.iter().map(|c| c.to_vec()).collect();
        future_to_promise(async move {
            let rate = whole_rate(sample_rate)?;
            let slices: Vec<&[f32]> = data.iter().map(|c| c.as_slice()).collect();
            let analysis = timeline::analyse_clip(&classifier, &slices, rate).await;
            resolve(adapted(&classifier, &voices, voice, learn, analysis).await)
        })
    }
}

/// What `analyseFile` and `analyseChannels` were asked, for the one way both analyse.
struct Recording {
    hop_seconds: f64,
    /// The recording's length, when known before the end.
    total: Option<f64>,
    progress: Function,
    voice: Option<String>,
    helper: Option<Function>,
}

impl Recording {
    fn new(
        hop_seconds: f64,
        total: Option<f64>,
        progress: Function,
        voice: Option<String>,
        helper: Option<Function>,
    ) -> Self {
        Self {
            hop_seconds,
            total,
            progress,
            voice,
            helper,
        }
    }

    /// The analysis (with the second worker, if any), adapted to the voice, as the promise's
    /// value.
    async fn analyse<I>(
        self,
        classifier: &Classifier,
        voices: &Voices,
        chunks: I,
        rate: u32,
    ) -> Result<JsValue, JsValue>
    where
        I: IntoIterator<Item = Result<Vec<Vec<f32>>, DecodeError>>,
    {
        let helper = self.helper.map(JsHelper);
        let analysis = timeline::analyse_with(
            classifier,
            chunks,
            rate,
            self.hop_seconds,
            &mut |p| report(&self.progress, self.total, p),
            helper.as_ref().map(|h| h as &dyn Helper),
        )
        .await;
        resolve(adapted(classifier, voices, self.voice, true, analysis).await)
    }
}

/// A prediction as it travels between the two workers (with the parts adaptation needs, which
/// the page's results leave out).
#[derive(Serialize, Deserialize)]
struct SharedPrediction {
    label: String,
    probabilities: Vec<f32>,
    attention: Vec<f32>,
    adaptable: Option<(Vec<f32>, Vec<f32>, Vec<f32>)>,
}

impl From<Prediction> for SharedPrediction {
    fn from(p: Prediction) -> Self {
        Self {
            label: p.label,
            probabilities: p.probabilities,
            attention: p.attention,
            adaptable: p.adaptable.map(|a| (a.head_inputs, a.cnn_states, a.strict)),
        }
    }
}

impl From<SharedPrediction> for Prediction {
    fn from(p: SharedPrediction) -> Self {
        Self {
            label: p.label,
            probabilities: p.probabilities,
            attention: p.attention,
            adaptable: p
                .adaptable
                .map(|(head_inputs, cnn_states, strict)| Adaptable {
                    head_inputs,
                    cnn_states,
                    strict,
                }),
        }
    }
}

/// The second worker, as the page hands it over: a function that posts windows to it and
/// returns the promise of its answer.
struct JsHelper(Function);

impl Helper for JsHelper {
    fn classify(&self, samples: &[f32], count: usize) -> Option<HelperFuture> {
        // Called now, so the windows are on their way before this worker starts its own half.
        let called = self
            .0
            .call2(
                &JsValue::NULL,
                &Float32Array::from(samples),
                &JsValue::from(count as u32),
            )
            .ok()?;
        // Anything but a promise: there is no helper.
        let promise: Promise = called.dyn_into().ok()?;
        Some(Box::pin(async move {
            let value = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(|e| format!("{e:?}"))?;
            // null: the helper is not ready yet (the wait let this worker hear if it is now).
            if value.is_null() {
                return Ok(None);
            }
            let shared: Vec<SharedPrediction> =
                serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())?;
            Ok(Some(shared.into_iter().map(Prediction::from).collect()))
        }))
    }
}

fn whole_rate(sample_rate: f32) -> Result<u32, JsValue> {
    if sample_rate.is_finite() && sample_rate.fract() == 0.0 && sample_rate > 0.0 {
        Ok(sample_rate as u32)
    } else {
        Err(coded(
            "bad-audio",
            format!("invalid sample rate {sample_rate}"),
        ))
    }
}

/// A rejection: an `Error` whose message is for people and whose `code` is for programs (the
/// library's error codes; see `www/lib/speech-emotion.d.ts`).
fn coded(code: &str, message: impl std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// An analysis as the promise's value, or its error as a coded rejection.
fn resolve(analysis: Result<timeline::Analysis, AnalysisError>) -> Result<JsValue, JsValue> {
    to_js(&analysis.map_err(|e| coded(e.code(), e))?)
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.into())
}

#[derive(Serialize)]
struct ProgressReport<'a> {
    seconds: f64,
    /// The recording's length, when known before the end.
    total: Option<f64>,
    windows: &'a [timeline::WindowResult],
}

fn report(progress: &Function, total: Option<f64>, p: Progress<'_>) {
    let report = ProgressReport {
        seconds: p.seconds,
        total,
        windows: p.windows,
    };
    if let Ok(value) = to_js(&report) {
        // A failing progress callback must not stop the analysis.
        let _ = progress.call1(&JsValue::NULL, &value);
    }
}

/// A `Blob` read on demand with `FileReaderSync`, so a long recording is never copied whole
/// into memory.
struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    pos: u64,
    len: u64,
}

// SAFETY: symphonia asks for `Send + Sync` sources. This WebAssembly module is built without
// threads, so the source is only ever used on the worker thread that created it.
unsafe impl Send for BlobSource {}
unsafe impl Sync for BlobSource {}

impl BlobSource {
    fn new(blob: Blob) -> Result<Self, String> {
        let reader = FileReaderSync::new()
            .map_err(|_| "files can only be read in a worker (FileReaderSync)".to_string())?;
        Ok(Self {
            len: blob.size() as u64,
            blob,
            reader,
            pos: 0,
        })
    }
}

impl Read for BlobSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = (self.pos + buf.len() as u64).min(self.len);
        if end <= self.pos {
            return Ok(0);
        }
        let io = |what: &str| std::io::Error::other(format!("cannot read the file ({what})"));
        let part = self
            .blob
            .slice_with_f64_and_f64(self.pos as f64, end as f64)
            .map_err(|_| io("slice"))?;
        let bytes = self
            .reader
            .read_as_array_buffer(&part)
            .map_err(|_| io("read"))?;
        let bytes = Uint8Array::new(&bytes);
        let n = bytes.length() as usize;
        bytes.copy_to(&mut buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobSource {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::other("seek before the start of the file"));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}

impl symphonia::core::io::MediaSource for BlobSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
