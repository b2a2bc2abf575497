// speech-emotion: emotion recognition in speech, in the browser, with no server.
//
//   import { load } from "./lib/speech-emotion.js";
//   const model = await load();                  // WebGPU where the browser has it, else CPU
//   const result = await model.classify(audioBuffer);
//   console.log(result.label, result.confidence);
//
// All decoding and inference happen in the library's own worker (worker.js beside this file),
// on this origin: no audio leaves the device. Types and documentation: speech-emotion.d.ts.

const here = (path) => new URL(path, import.meta.url);

/** An error with a stable `code` for programs and a `message` for people. */
export class SpeechEmotionError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "SpeechEmotionError";
    this.code = code;
  }
}

const fail = (code, message, cause) => new SpeechEmotionError(code, message, cause ? { cause } : undefined);
const aborted = (signal) =>
  fail("aborted", typeof signal?.reason === "string" ? signal.reason : "the request was cancelled", signal?.reason);

// A worker silent this long while busy is taken for crashed (long files report progress every
// few seconds).
const WATCHDOG_MS = 90_000;
// More restarts than this within a minute: the model is given up (it crashes on loading).
const MAX_RESTARTS = 3;

/**
 * Loads a model and starts its worker. Resolves to a {@link Model}; rejects with a
 * SpeechEmotionError (`bad-weights`, `fetch-failed`, `webgpu-unavailable`, `aborted`, …).
 */
export async function load({ backend = "auto", weights, signal, parallel = true } = {}) {
  if (!["auto", "webgpu", "cpu"].includes(backend)) {
    throw fail("invalid-argument", `unknown backend "${backend}" (use "auto", "webgpu" or "cpu")`);
  }
  if (signal?.aborted) throw aborted(signal);
  const model = new Model(backend, parallel);
  const onAbort = () => model.dispose(aborted(signal));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await model._start(weightBytes(weights ?? here("model/speech-emotion.sew"), signal));
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

async function weightBytes(weights, signal) {
  if (signal?.aborted) throw aborted(signal);
  if (weights instanceof ArrayBuffer) return weights.slice(0);
  if (ArrayBuffer.isView(weights)) return weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  if (typeof Blob !== "undefined" && weights instanceof Blob) return weights.arrayBuffer();
  if (typeof weights === "string" || weights instanceof URL) {
    let response;
    try {
      response = await fetch(weights, { signal });
    } catch (e) {
      if (signal?.aborted) throw aborted(signal);
      throw fail("fetch-failed", `the weights file could not be fetched (${e.message || e})`, e);
    }
    if (!response.ok) throw fail("fetch-failed", `the weights file could not be fetched (HTTP ${response.status})`);
    return response.arrayBuffer();
  }
  throw fail("invalid-argument", "weights must be a URL, an ArrayBuffer, a typed array or a Blob");
}

/** A loaded model: one worker, one request at a time, restarted after a crash; on the CPU, a
 * second worker classifies half of a long recording's windows on another core. */
export class Model extends EventTarget {
  #weights;
  #wanted;
  #parallel;
  #worker = null;
  #helper = null; // the second worker, started with the first long recording
  #queue = []; // requests waiting to be sent
  #current = null; // the request the worker is on
  #nextId = 1;
  #lastHeard = 0;
  #restarts = [];
  #watchdog = null;
  #disposed = null; // the error calls get once disposed
  #listeners = new Set();

  /** @internal Use {@link load}. */
  constructor(backend, parallel) {
    super();
    this.#wanted = backend;
    this.#parallel = parallel;
    this.labels = [];
    this.backend = null;
    this.note = "";
    this.adapts = false;
    this.restarts = 0;
  }

  /** @internal `weights`: a promise of the bytes; the worker fetches and compiles its
   * WebAssembly meanwhile. */
  async _start(weights) {
    this.#spawn();
    this.#worker.postMessage({ type: "prepare", backend: this.#wanted });
    this.#weights = await weights;
    if (this.#disposed) throw this.#disposed;
    const loaded = await this.#send({ type: "load", backend: this.#wanted, weights: this.#weights.slice(0) });
    this.#loaded(loaded);
    this.#watchdog = setInterval(() => {
      if (this.#current && performance.now() - this.#lastHeard > WATCHDOG_MS) {
        this.#crashed(`no answer in ${WATCHDOG_MS / 1000} s`);
      }
    }, 5_000);
  }

  #loaded({ backend, labels, note, adapts }) {
    this.backend = backend;
    this.labels = labels;
    this.note = note;
    this.adapts = Boolean(adapts);
  }

  #spawn() {
    this.#worker = new Worker(here("worker.js"), { type: "module" });
    this.#worker.onmessage = ({ data }) => this.#message(data);
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      this.#crashed(`the worker failed: ${e.message || "unknown error"}`);
    };
  }

  #message(data) {
    this.#lastHeard = performance.now();
    if (data.type === "crashed") {
      this.#crashed(data.message);
      return;
    }
    if (data.type === "gpu-lost") {
      // Whatever the worker was doing on that device will not finish; the CPU takes over.
      console.warn("WebGPU device lost:", data.message);
      this.#crashed("the GPU was lost", "cpu");
      return;
    }
    const job = this.#current;
    if (!job || data.id !== job.id) return;
    if (data.type === "progress") {
      try {
        job.onProgress?.(data);
      } catch (e) {
        console.error("onProgress threw:", e);
      }
      return;
    }
    this.#finish(job);
    if (data.type === "error") job.reject(fail(data.code, data.message));
    else job.resolve(data);
    this.#pump();
  }

  #finish(job) {
    this.#current = null;
    job.signal?.removeEventListener("abort", job.onAbort);
  }

  // Sends the next waiting request, if the worker is free.
  #pump() {
    if (this.#current || this.#disposed || !this.#worker) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#current = job;
    this.#lastHeard = performance.now();
    this.#worker.postMessage({ ...job.message, id: job.id }, job.transfer);
  }

  /** Queues a request for the worker (`first`: before anything that waits); resolves to its reply. */
  #send(message, { transfer = [], onProgress, signal, first = false } = {}) {
    if (this.#disposed) return Promise.reject(this.#disposed);
    if (signal?.aborted) return Promise.reject(aborted(signal));
    return new Promise((resolve, reject) => {
      const job = { id: this.#nextId++, message, transfer, onProgress, signal, resolve, reject };
      job.onAbort = () => {
        if (this.#current === job) {
          // The WebAssembly cannot be interrupted mid-call: stop the worker and start afresh.
          this.#finish(job);
          reject(aborted(signal));
          this.#restart();
        } else {
          this.#queue = this.#queue.filter((j) => j !== job);
          reject(aborted(signal));
        }
      };
      signal?.addEventListener("abort", job.onAbort, { once: true });
      if (first) this.#queue.unshift(job);
      else this.#queue.push(job);
      this.#pump();
    });
  }

  // A panic leaves the WebAssembly unusable: reject the request it was on, start a fresh worker,
  // load the same model on the same backend (the CPU one if that fails, or `backend` when
  // given), go on with the queue.
  #crashed(reason, backend = null) {
    if (this.#disposed) return;
    const job = this.#current;
    const error = fail("crashed", `the analysis crashed (${reason}); the model was restarted`);
    if (job) {
      this.#finish(job);
      job.reject(error);
    }
    const now = performance.now();
    this.#restarts = this.#restarts.filter((t) => now - t < 60_000).concat(now);
    this.restarts += 1;
    if (this.#restarts.length > MAX_RESTARTS) {
      this.dispose(fail("crashed", `the model keeps crashing (${reason}); load it again to retry`));
      return;
    }
    this.#restart(reason, backend);
  }

  // Starts the second worker, if it pays: the CPU backend on a device with another core. It
  // loads the same weights while the first worker starts on the recording (whose first windows
  // stay with the first worker until it is ready). Anything going wrong with it only stops it.
  #startHelper() {
    if (this.#helper || !this.#parallel || this.backend !== "cpu" || !this.#worker) return;
    if ((globalThis.navigator?.hardwareConcurrency || 1) < 2) return;
    const helper = new Worker(here("worker.js"), { type: "module" });
    this.#helper = helper;
    this._helpersStarted = (this._helpersStarted || 0) + 1; // for the tests
    const stop = (why) => {
      console.warn("second worker stopped:", why);
      this.#stopHelper();
    };
    helper.onmessage = ({ data }) => {
      if (data.type === "crashed" || data.type === "error") stop(data.message);
    };
    helper.onerror = (e) => {
      e.preventDefault?.();
      stop(e.message || "it failed");
    };
    const weights = this.#weights.slice(0);
    helper.postMessage({ type: "prepare", backend: "cpu" });
    helper.postMessage({ id: 0, type: "load", backend: "cpu", weights }, [weights]);
    const { port1, port2 } = new MessageChannel();
    helper.postMessage({ type: "serve", port: port2 }, [port2]);
    this.#worker.postMessage({ type: "helper", port: port1 }, [port1]);
  }

  #stopHelper() {
    if (!this.#helper) return;
    this.#helper.terminate();
    this.#helper = null;
    this.#worker?.postMessage({ type: "helper-gone" });
  }

  #restart(reason = null, forced = null) {
    this.#stopHelper();
    this.#worker?.terminate();
    this.#worker = null;
    this.#spawn();
    const reload = (backend) => {
      const weights = this.#weights.slice(0);
      return this.#send({ type: "load", backend, weights }, { transfer: [weights], first: true });
    };
    const backend = forced || this.backend || this.#wanted;
    reload(backend)
      .catch((e) => (backend === "cpu" || this.#disposed ? Promise.reject(e) : reload("cpu")))
      .then(
        (loaded) => {
          this.#loaded(loaded);
          if (forced && this.#wanted !== forced) this.note = `${reason}, so the CPU is used`;
          if (reason) this.dispatchEvent(new CustomEvent("restart", { detail: { reason, backend: this.backend } }));
        },
        (e) => this.dispose(fail("crashed", `the model could not be restarted: ${e.message}`, e)),
      );
  }

  /**
   * Classifies one short recording (the clip rule: the speech is trimmed and the longest
   * utterance classified). `audio`: an AudioBuffer, or `{channels, sampleRate}`. With `voice` (a
   * name), the clip is heard as that voice's and the result adapted to it once the voice has
   * been heard long enough.
   * Rejects with code `no-speech` when nothing passes the speech gate.
   */
  async classify(audio, { signal, voice } = {}) {
    const { channels, rate } = samples(audio);
    const reply = await this.#send(
      { type: "clip", channels, rate, voice: voiceName(voice), learn: true },
      { transfer: channels.map((c) => c.buffer), signal },
    );
    const result = toResult(reply, this.labels, this.backend);
    if (!result.speech) {
      throw fail("no-speech", `no speech: the loudest part is at ${result.levelDbfs.toFixed(0)} dBFS, below the speech gate`);
    }
    return result;
  }

  /**
   * Analyses a file of any length where it lies (WAV, FLAC, MP3, Ogg Vorbis, Opus in Ogg or
   * WebM, AAC/M4A in the worker; other formats the browser can decode through WebAudio): a 3-s window every `hop`
   * seconds, `onProgress({seconds, total, windows})` as it goes. With `voice` (a name), the
   * recording's speech is heard as that voice's, and the results (windows, segments, overall)
   * adapted to it once the voice, this recording included, has been heard long enough.
   */
  async analyseFile(file, { onProgress, signal, hop = 1, voice } = {}) {
    if (typeof Blob === "undefined" || !(file instanceof Blob))
      throw fail("invalid-argument", "analyseFile takes a File or a Blob");
    const windows = []; // the worker sends each window once, with the progress reports
    const progress = (p) => {
      const batch = p.windows.map(toWindow);
      windows.push(...batch);
      onProgress?.({ seconds: p.seconds, total: p.total ?? null, windows: batch });
    };
    let reply;
    this.#startHelper();
    try {
      reply = await this.#send({ type: "file", file, hop, voice: voiceName(voice) }, { onProgress: progress, signal });
    } catch (e) {
      if (e.code !== "unsupported-format" || typeof OfflineAudioContext === "undefined") throw e;
      // A format the worker's decoders lack: the browser's decoder (the whole file), then the
      // samples go to the worker.
      const buffer = await decodeWithWebAudio(file, signal);
      const { channels, rate } = samples(buffer);
      windows.length = 0;
      reply = await this.#send(
        { type: "channels", channels, rate, hop, voice: voiceName(voice) },
        { transfer: channels.map((c) => c.buffer), onProgress: progress, signal },
      );
    }
    const result = toResult(reply, this.labels, this.backend);
    // Adapted results come back whole; otherwise the windows are the ones reported on the way.
    return result.adaptation?.applied ? result : { ...result, windows };
  }

  /** Forgets what was heard of the voice `voice` (its results are strict again until it has
   * been heard long enough anew). */
  async forgetVoice(voice) {
    const name = voiceName(voice);
    if (!name) throw fail("invalid-argument", "forgetVoice takes a voice's name");
    // In order: calls made before it still hear the voice they were made for.
    await this.#send({ type: "forget", voice: name });
  }

  /**
   * Listens to a microphone (or any audio MediaStream): the last `seconds` are classified every
   * `interval` ms, each result to `onUpdate`. Stops on `signal`, `stop()`, `dispose()`, or when
   * the stream's track ends; the stream itself stays open (it is the caller's).
   */
  listen(stream, { onUpdate, onError, signal, seconds = 3, interval = 250, voice = "microphone" } = {}) {
    if (this.#disposed) throw this.#disposed;
    if (typeof MediaStream === "undefined" || !(stream instanceof MediaStream) || !stream.getAudioTracks().length) {
      throw fail("invalid-argument", "listen takes a MediaStream with an audio track");
    }
    const listener = new Listener(this, stream, { onUpdate, onError, signal, seconds, interval, voice: voiceName(voice) });
    this.#listeners.add(listener);
    listener.done.finally(() => this.#listeners.delete(listener));
    return listener;
  }

  /** @internal The microphone's requests: dropped rather than queued when the worker is busy. */
  _clip(channels, rate, voice, learn) {
    if (this.#current || this.#queue.length) return null;
    return this.#send({ type: "clip", channels, rate, voice, learn }, { transfer: channels.map((c) => c.buffer) }).then((reply) =>
      toResult(reply, this.labels, this.backend),
    );
  }

  /** @internal For the browser test of the second worker's crash: makes its WebAssembly
   * panic; false when there is no second worker. */
  _panicHelperForTesting() {
    this.#helper?.postMessage({ id: -1, type: "panic-for-testing" });
    return Boolean(this.#helper);
  }

  /** @internal For the browser test of recovery: makes the WebAssembly panic. */
  _panicForTesting() {
    return this.#send({ type: "panic-for-testing" });
  }

  /** Stops the worker and any listening; pending and later calls reject with code `disposed`. */
  dispose(reason) {
    if (this.#disposed) return;
    this.#disposed = reason || fail("disposed", "the model was disposed");
    clearInterval(this.#watchdog);
    this.#stopHelper();
    this.#worker?.terminate();
    this.#worker = null;
    const jobs = [this.#current, ...this.#queue].filter(Boolean);
    this.#current = null;
    this.#queue = [];
    for (const job of jobs) {
      job.signal?.removeEventListener("abort", job.onAbort);
      job.reject(this.#disposed);
    }
    for (const l of this.#listeners) l.stop("disposed");
    if (reason) this.dispatchEvent(new CustomEvent("error", { detail: reason }));
  }
}

/** A microphone being listened to (see {@link Model#listen}). */
class Listener {
  #stopped = false;
  #stop;

  constructor(model, stream, { onUpdate, onError, signal, seconds, interval, voice }) {
    this.done = new Promise((resolve) => {
      this.#stop = resolve;
    });
    this.context = null;
    if (signal?.aborted) {
      this.stop("aborted");
      return;
    }
    signal?.addEventListener("abort", () => this.stop("aborted"), { once: true });
    const report = (e) => (onError ? onError(e) : console.error(e));
    this.report = report;
    const tracks = stream.getAudioTracks();
    const ended = () => this.stop("ended");
    for (const t of tracks) t.addEventListener("ended", ended);
    this.#start(model, stream, { onUpdate, seconds, interval, voice }).then(
      (cleanup) => {
        this.done.then(() => {
          for (const t of tracks) t.removeEventListener("ended", ended);
          cleanup();
        });
      },
      (e) => {
        report(fail("microphone-failed", `the microphone could not be read (${e.message || e})`, e));
        this.stop("failed");
      },
    );
  }

  async #start(model, stream, { onUpdate, seconds, interval, voice }) {
    const ctx = new AudioContext();
    this.context = ctx;
    try {
      await ctx.audioWorklet.addModule(here("mic-worklet.js"));
      const source = ctx.createMediaStreamSource(stream);
      const tap = new AudioWorkletNode(ctx, "tap");
      const mute = ctx.createGain();
      mute.gain.value = 0; // the graph must reach the output to run; nothing is heard
      source.connect(tap).connect(mute).connect(ctx.destination);
      const ring = new Float32Array(Math.round(seconds * ctx.sampleRate));
      let filled = 0,
        at = 0;
      tap.port.onmessage = ({ data }) => {
        for (let i = 0; i < data.length; i++) {
          ring[at] = data[i];
          at = (at + 1) % ring.length;
        }
        filled = Math.min(ring.length, filled + data.length);
      };
      let busy = false;
      // The voice learns from windows that do not overlap: one a full window after the last
      // one it learned from.
      let learnedAt = Number.NEGATIVE_INFINITY;
      const tick = async () => {
        if (busy || this.#stopped || filled < ring.length / 3) return;
        const out = new Float32Array(filled); // the last seconds, oldest first
        for (let i = 0; i < filled; i++) out[i] = ring[(at - filled + i + ring.length) % ring.length];
        const now = ctx.currentTime;
        const learn = Boolean(voice) && filled === ring.length && now - learnedAt >= seconds;
        const pending = model._clip([out], ctx.sampleRate, voice, learn);
        if (!pending) return; // the worker is on a file: skip this tick
        busy = true;
        try {
          const r = await pending;
          if (learn && r.speech) learnedAt = now;
          if (!this.#stopped) onUpdate?.({ ...r, time: performance.now() });
        } catch (e) {
          if (!this.#stopped) this.report(e);
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(tick, interval);
      return () => {
        clearInterval(timer);
        source.disconnect();
        ctx.close();
      };
    } catch (e) {
      ctx.close();
      throw e;
    }
  }

  /** Stops listening; `done` resolves to the reason. */
  stop(reason = "stopped") {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stop(reason);
  }
}

/** A voice's name, or undefined for none. */
function voiceName(voice) {
  if (voice === undefined || voice === null || voice === false) return undefined;
  if (typeof voice !== "string" || !voice) throw fail("invalid-argument", "voice must be a non-empty string");
  return voice;
}

/** Channels (copies, so they can be handed to the worker) and the sample rate of `audio`. */
function samples(audio) {
  if (typeof AudioBuffer !== "undefined" && audio instanceof AudioBuffer) {
    const channels = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c).slice());
    return { channels, rate: audio.sampleRate };
  }
  const { channels, sampleRate } = audio || {};
  if (!Array.isArray(channels) || !channels.length || !channels.every((c) => c instanceof Float32Array)) {
    throw fail("invalid-argument", "audio must be an AudioBuffer or {channels: Float32Array[], sampleRate}");
  }
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw fail("invalid-argument", `invalid sample rate ${sampleRate}`);
  }
  return { channels: channels.map((c) => c.slice()), rate: sampleRate };
}

async function decodeWithWebAudio(file, signal) {
  const ctx = new OfflineAudioContext(1, 1, 22050);
  const bytes = await file.arrayBuffer();
  if (signal?.aborted) throw aborted(signal);
  try {
    return await ctx.decodeAudioData(bytes);
  } catch (e) {
    throw fail("unsupported-format", "this file could not be decoded as audio", e);
  }
}

const toWindow = (w) => ({
  start: w.start,
  end: w.end,
  levelDbfs: w.level_dbfs,
  label: w.label ?? null,
  probabilities: w.probabilities ?? null,
});

// The worker's analysis in the library's terms (camelCase, the windows, the best label's score).
function toResult({ analysis: a, ms, workers }, labels, backend) {
  const p = a.overall ? a.overall.probabilities : null;
  const best = p ? p.indexOf(Math.max(...p)) : -1;
  return {
    label: a.overall ? a.overall.label : null,
    confidence: p ? p[best] : null,
    probabilities: p,
    scores: p ? labels.map((label, i) => ({ label, score: p[i] })).sort((x, y) => y.score - x.score) : [],
    basis: a.basis,
    speech: a.speech,
    duration: a.duration,
    levelDbfs: a.level_dbfs,
    windows: (a.windows || []).map(toWindow),
    segments: (a.segments || []).map(({ start, end, label, confidence }) => ({ start, end, label, confidence })),
    shares: a.shares || labels.map(() => 0),
    adaptation: a.adaptation
      ? {
          seconds: a.adaptation.seconds,
          applied: a.adaptation.applied,
          share: a.adaptation.share,
          strictProbabilities: a.adaptation.strict ?? null,
        }
      : null,
    focus: a.focus
      ? {
          start: a.focus.start,
          end: a.focus.end,
          nMels: a.focus.n_mels,
          nFrames: a.focus.n_frames,
          mel: a.focus.mel,
          attention: a.focus.attention,
        }
      : null,
    ms,
    workers,
    backend,
  };
}
