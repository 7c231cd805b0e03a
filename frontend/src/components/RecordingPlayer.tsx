// A call's recording: an <audio> element on a short-lived link (POST .../recording/link), since a
// media element cannot send the bearer token. The browser fetches byte ranges by itself as it
// plays and seeks. When the link has expired (a long listen), the player asks for a new one and
// carries on from where it was.
import { useRef, type RefObject } from 'react';
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import type { SessionRecording } from '../api/types';
import { ErrorAlert } from './ErrorAlert';
import { formatDuration } from '../schema/fields';

interface Props {
  sessionId: string;
  recording: SessionRecording;
  /** The element, for whoever seeks it (the transcript). */
  audioRef: RefObject<HTMLAudioElement | null>;
  /** The playback position in seconds, as it changes. */
  onTime?: (seconds: number) => void;
}

export function RecordingPlayer({ sessionId, recording, audioRef, onTime }: Props) {
  const link = useApi((signal) => api.recordingLink(sessionId, signal), [sessionId]);
  const url = link.data?.url ?? null;
  const resume = useRef<{ at: number; playing: boolean } | null>(null);
  const relinkedAt = useRef(0);

  // An error mid-listen is most likely the link's end: one new link per 10 s at most, same place.
  const onError = () => {
    const a = audioRef.current;
    if (!a || Date.now() - relinkedAt.current < 10_000) return;
    relinkedAt.current = Date.now();
    resume.current = { at: a.currentTime, playing: !a.paused };
    link.reload();
  };

  const onLoaded = () => {
    const a = audioRef.current;
    const r = resume.current;
    if (!a || !r) return;
    resume.current = null;
    a.currentTime = r.at;
    if (r.playing) void a.play().catch(() => undefined);
  };

  return (
    <div className="recording">
      {url && (
        <audio
          ref={audioRef}
          controls
          preload="metadata"
          src={url}
          aria-label={`Call recording, ${formatDuration(recording.duration_seconds)}`}
          onError={onError}
          onLoadedMetadata={onLoaded}
          onTimeUpdate={(e) => onTime?.(e.currentTarget.currentTime)}
        />
      )}
      <p className="muted recording-note">
        Agent on the left channel, the other party on the right · {formatDuration(recording.duration_seconds)}
      </p>
      {link.error && <ErrorAlert error={link.error} onRetry={link.reload} />}
    </div>
  );
}

/** Seconds from the call's start to a transcript line's timestamp; null when either is missing. */
export function offsetSeconds(startedAt: string | undefined, timestamp: string | undefined): number | null {
  if (!startedAt || !timestamp) return null;
  const a = Date.parse(startedAt);
  const b = Date.parse(timestamp);
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  return Math.max(0, (b - a) / 1000);
}
