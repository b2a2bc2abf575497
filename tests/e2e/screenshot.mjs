// Makes docs/screenshot.png: the page on the CPU backend with a 4-minute recording analysed
// and the (fake) microphone hearing speech.
//
//   node tests/e2e/screenshot.mjs [--dist DIR] [--out FILE]

import { join, resolve } from "node:path";
import { fakeMicrophone, launch } from "./browser.mjs";
import { CLIP, DIST, longRecording, micInput, ROOT } from "./fixtures.mjs";
import { serve } from "./server.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const out = resolve(arg("--out", join(ROOT, "docs/screenshot.png")));
const server = await serve(resolve(arg("--dist", DIST)), "/speech-emotion/");
const context = await launch({
  extraArgs: fakeMicrophone(micInput(2)),
});
try {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1000, height: 900 });
  await page.goto(`${server.url}?backend=cpu`);
  await page.waitForSelector("#backend[data-state=ready]", { timeout: 120_000 });
  await page.setInputFiles("#files", [CLIP, longRecording(60)]);
  await page.waitForFunction(() => document.querySelectorAll(".result[data-state=done]").length === 2, null, {
    timeout: 300_000,
  });
  await page.click("#mic-toggle");
  await page.waitForFunction(() => window.speechEmotion.live.filter((r) => r.speech).length >= 6, null, { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector("#mic-status").dataset.state === "speech", null, { timeout: 60_000 });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await context.close();
  server.close();
}
