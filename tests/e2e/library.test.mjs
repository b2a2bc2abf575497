// The library (dist/lib) as a site that embeds it uses it: its example page served under another
// sub-path, the API called directly, and the npm tarball unpacked into a fresh folder.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launch } from "./browser.mjs";
import { CLIP, DIST, longRecording, predict, WORK } from "./fixtures.mjs";
import { serve } from "./server.mjs";

const TOLERANCE = 1e-3;
const LIB = join(DIST, "lib");
const PREFIX = "/vendor/speech-emotion/"; // where a site might put a library

let server;
before(async () => {
  server = await serve(LIB, PREFIX);
});
after(() => server.close());

/** Opens the example page of the library served at `site`; waits for its model. */
async function openExample(site, { extraArgs = [] } = {}) {
  const context = await launch({ webgpu: false, extraArgs });
  const requests = [];
  context.on("request", (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on("worker", (w) => w.on("request", (r) => requests.push(r.url())));
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${site.url}examples/embed.html`);
  await page.waitForFunction(() => window.model, null, { timeout: 120_000 });
  // A file input of the test's own, to hand files to the API.
  await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<input id="test-file" type="file" hidden>'));
  const away = () =>
    requests.filter((u) => !u.startsWith(new URL(site.url).origin) && !u.startsWith("blob:") && !u.startsWith("data:"));
  return { context, page, errors, requests, away };
}

/** Calls `model[method]` on `file` (a path here) in the page; resolves to the result or `{code, message}`. */
async function callWithFile(page, method, file, options = {}) {
  await page.setInputFiles("#test-file", file);
  return page.evaluate(
    async ([method, options]) => {
      const f = document.getElementById("test-file").files[0];
      try {
        return await window.model[method](f, options);
      } catch (e) {
        return { code: e.code, message: e.message, name: e.name };
      }
    },
    [method, options],
  );
}

const maxDiff = (a, b) => Math.max(...a.map((p, i) => Math.abs(p - b[i])));

test("the example page under another sub-path: a clip and a long file as trainer predict, a cancel", async () => {
  const expected = predict(CLIP);
  const long = longRecording(60);
  const cli = predict(long, { windows: true });
  const { context, page, errors, away } = await openExample(server);
  try {
    // As a visitor: choose a file, read the answer.
    await page.setInputFiles("#file", CLIP);
    await page.waitForFunction(() => /\(\d+ %\)/.test(document.getElementById("out").textContent), null, { timeout: 60_000 });
    assert.match(await page.textContent("#out"), new RegExp(`^${CLIP.split("/").pop()}: ${expected.label} `));

    // The API: a file, and the same clip as samples (decoded by WebAudio).
    const clip = await callWithFile(page, "analyseFile", CLIP);
    assert.equal(clip.label, expected.label);
    assert.equal(clip.basis, "clip");
    assert.ok(maxDiff(clip.probabilities, expected.probabilities) <= TOLERANCE);
    assert.deepEqual(clip.scores.map((s) => s.label)[0], expected.label);
    await page.setInputFiles("#test-file", CLIP);
    const samples = await page.evaluate(async () => {
      const f = document.getElementById("test-file").files[0];
      const buffer = await new OfflineAudioContext(1, 1, 22050).decodeAudioData(await f.arrayBuffer());
      const r = await window.model.classify(buffer);
      return { label: r.label, probabilities: r.probabilities, backend: r.backend };
    });
    assert.equal(samples.label, expected.label);
    assert.ok(maxDiff(samples.probabilities, expected.probabilities) <= TOLERANCE);

    // A long file: every window, the overall result, progress on the way.
    const t0 = Date.now();
    await page.setInputFiles("#test-file", long);
    const got = await page.evaluate(async () => {
      const f = document.getElementById("test-file").files[0];
      let reports = 0;
      const r = await window.model.analyseFile(f, { onProgress: () => reports++ });
      return { ...r, reports, focus: null };
    });
    console.log(`library: long file, ${got.windows.length} windows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(got.basis, "windows");
    assert.equal(got.windows.length, cli.windows.length);
    assert.ok(got.reports > 1);
    assert.ok(maxDiff(got.probabilities, cli.probabilities) <= TOLERANCE);

    // Again, now that the second worker has surely loaded: half the windows are its, and every
    // window is still trainer predict's.
    const twice = await page.evaluate(async () => {
      const r = await window.model.analyseFile(document.getElementById("test-file").files[0]);
      return { workers: r.workers, windows: r.windows.map((w) => w.probabilities), probabilities: r.probabilities };
    });
    assert.equal(twice.workers, 2, "the second worker took part");
    assert.equal(twice.windows.length, cli.windows.length);
    const worst = Math.max(...twice.windows.map((p, i) => (p ? maxDiff(p, cli.windows[i].probabilities) : 0)));
    assert.ok(worst <= TOLERANCE, `window probabilities differ by ${worst}`);
    assert.ok(maxDiff(twice.probabilities, cli.probabilities) <= TOLERANCE);

    // The second worker crashes: it is stopped, the first goes on without a restart, and the
    // next recording starts a new one.
    const crash = await page.evaluate(async () => {
      const started = window.model._helpersStarted;
      const had = window.model._panicHelperForTesting();
      await new Promise((r) => setTimeout(r, 500));
      const f = document.getElementById("test-file").files[0];
      const a = await window.model.analyseFile(f);
      const b = await window.model.analyseFile(f);
      return {
        had,
        replaced: window.model._helpersStarted - started,
        a: a.probabilities,
        b: b.probabilities,
        workers: b.workers,
        restarts: window.model.restarts,
      };
    });
    assert.ok(crash.had, "there was a second worker to crash");
    assert.equal(crash.replaced, 1, "the crashed second worker was stopped and one new one started");
    assert.ok(maxDiff(crash.a, cli.probabilities) <= TOLERANCE);
    assert.ok(maxDiff(crash.b, cli.probabilities) <= TOLERANCE);
    assert.equal(crash.workers, 2, "a new second worker took part");
    assert.equal(crash.restarts, 0, "the first worker was not restarted");

    // Cancelled after the first progress report: rejected at once with "aborted", and the
    // model goes on working.
    await page.setInputFiles("#test-file", long);
    const cancel = await page.evaluate(async () => {
      const f = document.getElementById("test-file").files[0];
      const job = new AbortController();
      let at = 0;
      const t0 = performance.now();
      try {
        await window.model.analyseFile(f, {
          signal: job.signal,
          onProgress: () => {
            if (!at) {
              at = performance.now();
              job.abort();
            }
          },
        });
        return { code: "none" };
      } catch (e) {
        return { code: e.code, name: e.name, after: performance.now() - at, total: performance.now() - t0 };
      }
    });
    console.log(`library: cancelled ${cancel.after?.toFixed(0)} ms after the abort`);
    assert.equal(cancel.code, "aborted");
    assert.equal(cancel.name, "SpeechEmotionError");
    assert.ok(cancel.after < 1000, `${cancel.after} ms`);
    const again = await callWithFile(page, "analyseFile", CLIP);
    assert.equal(again.label, expected.label);
    assert.deepEqual(away(), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("the library's errors carry codes: bad files, silence, bad weights, no WebGPU", async () => {
  const { context, page, errors } = await openExample(server);
  try {
    const text = join(WORK, "not-audio.wav");
    mkdirSync(WORK, { recursive: true });
    execFileSync("bash", ["-c", `printf 'this is text, not audio' > ${text}`]);
    const bad = await callWithFile(page, "analyseFile", text);
    assert.equal(bad.code, "unsupported-format", bad.message);
    const codes = await page.evaluate(async () => {
      const { load } = await import(new URL("../speech-emotion.js", location.href).href);
      const code = (p) =>
        p.then(
          () => "resolved",
          (e) => `${e.code}: ${e.message}`,
        );
      const silence = { channels: [new Float32Array(3 * 16000)], sampleRate: 16000 };
      const short = { channels: [new Float32Array(100)], sampleRate: 16000 };
      const huge = { channels: [new Float32Array(16000).fill(1e30)], sampleRate: 16000 };
      return {
        silence: await code(window.model.classify(silence)),
        short: await code(window.model.classify(short)),
        huge: await code(window.model.classify(huge)),
        notAudio: await code(window.model.classify({ channels: "x", sampleRate: 1 }).catch((e) => Promise.reject(e))),
        garbage: await code(load({ weights: new Uint8Array([1, 2, 3, 4]) })),
        missing: await code(load({ weights: "no-such-model.sew" })),
        gpu: await code(load({ backend: "webgpu" })),
        backend: await code(load({ backend: "tpu" })),
      };
    });
    assert.match(codes.silence, /^no-speech: /);
    assert.match(codes.short, /^too-short: /);
    assert.match(codes.huge, /^bad-audio: /);
    assert.match(codes.notAudio, /^invalid-argument: /);
    assert.match(codes.garbage, /^bad-weights: /);
    assert.match(codes.missing, /^fetch-failed: .*404/);
    // Headless Chromium without a GPU has navigator.gpu but no adapter.
    assert.match(codes.gpu, /^webgpu-unavailable: /);
    assert.match(codes.backend, /^invalid-argument: /);
    // The model in use is untouched by all of it.
    const ok = await page.evaluate(() =>
      window.model
        .classify({
          channels: [Float32Array.from({ length: 48000 }, (_, i) => 0.3 * Math.sin(i * 0.07) * Math.sin(i / 3000))],
          sampleRate: 16000,
        })
        .then(
          (r) => r.probabilities.length,
          (e) => e.code,
        ),
    );
    assert.equal(ok, 8);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("npm pack: the tarball unpacked into a fresh folder runs the example", async () => {
  const out = join(WORK, "pack");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const name = execFileSync("npm", ["pack", "--loglevel=error", "--pack-destination", out, LIB], { encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1);
  const listing = execFileSync("tar", ["tzf", join(out, name)], { encoding: "utf8" });
  for (const f of [
    "speech-emotion.js",
    "speech-emotion.d.ts",
    "worker.js",
    "mic-worklet.js",
    "pkg/cpu/speech_emotion_bg.wasm",
    "model/speech-emotion.sew",
    "examples/embed.html",
    "README.md",
    "package.json",
  ]) {
    assert.ok(listing.includes(`package/${f}`), `the tarball lacks ${f}`);
  }
  execFileSync("tar", ["xzf", join(out, name), "-C", out]);
  const pkg = JSON.parse(readFileSync(join(out, "package/package.json"), "utf8"));
  assert.equal(pkg.types, "./speech-emotion.d.ts");
  const site = await serve(join(out, "package"), "/node_modules/speech-emotion/");
  const { context, page, away } = await openExample(site);
  try {
    await page.setInputFiles("#file", CLIP);
    await page.waitForFunction(() => /\(\d+ %\)/.test(document.getElementById("out").textContent), null, { timeout: 60_000 });
    assert.match(await page.textContent("#out"), new RegExp(`: ${predict(CLIP).label} `));
    assert.deepEqual(away(), []);
  } finally {
    await context.close();
    await site.close();
  }
});

test("a MediaRecorder recording (WebM/Opus) is read where it lies, as trainer predict reads it", async () => {
  const { context, page, errors } = await openExample(server, { extraArgs: ["--autoplay-policy=no-user-gesture-required"] });
  try {
    // The browser records a clip played through WebAudio, as a voice-note app would record a
    // microphone: Opus in WebM, from MediaRecorder.
    await page.setInputFiles("#test-file", CLIP);
    const recorded = await page.evaluate(async () => {
      const f = document.getElementById("test-file").files[0];
      const ctx = new AudioContext({ sampleRate: 48000 });
      await ctx.resume();
      const buffer = await ctx.decodeAudioData(await f.arrayBuffer());
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      const out = ctx.createMediaStreamDestination();
      source.connect(out);
      const type = "audio/webm;codecs=opus";
      const recorder = new MediaRecorder(out.stream, { mimeType: type });
      const parts = [];
      recorder.ondataavailable = (e) => parts.push(e.data);
      const stopped = new Promise((r) => {
        recorder.onstop = r;
      });
      recorder.start();
      source.start();
      await new Promise((r) => {
        source.onended = r;
      });
      recorder.stop();
      await stopped;
      const blob = new Blob(parts, { type });
      window.recording = new File([blob], "voice-note.webm", { type });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(bin);
    });
    const file = join(WORK, "voice-note.webm");
    mkdirSync(WORK, { recursive: true });
    writeFileSync(file, Buffer.from(recorded, "base64"));
    // The CLI has no other decoder: this is the native WebM/Opus path.
    const cli = predict(file);
    assert.ok(cli.label, JSON.stringify(cli));
    const got = await page.evaluate(async () => {
      const r = await window.model.analyseFile(window.recording);
      return { label: r.label, probabilities: r.probabilities, duration: r.duration };
    });
    console.log(
      `MediaRecorder WebM/Opus: ${got.duration.toFixed(2)} s, ${got.label} (CLI ${cli.label}, clip ${predict(CLIP).label})`,
    );
    assert.equal(got.label, cli.label);
    assert.ok(maxDiff(got.probabilities, cli.probabilities) <= TOLERANCE);
    assert.ok(got.duration > 3, `${got.duration} s`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
