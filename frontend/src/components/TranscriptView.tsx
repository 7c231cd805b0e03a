// A call's transcript: the agent's lines and the other party's, and call events between them.
// Live, it keeps the newest line in view. With a recording, each line with a time is a button
// that plays the recording from there, and the line being heard is marked. In a voice call the
// other party's interim words show greyed at the end, and an agent's line the other party cut off
// shows what was heard and, struck through, what was not.
import { useEffect, useRef } from 'react';

export interface TranscriptLine {
  id: number;
  kind: 'say' | 'event';
  role: string;
  text: string;
  /** Seconds into the recording where the line begins, when known. */
  at?: number | null;
  /** The turn it belongs to (live calls). */
  turn?: number;
  /** Words the recognizer may still change (voice calls). */
  interim?: boolean;
  /** The other party spoke over the agent: `text` is what was heard (possibly ""), `unsaid` the rest. */
  interrupted?: boolean;
  unsaid?: string;
}

/** The part of the line the agent meant to say (`said`) that was not heard (`heard`, its beginning). */
export function unsaidPart(said: string, heard: string): string {
  const h = heard.trim();
  if (said.startsWith(h)) return said.slice(h.length).trim();
  // not a prefix as it stands (spacing): the words after as many words as were heard
  const words = said.trim().split(/\s+/);
  const n = h === '' ? 0 : h.split(/\s+/).length;
  return words.slice(n).join(' ');
}

/** A line's words for a screen reader, the unheard part said as such. */
function spoken(l: TranscriptLine): string {
  if (!l.interrupted) return l.text;
  const heard = l.text.trim() === '' ? 'nothing heard' : l.text;
  return `${heard} (interrupted${l.unsaid ? `; not heard: ${l.unsaid}` : ''})`;
}

function LineText({ line }: { line: TranscriptLine }) {
  if (!line.interrupted) return <>{line.text}</>;
  return (
    <>
      {line.text}
      {line.unsaid && (
        <>
          {line.text.trim() !== '' && ' '}
          <span className="line-unsaid">
            <span className="sr-only">not heard: </span>
            {line.unsaid}
          </span>
        </>
      )}
    </>
  );
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function speaker(role: string): string {
  if (role === 'assistant') return 'Agent';
  if (role === 'user') return 'Other party';
  return 'Call';
}

interface Props {
  lines: TranscriptLine[];
  live?: boolean;
  label: string;
  /** Plays the recording from a line's time (lines with `at` become buttons). */
  onSeek?: (seconds: number) => void;
  /** The line being heard (its id). */
  current?: number | null;
}

export function TranscriptView({ lines, live = false, label, onSeek, current = null }: Props) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (live && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [live, lines.length]);
  return (
    <div
      ref={box}
      className={live ? 'transcript transcript-live' : 'transcript'}
      role={live ? 'log' : undefined}
      aria-live={live ? 'polite' : undefined}
      aria-label={label}
      tabIndex={0}
    >
      {lines.length === 0 ? (
        <p className="muted transcript-empty">{live ? 'Waiting for the agent…' : 'Nothing was said.'}</p>
      ) : (
        <ol className="transcript-list">
          {lines.map((l) =>
            l.kind === 'event' ? (
              <li key={l.id} className="line line-event">
                {l.text}
              </li>
            ) : (
              <li
                key={l.id}
                className={`line line-${l.role === 'assistant' ? 'agent' : 'party'}${current === l.id ? ' line-current' : ''}${l.interim ? ' line-interim' : ''}${l.interrupted ? ' line-interrupted' : ''}`}
                aria-current={current === l.id ? 'true' : undefined}
                data-line={l.id}
              >
                <span className="line-who">
                  {speaker(l.role)}
                  {l.interrupted && <span className="line-mark">interrupted</span>}
                </span>
                {onSeek && l.at != null ? (
                  <button type="button" className="line-text line-seek" onClick={() => onSeek(l.at!)}
                    aria-label={`Play from ${clock(l.at)}: ${spoken(l)}`}>
                    <span className="line-at" aria-hidden="true">{clock(l.at)}</span> <LineText line={l} />
                  </button>
                ) : (
                  <span className="line-text">
                    {l.interim && <span className="sr-only">(hearing) </span>}
                    <LineText line={l} />
                  </span>
                )}
              </li>
            ),
          )}
        </ol>
      )}
    </div>
  );
}
