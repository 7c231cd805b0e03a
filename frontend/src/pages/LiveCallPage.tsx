// /calls/:sessionId/live: a browser test call as it happens. The agent's lines stream in; the
// staff member types the other party's lines, or in Voice mode talks them (microphone and
// speakers; typing still works); "Hang up" ends it. A phone call is only watched: its line's
// progress (dialing, ringing, answered by a person or a machine, ended), the live transcript and
// its events, and nothing to type, say or press (the bot refuses anything sent on its socket);
// while it runs, "Listen" plays its audio (ListenControl).
// When the call ends, a link leads to the session (transcript, summary, outcome, flow).
import { useCallback, useEffect, useReducer, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { Link, useLocation, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { connectLive, recallLiveUrl, recallWatchOnly, TERMINAL_STATUSES, type LiveConnection } from '../api/live';
import { initialLiveState, liveReducer, shownLines } from '../api/liveState';
import type { LiveMessage } from '../api/types';
import { BROWSER_FORMAT, PHONE_FORMAT } from '../api/voice/pcm';
import { useVoice } from '../api/voice/useVoice';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { answeredBy } from '../components/answeredBy';
import { ErrorAlert } from '../components/ErrorAlert';
import { LineProgress, lineNow } from '../components/LineProgress';
import { ListenControl } from '../components/ListenControl';
import { StatusBadge } from '../components/StatusBadge';
import { usePageTitle } from '../components/usePageTitle';
import { eventLabel, listeningLine, schemaOf, statusLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';
import { TranscriptView } from '../components/TranscriptView';
import { VoicePanel } from '../components/VoicePanel';

type Conn = 'connecting' | 'open' | 'closed' | 'unavailable';
type Mode = 'text' | 'voice';
type StartMode = Mode | 'phone';

/** A call event as a line between the transcript's lines; null for the flow's own steps and for a
 * phone line's progress, which the line's steps show (who answered stays: it says when). */
function eventText(m: Extract<LiveMessage, { type: 'event' }>): string | null {
  const name = eventLabel(m.event);
  switch (m.event) {
    case 'node':
    case 'dialed':
    case 'ringing':
    case 'answered':
      return null;
    case 'set':
      return `${name} an outcome`;
    case 'transfer':
      return `${name}${m.to ? ` to ${m.to}` : ''}`;
    case 'dtmf': // the agent pressed keys (a phone menu)
      return `${name}${m.digits ? `: ${m.digits}` : ''} (the agent)`;
    case 'dtmf_received':
      return `${name}${m.digits ? `: ${m.digits}` : ''} (the other party)`;
    case 'answered_by': {
      const by = answeredBy(m.by);
      return by ? `${name} ${by.long}` : `${name}: not known`;
    }
    case 'listening_started':
    case 'listening_ended':
      return listeningLine(m.event);
    default:
      return name; // note, failure, error: their details are in the session once it has ended
  }
}

export function LiveCallPage() {
  const { sessionId = '' } = useParams();
  const location = useLocation();
  const { org } = useAuth();
  const stateUrl = (location.state as { liveUrl?: string } | null)?.liveUrl;
  const liveUrl = stateUrl ?? recallLiveUrl(sessionId);
  const startMode = (location.state as { mode?: StartMode } | null)?.mode;
  // a phone call: this page watches; known from the patient page, this tab's memory, or the session
  const [phone, setPhone] = useState(startMode === 'phone' || recallWatchOnly(sessionId));
  usePageTitle(phone ? 'Phone call' : 'Live call');

  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
  const { status, problem, yourTurn } = state;
  const [conn, setConn] = useState<Conn>(liveUrl ? 'connecting' : 'unavailable');
  const [draft, setDraft] = useState('');
  const [mode, setMode] = useState<Mode>(startMode === 'voice' ? 'voice' : 'text');
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
    wanted: !phone && mode === 'voice' && conn === 'open' && !ended && state.audio.phase !== 'failed',
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
        if (s.mode === 'phone') setPhone(true);
        // the line's events so far (a reload, or a late join): the line shows how far it got
        for (const e of s.events ?? []) {
          const by = typeof e.by === 'string' ? e.by : undefined;
          dispatch({ type: 'message', msg: { type: 'event', event: e.type, by } });
        }
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
        dispatch({ type: 'message', msg: m }); // an event moves a phone call's line
        if (m.type === 'event') {
          const text = eventText(m);
          if (text) dispatch({ type: 'event', text });
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
  const endedNote = ended && (
    <div className="alert alert-success call-ended" role="status">
      <p>
        The call has ended ({statusLabel(shownStatus)}).{' '}
        <Link to={sessionHref} className="strong-link">
          View the session: transcript, summary and outcome
        </Link>
      </p>
    </div>
  );

  return (
    <section className="page live-page" aria-labelledby="live-title">
      {patientId && (
        <p className="crumbs">
          <Link to={`/patients/${encodeURIComponent(patientId)}`}>← Back to patient</Link>
        </p>
      )}
      <div className="page-head">
        <div>
          <p className="eyebrow">{phone ? 'Live call' : 'Browser test call'}</p>
          <h1 id="live-title">{phone ? 'Phone call — watching' : 'Live call'}</h1>
          <p className="page-sub" aria-live="polite">
            Status: <StatusBadge status={shownStatus} />
            {phone && !ended && <span className="muted"> · line: {lineNow(state.line, shownStatus, ended)}</span>}
            {conn === 'connecting' && <span className="muted"> · connecting…</span>}
          </p>
        </div>
        {!ended && !phone && (
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

      {phone ? (
        <div className="card call-card">
          <LineProgress line={state.line} status={shownStatus} ended={ended} />
          {!ended && (status === 'queued' || status === 'in_progress') && (
            <ListenControl key={sessionId} sessionId={sessionId} />
          )}
          {!ended && (
            <p className="muted call-help">
              Sova is calling the patient’s number. You are watching: the agent’s lines and the other party’s
              appear below as they are said. Nothing on this page reaches the call.
            </p>
          )}
          <p className="turn-hint" aria-live="polite">
            {conn !== 'open' || ended
              ? ''
              : state.probing
                ? 'On hold: checking whether someone is back on the line…'
                : state.hearing
                  ? 'The other party is speaking…'
                  : ''}
          </p>
          <TranscriptView lines={lines} live={!ended} label="Call transcript" />
          <div ref={endRef} />
          {endedNote}
        </div>
      ) : (
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
            endedNote
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
      )}
    </section>
  );
}
