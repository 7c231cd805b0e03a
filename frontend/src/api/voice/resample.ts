// A streaming sample-rate converter for mono Float32 audio: a windowed-sinc low-pass and exact
// polyphase interpolation for any pair of integer rates (48000 -> 16000, 44100 -> 8000, 16000 ->
// 48000...). Its cutoff sits below the lower rate's Nyquist frequency, so downsampling does not
// alias (picking every third sample would fold 8-24 kHz into the speech band) and upsampling
// leaves no images. It runs inside both audio worklets: the tables are built once per rate pair.

export interface ResamplerOptions {
  /** The -6 dB point as a fraction of the lower rate's Nyquist frequency (0.8: 6.4 kHz at 16 kHz). */
  cutoff?: number;
  /** Zero crossings of the sinc on each side: longer is sharper and costs more (16: ~2 kHz transition at 16 kHz). */
  zeroCrossings?: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  private readonly phases: number; // L: output steps per M input samples
  private readonly step: number; // M
  private readonly half: number; // W: taps each side, in input samples
  private readonly taps: Float32Array[]; // one 2W-tap filter per phase, each summing to 1
  private buf: Float32Array; // input samples from index bufStart on
  private bufLen = 0;
  private bufStart = 0; // global index of buf[0]
  private base = 0; // global input index of the next output's integer position
  private phase = 0; // its fraction, in 1/L

  constructor(inRate: number, outRate: number, opts: ResamplerOptions = {}) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
      throw new Error(`resampler: bad rates ${inRate} -> ${outRate}`);
    }
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.phases = outRate / g;
    this.step = inRate / g;
    const cutoffHz = ((opts.cutoff ?? 0.8) * Math.min(inRate, outRate)) / 2;
    const a = (2 * cutoffHz) / inRate; // cycles per input sample, times 2
    this.half = Math.ceil((opts.zeroCrossings ?? 16) / a);
    const W = this.half;
    this.taps = [];
    for (let p = 0; p < this.phases; p++) {
      const frac = p / this.phases;
      const h = new Float32Array(2 * W);
      let sum = 0;
      for (let k = 0; k < 2 * W; k++) {
        const d = frac + W - 1 - k; // distance from the output's position to input sample k
        const x = a * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const u = (d + W) / (2 * W); // 0..1 across the window
        const blackman = u <= 0 || u >= 1 ? 0 : 0.42 - 0.5 * Math.cos(2 * Math.PI * u) + 0.08 * Math.cos(4 * Math.PI * u);
        h[k] = sinc * blackman;
        sum += h[k];
      }
      for (let k = 0; k < 2 * W; k++) h[k] /= sum;
      this.taps.push(h);
    }
    this.buf = new Float32Array(4 * W + 1024);
    this.reset();
  }

  /** The delay it adds, in output samples. */
  get latency(): number {
    return Math.ceil((this.half * this.outRate) / this.inRate);
  }

  /** Forgets the past (a new stream starts): W zeros stand for what came before. */
  reset(): void {
    this.buf.fill(0);
    this.bufLen = this.half;
    this.bufStart = -this.half;
    this.base = 0;
    this.phase = 0;
  }

  /** Takes the next input samples; returns the output samples they complete. */
  process(input: Float32Array): Float32Array {
    this.append(input);
    const W = this.half;
    const end = this.bufStart + this.bufLen; // one past the last input sample held
    const count = Math.max(0, Math.floor(((end - W - this.base) * this.phases - this.phase - 1) / this.step) + 1);
    const out = new Float32Array(count);
    for (let n = 0; n < count; n++) {
      const h = this.taps[this.phase];
      const first = this.base - W + 1 - this.bufStart;
      let acc = 0;
      for (let k = 0; k < h.length; k++) acc += this.buf[first + k] * h[k];
      out[n] = acc;
      this.phase += this.step;
      this.base += Math.floor(this.phase / this.phases);
      this.phase %= this.phases;
    }
    this.discardBefore(this.base - W + 1);
    return out;
  }

  private append(input: Float32Array): void {
    if (this.bufLen + input.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.bufLen + input.length));
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
    }
    this.buf.set(input, this.bufLen);
    this.bufLen += input.length;
  }

  private discardBefore(index: number): void {
    const drop = Math.min(this.bufLen, Math.max(0, index - this.bufStart));
    if (!drop) return;
    this.buf.copyWithin(0, drop, this.bufLen);
    this.bufLen -= drop;
    this.bufStart += drop;
  }
}
