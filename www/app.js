// The page: the library (lib/speech-emotion.js) decodes and classifies; this draws what comes
// back. Nothing here sends audio anywhere; every request stays on this page's origin.
import * as speechEmotion from "./lib/speech-emotion.js";

const here = (path) => new URL(path, import.meta.url);
const HOP_SECONDS = 1; // long recordings: a 3-s window every second
const LIVE_SECONDS = 3; // the microphone: the last 3 s…
const LIVE_EVERY_MS = 250; // …classified 4 times a second
const COLOURS = ["#8d99ae", "#52b69a", "#f4a261", "#457b9d", "#d62828", "#7b2cbf", "#6a994e", "#f77f00"];
const SILENCE = "#d9dde6";
const params = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const state = {
  ready: null, // resolves when a model is loaded
  backend: null,
  labels: [],
  results: [], // one entry per file: {file, duration, label, confidence, basis, ms, backend, probabilities}
  live: [], // recent live analyses
};
window.speechEmotion = state; // for tests and the curious

// --- the model ---------------------------------------------------------------------------
// The library (lib/speech-emotion.js) runs the model in its own worker and restarts it after a
// crash. Switching backend or weights loads a second model; the first stays until it succeeded.
let model = null;
let current = { backend: null, weights: null }; // weights: custom bytes, or null (shipped)
let loading = Promise.resolve();

function showModel() {
  state.backend = model.backend;
  state.labels = model.labels;
  $("backend").textContent = model.backend === "webgpu" ? "WebGPU" : "CPU (WebAssembly)";
  $("backend").dataset.state = "ready";
  $("backend").dataset.backend = model.backend;
  $("backend-note").textContent = model.note ? `(${model.note})` : "";
  drawLegend();
}

function load(backend, weights = current.weights) {
  loading = loading.then(async () => {
    $("backend").dataset.state = "loading";
    $("backend").textContent = "loading…";
    try {
      const next = await speechEmotion.load({ backend, weights: weights ?? undefined });
      next.addEventListener("restart", () => {
        state.crashes = (state.crashes || 0) + 1;
        if (next === model) showModel();
      });
      next.addEventListener("error", (e) => {
        if (next === model) showBackendError(e.detail.message);
      });
      const old = model;
      model = next;
      current = { backend, weights };
      old?.dispose();
      showModel();
      return { ok: true, backend: model.backend };
    } catch (e) {
      if (model) showModel();
      else showBackendError(`failed to load the model: ${e.message}`);
      return { ok: false, message: e.message, code: e.code };
    }
  });
  return loading;
}

function showBackendError(text) {
  state.backend = null;
  $("backend").textContent = text;
  $("backend").dataset.state = "error";
}

const wanted = params.get("backend") || "auto";
$("backend-select").value = wanted;
state.ready = load(wanted);

$("backend-select").addEventListener("change", async (e) => {
  const r = await load(e.target.value);
  if (!r.ok) $("weights-message").textContent = `Could not switch: ${r.message}. Still on ${state.backend}.`;
  else $("weights-message").textContent = "";
});
state.setBackend = async (name) => {
  $("backend-select").value = name;
  return load(name);
};

// --- custom weights ---------------------------------------------------------------------
async function loadWeights(file) {
  const bytes = await file.arrayBuffer();
  const r = await load($("backend-select").value, bytes);
  if (r.ok) {
    $("model-name").textContent = `${file.name} (${state.labels.length} labels)`;
    $("weights-message").textContent = `Loaded ${file.name}: ${state.labels.join(", ")}.`;
  } else {
    $("weights-message").textContent = `${file.name} was refused: ${r.message}. The current model stays.`;
  }
  $("weights-message").dataset.state = r.ok ? "ok" : "error";
  return r;
}
state.loadWeights = loadWeights;
/**
 * Opens a file input's chooser. showPicker() where the browser has it: Chromium ignores click()
 * on a hidden file input once keyboard navigation has moved focus (Tab, then Enter on the drop
 * zone opened nothing).
 */
function choose(input) {
  try {
    input.showPicker();
  } catch {
    input.click();
  }
}
$("weights-button").addEventListener("click", () => choose($("weights-file")));
$("weights-file").addEventListener("change", (e) => {
  if (e.target.files[0]) loadWeights(e.target.files[0]);
  e.target.value = "";
});

// --- bars, legend, charts ------------------------------------------------------------------
function drawBars(el, probabilities) {
  const labels = state.labels;
  if (el.childElementCount !== labels.length * 3) {
    el.innerHTML = "";
    labels.forEach((label) => {
      el.insertAdjacentHTML(
        "beforeend",
        `<span></span><div class="bar" role="meter" aria-valuemin="0" aria-valuemax="100"><span></span></div><span></span>`,
      );
      el.lastElementChild.previousElementSibling.setAttribute("aria-label", label);
      el.lastElementChild.previousElementSibling.previousElementSibling.textContent = label;
    });
  }
  const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  for (const i of labels.keys()) {
    const pct = probabilities ? probabilities[i] * 100 : 0;
    const [name, bar, value] = [el.children[3 * i], el.children[3 * i + 1], el.children[3 * i + 2]];
    name.className = value.className = i === best ? "best" : "";
    bar.setAttribute("aria-valuenow", pct.toFixed(1));
    bar.firstElementChild.style.width = `${pct}%`;
    bar.firstElementChild.style.background = colour(i);
    value.textContent = probabilities ? `${pct.toFixed(1)} %` : "–";
  }
}

const colour = (i) => COLOURS[i % COLOURS.length];

// Labels come from the weights file: written as text, never as markup.
function drawLegend() {
  const entries = [...state.labels.map((l, i) => [l, colour(i)]), ["no speech", SILENCE]];
  $("legend").replaceChildren(
    ...entries.map(([text, background]) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = background;
      span.append(swatch, text);
      return span;
    }),
  );
}

// The timeline of a recording: one column per window, split by probability.
function drawTimeline(canvas, result) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  const duration = Math.max(result.total || 0, result.seconds || 0, 1);
  const axis = 16;
  ctx.fillStyle = "#5b6475";
  ctx.font = "11px system-ui, sans-serif";
  const step = niceStep(duration);
  for (let t = 0; t <= duration; t += step) {
    const x = (t / duration) * w;
    ctx.fillRect(x, h - axis, 1, 4);
    ctx.fillText(clock(t), Math.min(x + 2, w - 34), h - 3);
  }
  const plot = h - axis - 2;
  for (const win of result.windows) {
    // Each column covers the hop that starts at its window's centre.
    const x0 = (((win.start + win.end) / 2 - HOP_SECONDS / 2) / duration) * w;
    const cw = Math.max(1, (HOP_SECONDS / duration) * w + 0.5);
    if (!win.probabilities) {
      ctx.fillStyle = SILENCE;
      ctx.fillRect(x0, plot * 0.75, cw, plot * 0.25);
      continue;
    }
    let y = plot;
    win.probabilities.forEach((p, i) => {
      ctx.fillStyle = colour(i);
      ctx.fillRect(x0, y - p * plot, cw, p * plot + 0.5);
      y -= p * plot;
    });
  }
}

function niceStep(seconds) {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (seconds / s <= 10) return s;
  return 7200;
}

function clock(t) {
  const s = Math.round(t);
  return s >= 3600
    ? `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// The log-mel spectrogram (dB) with the model's attention over time drawn on top.
function drawSpectrogram(canvas, focus) {
  const { nMels: rows, nFrames: cols, mel, attention } = focus;
  const image = new ImageData(cols, rows);
  let lo = Infinity,
    hi = -Infinity;
  for (const v of mel) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = (mel[r * cols + c] - lo) / Math.max(hi - lo, 1e-6);
      const o = ((rows - 1 - r) * cols + c) * 4; // low frequencies at the bottom
      image.data[o] = 255 * Math.min(1, Math.max(0, 1.6 * v - 0.4));
      image.data[o + 1] = 255 * v ** 1.5;
      image.data[o + 2] = 255 * Math.min(1, 0.35 + 0.9 * v - 0.8 * v * v);
      image.data[o + 3] = 255;
    }
  }
  const ctx = canvas.getContext("2d");
  const tmp = new OffscreenCanvas(cols, rows);
  tmp.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  if (attention?.length) {
    const peak = Math.max(...attention);
    const cw = canvas.width / attention.length;
    attention.forEach((a, i) => {
      ctx.fillStyle = `rgba(255,255,255,${(0.45 * a) / peak})`;
      ctx.fillRect(i * cw, 0, cw, 10);
    });
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    attention.forEach((a, i) => {
      const x = (i + 0.5) * cw,
        y = canvas.height - 4 - (a / peak) * (canvas.height * 0.45);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

// --- recordings ---------------------------------------------------------------------------
let selected = null; // the result shown in the details panel

function row(file) {
  const tr = document.createElement("tr");
  tr.className = "result";
  tr.tabIndex = 0;
  tr.dataset.state = "analysing";
  tr.innerHTML = "<td></td><td></td><td colspan=4 class=note>waiting…</td>";
  tr.firstElementChild.textContent = file.name;
  $("results").prepend(tr);
  $("results-table").hidden = false;
  return tr;
}

function showDetails(entry) {
  selected = entry;
  $("details").hidden = false;
  $("details-title").textContent = entry.file;
  const done = entry.state !== "analysing";
  $("progress-line").hidden = done;
  const total = entry.total || entry.duration;
  $("progress").value = total ? Math.min(1, entry.seconds / total) : 0;
  $("progress-text").textContent = total
    ? `${clock(entry.seconds)} of ${clock(total)} analysed`
    : `${clock(entry.seconds)} analysed`;
  if (entry.state === "error") {
    $("overall").textContent = `Could not analyse this file: ${entry.message}`;
  } else if (done) {
    $("overall").textContent = entry.label
      ? `${entry.label} ${(entry.confidence * 100).toFixed(0)} %${entry.speech ? "" : " (very quiet: below the speech gate)"}`
      : "no speech found";
  } else {
    $("overall").textContent = "analysing…";
  }
  drawBars($("detail-bars"), entry.probabilities);
  const long = entry.windows.length > 1 || entry.basis === "windows";
  $("timeline-figure").hidden = !long;
  if (long) drawTimeline($("timeline"), entry);
  $("spectrogram-figure").hidden = !entry.focus;
  if (entry.focus) {
    drawSpectrogram($("spectrogram"), entry.focus);
    $("spectrogram-caption").textContent =
      `Log-mel spectrogram of the window the model weighed most for “${entry.label}” (${entry.focus.start.toFixed(1)}–${entry.focus.end.toFixed(1)} s; ` +
      `low frequencies at the bottom). The white line is the model's attention over time: where it looked.`;
  }
}

function finishRow(tr, entry) {
  tr.dataset.state = entry.state;
  tr.innerHTML = "<td></td><td></td><td></td><td></td><td></td><td></td>";
  const cells = tr.children;
  cells[0].textContent = entry.file;
  if (entry.state === "error") {
    tr.classList.add("error");
    cells[1].colSpan = 5;
    cells[1].textContent = `Could not analyse this file: ${entry.message}`;
    for (let i = 5; i > 1; i--) cells[i].remove();
    return;
  }
  tr.dataset.label = entry.label || "";
  tr.dataset.probabilities = JSON.stringify(entry.probabilities);
  cells[1].textContent = clock(entry.duration);
  cells[2].textContent = entry.label || "no speech";
  cells[3].textContent = entry.label ? `${(entry.confidence * 100).toFixed(0)} %` : "–";
  const voiced = entry.windows.filter((w) => w.probabilities).length;
  cells[4].textContent =
    entry.basis === "clip"
      ? "the clip"
      : entry.basis === "windows"
        ? `${voiced} of ${entry.windows.length} windows`
        : "no speech";
  cells[5].textContent = `${entry.ms.toFixed(0)} ms, ${entry.backend}`;
}

// One file at a time, in order: memory stays flat and results come in drop order.
let queue = Promise.resolve();
function analyse(files) {
  for (const file of files) {
    const tr = row(file);
    const entry = { file: file.name, state: "analysing", seconds: 0, total: null, windows: [], ms: 0 };
    tr.addEventListener("click", () => showDetails(entry));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        showDetails(entry);
      }
    });
    queue = queue.then(async () => {
      try {
        await state.ready;
        if (!state.backend) throw new Error("the model is not loaded");
        showDetails(entry);
        let redraw = 0;
        const a = await model.analyseFile(file, {
          hop: HOP_SECONDS,
          onProgress: (p) => {
            entry.seconds = p.seconds;
            entry.total = p.total ?? entry.total;
            entry.windows.push(...p.windows);
            tr.lastElementChild.textContent = entry.total
              ? `analysing… ${Math.min(100, Math.round((100 * entry.seconds) / entry.total))} %`
              : `analysing… ${clock(entry.seconds)}`;
            const now = performance.now();
            if (selected === entry && now - redraw > 250) {
              redraw = now;
              showDetails(entry);
            }
          },
        });
        Object.assign(entry, {
          state: "done",
          duration: a.duration,
          seconds: a.duration,
          total: a.duration,
          windows: a.windows,
          basis: a.basis,
          speech: a.speech,
          level_dbfs: a.levelDbfs,
          focus: a.focus,
          label: a.label,
          probabilities: a.probabilities,
          confidence: a.confidence ?? 0,
          ms: a.ms,
          backend: a.backend,
        });
      } catch (e) {
        Object.assign(entry, { state: "error", message: e.message || String(e) });
      }
      finishRow(tr, entry);
      state.results.push(entry);
      if (selected === entry) showDetails(entry);
      $("export-csv").disabled = $("export-json").disabled = false;
    });
  }
  return queue;
}
state.analyse = analyse;

const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
// Weights files (.sew) dropped with or instead of recordings load a model; the rest are analysed.
function dropped(files) {
  const weights = files.filter((f) => /\.sew$/i.test(f.name));
  if (weights.length) loadWeights(weights.at(-1));
  const audio = files.filter((f) => !weights.includes(f));
  if (audio.length) analyse(audio);
}
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  dropped([...e.dataTransfer.files]);
});
drop.addEventListener("click", (e) => {
  if (e.target === drop || e.target.tagName === "P") choose($("files"));
});
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    choose($("files"));
  }
});
$("files").addEventListener("change", (e) => {
  dropped([...e.target.files]);
  e.target.value = "";
});

// --- export -------------------------------------------------------------------------------
function exportRows() {
  return state.results.map((r) => {
    const out = {
      file: r.file,
      status: r.state,
      duration_s: r.duration ?? null,
      emotion: r.label ?? null,
      confidence: r.label ? r.confidence : null,
      basis: r.basis ?? null,
      speech: r.speech ?? null,
      ms: r.ms,
      backend: r.backend ?? null,
      error: r.message ?? null,
    };
    state.labels.forEach((l, i) => {
      out[`p_${l}`] = r.probabilities ? r.probabilities[i] : null;
    });
    return out;
  });
}
// A cell a spreadsheet would run as a formula (a file named "=HYPERLINK(…)") gets a leading
// apostrophe; quotes, commas and line breaks are quoted. Header cells (labels) too.
function csvCell(v) {
  if (v == null) return "";
  let text = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
function exportCsv() {
  const rows = exportRows();
  const head = rows.length ? Object.keys(rows[0]) : [];
  return `${[head.map(csvCell).join(","), ...rows.map((r) => head.map((k) => csvCell(r[k])).join(","))].join("\n")}\n`;
}
function exportJson() {
  return JSON.stringify(
    state.results.map((r, i) => ({
      ...exportRows()[i],
      windows: r.windows?.map((w) => ({ start: w.start, end: w.end, emotion: w.label, probabilities: w.probabilities })),
    })),
    null,
    1,
  );
}
state.exportCsv = exportCsv;
state.exportJson = exportJson;
function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
$("export-csv").addEventListener("click", () => download("speech-emotion.csv", "text/csv", exportCsv()));
$("export-json").addEventListener("click", () => download("speech-emotion.json", "application/json", exportJson()));

// --- microphone ---------------------------------------------------------------------------
// The page opens the microphone; the library listens to it (the last 3 s, 4 times a second).
const mic = { stream: null, listener: null };

function micStatus(stateName, text) {
  $("mic-status").dataset.state = stateName;
  $("mic-status").textContent = text;
}

async function startMic() {
  if (!navigator.mediaDevices?.getUserMedia) {
    micStatus("error", "This browser gives pages no microphone access (it needs https or localhost).");
    return;
  }
  micStatus("starting", "asking for the microphone…");
  try {
    mic.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (e) {
    const why =
      e.name === "NotAllowedError"
        ? "Microphone permission was denied."
        : e.name === "NotFoundError"
          ? "No microphone was found."
          : e.name === "NotReadableError"
            ? "The microphone is in use by another program or could not be opened."
            : `The microphone could not be started (${e.message || e.name}).`;
    micStatus("error", `${why} Files still work.`);
    mic.stream = null;
    return;
  }
  try {
    await state.ready;
    if (!model) throw new Error("the model is not loaded");
    const listener = model.listen(mic.stream, {
      seconds: LIVE_SECONDS,
      interval: LIVE_EVERY_MS,
      onUpdate: showLive,
      onError: (e) => micStatus("error", `classification failed: ${e.message}`),
    });
    mic.listener = listener;
    listener.done.then((reason) => {
      if (mic.listener !== listener) return;
      if (reason === "ended") stopMic("The microphone was disconnected. Files still work.");
      else if (reason !== "stopped") stopMic(`The microphone stopped (${reason}). Files still work.`);
    });
    $("mic-toggle").textContent = "Stop microphone";
    $("mic-toggle").setAttribute("aria-pressed", "true");
    micStatus("listening", "listening…");
  } catch (e) {
    stopMic(`The microphone could not be started (${e.message || e}). Files still work.`);
  }
}

function stopMic(message) {
  const listener = mic.listener;
  mic.listener = null;
  listener?.stop();
  for (const t of mic.stream?.getTracks() ?? []) t.stop();
  mic.stream = null;
  $("mic-toggle").textContent = "Start microphone";
  $("mic-toggle").setAttribute("aria-pressed", "false");
  if (message) micStatus("error", message);
  else micStatus("off", "off");
}

function showLive(r) {
  state.live.push({ t: r.time, speech: r.speech, label: r.label, ms: r.ms, level_dbfs: r.levelDbfs });
  if (state.live.length > 600) state.live.shift();
  $("live-ms").textContent = `${r.ms.toFixed(0)} ms per classification on ${r.backend}`;
  if (!r.speech) {
    micStatus("nospeech", `no speech (level ${r.levelDbfs.toFixed(0)} dBFS)`);
    drawBars($("live-bars"), null);
  } else {
    micStatus("speech", `${r.label} ${(r.confidence * 100).toFixed(0)} %`);
    drawBars($("live-bars"), r.probabilities);
  }
  drawLiveTimeline();
}

// The last minute of live results: one thin column per classification, newest at the right.
function drawLiveTimeline() {
  const canvas = $("live-timeline"),
    ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const now = performance.now(),
    span = 60_000;
  for (const r of state.live) {
    if (now - r.t > span) continue;
    const x = canvas.width - ((now - r.t) / span) * canvas.width;
    ctx.fillStyle = r.speech ? colour(state.labels.indexOf(r.label)) : SILENCE;
    ctx.fillRect(x - 3, 0, 4, canvas.height);
  }
}

$("mic-toggle").addEventListener("click", () => (mic.stream ? stopMic() : startMic()));
state.startMic = startMic;
state.stopMic = stopMic;
state.micTracks = () => (mic.stream ? mic.stream.getAudioTracks() : []);

// For benchmarks: time classifications of given samples in the worker.
state.classifySamples = (channels, rate) => model.classify({ channels, sampleRate: rate });
// Makes the WebAssembly panic, for the browser test of the page's recovery.
state.crashForTesting = () => model._panicForTesting();

// Offline after the first visit (not on file:// or where service workers are off). A new build
// of the site installs beside this one and waits: the page says so, and reloads into it only
// when the person asks (results on the page would be lost otherwise).
if ("serviceWorker" in navigator && location.protocol.startsWith("http")) {
  const controlled = Boolean(navigator.serviceWorker.controller); // false on the first visit
  let accepted = false;
  const offer = (waiting) => {
    if (!navigator.serviceWorker.controller) return; // the first install: nothing to replace
    $("update").hidden = false;
    $("update-reload").onclick = () => {
      accepted = true;
      waiting.postMessage("skip-waiting");
    };
  };
  const watch = (worker) =>
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed") offer(worker);
    });
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (accepted) {
      location.reload();
    } else if (controlled) {
      // Another tab took the new version: this page's files are gone from the cache.
      $("update").firstChild.textContent = "A new version of this site was opened in another tab: reload this page to go on. ";
      $("update").hidden = false;
      $("update-reload").onclick = () => location.reload();
    }
  });
  navigator.serviceWorker
    .register(here("sw.js"))
    .then((reg) => {
      if (reg.waiting) offer(reg.waiting);
      watch(reg.installing); // an update already under way when the page registered
      reg.addEventListener("updatefound", () => watch(reg.installing));
    })
    .catch((e) => console.warn("offline mode unavailable:", e));
}
