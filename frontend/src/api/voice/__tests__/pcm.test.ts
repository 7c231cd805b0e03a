// The wire formats: frame sizes, PCM16 little-endian and μ-law bytes both ways, silence frames,
// frame packing across render quanta, the level in dBFS and the meter's ballistics.
import { describe, expect, it } from 'vitest';
import {
  BROWSER_FORMAT,
  decodeSamples,
  encodeSamples,
  floatToInt16,
  frameBytes,
  FramePacker,
  levelDbfs,
  PHONE_FORMAT,
  silenceFrame,
  SILENT_DB,
  smoothLevel,
} from '../pcm';

describe('frames', () => {
  it('are 640 bytes of 16 kHz PCM16 or 160 bytes of 8 kHz μ-law per 20 ms', () => {
    expect(frameBytes(BROWSER_FORMAT)).toBe(640);
    expect(frameBytes(PHONE_FORMAT)).toBe(160);
    expect(frameBytes({ encoding: 'pcm_s16le', sample_rate: 48000, channels: 1 })).toBe(1920);
  });

  it('pack whole frames out of 128-sample quanta and keep the rest', () => {
    const p = new FramePacker(320);
    const got: Float32Array[] = [];
    for (let q = 0; q < 5; q++) got.push(...p.push(Float32Array.from({ length: 128 }, (_, i) => q * 128 + i)));
    expect(got).toHaveLength(2); // 640 of 640 samples
    expect(got[1][0]).toBe(320);
    expect(got[1][319]).toBe(639);
    expect(p.push(new Float32Array(0))).toHaveLength(0);
  });
});

describe('PCM16 little-endian', () => {
  it('writes the low byte first and clamps', () => {
    const bytes = new Uint8Array(encodeSamples(new Float32Array([0, 1, -1, 2, 0.5, -0.5]), 'pcm_s16le'));
    expect(Array.from(bytes)).toEqual([0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0xff, 0x7f, 0x00, 0x40, 0x00, 0xc0]);
  });

  it('reads back what it wrote, and ignores a trailing odd byte', () => {
    const x = new Float32Array([0.25, -0.75, 0.001]);
    const back = decodeSamples(encodeSamples(x, 'pcm_s16le'), 'pcm_s16le');
    back.forEach((v, i) => expect(v).toBeCloseTo(x[i], 4));
    expect(decodeSamples(new Uint8Array([1, 0, 7]).buffer, 'pcm_s16le')).toHaveLength(1);
  });

  it('maps full scale to 32767 and -32768', () => {
    expect(Array.from(floatToInt16(new Float32Array([1, -1, 0])))).toEqual([32767, -32768, 0]);
  });
});

describe('μ-law frames', () => {
  it('are one byte a sample, and survive a round trip within the step size', () => {
    const x = Float32Array.from({ length: 160 }, (_, i) => 0.5 * Math.sin(i / 5));
    const bytes = encodeSamples(x, 'mulaw');
    expect(bytes.byteLength).toBe(160);
    const back = decodeSamples(bytes, 'mulaw');
    back.forEach((v, i) => expect(Math.abs(v - x[i])).toBeLessThan(0.02));
  });

  it('have 0xFF as silence', () => {
    expect(new Uint8Array(silenceFrame(PHONE_FORMAT)).every((b) => b === 0xff)).toBe(true);
    expect(new Uint8Array(silenceFrame(BROWSER_FORMAT)).every((b) => b === 0)).toBe(true);
    expect(silenceFrame(BROWSER_FORMAT).byteLength).toBe(640);
  });
});

describe('the level', () => {
  it('reads -3 dBFS for a full-scale sine, -23 for one at 0.1, and the floor for silence', () => {
    const sine = (a: number) => Float32Array.from({ length: 320 }, (_, i) => a * Math.sin((2 * Math.PI * i) / 32));
    expect(levelDbfs(sine(1))).toBeCloseTo(-3.01, 1);
    expect(levelDbfs(sine(0.1))).toBeCloseTo(-23.01, 1);
    expect(levelDbfs(new Float32Array(320))).toBe(SILENT_DB);
  });

  it('rises fast and falls slowly', () => {
    let up = -60;
    for (let i = 0; i < 5; i++) up = smoothLevel(up, -10, 20); // 100 ms
    expect(up).toBeGreaterThan(-12); // within 2 dB of the new level in 100 ms
    let down = -10;
    for (let i = 0; i < 5; i++) down = smoothLevel(down, -60, 20);
    expect(down).toBeGreaterThan(-35);
    expect(down).toBeLessThan(-10);
  });
});
