// "Listen" on the page of a call being watched: the call's audio, both sides mixed, through this
// computer's speakers (docs/live-protocol.md, "Listening"). listenToCall runs in the click itself,
// not after a render: browsers start audio only on a user gesture. The API records each listening
// in the audit log before it lets one start, and the call's events show its start and end.
import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { listenToCall, type ListenEnd, type Listening } from '../api/listen';
import { ErrorAlert } from './ErrorAlert';

type Phase = 'off' | 'starting' | 'on';

/** One press of Listen: later presses, Stop and unmount end it, and its handlers then do nothing. */
interface Attempt {
  handle: Listening | null;
  over: boolean;
}

const ENDED: Record<ListenEnd, string> = {
  call_ended: 'The call ended.',
  fell_behind: 'Listening stopped: the connection fell behind.',
  lost: 'Listening stopped: the connection to the call’s audio was lost.',
};

/** Why listening could not start, in words: the API's refusals, or the browser's. */
export function listenError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 409) return 'The call has ended';
    if (e.status === 503) return 'Listening is not available right now (the access could not be recorded)';
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

function end(a: Attempt | null): void {
  if (!a) return;
  a.over = true;
  a.handle?.stop();
}

export function ListenControl({ sessionId }: { sessionId: string }) {
  const [phase, setPhase] = useState<Phase>('off');
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rate, setRate] = useState<number | null>(null);
  const [buffered, setBuffered] = useState(0);
  const attempt = useRef<Attempt | null>(null);

  // leaving the page stops listening (the page keys this by the call: another call's is another one)
  useEffect(() => {
    return () => {
      end(attempt.current);
      attempt.current = null;
    };
  }, []);

  function stop() {
    end(attempt.current);
    attempt.current = null;
    setPhase('off');
  }

  function start() {
    end(attempt.current);
    const a: Attempt = { handle: null, over: false };
    attempt.current = a;
    const finish = (says: { note?: string; error?: string }) => {
      end(a);
      if (attempt.current === a) attempt.current = null;
      setNote(says.note ?? null);
      setError(says.error ?? null);
      setPhase('off');
    };
    setPhase('starting');
    setNote(null);
    setError(null);
    setRate(null);
    setBuffered(0);
    listenToCall(sessionId, {
      onReady: (format) => {
        if (a.over) return;
        setRate(format.sample_rate);
        setPhase('on');
      },
      onRefused: (message) => {
        if (!a.over) finish({ error: message }); // the socket's close that follows says nothing more
      },
      onEnded: (why) => {
        if (!a.over) finish({ note: ENDED[why] });
      },
      onBuffered: (ms) => {
        if (!a.over) setBuffered(ms);
      },
    }).then(
      (handle) => {
        a.handle = handle;
        if (a.over) handle.stop(); // stopped while it was starting
      },
      (e: unknown) => {
        if (!a.over) finish({ error: listenError(e) });
      },
    );
  }

  const on = phase !== 'off';
  return (
    <div className="listen">
      <div className="listen-row">
        <button type="button" className={`btn${on ? ' btn-primary' : ''}`} aria-pressed={on} onClick={on ? stop : start}>
          {on ? 'Stop listening' : 'Listen'}
        </button>
        <p className="listen-state" role="status">
          {phase === 'starting'
            ? 'Connecting to the call’s audio…'
            : phase === 'on'
              ? `Listening: both sides of the call${rate ? `, ${rate / 1000} kHz` : ''}.`
              : (note ?? '')}
        </p>
        {phase === 'on' && buffered > 0 && <span className="muted listen-buffered">{buffered} ms buffered</span>}
      </div>
      <p className="muted listen-audit">Listening is recorded in the audit log, and in the call’s events.</p>
      {error && <ErrorAlert error={error} />}
    </div>
  );
}
