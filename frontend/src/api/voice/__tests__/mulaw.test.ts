// G.711 μ-law against the ITU-T reference (G.191's ulaw_compress / ulaw_expand): the expansion
// table's known values, encoded values worked by hand from the reference's steps, and the
// round trip of every code.
import { describe, expect, it } from 'vitest';
import { mulawDecode, mulawEncode, mulawToPcm, pcmToMulaw } from '../mulaw';

describe('μ-law decoding', () => {
  it('gives the G.711 table values', () => {
    const table: [number, number][] = [
      [0x00, -32124], [0x01, -31100], [0x0f, -16764], [0x10, -15996], [0x3f, -1980],
      [0x70, -120], [0x7e, -8], [0x7f, 0], [0x80, 32124], [0x8f, 16764], [0xce, 988], [0xfe, 8], [0xff, 0],
    ];
    for (const [code, lin] of table) expect([code, mulawDecode(code)]).toEqual([code, lin]);
  });

  it('is odd-symmetric: code c and c|0x80 are the same step with opposite signs', () => {
    for (let c = 0; c < 0x80; c++) expect(mulawDecode(c) + mulawDecode(c | 0x80)).toBe(0);
  });
});

describe('μ-law encoding', () => {
  it('gives the reference codes', () => {
    const cases: [number, number][] = [
      [0, 0xff], [1, 0xff], [-1, 0x7f], [8, 0xfe], [-9, 0x7e], [1000, 0xce], [-1001, 0x4e],
      [32767, 0x80], [32124, 0x80], [-32768, 0x00],
      // G.191 takes the one's complement of a negative sample (Sun's g711.c negates it and gives 0x02 here)
      [-29562, 0x03],
    ];
    for (const [lin, code] of cases) expect([lin, mulawEncode(lin)]).toEqual([lin, code]);
  });

  it('encodes every decoded value back to its code (0x7F, negative zero, comes back as 0xFF)', () => {
    for (let c = 0; c < 256; c++) expect(mulawEncode(mulawDecode(c))).toBe(c === 0x7f ? 0xff : c);
  });

  it('picks the nearest step: the error is at most half a step of the segment', () => {
    for (let lin = -32124; lin <= 32124; lin += 37) {
      const back = mulawDecode(mulawEncode(lin));
      const seg = 7 - ((~mulawEncode(lin) >> 4) & 7);
      const step = 8 << (7 - seg);
      expect(Math.abs(back - lin)).toBeLessThanOrEqual(step / 2 + 4);
    }
  });

  it('converts whole buffers', () => {
    const pcm = new Int16Array([0, 1000, -1001, 32767, -32768]);
    expect(Array.from(pcmToMulaw(pcm))).toEqual([0xff, 0xce, 0x4e, 0x80, 0x00]);
    expect(Array.from(mulawToPcm(new Uint8Array([0xff, 0xce, 0x00])))).toEqual([0, 988, -32124]);
  });
});
