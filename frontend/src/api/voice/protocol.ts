// The messages between the page and its two audio worklets (over each node's MessagePort).
import type { AudioFormat } from './pcm';

export const CAPTURE_PROCESSOR = 'sova-capture';
export const PLAYBACK_PROCESSOR = 'sova-playback';

/** Both worklets take their starting format as processorOptions. */
export interface WorkletOptions {
  format: AudioFormat;
}

export type ToCapture = { type: 'stop' };
/** One wire frame (transferred) and its level, every 20 ms. */
export type FromCapture = { type: 'frame'; bytes: ArrayBuffer; levelDb: number };

export type ToPlayback =
  | { type: 'format'; format: AudioFormat }
  | { type: 'frame'; bytes: ArrayBuffer }
  | { type: 'clear' }
  | { type: 'stop' };
/** How much is buffered for playback, about every 100 ms and after a clear. */
export type FromPlayback = { type: 'buffered'; ms: number; underrunMs: number };
