// /patients/:id: every field of the patient (label and value, in the schema's order), the call
// history, "Start test call" and "Start voice call", which open the live call, and "Place phone
// call", which dials the patient's number for real (after a confirmation) and opens the live page
// watching it. Why the API refuses a call (no telephony, no number) shows here as it says it.
import { useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import { rememberLiveUrl } from '../api/live';
import { useApi } from '../api/useApi';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { StatusBadge } from '../components/StatusBadge';
import { usePageTitle } from '../components/usePageTitle';
import {
  EMPTY,
  formatDateTime,
  formatDuration,
  formatValue,
  schemaOf,
  sortedFields,
  workflowLabel,
} from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';

type CallKind = 'text' | 'voice' | 'phone';

export function PatientDetailPage() {
  const { id = '' } = useParams();
  const { org } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const flash = (location.state as { flash?: string } | null)?.flash;
  const patient = useApi((signal) => api.getPatient(id, signal), [id]);
  const sessions = useApi((signal) => api.patientSessions(id, signal), [id]);
  // the kind of call being started (its button says so), or null
  const [starting, setStarting] = useState<CallKind | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const wf = patient.data?.workflow;
  const fields = schemaOf(org, wf);
  useScopeWorkflow(fields ? wf : undefined);
  usePageTitle('Patient');


  if (patient.error?.isNotFound) return <NotFoundPage what="patient" />;
  if (patient.error) return <ErrorAlert error={patient.error} onRetry={patient.reload} />;
  if (patient.loading || !patient.data) return <Loading label="Loading patient…" />;
  const p = patient.data;
  const ordered = sortedFields(fields ?? []);
  const first = ordered.length ? formatValue(ordered[0], p[ordered[0].key]) : EMPTY;
  const title = first === EMPTY ? 'Patient' : first;

  // voice: a spoken test call (microphone and speaker); the live page opens in Voice mode.
  // phone: a real call to the patient's number; the live page opens watching it.
  async function startCall(kind: CallKind) {
    setStarting(kind);
    setActionError(null);
    try {
      const call = await api.startCall(p.id, kind === 'phone' ? 'phone' : kind === 'voice' ? 'browser_voice' : 'browser');
      rememberLiveUrl(call.session_id, call.live_url, kind === 'phone');
      navigate(`/calls/${encodeURIComponent(call.session_id)}/live`, {
        state: { liveUrl: call.live_url, patientId: p.id, mode: kind },
      });
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'client', 'The call could not be started.'));
      setStarting(null);
    }
  }

  function placePhoneCall() {
    // a real telephone rings: the staff member says so first
    const who = first === EMPTY ? 'this patient' : first;
    if (!window.confirm(`Place a real phone call to ${who}? Sova dials the number in their record now.`)) return;
    void startCall('phone');
  }

  async function remove() {
    if (!window.confirm('Delete this patient? Their call history stays in the audit trail.')) return;
    setActionError(null);
    try {
      await api.deletePatient(p.id);
      navigate(wf ? `/w/${encodeURIComponent(wf)}/patients` : '/', { replace: true });
    } catch (e) {
      setActionError(e instanceof ApiError ? e : new ApiError(0, 'client', 'The patient could not be deleted.'));
    }
  }

  return (
    <section className="page" aria-labelledby="patient-title">
      {wf && fields && (
        <p className="crumbs">
          <Link to={`/w/${encodeURIComponent(wf)}/patients`}>← {workflowLabel(org, wf)} patients</Link>
        </p>
      )}
      <div className="page-head">
        <div>
          <p className="eyebrow">{wf ? workflowLabel(org, wf) : 'Patient'}</p>
          <h1 id="patient-title">{title}</h1>
          <p className="page-sub">
            Call status: <StatusBadge status={p.call_status} />
          </p>
        </div>
        <div className="actions">
          <button type="button" className="btn btn-primary" onClick={() => void startCall('text')} disabled={starting !== null || !fields}>
            {starting === 'text' ? 'Starting…' : 'Start test call'}
          </button>
          <button type="button" className="btn" onClick={() => void startCall('voice')} disabled={starting !== null || !fields}>
            {starting === 'voice' ? 'Starting…' : 'Start voice call'}
          </button>
          <button type="button" className="btn" onClick={placePhoneCall} disabled={starting !== null || !fields}>
            {starting === 'phone' ? 'Calling…' : 'Place phone call'}
          </button>
          <Link className="btn" to={`/patients/${encodeURIComponent(p.id)}/edit`}>
            Edit
          </Link>
          <button type="button" className="btn btn-danger-quiet" onClick={() => void remove()}>
            Delete
          </button>
        </div>
      </div>
      {flash && (
        <div className="alert alert-success" role="status">
          <p>{flash}</p>
        </div>
      )}
      {actionError && <ErrorAlert error={actionError} />}

      <div className="grid-2">
        <div className="card">
          <h2>Details</h2>
          {!fields ? (
            <p className="empty">This patient's workflow is not available.</p>
          ) : (
            <dl className="fields">
              {ordered.map((f) => (
                <div key={f.key} className="fields-row" data-key={f.key}>
                  <dt>{f.label}</dt>
                  <dd>{formatValue(f, p[f.key])}</dd>
                </div>
              ))}
              <div className="fields-row meta">
                <dt>Added</dt>
                <dd>{p.created_at ? formatDateTime(p.created_at) : '—'}</dd>
              </div>
              <div className="fields-row meta">
                <dt>Last changed</dt>
                <dd>{p.updated_at ? formatDateTime(p.updated_at) : '—'}</dd>
              </div>
            </dl>
          )}
        </div>

        <div className="card">
          <h2>Call history</h2>
          {sessions.error ? (
            <ErrorAlert error={sessions.error} onRetry={sessions.reload} />
          ) : sessions.loading && !sessions.data ? (
            <Loading label="Loading calls…" />
          ) : (sessions.data?.items.length ?? 0) === 0 ? (
            <p className="empty">No calls yet. Start a test call to hear how the agent handles this patient.</p>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Status</th>
                    <th scope="col">Duration</th>
                    <th scope="col">
                      <span className="sr-only">Open</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {sessions.data!.items.map((s) => (
                    <tr key={s.id}>
                      <td>{s.created_at ? formatDateTime(s.created_at) : '—'}</td>
                      <td>
                        <StatusBadge status={s.status} />
                      </td>
                      <td>{formatDuration(s.duration_seconds)}</td>
                      <td>
                        <Link to={`/sessions/${encodeURIComponent(s.id)}`}>View call</Link>
                      </td>
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
