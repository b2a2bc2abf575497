//! The WebAssembly facade: the thin edge between the page and the shared core.
//!
//! Built twice: a small CPU bundle (Burn's flex backend) and, with the `webgpu` feature, a
//! bundle that also holds Burn's wgpu backend. The page loads the CPU one unless the browser
//! offers WebGPU.

use crate::classifier::Classifier;
use crate::weights::WeightsFile;
use burn::prelude::Device;
use js_sys::{Array, Float32Array, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Which backends this bundle was built with.
#[wasm_bindgen(js_name = availableBackends)]
pub fn available_backends() -> Array {
    let out = Array::new();
    if cfg!(feature = "webgpu") {
        out.push(&"webgpu".into());
    }
    out.push(&"cpu".into());
    out
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
    webgpu_error: Option<String>,
}

#[wasm_bindgen]
impl Engine {
    /// Loads weights and starts a backend: `"webgpu"`, `"cpu"`, or `"auto"` (WebGPU when the
    /// browser gives an adapter, otherwise CPU). Rejects with a readable message.
    pub fn create(weights: Vec<u8>, backend: String) -> Promise {
        future_to_promise(async move {
            let file =
                WeightsFile::from_bytes(&weights).map_err(|e| JsError::new(&e.to_string()))?;
            let (device, name, webgpu_error) = match backend.as_str() {
                "cpu" => (Device::flex(), "cpu", None),
                "webgpu" => (
                    webgpu_device().await.map_err(|e| JsError::new(&e))?,
                    "webgpu",
                    None,
                ),
                "auto" => match webgpu_device().await {
                    Ok(d) => (d, "webgpu", None),
                    Err(e) => (Device::flex(), "cpu", Some(e)),
                },
                other => {
                    return Err(JsError::new(&format!(
                        "unknown backend '{other}' (use webgpu, cpu or auto)"
                    ))
                    .into());
                }
            };
            let model = file
                .model(&device)
                .map_err(|e| JsError::new(&e.to_string()))?;
            Ok(Engine {
                classifier: Rc::new(Classifier::new(file.header, model, &device)),
                backend: name.into(),
                webgpu_error,
            }
            .into())
        })
    }

    /// The backend in use: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why WebGPU was not used, when `"auto"` fell back to the CPU.
    #[wasm_bindgen(getter, js_name = webgpuError)]
    pub fn webgpu_error(&self) -> Option<String> {
        self.webgpu_error.clone()
    }

    /// The label list, in the order of the probabilities.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.classifier.labels().to_vec()
    }

    /// Classifies a WebAudio buffer given as its channels' data and sample rate. Resolves to
    /// `{label, probabilities, attention}`; rejects with a readable message on bad audio.
    pub fn classify(&self, channels: Vec<Float32Array>, sample_rate: f32) -> Promise {
        let classifier = self.classifier.clone();
        let data: Vec<Vec<f32>> = channels.iter().map(|c| c.to_vec()).collect();
        future_to_promise(async move {
            let slices: Vec<&[f32]> = data.iter().map(|c| c.as_slice()).collect();
            if !(sample_rate.is_finite() && sample_rate.fract() == 0.0 && sample_rate > 0.0) {
                return Err(JsError::new(&format!("invalid sample rate {sample_rate}")).into());
            }
            let features = classifier
                .features(&slices, sample_rate as u32)
                .map_err(|e| JsError::new(&e.to_string()))?;
            let prediction = classifier
                .classify_features_async(&[features])
                .await
                .remove(0);
            serde_wasm_bindgen::to_value(&prediction).map_err(|e| e.into())
        })
    }
}
