// /sessions/:id: one call: status, why it ended, what an incomplete call is missing, duration, the
// summary, the outcome fields it wrote (labelled from the schema), the flow that ran (path and
// sha256), the recording with the transcript beside it (a line plays from its time), and the
// transcript; administrators can save it as a test scenario. A call that is still
// being written is re-read every few seconds until it has ended.
import { useEffect, useRef, useState } from 'react';
import type { ApiError } from '../api/client';
import { Link, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { TERMINAL_STATUSES } from '../api/live';
import { useApi } from '../api/useApi';
import type { CallSession, FieldDef, FieldValue, SessionEvent } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { offsetSeconds, RecordingPlayer } from '../components/RecordingPlayer';
import { StatusBadge } from '../components/StatusBadge';
import { TranscriptView, type TranscriptLine } from '../components/TranscriptView';
import { usePageTitle } from '../components/usePageTitle';
import { eventLabel, formatDateTime, formatDuration, formatTime, formatValue, schemaOf, sortedFields, statusLabel, workflowLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';

const POLL_MS = 2000;

/** Who ended a call, in words (the session's ended_by). */
const ENDED_BY: Record<NonNullable<CallSession['ended_by']>, string> = {
  other_party: 'The other party',
  agent: 'The agent',
  platform: 'Sova (no answer, time limit, or a failure)',
};

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
      return `${name}${typeof e.digits === 'string' ? `: ${e.digits}` : ''}`;
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
  const lines: TranscriptLine[] = (s.transcript?.messages ?? []).map((m, i) => ({
    id: i,
    kind: 'say',
    role: m.role,
    text: m.content,
    at: recording ? offsetSeconds(started, m.timestamp) : null,
  }));
  // the line being heard: the last one that began at or before the playback position
  let current: number | null = null;
  if (recording && heard > 0) {
    for (const l of lines) if (l.at != null && l.at <= heard) current = l.id;
  }
  const seek = (seconds: number) => {
    const a = audio.current;
    if (!a) return;
    a.currentTime = seconds;
    void a.play().catch(() => undefined);
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
              <dd>{s.mode === 'browser' ? 'Browser test call' : statusLabel(s.mode)}</dd>
            </div>
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

      <div className="card">
        <h2>{recording ? 'Recording and transcript' : 'Transcript'}</h2>
        {recording && <RecordingPlayer sessionId={s.id} recording={recording} audioRef={audio} onTime={setHeard} />}
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
