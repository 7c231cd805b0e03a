// Listening to a call while it runs (docs/live-protocol.md, "Listening"): the API hands out the
// bot's listen socket (POST /api/sessions/{id}/listen, audited; its token opens the socket within
// a minute), and the socket sends a listen.ready message naming the format, then 20 ms binary
// frames of both sides of the call mixed (PCM16 little-endian, mono). It is read-only: nothing is
// ever sent on it. The frames play through the voice call's playback worklet, without a microphone.
import playbackUrl from './voice/playback.worklet.ts?worker&url';
import { request } from './client';
import type { components } from './schema';
import type { AudioFormat } from './voice/pcm';
import { PLAYBACK_PROCESSOR, type FromPlayback, type ToPlayback, type WorkletOptions } from './voice/protocol';

export type ListenStart = components['schemas']['ListenStart'];

/** POST /api/sessions/{id}/listen: 404 for another clinic's call, 409 once it has ended. */
export function requestListen(sessionId: string, signal?: AbortSignal): Promise<ListenStart> {
  return request<ListenStart>('POST', `/sessions/${encodeURIComponent(sessionId)}/listen`, { signal });
}

/** Where a listener's frames go: the speakers (startListenPlayer), or a test's stand-in. */
export interface ListenPlayer {
  setFormat: (format: AudioFormat) => void;
  play: (frame: ArrayBuffer) => void;
  stop: () => void;
}

export interface ListenHandlers {
  /** Audio follows, in this format. */
  onReady?: (format: AudioFormat) => void;
  /** The bot refused the socket (an expired or wrong token, too many listeners). */
  onRefused?: (message: string) => void;
  /** The socket closed by itself: why, from its close code. */
  onEnded?: (why: ListenEnd) => void;
  /** Milliseconds of audio waiting to be played (from the speakers' player). */
  onBuffered?: (ms: number) => void;
}

/** The bot closes a listener normally (1000) when the call ends, with 1008 when the listener stopped
 * taking frames (it fell 2 s behind); anything else is the connection lost on the way. */
export type ListenEnd = 'call_ended' | 'fell_behind' | 'lost';

function endOf(code: number | undefined): ListenEnd {
  return code === 1000 ? 'call_ended' : code === 1008 ? 'fell_behind' : 'lost';
}

export interface Listening {
  stop: () => void;
}

function message(data: unknown): { type?: unknown; sample_rate?: unknown; encoding?: unknown; message?: unknown } | null {
  if (typeof data !== 'string') return null;
  try {
    const v = JSON.parse(data) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Opens the listen socket at url and plays its frames through player until either end stops. */
export function listen(url: string, player: ListenPlayer, handlers: ListenHandlers = {}): Listening {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let ready = false;
  let stopped = false;
  ws.onmessage = (ev: MessageEvent) => {
    if (ev.data instanceof ArrayBuffer) {
      if (ready) player.play(ev.data);
      return;
    }
    const msg = message(ev.data);
    if (msg?.type === 'listen.ready' && msg.encoding === 'pcm_s16le' && typeof msg.sample_rate === 'number') {
      const format: AudioFormat = { encoding: 'pcm_s16le', sample_rate: msg.sample_rate, channels: 1 };
      ready = true;
      player.setFormat(format);
      handlers.onReady?.(format);
    } else if (msg?.type === 'error') {
      handlers.onRefused?.(typeof msg.message === 'string' ? msg.message : 'the bot refused to let this listener in');
    }
  };
  ws.onclose = (ev?: CloseEvent) => {
    player.stop();
    if (!stopped) handlers.onEnded?.(endOf(ev?.code));
  };
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      ws.close();
      player.stop();
    },
  };
}

const FIRST_FORMAT: AudioFormat = { encoding: 'pcm_s16le', sample_rate: 8000, channels: 1 };

/** The speakers: an AudioContext with the playback worklet alone. Call it from the click that asks
 * to listen (browsers start audio only on a user gesture). */
export async function startListenPlayer(onBuffered?: (ms: number) => void): Promise<ListenPlayer> {
  const Ctx = globalThis.AudioContext;
  if (!Ctx || !('audioWorklet' in Ctx.prototype) || typeof AudioWorkletNode === 'undefined') {
    throw new Error('This browser cannot play the call here (no AudioWorklet: it needs a recent browser and an https or localhost address).');
  }
  const ctx = new Ctx({ latencyHint: 'interactive' });
  try {
    await ctx.audioWorklet.addModule(playbackUrl);
    await ctx.resume();
  } catch (e) {
    void ctx.close();
    throw new Error(`The audio player could not be loaded (${(e as Error)?.message ?? e}).`, { cause: e });
  }
  const options: WorkletOptions = { format: FIRST_FORMAT };
  const node = new AudioWorkletNode(ctx, PLAYBACK_PROCESSOR, {
    numberOfInputs: 0,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    processorOptions: options,
  });
  node.connect(ctx.destination);
  node.port.onmessage = (e: MessageEvent<FromPlayback>) => {
    if (e.data.type === 'buffered') onBuffered?.(e.data.ms);
  };
  const post = (msg: ToPlayback, transfer: Transferable[] = []) => node.port.postMessage(msg, transfer);
  let stopped = false;
  return {
    setFormat: (format) => post({ type: 'format', format }),
    play: (frame) => post({ type: 'frame', bytes: frame }, [frame]),
    stop: () => {
      if (stopped) return;
      stopped = true;
      post({ type: 'stop' });
      node.disconnect();
      void ctx.close();
    },
  };
}

/** All of it, from a click: the speakers first (the gesture), then the URL, then the socket. */
export async function listenToCall(sessionId: string, handlers: ListenHandlers = {}): Promise<Listening> {
  const player = await startListenPlayer(handlers.onBuffered);
  try {
    const { listen_url } = await requestListen(sessionId);
    return listen(listen_url, player, handlers);
  } catch (e) {
    player.stop();
    throw e;
  }
}
