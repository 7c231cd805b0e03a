// /calls/:sessionId/live: a browser test call as it happens. The agent's lines stream in; the
// staff member types the other party's lines, or in Voice mode talks them (microphone and
// speakers; typing still works); "Hang up" ends it. When the call ends, a link leads to the
// session (transcript, summary, outcome, flow).
import { useCallback, useEffect, useReducer, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { Link, useLocation, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { connectLive, recallLiveUrl, TERMINAL_STATUSES, type LiveConnection } from '../api/live';
import { initialLiveState, liveReducer, shownLines } from '../api/liveState';
import type { LiveMessage } from '../api/types';
import { BROWSER_FORMAT, PHONE_FORMAT } from '../api/voice/pcm';
import { useVoice } from '../api/voice/useVoice';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { ErrorAlert } from '../components/ErrorAlert';
import { StatusBadge } from '../components/StatusBadge';
import { usePageTitle } from '../components/usePageTitle';
import { eventLabel, schemaOf, statusLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';
import { TranscriptView } from '../components/TranscriptView';
import { VoicePanel } from '../components/VoicePanel';

type Conn = 'connecting' | 'open' | 'closed' | 'unavailable';
type Mode = 'text' | 'voice';

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

  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
  const { status, problem, yourTurn } = state;
  const [conn, setConn] = useState<Conn>(liveUrl ? 'connecting' : 'unavailable');
  const [draft, setDraft] = useState('');
  const [mode, setMode] = useState<Mode>(
    (location.state as { mode?: Mode } | null)?.mode === 'voice' ? 'voice' : 'text',
  );
  const [phoneQuality, setPhoneQuality] = useState(false);
  const [patientId, setPatientId] = useState<string | null>(
    (location.state as { patientId?: string } | null)?.patientId ?? null,
  );
  const [workflow, setWorkflow] = useState<string | undefined>(undefined);
  const [notFound, setNotFound] = useState(false);
  const connRef = useRef<LiveConnection | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const endRef = useRef<HTMLDivElement>(null);
  useScopeWorkflow(schemaOf(org, workflow) ? workflow : undefined);

  const ended = TERMINAL_STATUSES.has(status) || conn === 'closed';
  const voice = useVoice({
    wanted: mode === 'voice' && conn === 'open' && !ended && state.audio.phase !== 'failed',
    format: phoneQuality ? PHONE_FORMAT : BROWSER_FORMAT,
    conn: connRef,
    dispatch,
  });
  // the socket's handlers are made once; they reach the voice's current handlers through this
  const voiceRef = useRef(voice);
  useEffect(() => {
    voiceRef.current = voice;
  });

  // The session: whose call this is, and (after a reload) what was said so far.
  useEffect(() => {
    const ctl = new AbortController();
    api.getSession(sessionId, ctl.signal).then(
      (s) => {
        setPatientId(s.patient_id);
        setWorkflow(s.workflow);
        if (TERMINAL_STATUSES.has(s.status)) dispatch({ type: 'message', msg: { type: 'status', status: s.status } });
        const said = s.transcript?.messages ?? [];
        dispatch({ type: 'history', said: said.map((m) => ({ role: m.role, text: m.content })) });
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
        voiceRef.current.onMessage(m); // audio.ready and audio.clear act on the audio at once
        if (m.type === 'event') {
          const text = eventText(m);
          if (text) dispatch({ type: 'event', text });
        } else {
          dispatch({ type: 'message', msg: m });
        }
      },
      onAudio: (frame) => voiceRef.current.onAudio(frame),
      onClose: (clean) => {
        if (!opened) {
          dispatch({ type: 'problem', message: 'Could not connect to the call. It may have ended already; see its session below.' });
        } else if (!clean) {
          dispatch({ type: 'problem', message: 'The connection to the call was lost. See its session below.' });
        }
        setConn('closed');
      },
    });
    return () => {
      window.clearTimeout(timer);
      c?.close();
      connRef.current = null;
    };
  }, [liveUrl]);

  const lines = shownLines(state);
  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: 'nearest' });
  }, [lines.length, ended]);

  const pressKey = useCallback(
    (key: string) => {
      if (connRef.current?.send({ type: 'dtmf', digits: key })) voice.tone(key);
      else dispatch({ type: 'problem', message: 'The call is not connected.' });
    },
    [voice],
  );

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
      dispatch({ type: 'problem', message: 'The call is not connected.' });
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      send();
    }
  }

  function chooseMode(m: Mode) {
    if (m === 'voice') dispatch({ type: 'audio-reset' });
    setMode(m);
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
        {!ended && (
          <div className="call-mode">
            <fieldset className="mode-switch">
              <legend className="sr-only">How you take part</legend>
              {(['text', 'voice'] as const).map((m) => (
                <label key={m} className={`mode-option${mode === m ? ' mode-option-on' : ''}`}>
                  <input type="radio" name="call-mode" value={m} checked={mode === m} onChange={() => chooseMode(m)} />
                  {m === 'text' ? 'Text' : 'Voice'}
                </label>
              ))}
            </fieldset>
            <label className="check-inline">
              <input
                type="checkbox"
                className="checkbox"
                checked={phoneQuality}
                onChange={(e) => setPhoneQuality(e.target.checked)}
              />
              Phone quality (8 kHz μ-law){mode === 'voice' && state.audio.phase === 'ready' ? ': changing it restarts the audio' : ''}
            </label>
          </div>
        )}
        <p className="muted call-help">
          You play the person the agent is calling. The agent speaks first;{' '}
          {mode === 'voice' ? 'talk, or type' : 'type'} what you would say and press Enter (Shift+Enter for a new line).
        </p>
        {mode === 'voice' && !ended && (
          <VoicePanel
            audio={state.audio}
            hearing={state.hearing}
            level={voice.level}
            muted={voice.muted}
            buffered={voice.buffered}
            disabled={conn !== 'open'}
            onMute={voice.setMuted}
            onKey={pressKey}
            onRetry={() => dispatch({ type: 'audio-reset' })}
          />
        )}
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
