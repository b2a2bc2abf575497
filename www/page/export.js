// The results as files people keep: a CSV for spreadsheets and a JSON with every window.

/**
 * One flat row per analysed file: status, duration, emotion, confidence, basis, speech gate,
 * the seconds of the voice it was adapted to (empty: not adapted), timing, the error if any, each label's probability (`p_<label>`) and share of speech time
 * (`share_<label>`).
 * @param {object[]} results the page's entries, in the order they finished
 * @param {string[]} labels
 */
export function exportRows(results, labels) {
  return results.map((r) => {
    const out = {
      file: r.file,
      status: r.state,
      duration_s: r.duration ?? null,
      emotion: r.label ?? null,
      confidence: r.label ? r.confidence : null,
      basis: r.basis ?? null,
      speech: r.speech ?? null,
      adapted_voice_s: r.adaptation?.applied ? r.adaptation.seconds : null,
      ms: r.ms,
      backend: r.backend ?? null,
      error: r.message ?? null,
    };
    labels.forEach((l, i) => {
      out[`p_${l}`] = r.probabilities ? r.probabilities[i] : null;
    });
    // The share of speech time each emotion holds (its segments' time).
    labels.forEach((l, i) => {
      out[`share_${l}`] = r.shares ? r.shares[i] : null;
    });
    return out;
  });
}

// A cell a spreadsheet would run as a formula (a file named "=HYPERLINK(…)") gets a leading
// apostrophe; quotes, commas and line breaks are quoted. Header cells (labels) too.
function csvCell(v) {
  if (v == null) return "";
  let text = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The rows of {@link exportRows} as CSV text.
 * @param {object[]} results
 * @param {string[]} labels
 */
export function toCsv(results, labels) {
  const rows = exportRows(results, labels);
  const head = rows.length ? Object.keys(rows[0]) : [];
  return `${[head.map(csvCell).join(","), ...rows.map((r) => head.map((k) => csvCell(r[k])).join(","))].join("\n")}\n`;
}

/**
 * The rows of {@link exportRows} with each file's segments and windows, as JSON text.
 * @param {object[]} results
 * @param {string[]} labels
 */
export function toJson(results, labels) {
  const rows = exportRows(results, labels);
  return JSON.stringify(
    results.map((r, i) => ({
      ...rows[i],
      segments: r.segments?.map((g) => ({ start: g.start, end: g.end, emotion: g.label, confidence: g.confidence })),
      windows: r.windows?.map((w) => ({ start: w.start, end: w.end, emotion: w.label, probabilities: w.probabilities })),
    })),
    null,
    1,
  );
}

/**
 * Saves `text` as a file named `name`, from the page itself (nothing is uploaded).
 * @param {string} name
 * @param {string} type MIME type
 * @param {string} text
 */
export function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
