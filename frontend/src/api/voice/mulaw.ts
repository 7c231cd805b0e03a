// G.711 μ-law, exactly as ITU-T G.191's reference (ulaw_compress / ulaw_expand): 16-bit linear
// in, 8-bit codes out and back. Negative samples take the one's complement before the 14-bit
// shift, so -1 encodes to 0x7F and 0 to 0xFF; decoding gives the segment's mid-point.

/** One 16-bit sample to its μ-law code. */
export function mulawEncode(sample: number): number {
  const lin = Math.max(-32768, Math.min(32767, Math.round(sample)));
  let abs = ((lin < 0 ? ~lin : lin) >> 2) + 33;
  if (abs > 0x1fff) abs = 0x1fff;
  let seg = 1;
  for (let i = abs >> 6; i !== 0; i >>= 1) seg++;
  const high = 8 - seg;
  const low = 0x0f - ((abs >> seg) & 0x0f);
  const code = (high << 4) | low;
  return lin >= 0 ? code | 0x80 : code;
}

/** One μ-law code to its 16-bit sample. */
export function mulawDecode(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const inv = ~code & 0xff;
  const exponent = (inv >> 4) & 0x07;
  const mantissa = inv & 0x0f;
  const step = 4 << (exponent + 1);
  return (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) | 0; // | 0: no negative zero
}

const DECODE = new Int16Array(256).map((_, i) => mulawDecode(i));

/** μ-law bytes to 16-bit samples (a table look-up each). */
export function mulawToPcm(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = DECODE[codes[i]];
  return out;
}

/** 16-bit samples to μ-law bytes. */
export function pcmToMulaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = mulawEncode(pcm[i]);
  return out;
}
