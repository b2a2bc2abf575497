// Types for speech-emotion: emotion recognition in speech, in the browser, with no server.

/** Where the model runs: WebGPU, or WebAssembly on the CPU. `"auto"`: WebGPU where the browser
 * hands out an adapter, else the CPU. */
export type Backend = "webgpu" | "cpu";

/** The stable codes of {@link SpeechEmotionError}. Match on these, not on messages. */
export type ErrorCode =
  /** Not audio this library or the browser can decode (a text file, an unknown codec). */
  | "unsupported-format"
  /** Audio, but damaged: a missing sample rate, a broken stream, a decoder failure. */
  | "corrupt-file"
  /** The file could not be read (removed, permission). */
  | "unreadable-file"
  /** Samples that are not audio: NaN or infinite values, amplitudes far beyond ±1, an
   * unsupported sample rate (accepted: 8–192 kHz). */
  | "bad-audio"
  /** Less than the 0.2 s that can hold speech, or no samples at all. */
  | "too-short"
  /** {@link Model.classify}: nothing passes the speech gate (silence, hum, a far-away room). */
  | "no-speech"
  /** A weights file that is not one (magic, version, a header field out of range: the message
   * names the field). */
  | "bad-weights"
  /** The weights could not be fetched. */
  | "fetch-failed"
  /** `backend: "webgpu"` in a browser without a usable WebGPU adapter. */
  | "webgpu-unavailable"
  /** The analysis crashed; the model was restarted and later calls work. */
  | "crashed"
  /** Cancelled by an `AbortSignal`. */
  | "aborted"
  /** The model was disposed (or gave up after repeated crashes). */
  | "disposed"
  /** The microphone's audio could not be read. */
  | "microphone-failed"
  /** A call with arguments of the wrong kind. */
  | "invalid-argument"
  /** A bug: please report it. */
  | "internal";

/** Every error this library rejects with. */
export class SpeechEmotionError extends Error {
  readonly name: "SpeechEmotionError";
  readonly code: ErrorCode;
}

export interface LoadOptions {
  /** Default `"auto"`. */
  backend?: "auto" | Backend;
  /** Another weights file (`trainer train` writes them): a URL (relative to the document) or
   * its bytes. Default: the shipped model, `model/speech-emotion.sew` beside this module. */
  weights?: string | URL | ArrayBuffer | ArrayBufferView | Blob;
  /** Cancels the loading. */
  signal?: AbortSignal;
  /** Default `true`: on the CPU backend, where the device has two cores or more, a second
   * worker (started with the first `analyseFile`) classifies half of a long recording's
   * windows; the results are the same. `false`: one worker does everything. */
  parallel?: boolean;
}

/** Loads a model in its own worker. Rejects with `bad-weights`, `fetch-failed`,
 * `webgpu-unavailable`, `aborted` or `invalid-argument`. */
export function load(options?: LoadOptions): Promise<Model>;

/** Audio already in memory: one Float32Array per channel (same lengths), at `sampleRate` Hz. */
export interface Samples {
  channels: Float32Array[];
  sampleRate: number;
}

/** One 3-s window of a longer recording. */
export interface Window {
  /** Seconds from the start of the recording. */
  start: number;
  end: number;
  /** The window's loudest 93-ms frame, dB relative to full scale. */
  levelDbfs: number;
  /** `null`: below the speech gate, not classified. */
  label: string | null;
  probabilities: number[] | null;
}

/** What the model heard. */
export interface Segment {
  /** Seconds from the start of the recording. */
  start: number;
  end: number;
  label: string;
  /** The label's mean smoothed probability over the segment. */
  confidence: number;
}

export interface Result {
  /** The emotion, or `null` when no speech was found. */
  label: string | null;
  /** The probability of `label`. */
  confidence: number | null;
  /** One per entry of {@link Model.labels}, summing to 1. */
  probabilities: number[] | null;
  /** The labels with their probabilities, best first (empty when no speech was found). */
  scores: { label: string; score: number }[];
  /** `"clip"`: the speech fits one 3-s window and that is classified (the longest utterance,
   * trimmed and centred); `"windows"`: the mean over the windows with speech; `"none"`: no
   * window passed the speech gate. */
  basis: "clip" | "windows" | "none";
  /** Whether the audio passed the speech gate. */
  speech: boolean;
  /** Seconds. */
  duration: number;
  /** The loudest 93-ms frame, dBFS. */
  levelDbfs: number;
  /** The windows of a recording longer than one window (empty for a clip). */
  windows: Window[];
  /** Where one emotion holds, on the windows' probabilities smoothed over 5 s (a new segment
   * also starts after 2 s without speech; a run shorter than 5 s joins its longer neighbour);
   * a clip is one segment, its speech. */
  segments: Segment[];
  /** The share of speech time each label holds (the time of its segments), one per entry of
   * {@link Model.labels}; all 0 when there is no speech. */
  shares: number[];
  /** The window the model weighed most: its log-mel spectrogram (dB, `nMels` rows of
   * `nFrames`, row-major, low frequencies first) and the model's attention over time. */
  focus: { start: number; end: number; nMels: number; nFrames: number; mel: number[]; attention: number[] } | null;
  /** With a `voice`: how adapting to it went; `null` without one (or a model that cannot
   * adapt, or no speech). */
  adaptation: Adaptation | null;
  /** Time spent in the worker, ms. */
  ms: number;
  /** How many workers classified its windows: 2 when the second worker (see
   * {@link LoadOptions.parallel}) took part, else 1. */
  workers: 1 | 2;
  backend: Backend;
}

/** Speaker adaptation: a voice learnt from its unlabelled speech, and results read against it. */
export interface Adaptation {
  /** Seconds of that voice's speech heard so far, this audio's included. */
  seconds: number;
  /** Whether this result is adapted: the voice was heard long enough: 8 windows holding 12 s of speech
   * (the microphone learns windows that do not overlap; a file's windows overlap, so one 12-s
   * recording can adapt on its own). Until then
   * results are the strict ones. */
  applied: boolean;
  /** How much the voice's adapted view weighs in adapted results, from 0 to 1 (0 when not
   * applied): seconds / (seconds + 10), as a voice heard longer is known better; the rest is
   * the strict view's. */
  share: number;
  /** The overall probabilities before adaptation. */
  strictProbabilities: number[] | null;
}

export interface Progress {
  /** Seconds of the recording analysed so far. */
  seconds: number;
  /** The recording's length, when the file says it. */
  total: number | null;
  /** The windows finished since the last report. */
  windows: Window[];
}

/** A live result from {@link Model.listen}. `speech: false` (with `label: null`) when the last
 * seconds did not pass the speech gate. */
export interface Update extends Result {
  /** `performance.now()` when it arrived. */
  time: number;
}

export interface ListenOptions {
  onUpdate?: (update: Update) => void;
  /** A failed classification (listening goes on) or a failed start (listening stops). */
  onError?: (error: SpeechEmotionError) => void;
  signal?: AbortSignal;
  /** How much of the latest audio each classification covers. Default 3. */
  seconds?: number;
  /** Milliseconds between classifications. Default 250. */
  interval?: number;
  /** The voice to learn and adapt to, a name (windows that do not overlap are heard); `null`
   * for none. Default `"microphone"`. Forget it with {@link Model.forgetVoice}. */
  voice?: string | null;
}

/** A microphone being listened to. */
export interface Listener {
  /** Resolves when listening stops: `"stopped"`, `"aborted"`, `"ended"` (the track ended),
   * `"disposed"` or `"failed"`. */
  readonly done: Promise<string>;
  /** The AudioContext that reads the stream. */
  readonly context: AudioContext | null;
  stop(): void;
}

/** A loaded model. Requests run one at a time in its worker, in the order they were made.
 * Fires `"restart"` (a CustomEvent, `detail: {reason, backend}`) after recovering from a crash,
 * and `"error"` (`detail`: a SpeechEmotionError) when it gives up. */
export class Model extends EventTarget {
  /** The labels, in the order of the probabilities. */
  readonly labels: string[];
  /** The backend in use (after a crash it may have fallen back to the CPU; after the WebGPU
   * device was lost it has). */
  readonly backend: Backend;
  /** Why the model is not on WebGPU (with `"auto"`, or since the GPU was lost), as a sentence;
   * empty otherwise. */
  readonly note: string;
  /** Crashes recovered from. */
  readonly restarts: number;
  /** Whether the model can adapt to a speaker's voice (its weights carry the adapted head). */
  readonly adapts: boolean;

  /** One short recording (up to about 30 s): the speech is trimmed and its longest utterance
   * classified. With `voice`, heard as that voice's and adapted to it as {@link analyseFile}. Rejects with `no-speech`, `too-short`, `bad-audio`, `aborted`, … */
  classify(audio: AudioBuffer | Samples, options?: { signal?: AbortSignal; voice?: string }): Promise<Result>;

  /** A file of any length, read where it lies (never whole in memory for WAV, FLAC, MP3, Ogg
   * Vorbis, Opus in Ogg or WebM (MediaRecorder's output) and AAC/M4A; other formats the browser
   * can decode go through WebAudio, whole in memory):
   * a 3-s window every `hop` seconds (default 1). A recording with no speech resolves with
   * `label: null`. With `voice` (a name: files of one speaker share one), the recording's speech
   * is heard as that voice's and the results are adapted to it once it has been heard long
   * enough, this recording included (a long recording is read against itself). Rejects with `unsupported-format`, `corrupt-file`, `aborted`, … */
  analyseFile(
    file: Blob,
    options?: { onProgress?: (progress: Progress) => void; signal?: AbortSignal; hop?: number; voice?: string },
  ): Promise<Result>;

  /** Forgets what was heard of a voice, after the calls made before it. Voices are also
   * forgotten when the worker restarts: after a crash, or when a running request is aborted. */
  forgetVoice(voice: string): Promise<void>;

  /** Listens to a MediaStream (a microphone from `getUserMedia`). The stream stays open: stop
   * its tracks yourself. */
  listen(stream: MediaStream, options?: ListenOptions): Listener;

  /** Stops the worker and any listener; pending calls reject with `disposed`. */
  dispose(): void;
}
