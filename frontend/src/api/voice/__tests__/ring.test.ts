// The playback ring: plays what was written in order, silence when empty, wraps around its
// end, drops the oldest when full, and empties at once on clear (audio.clear).
import { describe, expect, it } from 'vitest';
import { SampleRing } from '../ring';

const seq = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);

describe('the playback ring', () => {
  it('reads back what was written, in order', () => {
    const r = new SampleRing(16);
    r.write(seq(1, 5));
    r.write(seq(6, 3));
    expect(r.size).toBe(8);
    const out = new Float32Array(8);
    expect(r.read(out)).toBe(8);
    expect(Array.from(out)).toEqual(Array.from(seq(1, 8)));
    expect(r.size).toBe(0);
  });

  it('plays silence on underrun and counts it', () => {
    const r = new SampleRing(16);
    r.write(seq(1, 3));
    const out = new Float32Array(5).fill(9);
    expect(r.read(out)).toBe(3);
    expect(Array.from(out)).toEqual([1, 2, 3, 0, 0]);
    expect(r.underrun).toBe(2);
    expect(r.read(out)).toBe(0);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0]);
    expect(r.underrun).toBe(7);
  });

  it('wraps around its end', () => {
    const r = new SampleRing(8);
    const out = new Float32Array(6);
    r.write(seq(1, 6));
    r.read(out); // start is now 6
    r.write(seq(7, 6)); // 2 before the end, 4 after the wrap
    expect(r.size).toBe(6);
    expect(r.read(out)).toBe(6);
    expect(Array.from(out)).toEqual(Array.from(seq(7, 6)));
  });

  it('drops the oldest samples when full', () => {
    const r = new SampleRing(4);
    r.write(seq(1, 3));
    r.write(seq(4, 3));
    expect(r.size).toBe(4);
    expect(r.overrun).toBe(2);
    const out = new Float32Array(4);
    r.read(out);
    expect(Array.from(out)).toEqual([3, 4, 5, 6]);
    r.write(seq(1, 10)); // longer than the ring: its newest 4
    r.read(out);
    expect(Array.from(out)).toEqual([7, 8, 9, 10]);
  });

  it('empties at once on clear, and plays new audio right after', () => {
    const r = new SampleRing(48000 * 10);
    r.write(new Float32Array(48000).fill(0.5));
    r.clear();
    expect(r.size).toBe(0);
    const out = new Float32Array(128);
    expect(r.read(out)).toBe(0);
    expect(out.every((v) => v === 0)).toBe(true);
    r.write(seq(1, 2));
    expect(r.read(out)).toBe(2);
    expect(Array.from(out.subarray(0, 3))).toEqual([1, 2, 0]);
  });
});
