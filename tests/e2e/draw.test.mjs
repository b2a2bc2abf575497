// The page's drawing helpers that need no browser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pixelColumns } from "../../www/page/draw.js";

test("an hour's timeline draws one column per pixel, each the mean of its windows", () => {
  // 3 600 windows, one a second, on an 820-px canvas: about 4.4 windows a pixel.
  const windows = Array.from({ length: 3600 }, (_, i) => ({
    start: i,
    end: i + 3,
    probabilities: i % 10 === 9 ? null : [i % 2, 1 - (i % 2)],
  }));
  const cols = pixelColumns(windows, (w) => (w.start / 3600) * 820);
  assert.ok(cols.length <= 820, `${cols.length} columns`);
  assert.equal(
    cols.reduce((n, c) => n + c.voiced + c.silent, 0),
    3600,
    "every window is in one column",
  );
  const first = cols[0]; // windows 0–4 start within the first pixel
  assert.deepEqual([first.voiced, first.silent], [5, 0]);
  assert.deepEqual(first.sum, [2, 3]);
  // A column of silent windows only has no sum; the drawing shows silence for it.
  const quiet = pixelColumns([{ start: 0, end: 3, probabilities: null }], () => 0.5);
  assert.deepEqual(quiet, [{ x: 0.5, sum: null, voiced: 0, silent: 1 }]);
});

test("a short recording keeps one column per window", () => {
  const windows = Array.from({ length: 60 }, (_, i) => ({ start: i, end: i + 3, probabilities: [1, 0] }));
  const cols = pixelColumns(windows, (w) => (w.start / 60) * 820);
  assert.equal(cols.length, 60);
  assert.ok(cols.every((c) => c.voiced === 1));
});
