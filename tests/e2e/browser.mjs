// Headless Debian Chromium through playwright-core, with the flags this project needs.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Launches a fresh persistent context (own user-data-dir). `webgpu`: expose SwiftShader's adapter. */
export async function launch({ webgpu = false, extraArgs = [] } = {}) {
  const args = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    ...(webgpu
      ? ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader", "--use-angle=swiftshader"]
      : ["--disable-gpu"]),
    ...extraArgs,
  ];
  const dir = mkdtempSync(join(tmpdir(), "se-chromium-"));
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args });
}

/** Chromium flags for a microphone that plays `wav` (looped), permission granted. */
export const fakeMicrophone = (wav) => [
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  `--use-file-for-fake-audio-capture=${wav}`,
];

/** Drops files (name + bytes) onto `selector` with a real DataTransfer drop event. */
export async function dropFiles(page, selector, files) {
  const payload = files.map((f) => ({ name: f.name, type: f.type || "", data: Buffer.from(f.bytes).toString("base64") }));
  await page.evaluate(
    ({ selector, payload }) => {
      const dt = new DataTransfer();
      for (const f of payload) {
        const bin = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
        dt.items.add(new File([bin], f.name, { type: f.type }));
      }
      const target = document.querySelector(selector);
      for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    },
    { selector, payload },
  );
}
