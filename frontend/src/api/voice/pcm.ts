// The wire formats of a browser voice call (docs/live-protocol.md "Voice") and the small pure
// steps between Web Audio's Float32 samples and them: PCM16 little-endian or G.711 μ-law,
// mono, 20 ms frames; the mic level in dBFS.
import { mulawToPcm, pcmToMulaw } from './mulaw';

export type AudioEncoding = 'pcm_s16le' | 'mulaw';

export interface AudioFormat {
  encoding: AudioEncoding;
  sample_rate: number;
  channels: 1;
}

/** The browser's own path: 16 kHz PCM16, what the recognizer wants. */
export const BROWSER_FORMAT: AudioFormat = { encoding: 'pcm_s16le', sample_rate: 16000, channels: 1 };
/** "Phone quality": 8 kHz μ-law both ways, as a call over the phone network sounds. */
export const PHONE_FORMAT: AudioFormat = { encoding: 'mulaw', sample_rate: 8000, channels: 1 };

export const FRAME_MS = 20;

export function bytesPerSample(encoding: AudioEncoding): number {
  return encoding === 'mulaw' ? 1 : 2;
}

/** Samples in one frame of `ms` milliseconds (320 for 20 ms at 16 kHz). */
export function frameSamples(format: AudioFormat, ms = FRAME_MS): number {
  return Math.round((format.sample_rate * ms) / 1000);
}

/** Bytes in one frame (640 for 20 ms of 16 kHz PCM16, 160 for 8 kHz μ-law). */
export function frameBytes(format: AudioFormat, ms = FRAME_MS): number {
  return frameSamples(format, ms) * bytesPerSample(format.encoding);
}

export function floatToInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = Math.round(s < 0 ? s * 32768 : s * 32767);
  }
  return out;
}

export function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] / 32768;
  return out;
}

/** Float32 samples to wire bytes (PCM16 little-endian whatever the machine's byte order). */
export function encodeSamples(samples: Float32Array, encoding: AudioEncoding): ArrayBuffer {
  const pcm = floatToInt16(samples);
  if (encoding === 'mulaw') return pcmToMulaw(pcm).buffer as ArrayBuffer;
  const out = new ArrayBuffer(pcm.length * 2);
  const view = new DataView(out);
  for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i], true);
  return out;
}

/** Wire bytes to Float32 samples; a trailing odd byte of PCM16 is ignored. */
export function decodeSamples(bytes: ArrayBuffer, encoding: AudioEncoding): Float32Array {
  if (encoding === 'mulaw') return int16ToFloat(mulawToPcm(new Uint8Array(bytes)));
  const view = new DataView(bytes);
  const n = bytes.byteLength >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
  return out;
}

/** One frame of silence in a wire format (μ-law silence is 0xFF, not 0). */
export function silenceFrame(format: AudioFormat, ms = FRAME_MS): ArrayBuffer {
  return encodeSamples(new Float32Array(frameSamples(format, ms)), format.encoding);
}

/** Cuts a stream of samples into whole frames of `size` samples, keeping the remainder. */
export class FramePacker {
  private readonly pending: Float32Array;
  private filled = 0;

  constructor(readonly size: number) {
    this.pending = new Float32Array(size);
  }

  push(samples: Float32Array): Float32Array[] {
    const frames: Float32Array[] = [];
    let i = 0;
    while (i < samples.length) {
      const n = Math.min(this.size - this.filled, samples.length - i);
      this.pending.set(samples.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.size) {
        frames.push(this.pending.slice());
        this.filled = 0;
      }
    }
    return frames;
  }
}

export const SILENT_DB = -100;

/** RMS level in dBFS (a full-scale sine reads -3); SILENT_DB for digital silence. */
export function levelDbfs(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = samples.length ? Math.sqrt(sum / samples.length) : 0;
  return rms > 0 ? Math.max(SILENT_DB, 20 * Math.log10(rms)) : SILENT_DB;
}

/** A meter's ballistics: rises within ~30 ms, falls over ~300 ms, per `dtMs` step. */
export function smoothLevel(prevDb: number, nextDb: number, dtMs: number): number {
  const tau = nextDb > prevDb ? 30 : 300;
  const k = 1 - Math.exp(-dtMs / tau);
  return prevDb + (nextDb - prevDb) * k;
}
