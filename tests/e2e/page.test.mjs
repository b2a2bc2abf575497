// End to end: the built site in headless Chromium, on WebGPU (SwiftShader) and on the CPU
// backend, against `trainer predict` on the same file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { serve } from "./server.mjs";
import { launch, dropFiles } from "./browser.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const DIST = process.env.DIST_DIR || join(ROOT, "dist");
const RAVDESS = process.env.RAVDESS_DIR || join(ROOT, "../shared/data/ravdess");
const TRAINER = process.env.TRAINER_BIN || join(ROOT, "target/release/trainer");
const CLIP = join(RAVDESS, "speech/Actor_22/03-01-05-02-01-02-22.flac"); // held-out actor
const TOLERANCE = 1e-3;

let server;
let expected;
before(async () => {
  server = await serve(DIST);
  const out = execFileSync(TRAINER, ["predict", "--json", CLIP], { encoding: "utf8" });
  expected = JSON.parse(out.trim().split("\n")[0]);
});
after(() => server.close());

async function openPage(backend) {
  const context = await launch({ webgpu: backend === "webgpu" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.url}?backend=${backend}`);
  await page.waitForSelector("#backend[data-state=ready], #backend[data-state=error]", { timeout: 120_000 });
  const state = await page.$eval("#backend", (el) => ({ state: el.dataset.state, backend: el.dataset.backend, text: el.textContent }));
  assert.equal(state.state, "ready", `model did not load: ${state.text}`);
  assert.equal(state.backend, backend);
  return { context, page, errors };
}

async function dropAndRead(page, name, bytes) {
  const before = await page.$$eval(".result", (els) => els.length);
  await dropFiles(page, "#drop", [{ name, bytes }]);
  await page.waitForFunction((n) => {
    const els = document.querySelectorAll(".result[data-state]");
    return els.length > n;
  }, before, { timeout: 300_000 });
  // Newest card is first.
  return page.$eval(".result", (el) => ({
    state: el.dataset.state,
    label: el.dataset.label,
    probabilities: el.dataset.probabilities ? JSON.parse(el.dataset.probabilities) : null,
    text: el.textContent,
  }));
}

function assertClose(actual, wanted) {
  assert.equal(actual.length, wanted.length);
  const worst = Math.max(...actual.map((p, i) => Math.abs(p - wanted[i])));
  assert.ok(worst <= TOLERANCE, `page vs trainer differ by ${worst}: ${actual} vs ${wanted}`);
  return worst;
}

for (const backend of ["webgpu", "cpu"]) {
  test(`page on ${backend} matches trainer predict, refuses a non-audio file and keeps working`, async () => {
    const { context, page, errors } = await openPage(backend);
    try {
      const bytes = readFileSync(CLIP);
      const got = await dropAndRead(page, "clip.flac", bytes);
      assert.equal(got.state, "done", got.text);
      const worst = assertClose(got.probabilities, expected.probabilities);
      assert.equal(got.label, expected.label);
      const ms = await page.evaluate(() => window.speechEmotion.results.at(-1).ms);
      console.log(`${backend}: ${got.label}, max |page - trainer| = ${worst.toExponential(2)}, classify ${ms.toFixed(0)} ms`);

      const bad = await dropAndRead(page, "notes.txt", Buffer.from("this is not audio"));
      assert.equal(bad.state, "error");
      assert.match(bad.text, /could not be decoded as audio/);

      const again = await dropAndRead(page, "again.flac", bytes);
      assert.equal(again.state, "done", again.text);
      assertClose(again.probabilities, expected.probabilities);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
}
