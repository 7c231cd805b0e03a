// /sessions/:id: one call: status, why it ended, what an incomplete call is missing, duration, the
// summary, the outcome fields it wrote (labelled from the schema), the flow that ran (path and
// sha256), the recording with the transcript beside it (a line plays from its time), and the
// transcript; administrators can save it as a test scenario. A voice call also shows its speech
// engines, its response time per turn (a waterfall whose rows pick their line in the transcript),
// and the agent's lines the other party cut off. A phone call shows who answered (a person or an
// answering machine) when the flow asked Twilio to tell. A call that is still
// being written is re-read every few seconds until it has ended.
import { useEffect, useRef, useState } from 'react';
import type { ApiError } from '../api/client';
import { Link, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { TERMINAL_STATUSES } from '../api/live';
import { useApi } from '../api/useApi';
import type { CallSession, FieldDef, FieldValue, SessionEvent, SessionVoice, TranscriptMessage } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { answeredBy } from '../components/answeredBy';
import { ErrorAlert } from '../components/ErrorAlert';
import { LatencyWaterfall } from '../components/LatencyWaterfall';
import { Loading } from '../components/Loading';
import { offsetSeconds, RecordingPlayer } from '../components/RecordingPlayer';
import { StatusBadge } from '../components/StatusBadge';
import { TranscriptView, unsaidPart, type TranscriptLine } from '../components/TranscriptView';
import { usePageTitle } from '../components/usePageTitle';
import { eventLabel, formatDateTime, formatDuration, formatTime, formatValue, listeningLine, schemaOf, sortedFields, statusLabel, workflowLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';

const POLL_MS = 2000;

/** Who ended a call, in words (the session's ended_by). */
const ENDED_BY: Record<NonNullable<CallSession['ended_by']>, string> = {
  other_party: 'The other party',
  agent: 'The agent',
  platform: 'Sova (no answer, time limit, or a failure)',
};

/** How the call was made, in words. */
const MODES: Record<string, string> = {
  browser: 'Browser test call',
  browser_voice: 'Browser voice test call',
  phone: 'Phone call',
};

/** Who answered a phone call, in words, with Twilio's verdict as it came ("An answering machine (machine_end_beep)"). */
export function answeredByLine(by: string): string {
  const words = answeredBy(by);
  const said = words ? words.long.charAt(0).toUpperCase() + words.long.slice(1) : 'Not known';
  return words && words.long === by ? said : `${said} (${by})`;
}

/** The wire audio in words: "16 kHz", or "phone quality (8 kHz μ-law)". */
export function audioFormat(v: SessionVoice): string {
  const khz = `${(v.sample_rate / 1000).toLocaleString('en-US')} kHz`;
  return v.encoding === 'mulaw' ? `phone quality (${khz} μ-law)` : khz;
}

/** The index of the agent's first line in turn n, numbered as the bot does (1 is the greeting; each
 * line of the other party opens the next turn): the first assistant line after the other party's
 * (n-1)-th line; null when the transcript has none. */
export function turnLine(messages: TranscriptMessage[], turn: number): number | null {
  let users = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m.role === 'user') {
      users++;
      if (users > turn - 1) return null;
    } else if (m.role === 'assistant' && users === turn - 1) {
      return i;
    }
  }
  return null;
}

/** One recorded call event in words; field keys read as their schema labels. */
export function eventLine(e: SessionEvent, fields: FieldDef[]): string {
  const label = (k: unknown) => (typeof k === 'string' ? (fields.find((f) => f.key === k)?.label ?? k) : '');
  const field = typeof e.field === 'string' ? fields.find((f) => f.key === e.field) : undefined;
  const name = eventLabel(e.type);
  switch (e.type) {
    case 'node':
      return `${name}: ${String(e.node ?? '')}`;
    case 'set':
      return `${name} ${label(e.field)}: ${formatValue(field, (e.value ?? null) as FieldValue)}`;
    case 'note':
      return `${name}: ${String(e.text ?? '')}`;
    case 'transfer':
      return `${name}${typeof e.to === 'string' ? ` to ${e.to}` : ''}`;
    case 'dtmf':
    case 'dtmf_received':
      return `${name}${typeof e.digits === 'string' ? `: ${e.digits}` : ''}`;
    case 'answered_by':
      return `${name}: ${typeof e.by === 'string' ? answeredByLine(e.by) : 'Not known'}`;
    case 'listening_started':
    case 'listening_ended':
      return listeningLine(e.type);
    case 'telephony_error':
      return `${name}${typeof e.what === 'string' ? ` (${e.what})` : ''}${typeof e.reason === 'string' ? `: ${e.reason}` : ''}`;
    case 'interrupted':
      return `${name}${typeof e.played_ms === 'number' ? ` after ${(e.played_ms / 1000).toFixed(1)} s of the agent's line` : ''}`;
    case 'failure':
      return `${name}: ${String(e.reason ?? '')}${typeof e.source === 'string' ? ` (${e.source}${e.line ? `:${String(e.line)}` : ''})` : ''}`;
    case 'error':
      return `${name}: ${String(e.message ?? '')}`;
    default:
      return name;
  }
}

/** Outcome entries in the schema's order; keys the schema lacks come last, as they are. */
export function outcomeRows(
  fields: FieldDef[],
  outcome: Record<string, FieldValue> | undefined,
): { key: string; label: string; value: string }[] {
  if (!outcome) return [];
  const known = sortedFields(fields).filter((f) => f.key in outcome);
  const rows = known.map((f) => ({ key: f.key, label: f.label, value: formatValue(f, outcome[f.key]) }));
  for (const k of Object.keys(outcome).sort()) {
    if (!fields.some((f) => f.key === k)) rows.push({ key: k, label: k, value: formatValue(undefined, outcome[k]) });
  }
  return rows;
}

/** The required outcome fields an incomplete call did not capture, by their schema labels. */
export function missingLabels(fields: FieldDef[], missing: string[] | undefined): string {
  return (missing ?? []).map((k) => fields.find((f) => f.key === k)?.label ?? k).join(', ');
}

/** Hands the browser a text as a file download. */
function download(text: string, filename: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/yaml' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** "Save as test scenario" (administrators): the call as a PHI-free `sova flow eval` scenario. */
function SaveScenarioButton({ id }: { id: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      download(await api.sessionScenario(id), `session-${id}.yaml`);
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="actions">
      <button type="button" className="btn" onClick={() => void save()} disabled={busy}
        title="A scenario for sova flow eval: the other party's lines and the outcome, with synthetic patient data">
        {busy ? 'Saving…' : 'Save as test scenario'}
      </button>
      {error && <ErrorAlert error={error} />}
    </div>
  );
}

export function SessionPage() {
  const { id = '' } = useParams();
  const { org, user } = useAuth();
  const session = useApi((signal) => api.getSession(id, signal), [id]);
  const s = session.data;
  const audio = useRef<HTMLAudioElement | null>(null);
  const [heard, setHeard] = useState(0);
  // the turn picked in the waterfall (its row), until the recording plays on
  const [picked, setPicked] = useState<number | null>(null);
  const fields = schemaOf(org, s?.workflow);
  useScopeWorkflow(fields ? s?.workflow : undefined);
  usePageTitle('Call session');

  const running = s ? !TERMINAL_STATUSES.has(s.status) : false;
  useEffect(() => {
    if (!running) return;
    const t = window.setTimeout(session.reload, POLL_MS);
    return () => window.clearTimeout(t);
  }, [running, s, session.reload]);

  if (session.error?.isNotFound) return <NotFoundPage what="call session" />;
  if (session.error && !s) return <ErrorAlert error={session.error} onRetry={session.reload} />;
  if (!s) return <Loading label="Loading the call…" />;

  const recording = !running ? s.recording : undefined;
  const started = s.started_at || s.created_at;
  const messages = s.transcript?.messages ?? [];
  const lines: TranscriptLine[] = messages.map((m, i) => ({
    id: i,
    kind: 'say',
    role: m.role,
    text: m.content,
    at: recording ? offsetSeconds(started, m.timestamp) : null,
    ...(m.interrupted ? { interrupted: true, unsaid: unsaidPart(m.said ?? m.content, m.content) } : {}),
  }));
  const latency = s.latency ?? [];
  const pickedLine = picked != null && latency[picked] ? turnLine(messages, latency[picked].turn) : null;
  // the line being heard: the last one that began at or before the playback position
  let current: number | null = pickedLine;
  if (recording && heard > 0 && picked == null) {
    for (const l of lines) if (l.at != null && l.at <= heard) current = l.id;
  }
  const seek = (seconds: number) => {
    const a = audio.current;
    if (!a) return;
    a.currentTime = seconds;
    void a.play().catch(() => undefined);
  };
  const onTime = (seconds: number) => {
    setHeard(seconds);
    setPicked(null);
  };
  // a turn picked in the waterfall: its line marked and brought into view (played from, with a recording)
  const pickTurn = (index: number) => {
    const at = latency[index] ? turnLine(messages, latency[index].turn) : null;
    setPicked(index);
    if (at == null) return;
    const el = document.querySelector(`.session-transcript [data-line="${at}"]`);
    if (el && typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    const from = lines[at]?.at;
    if (recording && from != null) seek(from);
  };
  const outcome = outcomeRows(fields ?? [], s.outcome);
  const sha = s.flow?.sha256 ?? null;
  const reason = s.reason ?? s.failure;
  const missing = missingLabels(fields ?? [], s.missing);

  return (
    <section className="page" aria-labelledby="session-title">
      <p className="crumbs">
        <Link to={`/patients/${encodeURIComponent(s.patient_id)}`}>← Back to patient</Link>
      </p>
      <div className="page-head">
        <div>
          <p className="eyebrow">{s.workflow ? workflowLabel(org, s.workflow) : 'Call'}</p>
          <h1 id="session-title">Call session</h1>
          <p className="page-sub" aria-live="polite">
            Status: <StatusBadge status={s.status} />
            {running && <span className="muted"> · the call is still running; this page updates by itself</span>}
          </p>
        </div>
        {user?.role === 'admin' && !running && <SaveScenarioButton id={s.id} />}
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Call</h2>
          <dl className="fields">
            <div className="fields-row">
              <dt>Status</dt>
              <dd>{statusLabel(s.status)}</dd>
            </div>
            {reason && (
              <div className="fields-row">
                <dt>Why it ended</dt>
                <dd>{reason}</dd>
              </div>
            )}
            {missing && (
              <div className="fields-row" data-key="missing">
                <dt>Missing</dt>
                <dd>{missing}</dd>
              </div>
            )}
            {s.ended_by && (
              <div className="fields-row">
                <dt>Ended by</dt>
                <dd>{ENDED_BY[s.ended_by]}</dd>
              </div>
            )}
            <div className="fields-row">
              <dt>Duration</dt>
              <dd>{formatDuration(s.duration_seconds)}</dd>
            </div>
            <div className="fields-row">
              <dt>Started</dt>
              <dd>{s.started_at || s.created_at ? formatDateTime((s.started_at || s.created_at)!) : '—'}</dd>
            </div>
            {s.ended_at && (
              <div className="fields-row">
                <dt>Ended</dt>
                <dd>{formatDateTime(s.ended_at)}</dd>
              </div>
            )}
            <div className="fields-row">
              <dt>Mode</dt>
              <dd>{MODES[s.mode] ?? statusLabel(s.mode)}</dd>
            </div>
            {s.phone?.answered_by && (
              <div className="fields-row" data-key="answered_by">
                <dt>Answered by</dt>
                <dd>{answeredByLine(s.phone.answered_by)}</dd>
              </div>
            )}
            {s.voice && (
              <div className="fields-row" data-key="voice">
                <dt>Speech</dt>
                <dd>
                  <span className="sr-only">recognizer </span>
                  <code>{s.voice.stt}</code>
                  <span aria-hidden="true"> → </span>
                  <span className="sr-only">, synthesizer </span>
                  <code>{s.voice.tts}</code>, {audioFormat(s.voice)}
                </dd>
              </div>
            )}
            <div className="fields-row">
              <dt>Flow</dt>
              <dd>
                <code className="flow-path">{s.flow?.path ?? '—'}</code>
                {sha && (
                  <span className="sha" title={`sha256 ${sha}`}>
                    sha256 <code>{sha.slice(0, 12)}</code>
                  </span>
                )}
              </dd>
            </div>
          </dl>
        </div>

        <div className="card">
          <h2>Summary</h2>
          {s.transcript?.summary ? (
            <p className="summary">{s.transcript.summary}</p>
          ) : (
            <p className="empty">{running ? 'The summary is written when the call ends.' : 'No summary.'}</p>
          )}
          <h2>Outcome</h2>
          {outcome.length === 0 ? (
            <p className="empty">{running ? 'Nothing recorded yet.' : 'The call recorded no outcome fields.'}</p>
          ) : (
            <dl className="fields outcome">
              {outcome.map((r) => (
                <div key={r.key} className="fields-row" data-key={r.key}>
                  <dt>{r.label}</dt>
                  <dd>{r.value}</dd>
                </div>
              ))}
            </dl>
          )}
          {s.rejected_outcome && s.rejected_outcome.length > 0 && (
            <div className="alert alert-warning">
              <p>Some values the flow tried to write were refused:</p>
              <ul>
                {s.rejected_outcome.map((r) => (
                  <li key={r.field}>
                    {(fields ?? []).find((f) => f.key === r.field)?.label ?? r.field}: {r.reason}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>
      </div>

      {latency.length > 0 && (
        <div className="card">
          <LatencyWaterfall turns={latency} onPick={pickTurn} picked={picked} />
        </div>
      )}

      <div className="card session-transcript">
        <h2>{recording ? 'Recording and transcript' : 'Transcript'}</h2>
        {recording && <RecordingPlayer sessionId={s.id} recording={recording} audioRef={audio} onTime={onTime} />}
        <TranscriptView lines={lines} label="Transcript" onSeek={recording ? seek : undefined} current={current} />
        {s.events && s.events.length > 0 && (
          <>
            <h3>Events</h3>
            <ul className="events">
              {s.events.map((e, i) => (
                <li key={i}>
                  {eventLine(e, fields ?? [])}
                  {e.timestamp ? <span className="muted"> · {formatTime(e.timestamp)}</span> : null}
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </section>
  );
}
