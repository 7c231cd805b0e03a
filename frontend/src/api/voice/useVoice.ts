// A voice call's audio in the live call page: while `wanted`, the microphone and player run
// (engine.ts), audio.start goes out in `format`, and once audio.ready comes back the mic's frames
// go out as binary frames (silence while muted). The page passes the bot's messages and binary
// frames to onMessage/onAudio in the order they arrive, so a format change lands between the
// right frames. Changing `format` while running restarts the audio with a new audio.start.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type Dispatch, type RefObject } from 'react';
import type { LiveConnection } from '../live';
import type { LiveAction } from '../liveState';
import type { LiveMessage } from '../types';
import { startVoice, VoiceUnavailable, type VoiceEngine } from './engine';
import { FRAME_MS, silenceFrame, SILENT_DB, smoothLevel, type AudioFormat } from './pcm';

/** The mic level, smoothed, outside React state: the meter alone re-renders 50 times a second. */
export interface LevelStore {
  get: () => number;
  subscribe: (fn: () => void) => () => void;
}

function levelStore() {
  let db = SILENT_DB;
  const subs = new Set<() => void>();
  return {
    get: () => db,
    set: (v: number) => {
      db = v;
      subs.forEach((f) => f());
    },
    subscribe: (fn: () => void) => {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

export function useLevel(store: LevelStore): number {
  return useSyncExternalStore(store.subscribe, store.get);
}

interface Options {
  wanted: boolean;
  format: AudioFormat;
  conn: RefObject<LiveConnection | null>;
  dispatch: Dispatch<LiveAction>;
}

export function useVoice({ wanted, format, conn, dispatch }: Options) {
  const engine = useRef<VoiceEngine | null>(null);
  const ready = useRef(false); // audio.ready came for the current audio.start
  const mutedRef = useRef(false);
  const silence = useRef<ArrayBuffer>(new ArrayBuffer(0));
  const [muted, setMutedState] = useState(false);
  const [buffered, setBuffered] = useState(0);
  const [level] = useState(levelStore);
  const { encoding, sample_rate } = format;

  useEffect(() => {
    if (!wanted) return;
    const f: AudioFormat = { encoding, sample_rate, channels: 1 };
    let cancelled = false;
    let smoothed = SILENT_DB;
    silence.current = silenceFrame(f);
    startVoice(f, {
      onFrame: (bytes, db) => {
        smoothed = smoothLevel(smoothed, mutedRef.current ? SILENT_DB : db, FRAME_MS);
        level.set(smoothed);
        if (ready.current) conn.current?.sendAudio(mutedRef.current ? silence.current.slice(0) : bytes);
      },
      onBuffered: setBuffered,
      onEnded: (message) => dispatch({ type: 'audio-failed', message }),
    }).then(
      (e) => {
        if (cancelled) {
          e.stop();
          return;
        }
        engine.current = e;
        ready.current = false;
        dispatch({ type: 'audio-start', format: f });
        conn.current?.send({ type: 'audio.start', encoding: f.encoding, sample_rate: f.sample_rate, channels: 1 });
        if (mutedRef.current) conn.current?.send({ type: 'mute', muted: true });
      },
      (err: unknown) => {
        if (cancelled) return;
        const message = err instanceof VoiceUnavailable ? err.message : `Voice could not start: ${String(err)}. Keep typing.`;
        dispatch({ type: 'audio-failed', message });
      },
    );
    return () => {
      cancelled = true;
      ready.current = false;
      engine.current?.stop();
      engine.current = null;
      level.set(SILENT_DB);
      setBuffered(0);
      dispatch({ type: 'audio-stop' });
    };
  }, [wanted, encoding, sample_rate, conn, dispatch, level]);

  /** Every bot message, before the reducer sees it: audio.ready and audio.clear act at once. */
  const onMessage = useCallback((m: LiveMessage) => {
    const e = engine.current;
    if (!e) return;
    if (m.type === 'audio.ready') {
      e.setPlaybackFormat({ encoding: m.encoding, sample_rate: m.sample_rate, channels: 1 });
      ready.current = true;
    } else if (m.type === 'audio.clear') {
      e.flush();
    }
  }, []);

  const onAudio = useCallback((bytes: ArrayBuffer) => {
    if (ready.current) engine.current?.play(bytes);
  }, []);

  const setMuted = useCallback(
    (m: boolean) => {
      mutedRef.current = m;
      setMutedState(m);
      if (engine.current) conn.current?.send({ type: 'mute', muted: m });
    },
    [conn],
  );

  const tone = useCallback((key: string) => engine.current?.tone(key), []);

  return { level: level as LevelStore, muted, setMuted, buffered, onMessage, onAudio, tone };
}
