// Test material made from the corpus at run time: WAV files (long recordings, microphone
// input) and a custom weights file trained by the trainer. Nothing is committed.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const DIST = process.env.DIST_DIR || join(ROOT, "dist");
export const RAVDESS = process.env.RAVDESS_DIR || join(ROOT, "../shared/data/ravdess");
export const TRAINER = process.env.TRAINER_BIN || join(ROOT, "target/release/trainer");
export const CLIP = join(RAVDESS, "speech/Actor_22/03-01-05-02-01-02-22.flac");
export const WORK = join(tmpdir(), `se-e2e-${process.pid}`);
mkdirSync(WORK, { recursive: true });

/** 16-bit PCM WAV → { rate, samples: Float32Array (mono, channels averaged) }; skips extra chunks. */
export function readWav(path) {
  const b = readFileSync(path);
  if (b.toString("ascii", 0, 4) !== "RIFF" || b.toString("ascii", 8, 12) !== "WAVE") throw new Error(`${path}: not WAV`);
  let fmt = null,
    data = null;
  for (let o = 12; o + 8 <= b.length; ) {
    const id = b.toString("ascii", o, o + 4),
      size = b.readUInt32LE(o + 4);
    if (id === "fmt ") fmt = { channels: b.readUInt16LE(o + 10), rate: b.readUInt32LE(o + 12), bits: b.readUInt16LE(o + 22) };
    if (id === "data") data = b.subarray(o + 8, o + 8 + size);
    o += 8 + size + (size & 1);
  }
  if (!fmt || !data || fmt.bits !== 16) throw new Error(`${path}: not 16-bit PCM`);
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let v = 0;
    for (let c = 0; c < fmt.channels; c++) v += data.readInt16LE(2 * (i * fmt.channels + c));
    samples[i] = v / fmt.channels / 32768;
  }
  return { rate: fmt.rate, samples };
}

/** Writes mono 16-bit PCM WAV. */
export function writeWav(path, rate, samples) {
  const b = Buffer.alloc(44 + 2 * samples.length);
  b.write("RIFF", 0, "ascii");
  b.writeUInt32LE(36 + 2 * samples.length, 4);
  b.write("WAVE", 8, "ascii");
  b.write("fmt ", 12, "ascii");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36, "ascii");
  b.writeUInt32LE(2 * samples.length, 40);
  for (let i = 0; i < samples.length; i++)
    b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768))), 44 + 2 * i);
  writeFileSync(path, b);
  return path;
}

const originals = (actor) => {
  const dir = join(RAVDESS, `original-wav/Actor_${String(actor).padStart(2, "0")}`);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".wav"))
    .sort()
    .map((f) => join(dir, f));
};

/** WAV clips back to back, each followed by `gap` s of silence: { rate, samples, ends } (each clip's end with its gap, s). */
function joinClips(parts, gap) {
  const rate = parts[0].rate;
  const total = parts.reduce((n, p) => n + p.samples.length + Math.round(gap * rate), 0);
  const samples = new Float32Array(total);
  const ends = [];
  let at = 0;
  for (const p of parts) {
    if (p.rate !== rate) throw new Error("mixed rates");
    samples.set(p.samples, at);
    at += p.samples.length + Math.round(gap * rate);
    ends.push(at / rate);
  }
  return { rate, samples, ends };
}

/** Several minutes of speech: original 48 kHz clips of actor 1 back to back, with `gap` s of silence between. */
export function longRecording(count = 60, gap = 0.5) {
  const path = join(WORK, `long-${count}.wav`);
  if (existsSync(path)) return path;
  const { rate, samples } = joinClips(originals(1).slice(0, count).map(readWav), gap);
  return writeWav(path, rate, samples);
}

/** A voiced test signal at time `t` (s): a 180 Hz buzz with harmonics, modulated like syllables
 * (examples/bench.rs times the same). */
const buzzAt = (t) => {
  let v = 0;
  for (let h = 1; h < 8; h++) v += Math.sin(2 * Math.PI * 180 * h * t) / h;
  return 0.2 * v * (0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t));
};

/** `seconds` of that signal at `rate`. */
export function buzz(seconds, rate) {
  return Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => buzzAt(i / rate));
}

/**
 * A recording of `minutes`: the corpus' original 48-kHz clips back to back, 0.5 s apart,
 * looped as long as it takes; without the corpus, a buzz with syllable-like modulation in
 * 3-s phrases, 1 s apart.
 */
export function recordingOfMinutes(minutes) {
  const path = join(WORK, `recording-${minutes}min.wav`);
  if (existsSync(path)) return path;
  const rate = 48_000;
  const samples = new Float32Array(Math.round(minutes * 60 * rate));
  const gap = Math.round(0.5 * rate);
  let at = 0;
  const root = join(RAVDESS, "original-wav");
  const clips = (existsSync(root) ? readdirSync(root).sort() : [])
    .flatMap((actor) => originals(Number(actor.slice(-2))))
    .map(readWav)
    .filter((c) => c.rate === rate && c.samples.length > 0)
    .map((c) => c.samples);
  if (clips.length) {
    for (let i = 0; at < samples.length; i = (i + 1) % clips.length) {
      samples.set(clips[i].subarray(0, samples.length - at), at);
      at += clips[i].length + gap;
    }
  } else {
    for (let i = 0; i < samples.length; i++) {
      const t = i / rate;
      if (t % 4 < 3) samples[i] = buzzAt(t);
    }
  }
  return writeWav(path, rate, samples);
}

/**
 * Blocks of one emotion each, joined: actor 1's eight original clips of each emotion in
 * `emotions` (RAVDESS codes: 05 angry, 02 calm…), 0.3 s apart. Returns the file and each
 * block's emotion code and span in seconds.
 */
export function emotionBlocks(emotions = ["05", "02", "05"], gap = 0.3) {
  const path = join(WORK, `blocks-${emotions.join("-")}.wav`);
  const files = originals(1);
  const blocks = emotions.map((code) => files.filter((f) => f.split("/").at(-1).slice(6, 8) === code));
  const { rate, samples, ends } = joinClips(blocks.flat().map(readWav), gap);
  writeWav(path, rate, samples);
  let last = 0;
  const spans = blocks.map((clips, i) => {
    last += clips.length;
    return { code: emotions[i], start: i === 0 ? 0 : ends[last - clips.length - 1], end: ends[last - 1] };
  });
  return { path, blocks: spans };
}

/** Microphone input: one clip, then `silence` s of digital silence (Chromium loops the file). */
export function micInput(silence = 5) {
  const { rate, samples } = readWav(originals(1).find((f) => f.endsWith("03-01-05-02-01-01-01.wav")));
  const out = new Float32Array(samples.length + silence * rate);
  out.set(samples);
  return writeWav(join(WORK, "mic.wav"), rate, out);
}

/**
 * One speaker's voice: actor 1's original clips, one of each emotion (normal intensity, first
 * statement, first take): their paths, and as microphone input back to back 0.4 s apart.
 */
export function oneVoice() {
  const clips = originals(1).filter((f) => /-0[1-8]-01-01-01-01\.wav$/.test(f));
  const mic = join(WORK, "voice.wav");
  if (!existsSync(mic)) {
    const { rate, samples } = joinClips(clips.map(readWav), 0.4);
    writeWav(mic, rate, samples);
  }
  return { clips, mic };
}

/** A model with other labels (arousal: high/low), trained for one epoch with the trainer. */
export function customWeights() {
  const out = join(WORK, "arousal.sew");
  if (existsSync(out)) return out;
  let csv = "path,label,speaker\n";
  for (const actor of ["01", "02", "03"]) {
    for (const [code, label] of [
      ["02", "low"],
      ["04", "low"],
      ["05", "high"],
      ["03", "high"],
    ]) {
      csv += `${join(RAVDESS, `speech/Actor_${actor}/03-01-${code}-02-01-01-${actor}.flac`)},${label},speaker-${actor}\n`;
    }
  }
  const manifest = join(WORK, "arousal.csv");
  writeFileSync(manifest, csv);
  execFileSync(TRAINER, ["train", "--split", "all", "--epochs", "1", "--batch-size", "6", "--manifest", manifest, "--out", out], {
    stdio: "pipe",
  });
  return out;
}

/** `trainer predict --json` on one file (`windows`: with every window). */
export function predict(file, { weights, windows = false } = {}) {
  const args = ["predict", "--json", ...(weights ? ["--weights", weights] : []), ...(windows ? ["--windows"] : []), file];
  return JSON.parse(execFileSync(TRAINER, args, { encoding: "utf8" }).trim().split("\n")[0]);
}

/** `trainer predict --json --one-speaker` on files of one voice: one object per file. */
export function predictOneSpeaker(files) {
  const out = execFileSync(TRAINER, ["predict", "--json", "--one-speaker", ...files], { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}
