// The resampler's frequency response, measured on tones: what is in the speech band survives,
// what is near or above the output's Nyquist frequency is attenuated (no aliasing), upsampling
// leaves no images, and a stream cut into render quanta gives the same samples as one block.
import { describe, expect, it } from 'vitest';
import { Resampler } from '../resample';

function tone(freq: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/** Amplitude of one frequency in a signal (Goertzel over a whole number of samples). */
function amplitudeAt(x: Float32Array, freq: number, rate: number): number {
  const w = (2 * Math.PI * freq) / rate;
  let re = 0;
  let im = 0;
  for (let i = 0; i < x.length; i++) {
    re += x[i] * Math.cos(w * i);
    im -= x[i] * Math.sin(w * i);
  }
  return (2 * Math.hypot(re, im)) / x.length;
}

function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

/** Resamples in 128-sample quanta (as a worklet does), then drops the filter's start-up. */
function run(r: Resampler, input: Float32Array): Float32Array {
  const parts: Float32Array[] = [];
  for (let i = 0; i < input.length; i += 128) parts.push(r.process(input.subarray(i, i + 128)));
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all.subarray(r.latency * 2, all.length - r.latency * 2);
}

describe('48 kHz to 16 kHz (the microphone path)', () => {
  const gain = (freq: number) => {
    const out = run(new Resampler(48000, 16000), tone(freq, 48000, 0.5));
    return db(amplitudeAt(out, freq, 16000) / 0.5);
  };

  it('gives one output sample per three input samples', () => {
    const r = new Resampler(48000, 16000);
    let n = 0;
    for (let i = 0; i < 375; i++) n += r.process(new Float32Array(128)).length; // 1 s
    expect(Math.abs(n - 16000)).toBeLessThanOrEqual(r.latency + 1);
  });

  it('passes a 1 kHz tone within 0.1 dB', () => {
    expect(Math.abs(gain(1000))).toBeLessThan(0.1);
  });

  it('passes 3.4 kHz (the top of the telephone band) within 0.1 dB', () => {
    expect(Math.abs(gain(3400))).toBeLessThan(0.1);
  });

  it('attenuates a 7 kHz tone by more than 20 dB', () => {
    expect(gain(7000)).toBeLessThan(-20);
  });

  it('does not fold a 12 kHz tone into the band (it would alias to 4 kHz)', () => {
    const out = run(new Resampler(48000, 16000), tone(12000, 48000, 0.5));
    expect(db(amplitudeAt(out, 4000, 16000) / 0.5)).toBeLessThan(-60);
  });

  it('keeps DC at unity', () => {
    const out = run(new Resampler(48000, 16000), new Float32Array(24000).fill(0.25));
    for (const v of out) expect(v).toBeCloseTo(0.25, 5);
  });
});

describe('other rate pairs', () => {
  it('44.1 kHz to 16 kHz: 1 kHz survives, 10 kHz (would alias to 6 kHz) does not', () => {
    const pass = run(new Resampler(44100, 16000), tone(1000, 44100, 0.5));
    expect(Math.abs(db(amplitudeAt(pass, 1000, 16000) / 0.5))).toBeLessThan(0.1);
    const alias = run(new Resampler(44100, 16000), tone(10000, 44100, 0.5));
    expect(db(amplitudeAt(alias, 6000, 16000) / 0.5)).toBeLessThan(-60);
  });

  it('48 kHz to 8 kHz (phone quality): 1 kHz survives, 5 kHz (would alias to 3 kHz) does not', () => {
    const pass = run(new Resampler(48000, 8000), tone(1000, 48000, 0.5));
    expect(Math.abs(db(amplitudeAt(pass, 1000, 8000) / 0.5))).toBeLessThan(0.1);
    const alias = run(new Resampler(48000, 8000), tone(5000, 48000, 0.5));
    expect(db(amplitudeAt(alias, 3000, 8000) / 0.5)).toBeLessThan(-60);
  });

  it('16 kHz to 48 kHz (playback): 1 kHz survives with no image at 15 kHz', () => {
    const out = run(new Resampler(16000, 48000), tone(1000, 16000, 0.5));
    expect(Math.abs(db(amplitudeAt(out, 1000, 48000) / 0.5))).toBeLessThan(0.1);
    expect(db(amplitudeAt(out, 15000, 48000) / 0.5)).toBeLessThan(-60);
  });

  it('8 kHz to 44.1 kHz: 1 kHz survives with no image at 7 kHz', () => {
    const out = run(new Resampler(8000, 44100), tone(1000, 8000, 0.5));
    expect(Math.abs(db(amplitudeAt(out, 1000, 44100) / 0.5))).toBeLessThan(0.1);
    expect(db(amplitudeAt(out, 7000, 44100) / 0.5)).toBeLessThan(-60);
  });
});

describe('streaming', () => {
  it('gives the same samples whatever the input block sizes', () => {
    const x = tone(440, 48000, 0.1);
    const whole = new Resampler(48000, 16000).process(x);
    const r = new Resampler(48000, 16000);
    const parts: number[] = [];
    for (let i = 0, size = 1; i < x.length; i += size, size = (size * 7) % 500 + 1) {
      parts.push(...r.process(x.subarray(i, i + size)));
    }
    expect(parts.length).toBe(whole.length);
    parts.forEach((v, i) => expect(v).toBeCloseTo(whole[i], 6));
  });

  it('reset forgets the past', () => {
    const r = new Resampler(16000, 48000);
    const first = r.process(tone(1000, 16000, 0.05));
    r.process(new Float32Array(300).fill(0.9));
    r.reset();
    expect(Array.from(r.process(tone(1000, 16000, 0.05)))).toEqual(Array.from(first));
  });

  it('refuses rates that are not positive integers', () => {
    expect(() => new Resampler(0, 16000)).toThrow();
    expect(() => new Resampler(44100.5, 16000)).toThrow();
  });
});
