// The agent's side of a voice call, on the audio thread: decodes the bot's frames (PCM16 LE or
// μ-law), upsamples them to the context's rate into a 10 s ring, and plays from it; an empty
// ring plays silence. "clear" (the bot's audio.clear, a barge-in) empties it at once. Reports how
// much is buffered. Bundled by Vite as its own file (engine.ts imports it with ?worker&url).
import { decodeSamples, type AudioFormat } from './pcm';
import { PLAYBACK_PROCESSOR, type FromPlayback, type ToPlayback, type WorkletOptions } from './protocol';
import { Resampler } from './resample';
import { SampleRing } from './ring';

const CAPACITY_SECONDS = 10;
const REPORT_MS = 100;

class PlaybackProcessor extends AudioWorkletProcessor {
  private format: AudioFormat;
  private resampler: Resampler;
  private readonly ring = new SampleRing(sampleRate * CAPACITY_SECONDS);
  private running = true;
  private sinceReport = 0; // samples played since the last report

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    this.format = (options.processorOptions as WorkletOptions).format;
    this.resampler = new Resampler(this.format.sample_rate, sampleRate);
    this.port.onmessage = (e: MessageEvent<ToPlayback>) => this.receive(e.data);
  }

  private receive(msg: ToPlayback): void {
    switch (msg.type) {
      case 'frame':
        this.ring.write(this.resampler.process(decodeSamples(msg.bytes, this.format.encoding)));
        break;
      case 'format':
        this.format = msg.format;
        if (this.resampler.inRate !== msg.format.sample_rate) this.resampler = new Resampler(msg.format.sample_rate, sampleRate);
        else this.resampler.reset();
        break;
      case 'clear':
        this.ring.clear();
        this.resampler.reset(); // the filter's tail belongs to the dropped audio too
        this.report();
        break;
      case 'stop':
        this.running = false;
        break;
    }
  }

  private report(): void {
    const msg: FromPlayback = {
      type: 'buffered',
      ms: Math.round((this.ring.size * 1000) / sampleRate),
      underrunMs: Math.round((this.ring.underrun * 1000) / sampleRate),
    };
    this.port.postMessage(msg);
    this.sinceReport = 0;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (!this.running) return false;
    const out = outputs[0];
    if (out && out.length) {
      this.ring.read(out[0]);
      for (let c = 1; c < out.length; c++) out[c].set(out[0]);
      this.sinceReport += out[0].length;
    }
    if (this.sinceReport >= (sampleRate * REPORT_MS) / 1000) this.report();
    return true;
  }
}

registerProcessor(PLAYBACK_PROCESSOR, PlaybackProcessor);
