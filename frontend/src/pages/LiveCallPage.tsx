// /calls/:sessionId/live: a browser test call as it happens. The agent's lines stream in; the
// staff member types the other party's lines; "Hang up" ends it. When the call ends, a link
// leads to the session (transcript, summary, outcome, flow).
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { Link, useLocation, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { connectLive, recallLiveUrl, TERMINAL_STATUSES, type LiveConnection } from '../api/live';
import type { LiveMessage } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusBadge } from '../components/StatusBadge';
import { usePageTitle } from '../components/usePageTitle';
import { eventLabel, schemaOf, statusLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';
import { TranscriptView, type TranscriptLine } from '../components/TranscriptView';

type Conn = 'connecting' | 'open' | 'closed' | 'unavailable';

/** A call event as a line between the transcript's lines; null for the flow's own steps. */
function eventText(m: Extract<LiveMessage, { type: 'event' }>): string | null {
  const name = eventLabel(m.event);
  switch (m.event) {
    case 'node':
      return null;
    case 'set':
      return `${name} an outcome`;
    case 'transfer':
      return `${name}${m.to ? ` to ${m.to}` : ''}`;
    case 'dtmf':
      return `${name}${m.digits ? `: ${m.digits}` : ''}`;
    default:
      return name; // note, failure, error: their details are in the session once it has ended
  }
}

export function LiveCallPage() {
  const { sessionId = '' } = useParams();
  const location = useLocation();
  const { org } = useAuth();
  usePageTitle('Live call');
  const stateUrl = (location.state as { liveUrl?: string } | null)?.liveUrl;
  const liveUrl = stateUrl ?? recallLiveUrl(sessionId);

  const [lines, setLines] = useState<TranscriptLine[]>([]);
  const [status, setStatus] = useState<string>('queued');
  const [conn, setConn] = useState<Conn>(liveUrl ? 'connecting' : 'unavailable');
  const [problem, setProblem] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [yourTurn, setYourTurn] = useState(false); // the bot said the agent's turn is over
  const [patientId, setPatientId] = useState<string | null>(
    (location.state as { patientId?: string } | null)?.patientId ?? null,
  );
  const [workflow, setWorkflow] = useState<string | undefined>(undefined);
  const [notFound, setNotFound] = useState(false);
  const connRef = useRef<LiveConnection | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const endRef = useRef<HTMLDivElement>(null);
  const nextId = useRef(0);
  useScopeWorkflow(schemaOf(org, workflow) ? workflow : undefined);

  const ended = TERMINAL_STATUSES.has(status) || conn === 'closed';

  // The session: whose call this is, and (after a reload) what was said so far.
  useEffect(() => {
    const ctl = new AbortController();
    api.getSession(sessionId, ctl.signal).then(
      (s) => {
        setPatientId(s.patient_id);
        setWorkflow(s.workflow);
        if (TERMINAL_STATUSES.has(s.status)) setStatus(s.status);
        const said = s.transcript?.messages ?? [];
        if (said.length) {
          setLines((cur) =>
            cur.length
              ? cur
              : said.map((m) => ({ id: nextId.current++, kind: 'say' as const, role: m.role, text: m.content })),
          );
        }
      },
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        if ((e as { status?: number }).status === 404) setNotFound(true);
      },
    );
    return () => ctl.abort();
  }, [sessionId]);

  // The WebSocket to the call runtime.
  useEffect(() => {
    if (!liveUrl) return;
    const add = (l: Omit<TranscriptLine, 'id'>) => setLines((cur) => [...cur, { ...l, id: nextId.current++ }]);
    let c: LiveConnection | null = null;
    let opened = false;
    // connect on the next tick: a mount that is undone at once (React's StrictMode) opens nothing
    const timer = window.setTimeout(() => {
      c = open();
      connRef.current = c;
    }, 0);
    const open = () => connectLive(liveUrl, {
      onOpen: () => {
        opened = true;
        setConn('open');
      },
      onMessage: (m) => {
        switch (m.type) {
          case 'transcript':
            add({ kind: 'say', role: m.role, text: m.text });
            if (m.role === 'user') setYourTurn(false);
            break;
          case 'turn':
            setYourTurn(true); // the agent has finished speaking
            break;
          case 'status':
            setStatus(m.status);
            break;
          case 'event': {
            const text = eventText(m);
            if (text) add({ kind: 'event', role: 'system', text });
            break;
          }
          case 'error':
            setProblem(m.message);
            break;
        }
      },
      onClose: () => {
        if (!opened) setProblem('Could not connect to the call. It may have ended already; see its session below.');
        setConn('closed');
      },
    });
    return () => {
      window.clearTimeout(timer);
      c?.close();
      connRef.current = null;
    };
  }, [liveUrl]);

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: 'nearest' });
  }, [lines.length, ended]);

  useEffect(() => {
    if (conn === 'open') inputRef.current?.focus();
  }, [conn]);

  if (notFound) return <NotFoundPage what="call" />;

  function send(e?: FormEvent) {
    e?.preventDefault();
    const text = draft.trim();
    if (!text || ended) return;
    if (connRef.current?.say(text)) {
      setDraft('');
      inputRef.current?.focus();
    } else {
      setProblem('The call is not connected.');
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      send();
    }
  }

  const sessionHref = `/sessions/${encodeURIComponent(sessionId)}`;
  const shownStatus = conn === 'closed' && !TERMINAL_STATUSES.has(status) ? 'ended' : status;

  return (
    <section className="page live-page" aria-labelledby="live-title">
      {patientId && (
        <p className="crumbs">
          <Link to={`/patients/${encodeURIComponent(patientId)}`}>← Back to patient</Link>
        </p>
      )}
      <div className="page-head">
        <div>
          <p className="eyebrow">Browser test call</p>
          <h1 id="live-title">Live call</h1>
          <p className="page-sub" aria-live="polite">
            Status: <StatusBadge status={shownStatus} />
            {conn === 'connecting' && <span className="muted"> · connecting…</span>}
          </p>
        </div>
        {!ended && (
          <div className="actions">
            <button
              type="button"
              className="btn btn-danger"
              disabled={conn !== 'open'}
              onClick={() => connRef.current?.hangup()}
            >
              Hang up
            </button>
          </div>
        )}
      </div>

      {problem && <ErrorAlert error={problem} />}
      {conn === 'unavailable' && (
        <div className="alert alert-info" role="status">
          <p>
            This call is not live in this tab. <Link to={sessionHref}>See the call’s session</Link>.
          </p>
        </div>
      )}

      <div className="card call-card">
        <p className="muted call-help">
          You play the person the agent is calling. The agent speaks first; type what you would say and press Enter
          (Shift+Enter for a new line).
        </p>
        <TranscriptView lines={lines} live label="Call transcript" />
        <div ref={endRef} />
        {ended ? (
          <div className="alert alert-success call-ended" role="status">
            <p>
              The call has ended ({statusLabel(shownStatus)}).{' '}
              <Link to={sessionHref} className="strong-link">
                View the session: transcript, summary and outcome
              </Link>
            </p>
          </div>
        ) : (
          <form className="say-form" onSubmit={send}>
            <label htmlFor="say-input">Your line</label>
            <p className="turn-hint" aria-live="polite">
              {conn !== 'open' ? '' : yourTurn ? 'Your turn: the agent is waiting for you.' : 'The agent is speaking…'}
            </p>
            <div className="say-row">
              <textarea
                id="say-input"
                ref={inputRef}
                className="input"
                rows={2}
                value={draft}
                maxLength={4000}
                onChange={(e) => setDraft(e.target.value)}
                onKeyDown={onKeyDown}
                disabled={conn !== 'open'}
                placeholder={conn === 'open' ? 'Type what the other party says…' : 'Connecting…'}
              />
              <button type="submit" className="btn btn-primary" disabled={conn !== 'open' || !draft.trim()}>
                Send
              </button>
            </div>
          </form>
        )}
      </div>
    </section>
  );
}
