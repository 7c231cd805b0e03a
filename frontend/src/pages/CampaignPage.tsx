// /campaigns/:id: a campaign's progress as it happens (polled every 2 s until it is over): the
// bar (patients with their last word, of all), counts by result, the calls in flight, what is
// next and when; pause, resume, cancel; the CSV report. Ids only: a patient's fields are one
// click away, on the patient's page (each view of them is audited there).
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import type { CampaignDetail } from '../api/types';
import { useApi } from '../api/useApi';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';
import { RESULT_LABEL, RESULT_ORDER, STATUS_LABEL, when } from './campaignText';

export const POLL_MS = 2000;

function ProgressBar({ done, total }: { done: number; total: number }) {
  const pct = total > 0 ? Math.round((done / total) * 100) : 0;
  return (
    <div className="campaign-progress">
      <div
        className="progress"
        role="progressbar"
        aria-label="Patients done"
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={done}
        aria-valuetext={`${done} of ${total} patients done`}
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <p className="progress-text">
        <strong>{done}</strong> of {total} patients done ({pct}%)
      </p>
    </div>
  );
}

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  URL.revokeObjectURL(url);
}

export function CampaignPage() {
  const { id = '' } = useParams();
  const state = useApi((signal) => api.getCampaign(id, signal), [id]);
  const [acting, setActing] = useState(false);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const c: CampaignDetail | null = state.data;
  usePageTitle(c ? `Campaign · ${c.name ?? c.workflow}` : 'Campaign');

  const over = c?.status === 'finished' || (c?.status === 'cancelled' && c.counts.in_flight === 0);
  const { reload } = state;
  useEffect(() => {
    if (!c || over) return;
    const t = window.setTimeout(reload, POLL_MS);
    return () => window.clearTimeout(t);
  }, [c, over, reload]);

  async function act(action: 'pause' | 'resume' | 'cancel') {
    if (action === 'cancel' && !window.confirm('Cancel this campaign? No more calls will be made.')) return;
    setActing(true);
    setActionError(null);
    try {
      await api.campaignAction(id, action);
      reload();
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'client', 'Something went wrong.'));
    } finally {
      setActing(false);
    }
  }

  async function report() {
    setActionError(null);
    try {
      download(`campaign-${id}.csv`, await api.campaignReport(id));
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'client', 'Something went wrong.'));
    }
  }

  if (state.error && !c) return <ErrorAlert error={state.error} onRetry={reload} />;
  if (!c) return <Loading label="Loading the campaign…" />;
  const recent = [...c.attempts].reverse().slice(0, 50);

  return (
    <section className="page" aria-labelledby="campaign-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">
            <Link to={`/w/${encodeURIComponent(c.workflow)}/campaigns`}>Campaigns</Link>
          </p>
          <h1 id="campaign-title">{c.name ?? 'Campaign'}</h1>
          <p className="muted">
            <span className={`badge badge-${c.status === 'running' ? 'busy' : c.status === 'finished' ? 'ok' : 'idle'}`}>
              {STATUS_LABEL[c.status] ?? c.status}
            </span>{' '}
            {c.settings.mode === 'simulated' ? 'Simulated calls' : 'Phone calls'} · at most {c.settings.concurrency} at
            once · {c.settings.calls_per_second} a second
          </p>
        </div>
        <div className="actions">
          {c.status === 'running' && (
            <button type="button" className="btn" disabled={acting} onClick={() => void act('pause')}>
              Pause
            </button>
          )}
          {c.status === 'paused' && (
            <button type="button" className="btn btn-primary" disabled={acting} onClick={() => void act('resume')}>
              Resume
            </button>
          )}
          {(c.status === 'running' || c.status === 'paused' || c.status === 'preparing') && (
            <button type="button" className="btn btn-danger" disabled={acting} onClick={() => void act('cancel')}>
              Cancel
            </button>
          )}
          <button type="button" className="btn" onClick={() => void report()}>
            Download report (CSV)
          </button>
        </div>
      </div>

      {actionError && <ErrorAlert error={actionError} />}
      {state.error && <ErrorAlert error={state.error} onRetry={reload} />}

      <div className="card" aria-live="polite">
        <ProgressBar done={c.done} total={c.total} />
        <dl className="campaign-counts">
          {RESULT_ORDER.map((r) => (
            <div key={r} data-result={r}>
              <dt>{RESULT_LABEL[r] ?? r}</dt>
              <dd>{c.counts[r] ?? 0}</dd>
            </div>
          ))}
        </dl>
        {c.counts.waiting > 0 && c.next_at && (
          <p className="muted">
            Next call due {when(c.next_at)}
            {c.status === 'paused' ? ' (paused)' : ''}.
          </p>
        )}
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>In flight ({c.in_flight.length})</h2>
          {c.in_flight.length === 0 ? (
            <p className="muted">No call right now.</p>
          ) : (
            <ul className="plain-list">
              {c.in_flight.map((f) => (
                <li key={f.session_id}>
                  <Link to={`/sessions/${encodeURIComponent(f.session_id ?? '')}`}>Call {f.attempt ?? 1}</Link> to{' '}
                  <Link to={`/patients/${encodeURIComponent(f.patient_id ?? '')}`}>a patient</Link>, since{' '}
                  {when(f.started_at)}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div className="card">
          <h2>Latest attempts</h2>
          {recent.length === 0 ? (
            <p className="muted">No call yet.</p>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Patient</th>
                    <th scope="col">Attempt</th>
                    <th scope="col">Result</th>
                  </tr>
                </thead>
                <tbody>
                  {recent.map((a) => (
                    <tr key={a.session_id}>
                      <td>
                        <Link to={`/patients/${encodeURIComponent(a.patient_id)}`}>Patient</Link>
                      </td>
                      <td>
                        <Link to={`/sessions/${encodeURIComponent(a.session_id)}`}>#{a.attempt}</Link>
                      </td>
                      <td>{a.result ? (RESULT_LABEL[a.result] ?? a.result) : 'In flight'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
