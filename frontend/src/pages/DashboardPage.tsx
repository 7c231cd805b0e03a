// /w/:workflow/dashboard: the workflow's patients counted by call status and by each select
// field (labels and option order from the schema), and calls per day.
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import { DailyChart } from '../components/DailyChart';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';
import { CALL_STATUS_LABELS, selectFields, statusLabel, statusTone } from '../schema/fields';
import { useWorkflowScope } from './WorkflowScope';

/** Counts as rows in a given order (then any other keys), with their share of the total. */
export function countRows(counts: Record<string, number>, order: string[] = []): { key: string; n: number }[] {
  const rows = order.filter((k) => k in counts).map((k) => ({ key: k, n: counts[k] }));
  for (const k of Object.keys(counts).sort()) if (!order.includes(k)) rows.push({ key: k, n: counts[k] });
  return rows;
}

const STATUS_ORDER = CALL_STATUS_LABELS;

function CountBars({ rows, total, tone }: { rows: { key: string; n: number }[]; total: number; tone?: (k: string) => string }) {
  if (rows.length === 0) return <p className="empty">No data.</p>;
  return (
    <table className="count-table">
      <tbody>
        {rows.map((r) => {
          const pct = total > 0 ? Math.round((r.n / total) * 100) : 0;
          return (
            <tr key={r.key}>
              <th scope="row">{r.key}</th>
              <td className="count-bar-cell">
                <span className="count-track" aria-hidden="true">
                  <span className={`count-fill ${tone ? 'tone-' + tone(r.key) : ''}`} style={{ width: `${pct}%` }} />
                </span>
              </td>
              <td className="count-n">
                {r.n}
                <span className="muted"> ({pct}%)</span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function DashboardPage() {
  const { workflow, label, fields } = useWorkflowScope();
  usePageTitle(`${label} · Dashboard`);
  const dash = useApi((signal) => api.dashboard(workflow, signal), [workflow]);
  const d = dash.data;

  return (
    <section className="page" aria-labelledby="dash-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="dash-title">Dashboard</h1>
        </div>
        <button type="button" className="btn" onClick={dash.reload} disabled={dash.loading}>
          Refresh
        </button>
      </div>
      {dash.error ? (
        <ErrorAlert error={dash.error} onRetry={dash.reload} />
      ) : !d ? (
        <Loading label="Loading the dashboard…" />
      ) : (
        <>
          <div className="stat-row">
            <div className="stat">
              <span className="stat-n">{d.total}</span>
              <span className="stat-label">patients</span>
            </div>
            {countRows(d.by_call_status, STATUS_ORDER)
              .slice(0, 4)
              .map((r) => (
                <div className="stat" key={r.key}>
                  <span className="stat-n">{r.n}</span>
                  <span className="stat-label">{statusLabel(r.key).toLowerCase()}</span>
                </div>
              ))}
          </div>

          <div className="card">
            <h2>Calls per day</h2>
            {d.calls_per_day && Object.keys(d.calls_per_day).length > 0 ? (
              <DailyChart perDay={d.calls_per_day} />
            ) : (
              <p className="empty">No data.</p>
            )}
          </div>

          <div className="grid-2">
            <div className="card">
              <h2>By call status</h2>
              <CountBars rows={countRows(d.by_call_status, STATUS_ORDER)} total={d.total} tone={(k) => statusTone(k)} />
            </div>
            {selectFields(fields)
              .filter((f) => d.by_field[f.key])
              .map((f) => (
                <div className="card" key={f.key} data-key={f.key}>
                  <h2>By {f.label}</h2>
                  <CountBars rows={countRows(d.by_field[f.key], [...(f.options ?? []), '(none)'])} total={d.total} />
                </div>
              ))}
          </div>
        </>
      )}
    </section>
  );
}
