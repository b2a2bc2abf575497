// The page: the library (lib/speech-emotion.js) decodes and classifies; this wires the model,
// the file queue and the microphone to what page/draw.js draws. Nothing here sends audio
// anywhere; every request stays on this page's origin.
import * as speechEmotion from "./lib/speech-emotion.js";
import { clock, drawBars, drawLegend, drawLiveTimeline, drawSegments, drawSpectrogram, drawTimeline } from "./page/draw.js";
import { download, toCsv, toJson } from "./page/export.js";
import { offerUpdates } from "./page/offline.js";

const here = (path) => new URL(path, import.meta.url);
const HOP_SECONDS = 1; // long recordings: a 3-s window every second
const LIVE_SECONDS = 3; // the microphone: the last 3 s…
const LIVE_EVERY_MS = 250; // …classified 4 times a second
const params = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const state = {
  ready: null, // resolves when a model is loaded
  backend: null,
  labels: [],
  results: [], // one entry per file: {file, duration, label, confidence, basis, ms, workers, backend, probabilities}
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
  drawLegend($("legend"), state.labels);
  // A new model has heard no voice yet.
  $("one-speaker-line").hidden = !model.adapts;
  showVoice(null);
  showFilesVoice(null);
}

// `?workers=1`: long recordings on one worker only (to compare with the default two).
const parallel = new URLSearchParams(location.search).get("workers") !== "1";

function load(backend, weights = current.weights) {
  loading = loading.then(async () => {
    $("backend").dataset.state = "loading";
    $("backend").textContent = "loading…";
    try {
      const next = await speechEmotion.load({ backend, weights: weights ?? undefined, parallel });
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
  drawBars($("detail-bars"), state.labels, entry.probabilities);
  // A timeline for a recording longer than a window; a clip (even with two windows) has none.
  const long = entry.basis ? entry.basis === "windows" : entry.windows.length > 3;
  $("timeline-figure").hidden = !long;
  if (long) drawTimeline($("timeline"), entry, state.labels, HOP_SECONDS);
  $("segments-box").hidden = !(long && done && entry.segments);
  if (long && done && entry.segments) drawSegments($("shares"), $("segments"), entry, state.labels);
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
    (entry.basis === "clip"
      ? "the clip"
      : entry.basis === "windows"
        ? `${voiced} of ${entry.windows.length} windows`
        : "no speech") + (entry.adaptation?.applied ? `, adapted to the voice (${entry.adaptation.seconds.toFixed(0)} s)` : "");
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
          voice: $("one-speaker").checked && model.adapts ? FILES_VOICE : undefined,
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
          segments: a.segments,
          shares: a.shares,
          label: a.label,
          probabilities: a.probabilities,
          confidence: a.confidence ?? 0,
          adaptation: a.adaptation,
          ms: a.ms,
          workers: a.workers,
          backend: a.backend,
        });
        showFilesVoice(a.adaptation);
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
state.exportCsv = () => toCsv(state.results, state.labels);
state.exportJson = () => toJson(state.results, state.labels);
$("export-csv").addEventListener("click", () => download("speech-emotion.csv", "text/csv", state.exportCsv()));
$("export-json").addEventListener("click", () => download("speech-emotion.json", "application/json", state.exportJson()));

// --- the voice ----------------------------------------------------------------------------
// A model with the adapted head learns the speaker's voice (unlabelled) and, after 8 windows and 12 s of
// their speech, reads each recording against that voice's own habit, weighted against the
// strict view more as more is heard. The microphone and the files marked "one speaker" are two
// voices, kept in the model's worker.
const MIC_VOICE = "microphone";
const FILES_VOICE = "files";

function showVoice(adaptation) {
  state.voice = adaptation;
  $("voice-line").hidden = !(model?.adapts && mic.listener);
  if (!adaptation) {
    $("voice-status").textContent = "learning this voice: no speech yet";
    return;
  }
  $("voice-status").textContent = adaptation.applied
    ? `adapted to this voice, ${adaptation.seconds.toFixed(0)} s (weight ${Math.round(100 * adaptation.share)} %)`
    : `learning this voice: ${adaptation.seconds.toFixed(0)} s of speech (adapts after 8 sentences and 12 s)`;
  $("voice-status").dataset.applied = String(adaptation.applied);
}

function showFilesVoice(adaptation) {
  $("files-voice").textContent = !adaptation
    ? ""
    : adaptation.applied
      ? `— adapted, ${adaptation.seconds.toFixed(0)} s of this voice heard (weight ${Math.round(100 * adaptation.share)} %)`
      : `— ${adaptation.seconds.toFixed(0)} s of this voice heard, not adapted yet`;
}

$("voice-reset").addEventListener("click", async () => {
  await model?.forgetVoice(MIC_VOICE);
  showVoice(null);
});
// Ticking or unticking starts a new voice: the next recordings are a new speaker.
$("one-speaker").addEventListener("change", async () => {
  await model?.forgetVoice(FILES_VOICE);
  showFilesVoice(null);
});

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
      voice: MIC_VOICE,
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
    showVoice(state.voice);
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
  $("voice-line").hidden = true;
  if (message) micStatus("error", message);
  else micStatus("off", "off");
}

function showLive(r) {
  state.live.push({
    t: r.time,
    speech: r.speech,
    label: r.label,
    ms: r.ms,
    level_dbfs: r.levelDbfs,
    probabilities: r.probabilities,
    adaptation: r.adaptation,
  });
  if (state.live.length > 600) state.live.shift();
  $("live-ms").textContent = `${r.ms.toFixed(0)} ms per classification on ${r.backend}`;
  if (!r.speech) {
    micStatus("nospeech", `no speech (level ${r.levelDbfs.toFixed(0)} dBFS)`);
    drawBars($("live-bars"), state.labels, null);
  } else {
    micStatus("speech", `${r.label} ${(r.confidence * 100).toFixed(0)} %`);
    drawBars($("live-bars"), state.labels, r.probabilities);
  }
  if (r.adaptation) showVoice(r.adaptation);
  drawLiveTimeline($("live-timeline"), state.live, state.labels);
}

$("mic-toggle").addEventListener("click", () => (mic.stream ? stopMic() : startMic()));
state.startMic = startMic;
state.stopMic = stopMic;
state.micTracks = () => (mic.stream ? mic.stream.getAudioTracks() : []);

// For benchmarks: time classifications of given samples in the worker.
state.classifySamples = (channels, rate) => model.classify({ channels, sampleRate: rate });
// Makes the WebAssembly panic, for the browser test of the page's recovery.
state.crashForTesting = () => model._panicForTesting();

offerUpdates(here("sw.js"), $("update"), $("update-reload"));
