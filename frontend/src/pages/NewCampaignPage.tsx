// /w/:workflow/campaigns/new: the patients (the ones ticked in the list, passed in the route's
// state, or all that match the list's search, ?q=), then how to call them: simulated or phone,
// the caps, the calling window and the retries. The server checks everything again and answers
// 422 with a message per field, shown beside the field it is about.
import { useState, type FormEvent } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import type { CampaignRequest } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { usePageTitle } from '../components/usePageTitle';
import { RESULT_LABEL } from './campaignText';
import { useWorkflowScope } from './WorkflowScope';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_LABEL: Record<string, string> = {
  mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun',
};
const RETRYABLE = ['no_answer', 'busy', 'voicemail', 'failed', 'incomplete'] as const;
type Retryable = (typeof RETRYABLE)[number];
// the server's defaults (lua/sova/campaign/policy.lua), shown so staff see what they get
const DEFAULT_RETRY: Record<Retryable, { attempts: number; every_minutes: number }> = {
  no_answer: { attempts: 3, every_minutes: 60 },
  busy: { attempts: 3, every_minutes: 10 },
  voicemail: { attempts: 2, every_minutes: 240 },
  failed: { attempts: 2, every_minutes: 30 },
  incomplete: { attempts: 2, every_minutes: 60 },
};

export interface CampaignSelection {
  patientIds: string[];
}

function FieldError({ id, text }: { id: string; text?: string }) {
  if (!text) return null;
  return (
    <p className="error-text" id={id}>
      {text}
    </p>
  );
}

export function NewCampaignPage() {
  const { workflow, label, fields } = useWorkflowScope();
  usePageTitle(`${label} · New campaign`);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const location = useLocation();
  const picked = (location.state as CampaignSelection | null)?.patientIds ?? [];
  const q = params.get('q') ?? '';

  const [name, setName] = useState('');
  const [mode, setMode] = useState<'simulated' | 'phone'>('simulated');
  const [concurrency, setConcurrency] = useState(5);
  const [cps, setCps] = useState(1);
  const [useWindow, setUseWindow] = useState(true);
  const [days, setDays] = useState<string[]>(['mon', 'tue', 'wed', 'thu', 'fri']);
  const [start, setStart] = useState('09:00');
  const [end, setEnd] = useState('17:00');
  const [zone, setZone] = useState<'org' | 'zone' | 'field'>('org');
  const [zoneName, setZoneName] = useState('');
  const [zoneField, setZoneField] = useState('');
  const [retry, setRetry] = useState(DEFAULT_RETRY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const textFields = fields.filter((f) => f.type === 'string');

  function body(): CampaignRequest {
    const b: CampaignRequest = {
      mode,
      concurrency,
      calls_per_second: cps,
      retry,
      ...(picked.length > 0 ? { patient_ids: picked } : { filter: { q } }),
    };
    if (name.trim()) b.name = name.trim();
    if (useWindow) {
      b.window = {
        days: DAYS.filter((d) => days.includes(d)),
        start,
        end,
        time_zone: zone === 'org' ? 'org' : zone === 'zone' ? zoneName.trim() : { field: zoneField },
      };
    }
    return b;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setErrors({});
    setFormError(null);
    try {
      const c = await api.createCampaign(workflow, body());
      navigate(`/campaigns/${encodeURIComponent(c.id)}`);
    } catch (err) {
      const ae = err instanceof ApiError ? err : new ApiError(0, 'client', 'Something went wrong.');
      setErrors(ae.fields);
      setFormError(ae);
    } finally {
      setSaving(false);
    }
  }

  const who =
    picked.length > 0
      ? `${picked.length} selected patient${picked.length === 1 ? '' : 's'}`
      : q
        ? `every patient matching “${q}”`
        : `every patient of ${label}`;
  const err = (k: string) => errors[k];
  const described = (k: string) => (errors[k] ? `err-${k.replace(/\./g, '-')}` : undefined);

  return (
    <section className="page" aria-labelledby="new-campaign-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="new-campaign-title">New campaign</h1>
          <p className="muted">Calls {who}.</p>
        </div>
      </div>
      {formError && <ErrorAlert error={formError} />}
      {(errors.patient_ids || errors.filter) && (
        <p className="alert alert-error" role="alert">
          {errors.patient_ids ?? errors.filter}
        </p>
      )}
      <form className="card campaign-form" onSubmit={(e) => void onSubmit(e)} noValidate>
        <div className="field">
          <label htmlFor="c-name">Name (optional)</label>
          <input id="c-name" className="input" value={name} maxLength={120} onChange={(e) => setName(e.target.value)} />
        </div>

        <fieldset className="field">
          <legend>Calls</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'simulated'} onChange={() => setMode('simulated')} />{' '}
            Simulated (the phone simulator answers: try a campaign without a carrier)
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'phone'} onChange={() => setMode('phone')} /> Phone (real
            calls through the workflow's Twilio number)
          </label>
          <FieldError id="err-mode" text={err('mode')} />
        </fieldset>

        <div className="form-grid">
          <div className="field">
            <label htmlFor="c-concurrency">Calls at once</label>
            <input
              id="c-concurrency"
              className="input input-number"
              type="number"
              min={1}
              max={50}
              value={concurrency}
              aria-invalid={!!err('concurrency')}
              aria-describedby={described('concurrency')}
              onChange={(e) => setConcurrency(Number(e.target.value))}
            />
            <FieldError id="err-concurrency" text={err('concurrency')} />
          </div>
          <div className="field">
            <label htmlFor="c-cps">Calls started per second</label>
            <input
              id="c-cps"
              className="input input-number"
              type="number"
              min={0.1}
              max={10}
              step={0.1}
              value={cps}
              aria-invalid={!!err('calls_per_second')}
              aria-describedby={described('calls_per_second')}
              onChange={(e) => setCps(Number(e.target.value))}
            />
            <p className="hint">Carriers allow about one a second from one number.</p>
            <FieldError id="err-calls_per_second" text={err('calls_per_second')} />
          </div>
        </div>

        <fieldset className="field">
          <legend>Calling window</legend>
          <label>
            <input type="checkbox" checked={useWindow} onChange={(e) => setUseWindow(e.target.checked)} /> Only call
            within these days and hours
          </label>
          {useWindow && (
            <>
              <div className="day-picks" role="group" aria-label="Days">
                {DAYS.map((d) => (
                  <label key={d}>
                    <input
                      type="checkbox"
                      checked={days.includes(d)}
                      onChange={(e) => setDays((ds) => (e.target.checked ? [...ds, d] : ds.filter((x) => x !== d)))}
                    />{' '}
                    {DAY_LABEL[d]}
                  </label>
                ))}
              </div>
              <FieldError id="err-window-days" text={err('window.days')} />
              <div className="form-grid">
                <div className="field">
                  <label htmlFor="c-start">From</label>
                  <input id="c-start" className="input" type="time" value={start} onChange={(e) => setStart(e.target.value)} />
                  <FieldError id="err-window-start" text={err('window.start')} />
                </div>
                <div className="field">
                  <label htmlFor="c-end">Until</label>
                  <input id="c-end" className="input" type="time" value={end} onChange={(e) => setEnd(e.target.value)} />
                  <FieldError id="err-window-end" text={err('window.end')} />
                </div>
              </div>
              <div className="field">
                <label htmlFor="c-zone">In the time zone of</label>
                <select
                  id="c-zone"
                  className="input"
                  value={zone}
                  onChange={(e) => setZone(e.target.value as 'org' | 'zone' | 'field')}
                >
                  <option value="org">the clinic</option>
                  <option value="zone">a time zone I name</option>
                  {textFields.length > 0 && <option value="field">each patient (a patient field)</option>}
                </select>
                {zone === 'zone' && (
                  <input
                    aria-label="Time zone (IANA name)"
                    className="input"
                    placeholder="America/Chicago"
                    value={zoneName}
                    onChange={(e) => setZoneName(e.target.value)}
                  />
                )}
                {zone === 'field' && (
                  <select
                    aria-label="Patient field holding the time zone"
                    className="input"
                    value={zoneField}
                    onChange={(e) => setZoneField(e.target.value)}
                  >
                    <option value="">Choose a field…</option>
                    {textFields.map((f) => (
                      <option key={f.key} value={f.key}>
                        {f.label}
                      </option>
                    ))}
                  </select>
                )}
                <FieldError id="err-window-tz" text={err('window.time_zone') ?? err('window.time_zone.field')} />
              </div>
            </>
          )}
        </fieldset>

        <fieldset className="field">
          <legend>Retries</legend>
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">When a call ends</th>
                  <th scope="col">Attempts in all</th>
                  <th scope="col">Minutes apart</th>
                </tr>
              </thead>
              <tbody>
                {RETRYABLE.map((r) => (
                  <tr key={r}>
                    <th scope="row">{RESULT_LABEL[r]}</th>
                    <td>
                      <input
                        aria-label={`${RESULT_LABEL[r]}: attempts in all`}
                        className="input input-compact"
                        type="number"
                        min={1}
                        max={10}
                        value={retry[r].attempts}
                        aria-invalid={!!err(`retry.${r}.attempts`)}
                        onChange={(e) =>
                          setRetry((x) => ({ ...x, [r]: { ...x[r], attempts: Number(e.target.value) } }))
                        }
                      />
                      <FieldError id={`err-retry-${r}-attempts`} text={err(`retry.${r}.attempts`)} />
                    </td>
                    <td>
                      <input
                        aria-label={`${RESULT_LABEL[r]}: minutes apart`}
                        className="input input-compact"
                        type="number"
                        min={1}
                        value={retry[r].every_minutes}
                        aria-invalid={!!err(`retry.${r}.every_minutes`)}
                        onChange={(e) =>
                          setRetry((x) => ({ ...x, [r]: { ...x[r], every_minutes: Number(e.target.value) } }))
                        }
                      />
                      <FieldError id={`err-retry-${r}-every`} text={err(`retry.${r}.every_minutes`)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </fieldset>

        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={saving}>
            {saving ? 'Starting…' : 'Start campaign'}
          </button>
        </div>
      </form>
    </section>
  );
}
