// The playback buffer: a fixed ring of Float32 samples at the audio context's rate. The bot's
// frames are written in as they arrive; the playback worklet reads 128 samples per render
// quantum. An empty ring plays silence (underrun); a full one drops its oldest samples (the bot
// paces in real time, so that only happens when the tab was frozen), and clear() empties it
// at once for a barge-in.

export class SampleRing {
  private readonly data: Float32Array;
  private start = 0; // index of the oldest sample
  private length = 0;
  /** Samples of silence played because the ring was empty. */
  underrun = 0;
  /** Samples dropped because the ring was full. */
  overrun = 0;

  constructor(capacity: number) {
    if (!(capacity > 0)) throw new Error('ring: capacity must be positive');
    this.data = new Float32Array(capacity);
  }

  get capacity(): number {
    return this.data.length;
  }

  /** Samples buffered. */
  get size(): number {
    return this.length;
  }

  write(samples: Float32Array): void {
    const cap = this.data.length;
    let src = samples;
    if (src.length > cap) {
      this.overrun += src.length - cap;
      src = src.subarray(src.length - cap);
    }
    const excess = this.length + src.length - cap;
    if (excess > 0) {
      this.overrun += excess;
      this.start = (this.start + excess) % cap;
      this.length -= excess;
    }
    const at = (this.start + this.length) % cap;
    const first = Math.min(src.length, cap - at);
    this.data.set(src.subarray(0, first), at);
    if (first < src.length) this.data.set(src.subarray(first), 0);
    this.length += src.length;
  }

  /** Fills out: buffered samples first, silence after them. Returns how many were buffered. */
  read(out: Float32Array): number {
    const cap = this.data.length;
    const n = Math.min(out.length, this.length);
    const first = Math.min(n, cap - this.start);
    out.set(this.data.subarray(this.start, this.start + first), 0);
    if (first < n) out.set(this.data.subarray(0, n - first), first);
    out.fill(0, n);
    this.start = (this.start + n) % cap;
    this.length -= n;
    this.underrun += out.length - n;
    return n;
  }

  clear(): void {
    this.start = 0;
    this.length = 0;
  }
}
