// The page: load the model on the best backend, then classify every file dropped or chosen.
// Audio is decoded by the browser and analysed by the wasm module in this tab; nothing is sent.

const MODEL_URL = new URL("model/speech-emotion.sew", import.meta.url);
const SAMPLE_RATE = 22050; // decode straight to the model's rate
const params = new URLSearchParams(location.search);
const wanted = params.get("backend") || "auto"; // auto | webgpu | cpu

const $ = (id) => document.getElementById(id);
const state = { engine: null, ready: null, results: [] };
window.speechEmotion = state; // for tests and the curious

async function loadBundle(kind) {
  const mod = await import(new URL(`pkg/${kind}/speech_emotion.js`, import.meta.url));
  await mod.default();
  return mod;
}

async function start() {
  const weights = new Uint8Array(await (await fetch(MODEL_URL)).arrayBuffer());
  let note = "";
  if (wanted !== "cpu" && navigator.gpu) {
    try {
      const gpu = await loadBundle("webgpu");
      return { engine: await gpu.Engine.create(weights, "webgpu"), note };
    } catch (e) {
      if (wanted === "webgpu") throw e;
      note = `(WebGPU unavailable: ${e.message || e})`;
    }
  } else if (wanted === "webgpu") {
    throw new Error("this browser does not expose WebGPU");
  } else if (wanted !== "cpu") {
    note = "(this browser has no WebGPU)";
  }
  const cpu = await loadBundle("cpu");
  return { engine: await cpu.Engine.create(weights, "cpu"), note };
}

// The first classification allocates the model's buffers (and compiles shaders on WebGPU): do it
// once on silence while the page loads, so the visitor's first file is as fast as the rest.
async function warmUp(started) {
  try {
    await started.engine.classify([new Float32Array(SAMPLE_RATE * 3)], SAMPLE_RATE);
  } catch (e) {
    console.warn("warm-up failed (the first file will just be slower):", e);
  }
  return started;
}

state.ready = start().then(warmUp).then(
  ({ engine, note }) => {
    state.engine = engine;
    $("backend").textContent = engine.backend === "webgpu" ? "WebGPU" : "CPU (WebAssembly)";
    $("backend").dataset.state = "ready";
    $("backend").dataset.backend = engine.backend;
    $("backend-note").textContent = note;
  },
  (e) => {
    $("backend").textContent = `failed to load the model: ${e.message || e}`;
    $("backend").dataset.state = "error";
  },
);

async function decode(file) {
  const bytes = await file.arrayBuffer();
  const ctx = new OfflineAudioContext(1, 1, SAMPLE_RATE);
  try {
    return await ctx.decodeAudioData(bytes);
  } catch {
    throw new Error("this file could not be decoded as audio");
  }
}

function card(file) {
  const el = document.createElement("article");
  el.className = "result";
  el.innerHTML = `<h2></h2><p class="meta">analysing…</p>`;
  el.querySelector("h2").textContent = file.name;
  $("results").prepend(el);
  return el;
}

function showPrediction(el, file, buffer, p, ms, labels) {
  el.dataset.state = "done";
  el.dataset.label = p.label;
  el.dataset.probabilities = JSON.stringify(p.probabilities);
  const best = p.probabilities.indexOf(Math.max(...p.probabilities));
  el.innerHTML = `<h2></h2><div class="top"></div>
    <p class="meta">${buffer.duration.toFixed(2)} s · ${buffer.numberOfChannels} ch · ${ms.toFixed(0)} ms on ${state.engine.backend}</p>
    <div class="bars"></div>`;
  el.querySelector("h2").textContent = file.name;
  el.querySelector(".top").textContent = `${p.label} ${(p.probabilities[best] * 100).toFixed(0)} %`;
  const bars = el.querySelector(".bars");
  labels.forEach((label, i) => {
    const pct = (p.probabilities[i] * 100).toFixed(1);
    const cls = i === best ? "best" : "";
    bars.insertAdjacentHTML("beforeend",
      `<span class="${cls}">${label}</span><div class="bar" role="meter" aria-label="${label}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct}"><span style="width:${pct}%"></span></div><span class="${cls}">${pct} %</span>`);
  });
}

function showError(el, file, e) {
  el.dataset.state = "error";
  el.classList.add("error");
  el.innerHTML = `<h2></h2><p class="message"></p>`;
  el.querySelector("h2").textContent = file.name;
  el.querySelector(".message").textContent = `Could not analyse this file: ${e.message || e}`;
}

// One file at a time, in order: keeps memory flat and results in drop order.
let queue = Promise.resolve();
function analyse(files) {
  for (const file of files) {
    const el = card(file);
    queue = queue.then(async () => {
      try {
        await state.ready;
        if (!state.engine) throw new Error("the model is not loaded");
        const buffer = await decode(file);
        const channels = Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c));
        const t0 = performance.now();
        const p = await state.engine.classify(channels, buffer.sampleRate);
        const ms = performance.now() - t0;
        showPrediction(el, file, buffer, p, ms, state.engine.labels);
        state.results.push({ file: file.name, ms, ...p });
      } catch (e) {
        showError(el, file, e);
      }
    });
  }
  return queue;
}
state.analyse = analyse;

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  analyse([...e.dataTransfer.files]);
});
drop.addEventListener("click", (e) => { if (e.target === drop || e.target.tagName === "P") $("files").click(); });
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); }
});
$("files").addEventListener("change", (e) => { analyse([...e.target.files]); e.target.value = ""; });
