// The library's worker: holds one model and does all decoding and inference, so the page that
// embeds the library never freezes. speech-emotion.js talks to it, one request at a time.
// In:  {type: "prepare", backend} (no answer: fetch and compile the bundle while the weights
//      download) | {id, type: "load", backend, weights} | {id, type: "file", file, hop, voice}
//      | {id, type: "channels", channels, rate, hop, voice}
//      | {id, type: "clip", channels, rate, voice, learn} | {id, type: "forget", voice}
//      | {id, type: "panic-for-testing"}
//      | {type: "helper", port} (a second worker on the port: half of each batch of a long
//        recording's windows goes there) | {type: "helper-gone"} | {type: "serve", port} (be the
//        second worker: classify the windows that come on the port)
//      (voice: a name to adapt to, or undefined; the worker keeps what it heard of each)
// Out: {id, type: "loaded", backend, labels, note, adapts} | {id, type: "progress", seconds, total, windows}
//      | {id, type: "result", analysis, ms, workers} | {id, type: "error", code, message}
//      | {type: "crashed", message} (the WebAssembly panicked: this worker is finished)
//      | {type: "gpu-lost", message} (the WebGPU device is gone, and the model on it).

const here = (path) => new URL(path, import.meta.url);
// The WebAssembly's panic hook calls this before the module aborts; the library then restarts us.
self.onWasmPanic = (message) => self.postMessage({ type: "crashed", message });

// A WebGPU device can be lost (a GPU reset or driver update, the browser reclaiming it), and the
// model on it with it. Burn's wgpu backend does not watch for that, so every device this worker
// asks for is watched here; the library then goes on on the CPU. This worker never gives a
// device up itself, so any loss is the GPU's.
const devices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    device.lost.then((info) => self.postMessage({ type: "gpu-lost", message: info.message || info.reason }));
    return device;
  };
}
// For the browser test of that path (a GPU cannot be reset on demand).
self.loseGpuForTesting = () => {
  for (const device of devices) device.destroy();
  return devices.length;
};
const bundles = {};
let engine = null;

// The second worker, as seen from the first: windows go out on the port, predictions come back.
let helperPort = null;
let helperReady = false; // it says so once its model is loaded
const helperCalls = new Map();
let helperCallId = 0;
let helped = 0; // windows the helper classified for the request under way

function useHelper(port) {
  helperPort = port;
  helperReady = false;
  port.onmessage = ({ data }) => {
    if (data.ready) {
      helperReady = true;
      return;
    }
    const call = helperCalls.get(data.id);
    if (!call) return;
    helperCalls.delete(data.id);
    if (data.error) call.reject(new Error(data.error));
    else {
      helped += data.result.length;
      call.resolve(data.result);
    }
  };
}

// The helper is gone (it crashed, or the library stopped it): what it was doing runs here.
function dropHelper() {
  helperPort?.close();
  helperPort = null;
  helperReady = false;
  for (const call of helperCalls.values()) call.reject(new Error("the second worker stopped"));
  helperCalls.clear();
}

// Hands `count` windows (their samples one after another) to the helper; called by the
// WebAssembly, which classifies its own half meanwhile, and all of them itself if this answers
// null or rejects. A helper still loading answers null after a turn of this worker's event
// loop: the analysis otherwise never yields, and the helper's "ready" would wait for its end.
function toHelper(samples, count) {
  if (!helperPort) return null;
  if (!helperReady) return new Promise((resolve) => setTimeout(() => resolve(null), 0));
  const id = ++helperCallId;
  return new Promise((resolve, reject) => {
    helperCalls.set(id, { resolve, reject });
    helperPort.postMessage({ id, samples, count }, [samples.buffer]);
  });
}

// Being the helper: windows arrive on the port, answered in order.
let servePort = null;
function serve(port) {
  servePort = port;
  if (engine) port.postMessage({ ready: true });
  port.onmessage = async ({ data }) => {
    try {
      port.postMessage({ id: data.id, result: await engine.classifyWindows(data.samples, data.count) });
    } catch (e) {
      port.postMessage({ id: data.id, error: e?.message || String(e) });
    }
  };
}

/** An error with a stable code (the library's codes, see speech-emotion.d.ts). */
const coded = (code, message) => Object.assign(new Error(message), { code });

async function bundle(kind) {
  if (!bundles[kind]) {
    bundles[kind] = import(here(`pkg/${kind}/speech_emotion.js`)).then(async (mod) => {
      await mod.default();
      return mod;
    });
  }
  return bundles[kind];
}

// An adapter, or null. Many browsers expose navigator.gpu without one (no GPU, a blocklisted
// driver, a headless session): ask before fetching the 10-MB WebGPU bundle.
async function gpuAdapter() {
  try {
    return await self.navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

// "auto": WebGPU where the browser has an adapter for it, else the CPU bundle. Notes are
// sentences for people (the details go to the console).
async function create(bytes, wanted) {
  let note = "";
  if (wanted !== "cpu") {
    let why = null;
    if (!self.navigator.gpu) {
      why = "this browser has no WebGPU";
    } else if (!(await gpuAdapter())) {
      why = "this browser offers WebGPU but has no GPU adapter for it";
    } else {
      try {
        const gpu = await bundle("webgpu");
        return { engine: await gpu.Engine.create(bytes, "webgpu"), note };
      } catch (e) {
        if (e && e.code === "bad-weights") throw e; // the same on any backend
        console.warn("WebGPU failed:", e);
        why =
          (await fetch(here("pkg/webgpu/speech_emotion.js")).then(
            (r) => r.status,
            () => 0,
          )) === 409
            ? "a new version of this site was published since this page was opened: reload the page to use WebGPU"
            : "WebGPU could not start in this browser";
        delete bundles.webgpu; // a later try fetches it again
      }
    }
    if (wanted === "webgpu") throw coded("webgpu-unavailable", why);
    note = `${why}, so the CPU is used`;
  }
  const cpu = await bundle("cpu");
  return { engine: await cpu.Engine.create(bytes, "cpu"), note };
}

// Starts fetching and compiling the bundle `create` will want for `wanted`; a failure here is
// forgotten, and met again (with its message) when the model loads.
async function prepare(wanted) {
  const gpu = wanted !== "cpu" && self.navigator.gpu && (await gpuAdapter());
  // "webgpu" without an adapter fails to load: nothing to fetch for it.
  const kind = gpu ? "webgpu" : wanted === "webgpu" ? null : "cpu";
  if (kind) bundle(kind).catch(() => delete bundles[kind]);
}

// The first classification allocates buffers (and compiles shaders on WebGPU): do it on a
// tone now, so the first real request is as fast as the rest.
async function warmUp(e) {
  const tone = new Float32Array(22050 * 3);
  for (let i = 0; i < tone.length; i++) tone[i] = 0.1 * Math.sin(i * 0.05);
  try {
    await e.analyseClip([tone], 22050, undefined, false);
  } catch (err) {
    console.warn("warm-up failed:", err);
  }
}

async function handle(msg) {
  if (msg.type === "load") {
    const made = await create(new Uint8Array(msg.weights), msg.backend);
    await warmUp(made.engine);
    engine = made.engine;
    servePort?.postMessage({ ready: true });
    return { type: "loaded", backend: engine.backend, labels: engine.labels, note: made.note, adapts: engine.adapts };
  }
  if (!engine) throw coded("not-loaded", "the model is not loaded");
  const progress = (p) => self.postMessage({ type: "progress", id: msg.id, ...p });
  const t0 = performance.now();
  helped = 0;
  let analysis;
  if (msg.type === "file") {
    const ext = (msg.file.name || "").split(".").pop().toLowerCase() || undefined;
    analysis = await engine.analyseFile(msg.file, ext, msg.hop, progress, msg.voice, helperPort ? toHelper : undefined);
  } else if (msg.type === "channels") {
    analysis = await engine.analyseChannels(
      msg.channels,
      msg.rate,
      msg.hop,
      progress,
      msg.voice,
      helperPort ? toHelper : undefined,
    );
  } else if (msg.type === "clip") {
    analysis = await engine.analyseClip(msg.channels, msg.rate, msg.voice, Boolean(msg.learn));
  } else if (msg.type === "forget") {
    engine.forgetVoice(msg.voice);
    return { type: "forgotten" };
  } else if (msg.type === "panic-for-testing") {
    (await bundle(engine.backend)).panicForTesting();
  } else {
    throw coded("invalid-argument", `unknown request ${msg.type}`);
  }
  const ms = performance.now() - t0;
  // Every window already went out with the progress reports: do not send them twice, unless
  // adaptation changed them.
  if (msg.type !== "clip" && !analysis.adaptation?.applied) delete analysis.windows;
  return { type: "result", analysis, ms, workers: helped > 0 ? 2 : 1 };
}

self.onmessage = async ({ data }) => {
  if (data.type === "prepare") {
    prepare(data.backend);
    return;
  }
  if (data.type === "helper") return useHelper(data.port);
  if (data.type === "helper-gone") return dropHelper();
  if (data.type === "serve") return serve(data.port);
  try {
    self.postMessage({ ...(await handle(data)), id: data.id });
  } catch (e) {
    const message = e?.message || String(e);
    self.postMessage({ type: "error", id: data.id, code: e?.code || "internal", message });
  }
};
