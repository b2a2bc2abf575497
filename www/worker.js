// The worker: loads the model and does all decoding and inference, so the page never freezes.
// Messages in: {type: "load", backend, weights?} | {type: "file", id, file, hop}
//   | {type: "channels", id, channels, rate, hop} | {type: "live", id, channels, rate}
//   | {type: "panic-for-testing", id}.
// Messages out: {type: "loaded" | "load-error" | "progress" | "result" | "error" | "crashed", id?, ...}.

const here = (path) => new URL(path, import.meta.url);
// The WebAssembly's panic hook calls this before the module aborts; the page then restarts us.
self.onWasmPanic = (message) => self.postMessage({ type: "crashed", message });
const bundles = {};
let engine = null;
let weights = null; // the bytes the current engine was made from

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

// "auto": WebGPU where the browser has an adapter for it, else the CPU bundle. Throws a readable
// message; notes are sentences for people (the details go to the console).
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
        console.warn("WebGPU failed:", e);
        why = (await fetch(here("pkg/webgpu/speech_emotion.js")).then((r) => r.status, () => 0)) === 409
          ? "a new version of this site was published since this page was opened: reload the page to use WebGPU"
          : "WebGPU could not start in this browser";
        delete bundles.webgpu; // a later try fetches it again
      }
    }
    if (wanted === "webgpu") throw new Error(why);
    note = `${why}, so the CPU is used`;
  }
  const cpu = await bundle("cpu");
  return { engine: await cpu.Engine.create(bytes, "cpu"), note };
}

// The first classification allocates buffers (and compiles shaders on WebGPU): do it on
// silence now, so the visitor's first recording is as fast as the rest.
async function warmUp(e) {
  const loud = new Float32Array(22050 * 3);
  for (let i = 0; i < loud.length; i++) loud[i] = 0.1 * Math.sin(i * 0.05);
  try { await e.analyseClip([loud], 22050); } catch (err) { console.warn("warm-up failed:", err); }
}

async function shipped() {
  const response = await fetch(here("model/speech-emotion.sew"));
  if (!response.ok) throw new Error(`the model file could not be fetched (HTTP ${response.status})`);
  return response.arrayBuffer();
}

// New weights, or the current ones (a backend switch), or the shipped model (first load).
async function load({ backend, weights: bytes }) {
  const candidate = new Uint8Array(bytes || weights || (await shipped()));
  const made = await create(candidate, backend);
  await warmUp(made.engine);
  const old = engine;
  engine = made.engine;
  weights = candidate;
  if (old) old.free();
  return { backend: engine.backend, labels: engine.labels, note: made.note };
}

const error = (e) => (e && e.message) || String(e);
// One message at a time: a live window waits for a file in progress, never interleaves.
let queue = Promise.resolve();

self.onmessage = ({ data }) => {
  queue = queue.then(() => handle(data)).catch((e) => console.error(e));
};

async function handle(msg) {
  if (msg.type === "load") {
    try {
      self.postMessage({ type: "loaded", ...(await load(msg)) });
    } catch (e) {
      // The model in use (if any) stays.
      self.postMessage({ type: "load-error", message: error(e), kept: engine ? engine.backend : null });
    }
    return;
  }
  const { id } = msg;
  if (!engine) { self.postMessage({ type: "error", id, message: "the model is not loaded" }); return; }
  const progress = (p) => self.postMessage({ type: "progress", id, ...p });
  const t0 = performance.now();
  try {
    let analysis;
    if (msg.type === "file") {
      const ext = (msg.file.name || "").split(".").pop().toLowerCase() || undefined;
      try {
        analysis = await engine.analyseFile(msg.file, ext, msg.hop, progress);
      } catch (e) {
        // Formats our decoder lacks (WebM/Opus, …): the page decodes them with WebAudio.
        if (/not a readable audio file|unsupported codec|no audio track/.test(error(e))) {
          self.postMessage({ type: "undecodable", id, message: error(e) });
          return;
        }
        throw e;
      }
    } else if (msg.type === "channels") {
      analysis = await engine.analyseChannels(msg.channels, msg.rate, msg.hop, progress);
    } else if (msg.type === "live") {
      analysis = await engine.analyseClip(msg.channels, msg.rate);
    } else if (msg.type === "panic-for-testing") {
      (await bundle(engine.backend)).panicForTesting();
    } else {
      throw new Error(`unknown message ${msg.type}`);
    }
    const ms = performance.now() - t0;
    // Every window already went to the page with the progress reports: do not send them twice.
    if (msg.type !== "live") delete analysis.windows;
    self.postMessage({ type: "result", id, analysis, ms, backend: engine.backend });
  } catch (e) {
    self.postMessage({ type: "error", id, message: error(e) });
  }
}
