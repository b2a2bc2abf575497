// AudioWorklet processor: hands the microphone's samples (first channel) to the page in blocks
// of about 100 ms. Runs on the audio thread; does nothing else.
class Tap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(Math.round(sampleRate / 10));
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0]?.[0];
    if (!input) return true; // no input connected (yet)
    let i = 0;
    while (i < input.length) {
      const n = Math.min(input.length - i, this.block.length - this.filled);
      this.block.set(input.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.block.length) {
        this.port.postMessage(this.block.slice());
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("tap", Tap);
