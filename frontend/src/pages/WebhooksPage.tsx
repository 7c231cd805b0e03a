// /webhooks (administrators): the clinic's signed outbound webhooks, to feed its EHR. An
// administrator adds an endpoint (its signing secret is shown this once, with a copy button),
// sends it a test, disables, enables or deletes it, and reads the delivery log: each delivery's
// status, attempts, last answer and next retry, with a Replay button. Sova signs every delivery
// (README "Webhooks" says how a receiver checks it); the server's refusals are shown as they come.
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { useApi } from '../api/useApi';
import type { Webhook, WebhookDelivery, WebhookEvent } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { AdminOnly, asApiError, ShownOnce, useRowAction } from '../components/admin';
import { ErrorAlert, sentence } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';

const EVENTS: { key: WebhookEvent; label: string; hint: string }[] = [
  { key: 'call.ended', label: 'Call ended', hint: 'a call finished: its status, who ended it, how long it took' },
  { key: 'outcome.written', label: 'Outcome written', hint: 'the outcome fields a call wrote to its patient' },
  { key: 'campaign.finished', label: 'Campaign finished', hint: 'a campaign ended or was cancelled, with its results' },
];
const EVENT_LABEL: Record<string, string> = { ping: 'Test ping' };
for (const e of EVENTS) EVENT_LABEL[e.key] = e.label;

const STATUS: Record<string, { label: string; badge: string }> = {
  pending: { label: 'Pending', badge: 'badge-busy' },
  delivered: { label: 'Delivered', badge: 'badge-ok' },
  failed: { label: 'Failed', badge: 'badge-bad' },
  cancelled: { label: 'Cancelled', badge: 'badge-idle' },
};

function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** The new endpoint's signing secret, shown this once, with a copy button. */
function SecretBox({ secret, url, onClose }: { secret: string; url: string; onClose: () => void }) {
  return (
    <ShownOnce id="webhook-secret" label="Signing secret" value={secret} copyLabel="Copy secret" onClose={onClose}>
        <strong>Webhook added for {url}.</strong> This is its signing secret. Copy it into your receiver now: it
        is not shown again.
    </ShownOnce>
  );
}

function AddForm({ onAdded }: { onAdded: (secret: string, url: string) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<WebhookEvent[]>(EVENTS.map((e) => e.key));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  function toggle(key: WebhookEvent, on: boolean) {
    setEvents((list) => (on ? EVENTS.map((e) => e.key).filter((k) => k === key || list.includes(k)) : list.filter((k) => k !== key)));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setProblem(null);
    const mine: Record<string, string> = {};
    if (!url.trim()) mine.url = 'Enter the address of your receiver (https://…).';
    if (events.length === 0) mine.events = 'Choose at least one event.';
    setErrors(mine);
    if (Object.keys(mine).length) return;
    setBusy(true);
    try {
      const res = await api.createWebhook({ url: url.trim(), events, description: description.trim() || undefined });
      onAdded(res.secret, res.url);
      setUrl('');
      setDescription('');
      setEvents(EVENTS.map((x) => x.key));
    } catch (err) {
      const e2 = asApiError(err);
      if (e2.status === 422 && Object.keys(e2.fields).length) {
        // events.2 and the like belong to the events group
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(e2.fields)) out[k.startsWith('events') ? 'events' : k] = sentence(v);
        setErrors(out);
      } else {
        setProblem(e2);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card" onSubmit={submit} noValidate aria-busy={busy} aria-labelledby="webhook-add-title">
      <h2 id="webhook-add-title">Add a webhook</h2>
      <p className="hint users-note">
        Sova sends each event as a signed POST (header Sova-Signature) to your address. Deliveries that fail are
        tried again for about 8 hours.
      </p>
      {problem && <ErrorAlert error={problem} />}
      <div className="form-grid">
        <div className={`field${errors.url ? ' has-error' : ''}`}>
          <label htmlFor="webhook-url">Receiver URL</label>
          <input
            id="webhook-url"
            className="input"
            type="url"
            value={url}
            maxLength={2048}
            placeholder="https://ehr.example.com/sova"
            aria-invalid={Boolean(errors.url) || undefined}
            aria-describedby={errors.url ? 'webhook-url-error' : undefined}
            onChange={(e) => setUrl(e.target.value)}
          />
          {errors.url && (
            <p className="error-text" id="webhook-url-error">
              {errors.url}
            </p>
          )}
        </div>
        <div className={`field${errors.description ? ' has-error' : ''}`}>
          <label htmlFor="webhook-description">Description (optional)</label>
          <input
            id="webhook-description"
            className="input"
            value={description}
            maxLength={200}
            aria-invalid={Boolean(errors.description) || undefined}
            aria-describedby={errors.description ? 'webhook-description-error' : undefined}
            onChange={(e) => setDescription(e.target.value)}
          />
          {errors.description && (
            <p className="error-text" id="webhook-description-error">
              {errors.description}
            </p>
          )}
        </div>
      </div>
      <fieldset className={`field${errors.events ? ' has-error' : ''}`} aria-describedby={errors.events ? 'webhook-events-error' : undefined}>
        <legend>Events</legend>
        {EVENTS.map((ev) => (
          <label key={ev.key} className="checkbox-row">
            <input type="checkbox" checked={events.includes(ev.key)} onChange={(e) => toggle(ev.key, e.target.checked)} />{' '}
            {ev.label} <span className="hint">({ev.hint})</span>
          </label>
        ))}
        {errors.events && (
          <p className="error-text" id="webhook-events-error">
            {errors.events}
          </p>
        )}
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add webhook'}
        </button>
      </div>
    </form>
  );
}

function lastAnswer(d: WebhookDelivery): string {
  if (d.last_status_code != null) return `HTTP ${d.last_status_code}`;
  return d.last_error ?? '—';
}

function DeliveryLog({ endpoints, refreshKey }: { endpoints: Webhook[]; refreshKey: number }) {
  const [status, setStatus] = useState('');
  const [cursor, setCursor] = useState<string | null>(null);
  const [older, setOlder] = useState<WebhookDelivery[]>([]);
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [replayed, setReplayed] = useState<string | null>(null);
  const page = useApi((signal) => api.webhookDeliveries({ status, limit: 50 }, signal), [status, refreshKey]);
  const urlOf = new Map(endpoints.map((e) => [e.id, e.url]));

  async function more() {
    const from = cursor ?? page.data?.next_cursor;
    if (!from) return;
    try {
      const next = await api.webhookDeliveries({ status, limit: 50, cursor: from });
      setOlder((list) => [...list, ...next.items]);
      setCursor(next.next_cursor ?? null);
    } catch (err) {
      setProblem(asApiError(err));
    }
  }

  async function replay(d: WebhookDelivery) {
    setBusyId(d.id);
    setProblem(null);
    setReplayed(null);
    try {
      await api.replayDelivery(d.id);
      setReplayed(`${EVENT_LABEL[d.event] ?? d.event} queued again.`);
      setOlder([]);
      setCursor(null);
      page.reload();
    } catch (err) {
      setProblem(asApiError(err));
    } finally {
      setBusyId(null);
    }
  }

  const items = [...(page.data?.items ?? []), ...older];
  const hasMore = older.length ? Boolean(cursor) : Boolean(page.data?.next_cursor);

  return (
    <section aria-labelledby="webhook-log-title">
      <div className="page-head">
        <h2 id="webhook-log-title" className="users-section">
          Delivery log
        </h2>
        <div className="search-row">
          <label htmlFor="webhook-status">Status</label>
          <select
            id="webhook-status"
            className="input input-compact"
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setOlder([]);
              setCursor(null);
            }}
          >
            <option value="">All</option>
            {Object.entries(STATUS).map(([k, v]) => (
              <option key={k} value={k}>
                {v.label}
              </option>
            ))}
          </select>
          <button type="button" className="btn btn-small" onClick={page.reload}>
            Refresh
          </button>
        </div>
      </div>
      {replayed && (
        <div className="alert alert-success" role="status">
          <p>{replayed}</p>
        </div>
      )}
      {problem && <ErrorAlert error={problem} />}
      {page.error ? (
        <ErrorAlert error={page.error} onRetry={page.reload} />
      ) : page.loading && !page.data ? (
        <Loading label="Loading deliveries…" />
      ) : items.length === 0 ? (
        <p className="muted">No deliveries yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Queued</th>
                <th scope="col">Event</th>
                <th scope="col">Receiver</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Next retry</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => {
                const s = STATUS[d.status] ?? { label: d.status, badge: 'badge-idle' };
                const label = EVENT_LABEL[d.event] ?? d.event;
                return (
                  <tr key={d.id}>
                    <td>{when(d.created_at)}</td>
                    <td>
                      {label}
                      {d.replay_of ? ' (replay)' : ''}
                    </td>
                    <td>{urlOf.get(d.endpoint_id) ?? 'Deleted webhook'}</td>
                    <td>
                      <span className={`badge ${s.badge}`}>{s.label}</span>
                    </td>
                    <td>{d.attempts}</td>
                    <td title={d.last_error ?? undefined}>{lastAnswer(d)}</td>
                    <td>{d.status === 'pending' ? when(d.next_at) : '—'}</td>
                    <td>
                      <button
                        type="button"
                        className="btn btn-small"
                        disabled={busyId === d.id || !urlOf.has(d.endpoint_id)}
                        onClick={() => void replay(d)}
                      >
                        Replay <span className="sr-only">{label} of {when(d.created_at)}</span>
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {hasMore && (
        <div className="form-actions">
          <button type="button" className="btn" onClick={() => void more()}>
            Older deliveries
          </button>
        </div>
      )}
    </section>
  );
}

export function WebhooksPage() {
  const { user: me } = useAuth();
  usePageTitle('Webhooks');
  const admin = me?.role === 'admin';
  // staff are told the page is not theirs, and the server is not asked
  const list = useApi((signal) => (admin ? api.listWebhooks(signal) : Promise.resolve({ items: [] as Webhook[] })), [admin]);
  const [shown, setShown] = useState<{ secret: string; url: string } | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  // one change at a time; the endpoints and the log are read again after it
  const { busyId, problem, act } = useRowAction(() => {
    list.reload();
    setRefreshKey((k) => k + 1);
  });

  if (!admin) return <AdminOnly id="webhooks-title" title="Webhooks" manages="webhooks" />;

  const endpoints = list.data?.items ?? [];

  return (
    <section className="page" aria-labelledby="webhooks-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">Administration</p>
          <h1 id="webhooks-title">Webhooks</h1>
        </div>
      </div>
      {shown && <SecretBox {...shown} onClose={() => setShown(null)} />}
      {problem && <ErrorAlert error={problem} />}
      <AddForm
        onAdded={(secret, url) => {
          setShown({ secret, url });
          list.reload();
        }}
      />
      {list.error ? (
        <ErrorAlert error={list.error} onRetry={list.reload} />
      ) : list.loading && !list.data ? (
        <Loading label="Loading webhooks…" />
      ) : (
        <>
          <h2 className="users-section">Endpoints</h2>
          {endpoints.length === 0 ? (
            <p className="muted">No webhooks yet.</p>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Receiver</th>
                    <th scope="col">Events</th>
                    <th scope="col">Secret</th>
                    <th scope="col">Status</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {endpoints.map((w) => {
                    const busy = busyId === w.id;
                    return (
                      <tr key={w.id}>
                        <td>
                          {w.url}
                          {w.description ? <span className="hint"> ({w.description})</span> : null}
                        </td>
                        <td>{w.events.map((e) => EVENT_LABEL[e] ?? e).join(', ')}</td>
                        <td>
                          <code>{w.secret_hint}</code>
                        </td>
                        <td>
                          <span className={`badge ${w.enabled ? 'badge-ok' : 'badge-idle'}`}>
                            {w.enabled ? 'Enabled' : 'Disabled'}
                          </span>
                        </td>
                        <td>
                          <div className="actions">
                            <button
                              type="button"
                              className="btn btn-small"
                              disabled={busy || !w.enabled}
                              onClick={() => void act(w.id, () => api.testWebhook(w.id))}
                            >
                              Send test <span className="sr-only">to {w.url}</span>
                            </button>
                            <button
                              type="button"
                              className="btn btn-small"
                              disabled={busy}
                              onClick={() => void act(w.id, () => api.updateWebhook(w.id, { enabled: !w.enabled }))}
                            >
                              {w.enabled ? 'Disable' : 'Enable'} <span className="sr-only">{w.url}</span>
                            </button>
                            <button
                              type="button"
                              className="btn btn-small btn-danger-quiet"
                              disabled={busy}
                              onClick={() => {
                                if (window.confirm(`Delete the webhook to ${w.url}? Its deliveries stay in the log.`)) {
                                  void act(w.id, () => api.deleteWebhook(w.id));
                                }
                              }}
                            >
                              Delete <span className="sr-only">{w.url}</span>
                            </button>
                          </div>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
          <DeliveryLog endpoints={endpoints} refreshKey={refreshKey} />
        </>
      )}
    </section>
  );
}
