// Watches for activity while signed in; warns a minute before the idle time runs out and signs
// out when it does. While the user is active, it also keeps the server's session alive (the
// server ends a session after the same idle time without requests).
import { useEffect, useRef, useState } from 'react';
import { api, lastApiRequestAt } from '../api/client';
import { ACTIVITY_KEY, useAuth } from './AuthContext';
import { idlePhase, readActivity, writeActivity, type IdlePhase } from './idle';

const ACTIVITY_EVENTS = ['mousedown', 'keydown', 'touchstart', 'wheel', 'scroll', 'mousemove'] as const;
const WRITE_EVERY_MS = 5_000;
const KEEPALIVE_AFTER_MS = 5 * 60_000;

export function IdleGuard() {
  const { idleTimeoutSeconds, logout } = useAuth();
  const timeoutMs = idleTimeoutSeconds * 1000;
  const [state, setState] = useState<IdlePhase>({ phase: 'active' });
  const lastLocal = useRef(0); // the last activity seen in this tab (ms); 0 until mounted
  const lastWrite = useRef(0);
  const warningRef = useRef(false);
  const stayRef = useRef<HTMLButtonElement>(null);
  const loggingOut = useRef(false);

  useEffect(() => {
    const start = Date.now();
    if (lastLocal.current === 0) lastLocal.current = start;
    if (readActivity(ACTIVITY_KEY, 0) < start - timeoutMs) writeActivity(ACTIVITY_KEY, start);
    const mark = (e: Event) => {
      // once the warning shows, only a deliberate action (a key, a click) keeps the session
      if (warningRef.current && (e.type === 'mousemove' || e.type === 'scroll' || e.type === 'wheel')) return;
      const now = Date.now();
      lastLocal.current = now;
      if (now - lastWrite.current >= WRITE_EVERY_MS || warningRef.current) {
        lastWrite.current = now;
        writeActivity(ACTIVITY_KEY, now);
      }
    };
    for (const ev of ACTIVITY_EVENTS) window.addEventListener(ev, mark, { passive: true, capture: true });

    const tick = () => {
      const now = Date.now();
      const last = Math.max(readActivity(ACTIVITY_KEY, start), lastLocal.current);
      const p = idlePhase(now, last, timeoutMs);
      warningRef.current = p.phase === 'warning';
      setState((prev) =>
        prev.phase === p.phase && (p.phase !== 'warning' || prev.phase !== 'warning' || Math.ceil(prev.remainingMs / 1000) === Math.ceil(p.remainingMs / 1000))
          ? prev
          : p,
      );
      if (p.phase === 'expired') {
        if (!loggingOut.current) {
          loggingOut.current = true;
          void logout(`You were signed out after ${minutes(idleTimeoutSeconds)} without activity.`);
        }
        return;
      }
      // active here but quiet towards the server: tell it we are still here
      if (p.phase === 'active' && now - last < 60_000 && now - lastApiRequestAt() > KEEPALIVE_AFTER_MS) {
        api.me().catch(() => undefined);
      }
    };
    const timer = window.setInterval(tick, 1000);
    return () => {
      window.clearInterval(timer);
      for (const ev of ACTIVITY_EVENTS) window.removeEventListener(ev, mark, { capture: true });
    };
  }, [timeoutMs, idleTimeoutSeconds, logout]);

  useEffect(() => {
    if (state.phase === 'warning') stayRef.current?.focus();
  }, [state.phase]);

  if (state.phase !== 'warning') return null;
  const secs = Math.max(1, Math.ceil(state.remainingMs / 1000));

  const stay = () => {
    const now = Date.now();
    lastLocal.current = now;
    writeActivity(ACTIVITY_KEY, now);
    warningRef.current = false;
    setState({ phase: 'active' });
    api.me().catch(() => undefined);
  };

  return (
    <div className="modal-backdrop">
      <div className="modal" role="alertdialog" aria-modal="true" aria-labelledby="idle-title" aria-describedby="idle-text">
        <h2 id="idle-title">Still there?</h2>
        <p id="idle-text">
          You will be signed out in <strong>{secs} second{secs === 1 ? '' : 's'}</strong> because there has been no
          activity for a while.
        </p>
        <div className="form-actions">
          <button ref={stayRef} type="button" className="btn btn-primary" onClick={stay}>
            Stay signed in
          </button>
          <button type="button" className="btn" onClick={() => void logout()}>
            Sign out now
          </button>
        </div>
      </div>
    </div>
  );
}

function minutes(seconds: number): string {
  const m = Math.round(seconds / 60);
  return m === 1 ? '1 minute' : `${m} minutes`;
}
