// The microphone side of a voice call, on the audio thread: mixes to mono, low-passes and
// decimates the context's rate (48 kHz, 44.1 kHz...) to the wire rate, cuts 20 ms frames,
// encodes them (PCM16 LE or μ-law) and posts each to the page with its level. Bundled by Vite as
// its own file (engine.ts imports it with ?worker&url) and loaded with audioWorklet.addModule.
import { encodeSamples, FramePacker, frameSamples, levelDbfs, type AudioFormat } from './pcm';
import { CAPTURE_PROCESSOR, type FromCapture, type ToCapture, type WorkletOptions } from './protocol';
import { Resampler } from './resample';

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly format: AudioFormat;
  private readonly resampler: Resampler;
  private readonly packer: FramePacker;
  private running = true;
  private mono = new Float32Array(128);

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    this.format = (options.processorOptions as WorkletOptions).format;
    this.resampler = new Resampler(sampleRate, this.format.sample_rate);
    this.packer = new FramePacker(frameSamples(this.format));
    this.port.onmessage = (e: MessageEvent<ToCapture>) => {
      if (e.data.type === 'stop') this.running = false;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!this.running) return false;
    if (!channels || channels.length === 0) return true; // no input connected yet
    const n = channels[0].length;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    this.mono.set(channels[0]);
    for (let c = 1; c < channels.length; c++) for (let i = 0; i < n; i++) this.mono[i] += channels[c][i];
    if (channels.length > 1) for (let i = 0; i < n; i++) this.mono[i] /= channels.length;
    for (const frame of this.packer.push(this.resampler.process(this.mono))) {
      const bytes = encodeSamples(frame, this.format.encoding);
      const msg: FromCapture = { type: 'frame', bytes, levelDb: levelDbfs(frame) };
      this.port.postMessage(msg, [bytes]);
    }
    return true;
  }
}

registerProcessor(CAPTURE_PROCESSOR, CaptureProcessor);
