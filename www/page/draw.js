// Drawing what the model says: probability bars, the legend, a recording's timeline, the
// spectrogram with the model's attention, and the microphone's last minute. Labels come from the
// weights file and are written as text, never as markup.

const COLOURS = ["#8d99ae", "#52b69a", "#f4a261", "#457b9d", "#d62828", "#7b2cbf", "#6a994e", "#f77f00"];
/** The colour of windows without speech. */
export const SILENCE = "#d9dde6";

/** The colour of label `i`. */
export const colour = (i) => COLOURS[i % COLOURS.length];

/**
 * One bar per label in `el` (a three-column grid: name, bar, value), the most probable marked.
 * @param {HTMLElement} el
 * @param {string[]} labels
 * @param {number[] | null} probabilities null: empty bars
 */
export function drawBars(el, labels, probabilities) {
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

/**
 * The labels' colours, and the colour of no speech, as swatches in `el`.
 * @param {HTMLElement} el
 * @param {string[]} labels
 */
export function drawLegend(el, labels) {
  const entries = [...labels.map((l, i) => [l, colour(i)]), ["no speech", SILENCE]];
  el.replaceChildren(
    ...entries.map(([text, background]) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = background;
      span.append(swatch, text);
      return span;
    }),
  );
}

/**
 * The timeline of a recording: the segments as a strip on top (the smoothed view), then one
 * column per window split by probability (the raw view; where windows are closer than a pixel,
 * one column per pixel, their mean), with a time axis.
 * @param {HTMLCanvasElement} canvas
 * @param {{windows: {start: number, end: number, probabilities: number[] | null}[], segments?: {start: number, end: number, label: string}[], total?: number, seconds?: number}} result
 * @param {string[]} labels
 * @param {number} hop seconds between windows
 */
export function drawTimeline(canvas, result, labels, hop) {
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
  const strip = 14;
  for (const seg of result.segments ?? []) {
    ctx.fillStyle = colour(labels.indexOf(seg.label));
    ctx.fillRect((seg.start / duration) * w, 0, Math.max(1, ((seg.end - seg.start) / duration) * w), strip);
  }
  const top = strip + 4;
  const plot = h - axis - 2 - top;
  ctx.save();
  ctx.translate(0, top);
  // Each column covers the hop that starts at its window's centre; a column of several windows
  // covers its pixel up to the next column, so no gaps open between them.
  const hopWidth = Math.max(1, (hop / duration) * w + 0.5);
  const cols = pixelColumns(result.windows, (win) => (((win.start + win.end) / 2 - hop / 2) / duration) * w);
  cols.forEach((col, k) => {
    const many = col.voiced + col.silent > 1;
    const x = many ? Math.floor(col.x) : col.x;
    const cw = many && k + 1 < cols.length ? Math.max(1, Math.floor(cols[k + 1].x) - x) : hopWidth;
    if (col.silent > col.voiced) {
      ctx.fillStyle = SILENCE;
      ctx.fillRect(x, plot * 0.75, cw, plot * 0.25);
      return;
    }
    let y = plot;
    col.sum.forEach((sum, i) => {
      const p = sum / col.voiced;
      ctx.fillStyle = colour(i);
      ctx.fillRect(x, y - p * plot, cw, p * plot + 0.5);
      y -= p * plot;
    });
  });
  ctx.restore();
}

/**
 * The windows (in time order) grouped by the pixel column they start in: an hour has more
 * windows than the canvas has pixels, so a redraw costs the canvas's width, not the
 * recording's length. A column holds the sum of its voiced windows' probabilities.
 * @param {{probabilities: number[] | null}[]} windows
 * @param {(win: object) => number} xOf
 */
export function pixelColumns(windows, xOf) {
  const cols = [];
  for (const win of windows) {
    const x = xOf(win);
    if (!cols.length || Math.floor(cols.at(-1).x) !== Math.floor(x)) cols.push({ x, sum: null, voiced: 0, silent: 0 });
    const col = cols.at(-1);
    if (!win.probabilities) {
      col.silent++;
      continue;
    }
    col.sum ??= new Array(win.probabilities.length).fill(0);
    win.probabilities.forEach((p, i) => {
      col.sum[i] += p;
    });
    col.voiced++;
  }
  return cols;
}

/**
 * The share of speech time per emotion as a sentence in `sharesEl`, and one table row per
 * segment in `tbody` (written as text: labels come from the weights file).
 * @param {HTMLElement} sharesEl
 * @param {HTMLTableSectionElement} tbody
 * @param {{segments: {start: number, end: number, label: string, confidence: number}[], shares: number[]}} result
 * @param {string[]} labels
 */
export function drawSegments(sharesEl, tbody, result, labels) {
  const parts = labels
    .map((label, i) => [label, result.shares[i] ?? 0])
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([label, v]) => `${label} ${Math.round(v * 100)} %`);
  sharesEl.textContent = parts.length ? `Speech time: ${parts.join(", ")}.` : "No speech.";
  tbody.replaceChildren(
    ...result.segments.map((seg) => {
      const tr = document.createElement("tr");
      for (const text of [clock(seg.start), clock(seg.end), seg.label, `${Math.round(seg.confidence * 100)} %`]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.firstElementChild.style.borderLeft = `6px solid ${colour(labels.indexOf(seg.label))}`;
      return tr;
    }),
  );
}

function niceStep(seconds) {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (seconds / s <= 10) return s;
  return 7200;
}

/**
 * `t` seconds as m:ss, or h:mm:ss from an hour.
 * @param {number} t
 */
export function clock(t) {
  const s = Math.round(t);
  return s >= 3600
    ? `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// The spectrogram's colours for 256 levels from quiet to loud, computed once: per pixel they cost
// more than the rest of the page's final redraw of an hour-long recording.
const PALETTE = new Uint8ClampedArray(256 * 4);
for (let i = 0; i < 256; i++) {
  const v = i / 255;
  PALETTE.set(
    [255 * Math.min(1, Math.max(0, 1.6 * v - 0.4)), 255 * v ** 1.5, 255 * Math.min(1, 0.35 + 0.9 * v - 0.8 * v * v), 255],
    i * 4,
  );
}

/** @type {OffscreenCanvasRenderingContext2D | null} */
let scratch = null;

// The log-mel spectrogram (dB) with the model's attention over time drawn on top.
/**
 * @param {HTMLCanvasElement} canvas
 * @param {{nMels: number, nFrames: number, mel: number[], attention: number[]}} focus the window the model weighed most
 */
export function drawSpectrogram(canvas, focus) {
  const { nMels: rows, nFrames: cols, mel, attention } = focus;
  const image = new ImageData(cols, rows);
  let lo = Infinity,
    hi = -Infinity;
  for (const v of mel) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = 255 / Math.max(hi - lo, 1e-6);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = Math.round((mel[r * cols + c] - lo) * scale) * 4;
      const o = ((rows - 1 - r) * cols + c) * 4; // low frequencies at the bottom
      image.data[o] = PALETTE[k];
      image.data[o + 1] = PALETTE[k + 1];
      image.data[o + 2] = PALETTE[k + 2];
      image.data[o + 3] = 255;
    }
  }
  const ctx = canvas.getContext("2d");
  // A 2-D context takes milliseconds to make: one scratch canvas serves every redraw.
  if (scratch?.canvas.width !== cols || scratch?.canvas.height !== rows)
    scratch = new OffscreenCanvas(cols, rows).getContext("2d");
  scratch.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch.canvas, 0, 0, canvas.width, canvas.height);
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

/**
 * The last minute of live results: one thin column per classification, newest at the right.
 * @param {HTMLCanvasElement} canvas
 * @param {{t: number, speech: boolean, label: string | null}[]} live
 * @param {string[]} labels
 */
export function drawLiveTimeline(canvas, live, labels) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const now = performance.now(),
    span = 60_000;
  for (const r of live) {
    if (now - r.t > span) continue;
    const x = canvas.width - ((now - r.t) / span) * canvas.width;
    ctx.fillStyle = r.speech ? colour(labels.indexOf(r.label)) : SILENCE;
    ctx.fillRect(x - 3, 0, 4, canvas.height);
  }
}
