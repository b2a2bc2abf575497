// The page's figures, in headless Chromium on this machine (a GPU-less machine runs WebGPU on
// SwiftShader: correctness, not speed), with the site in dist/ served from localhost:
// - time to the first result, cold (a fresh profile: no cache, no service worker) and warm (a
//   reload the service worker serves, at once and again 5 s later), from navigation to ready
//   and to the result of a 3-s clip handed to the page the moment it is ready;
// - what a first visit downloads on the CPU path (every file the host served), raw and gzip,
//   and the WebGPU bundle beside it;
// - one 3-s clip in the worker: first call and median of repeated runs, per backend;
// - long recordings (original corpus clips back to back) dropped on the page: seconds, times
//   real time, and meanwhile the main thread's longest task (the browser's long-task entries)
//   and the longest interval between the ticks of a 20-ms timer on it; once with one worker
//   (`?workers=1`, as before the second worker) and once with the default two, and the ratio.
// Prints a Markdown table, or one JSON object with --json.
//
//   node tests/e2e/bench.mjs [--dist DIR] [--runs N] [--minutes 10,60] [--webgpu] [--json]

import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { launch } from "./browser.mjs";
import { buzz, recordingOfMinutes } from "./fixtures.mjs";
import { serve } from "./server.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const dist = resolve(arg("--dist", new URL("../../dist", import.meta.url).pathname));
const runs = Number(arg("--runs", "20"));
const minutes = arg("--minutes", "10").split(",").filter(Boolean).map(Number);
const webgpu = process.argv.includes("--webgpu");
const json = process.argv.includes("--json");
const PREFIX = "/speech-emotion/"; // as on a project page

// The test signal every page timing classifies: 3 s of fixtures' buzz (the signal
// examples/bench.rs times), handed to the page as a plain array.
const RATE = 22050;
const SIGNAL = Array.from(buzz(3, RATE));

// Runs in the page before its own scripts: notes when the model is ready and classifies the test
// signal at once (as a clip dropped on the page while it loads would be).
function timeFirstResult({ signal, rate }) {
  const x = Float32Array.from(signal);
  window.__firstResult = new Promise((resolve) => {
    const watch = () => {
      const el = document.getElementById("backend");
      if (!el) return false;
      const seen = new MutationObserver(async () => {
        if (el.dataset.state === "error") resolve({ error: el.textContent });
        if (el.dataset.state !== "ready") return;
        seen.disconnect();
        const readyMs = performance.now();
        const r = await window.speechEmotion.classifySamples([x], rate);
        resolve({ readyMs, firstMs: performance.now(), label: r.label });
      });
      seen.observe(el, { attributes: true });
      return true;
    };
    if (!watch()) document.addEventListener("DOMContentLoaded", watch, { once: true });
  });
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
const sizeOf = (files) => {
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const body = readFileSync(f);
    raw += body.length;
    gzip += gzipSync(body).length;
  }
  return { raw, gzip, files: files.length };
};

async function firstResults(server) {
  const context = await launch();
  try {
    const page = await context.newPage();
    await page.addInitScript(timeFirstResult, { signal: SIGNAL, rate: RATE });
    const before = server.requests.length;
    await page.goto(`${server.url}?backend=cpu`);
    const cold = await page.evaluate(() => window.__firstResult);
    if (cold.error) throw new Error(cold.error);
    // The service worker has taken the page and cached the build before the warm load.
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller)
        await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
    });
    await page.waitForLoadState("networkidle");
    const served = [...new Set(server.requests.slice(before).map((u) => new URL(u, server.url).pathname))];
    await page.reload();
    const warm = await page.evaluate(() => window.__firstResult);
    // A visitor who comes back later: the warm-up then runs faster than on a reload at once,
    // most likely because V8 has cached the code its optimising compiler made by then.
    await page.waitForTimeout(5_000);
    await page.reload();
    const later = await page.evaluate(() => window.__firstResult);
    for (const r of [warm, later]) if (r.error) throw new Error(r.error);
    const files = served
      .map((p) => join(dist, decodeURIComponent(p).slice(PREFIX.length)))
      .map((f) => (statSync(f, { throwIfNoEntry: false })?.isDirectory() ? join(f, "index.html") : f))
      .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
    return { cold, warm, later, download: sizeOf(files) };
  } finally {
    await context.close();
  }
}

async function clipLatency(server, backend) {
  const context = await launch({ webgpu: backend === "webgpu" });
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}?backend=${backend}`);
    await page.waitForSelector("#backend[data-state=ready], #backend[data-state=error]", { timeout: 180_000 });
    return await page.evaluate(
      async ({ runs, signal, rate }) => {
        const se = window.speechEmotion;
        await se.ready;
        if (!se.backend) return { error: document.getElementById("backend").textContent };
        const x = Float32Array.from(signal);
        // Timed in the worker, around the classification alone (gate, features, model).
        const firstMs = (await se.classifySamples([x.slice()], rate)).ms; // after the page's warm-up
        const ms = [];
        for (let i = 0; i < runs; i++) ms.push((await se.classifySamples([x.slice()], rate)).ms);
        ms.sort((a, b) => a - b);
        return { backend: se.backend, firstMs, median: ms[ms.length >> 1], min: ms[0], max: ms.at(-1) };
      },
      { runs, signal: SIGNAL, rate: RATE },
    );
  } finally {
    await context.close();
  }
}

async function longRecording(server, mins, workers) {
  const file = recordingOfMinutes(mins);
  const context = await launch();
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}?backend=cpu${workers === 1 ? "&workers=1" : ""}`);
    await page.waitForSelector("#backend[data-state=ready]", { timeout: 180_000 });
    await page.evaluate(() => {
      // longest stays null where the browser does not report long tasks.
      const seesLongTasks = PerformanceObserver.supportedEntryTypes.includes("longtask");
      window.__gaps = { max: 0, last: performance.now(), longest: seesLongTasks ? 0 : null };
      // The browser's own account: main-thread tasks of 50 ms or more (the timer below also
      // counts the moments the page waits for a core the worker and the browser are using).
      if (seesLongTasks)
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__gaps.longest = Math.max(window.__gaps.longest, e.duration);
        }).observe({ type: "longtask" });
      const tick = () => {
        const now = performance.now();
        window.__gaps.max = Math.max(window.__gaps.max, now - window.__gaps.last);
        window.__gaps.last = now;
        window.__gapTimer = setTimeout(tick, 20);
      };
      tick();
    });
    const t0 = Date.now();
    await page.setInputFiles("#files", file);
    await page.waitForFunction(() => document.querySelector(".result[data-state=done], .result[data-state=error]"), null, {
      timeout: 3_600_000,
      polling: 500,
    });
    const seconds = (Date.now() - t0) / 1000;
    const out = await page.evaluate(() => {
      clearTimeout(window.__gapTimer);
      const r = window.speechEmotion.results.at(-1);
      return {
        state: document.querySelector(".result").dataset.state,
        duration: r?.duration,
        windows: r?.windows?.length,
        workers: r?.workers,
        gap: window.__gaps.max,
        longTask: window.__gaps.longest,
      };
    });
    if (out.state !== "done") throw new Error(`the ${mins}-min recording was not analysed`);
    // An older build has no second worker (and says nothing): count it as one.
    if ((out.workers ?? 1) !== workers) throw new Error(`${out.workers ?? 1} workers took part, not ${workers}`);
    return {
      minutes: mins,
      workers,
      seconds,
      realTime: out.duration / seconds,
      windows: out.windows,
      maxGapMs: out.gap,
      longTaskMs: out.longTask,
    };
  } finally {
    await context.close();
  }
}

const server = await serve(dist, PREFIX);
try {
  const results = { first: await firstResults(server), clip: [], long: [] };
  for (const backend of webgpu ? ["cpu", "webgpu"] : ["cpu"]) {
    const r = await clipLatency(server, backend);
    if (r.error) throw new Error(r.error);
    results.clip.push(r);
  }
  for (const m of minutes) {
    const one = await longRecording(server, m, 1);
    // A build without the second worker (--dist of an older one) is timed once.
    const two = await longRecording(server, m, 2).catch((e) =>
      /1 workers took part/.test(e.message) ? null : Promise.reject(e),
    );
    results.long.push(one, ...(two ? [{ ...two, speedup: one.seconds / two.seconds }] : []));
  }
  const webgpuBundle = ["speech_emotion.js", "speech_emotion_bg.wasm"].map((f) => join(dist, "lib/pkg/webgpu", f));
  results.webgpuBundle = sizeOf(webgpuBundle.filter((f) => statSync(f, { throwIfNoEntry: false })));
  if (json) {
    console.log(JSON.stringify(results));
  } else {
    const { cold, warm, later, download } = results.first;
    const rows = [
      [
        "cold load (no cache): navigation → ready / → first clip's result",
        `${cold.readyMs.toFixed(0)} ms / ${cold.firstMs.toFixed(0)} ms`,
      ],
      [
        "warm load (service worker): navigation → ready / → first clip's result",
        `${warm.readyMs.toFixed(0)} ms / ${warm.firstMs.toFixed(0)} ms`,
      ],
      [
        "warm load again, 5 s later: navigation → ready / → first clip's result",
        `${later.readyMs.toFixed(0)} ms / ${later.firstMs.toFixed(0)} ms`,
      ],
      [
        `first visit on the CPU path (${download.files} files the host served)`,
        `${mb(download.raw)} raw, ${mb(download.gzip)} gzip`,
      ],
      [
        "WebGPU bundle (fetched only where an adapter is offered)",
        `${mb(results.webgpuBundle.raw)} raw, ${mb(results.webgpuBundle.gzip)} gzip`,
      ],
      ...results.clip.map((c) => [
        `one 3-s clip in the worker, ${c.backend}${c.backend === "webgpu" ? " (SwiftShader here: not a speed figure)" : ""}`,
        `median ${c.median.toFixed(1)} ms over ${runs} (first ${c.firstMs.toFixed(1)}, min ${c.min.toFixed(1)}, max ${c.max.toFixed(1)})`,
      ]),
      ...results.long.map((l) => [
        `${l.minutes}-min recording dropped on the page, CPU, ${l.workers === 1 ? "one worker" : "two workers"} (${l.windows} windows)`,
        `${l.seconds.toFixed(1)} s: ${l.realTime.toFixed(1)}× real time${l.speedup ? ` (**${l.speedup.toFixed(2)}×** one worker's speed)` : ""}; main thread: ${l.longTaskMs === null ? "long tasks not reported" : l.longTaskMs ? `longest task ${l.longTaskMs.toFixed(0)} ms` : "no task of 50 ms or more"}, a 20-ms timer's ticks up to ${l.maxGapMs.toFixed(0)} ms apart`,
      ]),
    ];
    console.log("| page, headless Chromium | measured |\n|---|---|");
    for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
  }
} finally {
  server.close();
}
