// A call's transcript: the agent's lines and the other party's, and call events between them.
// Live, it keeps the newest line in view.
import { useEffect, useRef } from 'react';

export interface TranscriptLine {
  id: number;
  kind: 'say' | 'event';
  role: string;
  text: string;
}

function speaker(role: string): string {
  if (role === 'assistant') return 'Agent';
  if (role === 'user') return 'Other party';
  return 'Call';
}

export function TranscriptView({ lines, live = false, label }: { lines: TranscriptLine[]; live?: boolean; label: string }) {
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
              <li key={l.id} className={`line line-${l.role === 'assistant' ? 'agent' : 'party'}`}>
                <span className="line-who">{speaker(l.role)}</span>
                <span className="line-text">{l.text}</span>
              </li>
            ),
          )}
        </ol>
      )}
    </div>
  );
}
