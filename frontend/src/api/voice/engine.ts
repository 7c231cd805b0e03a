// The browser side of a voice call's audio: the microphone through the capture worklet out as
// wire frames, and the bot's frames through the playback worklet to the speakers, on one
// AudioContext. The page owns the socket; this owns the devices. The worklets are bundled by Vite
// as separate files (`?worker&url` gives each one's built URL) and loaded with addModule.
import captureUrl from './capture.worklet.ts?worker&url';
import playbackUrl from './playback.worklet.ts?worker&url';
import { dtmfTones } from './dtmf';
import type { AudioFormat } from './pcm';
import {
  CAPTURE_PROCESSOR,
  PLAYBACK_PROCESSOR,
  type FromCapture,
  type FromPlayback,
  type ToCapture,
  type ToPlayback,
  type WorkletOptions,
} from './protocol';

export interface VoiceHandlers {
  /** One 20 ms frame of the microphone in the wire format, and its level in dBFS. */
  onFrame: (bytes: ArrayBuffer, levelDb: number) => void;
  /** Milliseconds of the agent's audio waiting to be played. */
  onBuffered?: (ms: number) => void;
  /** The microphone stopped (unplugged, or permission revoked). */
  onEnded?: (message: string) => void;
}

export interface VoiceEngine {
  /** The format the bot's frames come in from now on (audio.ready's). */
  setPlaybackFormat: (format: AudioFormat) => void;
  /** One frame of the agent's audio. */
  play: (bytes: ArrayBuffer) => void;
  /** Drops the agent's buffered audio at once (audio.clear). */
  flush: () => void;
  /** Plays a key's DTMF pair locally. */
  tone: (key: string) => void;
  stop: () => void;
}

/** Why a voice call cannot start, in words for the page. */
export class VoiceUnavailable extends Error {}

const MIC: MediaTrackConstraints = {
  channelCount: 1,
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

function micProblem(e: unknown): VoiceUnavailable {
  const name = (e as { name?: string } | null)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new VoiceUnavailable('Microphone access was denied. Allow the microphone for this site to talk, or keep typing.');
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new VoiceUnavailable('No microphone was found. Plug one in (a headset is best), or keep typing.');
  }
  if (name === 'NotReadableError') {
    return new VoiceUnavailable('The microphone is in use by another program. Close it, or keep typing.');
  }
  return new VoiceUnavailable(`The microphone could not be opened (${name ?? String(e)}). Keep typing.`);
}

/** Opens the microphone and both worklets; resolves once audio flows. */
export async function startVoice(format: AudioFormat, handlers: VoiceHandlers): Promise<VoiceEngine> {
  const Ctx = globalThis.AudioContext;
  if (!Ctx || !('audioWorklet' in Ctx.prototype) || typeof AudioWorkletNode === 'undefined') {
    throw new VoiceUnavailable(
      'This browser cannot run a voice call here (no AudioWorklet: it needs a recent browser and an https or localhost address). Keep typing.',
    );
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new VoiceUnavailable('This browser gives no microphone access here (it needs an https or localhost address). Keep typing.');
  }
  // the context first, while the click that chose Voice still counts as a user gesture
  const ctx = new Ctx({ latencyHint: 'interactive' });
  let stream: MediaStream | null = null;
  try {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: MIC });
    } catch (e) {
      throw micProblem(e);
    }
    try {
      await ctx.audioWorklet.addModule(captureUrl);
      await ctx.audioWorklet.addModule(playbackUrl);
    } catch (e) {
      throw new VoiceUnavailable(`The audio worklets could not be loaded (${(e as Error)?.message ?? e}). Keep typing.`);
    }
    await ctx.resume();
    const options: WorkletOptions = { format };
    const source = ctx.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(ctx, CAPTURE_PROCESSOR, {
      numberOfInputs: 1,
      numberOfOutputs: 1, // silent, but connected so the graph pulls it
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: 'explicit',
      processorOptions: options,
    });
    const playback = new AudioWorkletNode(ctx, PLAYBACK_PROCESSOR, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: options,
    });
    source.connect(capture);
    capture.connect(ctx.destination);
    playback.connect(ctx.destination);
    capture.port.onmessage = (e: MessageEvent<FromCapture>) => {
      if (e.data.type === 'frame') handlers.onFrame(e.data.bytes, e.data.levelDb);
    };
    playback.port.onmessage = (e: MessageEvent<FromPlayback>) => {
      if (e.data.type === 'buffered') handlers.onBuffered?.(e.data.ms);
    };
    const track = stream.getAudioTracks()[0];
    if (track) track.onended = () => handlers.onEnded?.('The microphone stopped (unplugged or no longer allowed). Keep typing.');

    const toPlayback = (msg: ToPlayback, transfer: Transferable[] = []) => playback.port.postMessage(msg, transfer);
    const mic = stream;
    let stopped = false;
    return {
      setPlaybackFormat: (f) => toPlayback({ type: 'format', format: f }),
      play: (bytes) => toPlayback({ type: 'frame', bytes }, [bytes]),
      flush: () => toPlayback({ type: 'clear' }),
      tone: (key) => {
        const pair = dtmfTones(key);
        if (!pair || stopped) return;
        const t = ctx.currentTime;
        const gain = ctx.createGain();
        gain.gain.setValueAtTime(0, t);
        gain.gain.linearRampToValueAtTime(0.12, t + 0.005);
        gain.gain.setValueAtTime(0.12, t + 0.145);
        gain.gain.linearRampToValueAtTime(0, t + 0.15);
        gain.connect(ctx.destination);
        for (const f of pair) {
          const osc = ctx.createOscillator();
          osc.frequency.value = f;
          osc.connect(gain);
          osc.start(t);
          osc.stop(t + 0.16);
        }
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        const bye: ToCapture = { type: 'stop' };
        capture.port.postMessage(bye);
        toPlayback({ type: 'stop' });
        source.disconnect();
        mic.getTracks().forEach((t) => t.stop());
        void ctx.close();
      },
    };
  } catch (e) {
    stream?.getTracks().forEach((t) => t.stop());
    void ctx.close();
    throw e;
  }
}
