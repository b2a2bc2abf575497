// Times classification of one 3-s clip in the page, in headless Chromium, on the CPU backend
// (and on WebGPU with --webgpu; on a GPU-less machine that is SwiftShader: correctness only).
// Prints the median of repeated runs after a warm-up.
//
//   node tests/e2e/bench.mjs [--dist DIR] [--runs N] [--webgpu]

import { resolve } from "node:path";
import { launch } from "./browser.mjs";
import { serve } from "./server.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const dist = resolve(arg("--dist", new URL("../../dist", import.meta.url).pathname));
const runs = Number(arg("--runs", "20"));
const webgpu = process.argv.includes("--webgpu");

const server = await serve(dist);
const context = await launch({ webgpu });
try {
  const page = await context.newPage();
  await page.goto(`${server.url}?backend=${webgpu ? "webgpu" : "cpu"}`);
  await page.waitForSelector("#backend[data-state=ready], #backend[data-state=error]", { timeout: 120_000 });
  const result = await page.evaluate(async (runs) => {
    const se = window.speechEmotion;
    await se.ready;
    if (!se.backend) return { error: document.getElementById("backend").textContent };
    // A voiced test signal: a 180 Hz buzz with harmonics, modulated like syllables.
    const rate = 22050;
    const x = new Float32Array(3 * rate);
    for (let i = 0; i < x.length; i++) {
      const t = i / rate;
      let v = 0;
      for (let h = 1; h < 8; h++) v += Math.sin(2 * Math.PI * 180 * h * t) / h;
      x[i] = 0.2 * v * (0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t));
    }
    // Timed in the worker, around the classification alone (gate, log-mel, model).
    const firstMs = (await se.classifySamples([x], rate)).ms; // the page already warmed up once
    const ms = [];
    for (let i = 0; i < runs; i++) ms.push((await se.classifySamples([x.slice()], rate)).ms);
    ms.sort((a, b) => a - b);
    return { backend: se.backend, firstMs, median: ms[ms.length >> 1], min: ms[0], max: ms.at(-1) };
  }, runs);
  if (result.error) throw new Error(result.error);
  console.log(
    `page worker, ${result.backend} backend, one 3-s clip: first call ${result.firstMs.toFixed(1)} ms, then ` +
      `median ${result.median.toFixed(1)} ms over ${runs} runs (min ${result.min.toFixed(1)}, max ${result.max.toFixed(1)})`,
  );
} finally {
  await context.close();
  server.close();
}
