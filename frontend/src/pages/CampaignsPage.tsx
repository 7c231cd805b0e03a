// /w/:workflow/campaigns: the workflow's campaigns, newest first, each a link to its progress.
import { Link } from 'react-router-dom';
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';
import { STATUS_LABEL, when } from './campaignText';
import { useWorkflowScope } from './WorkflowScope';

export function CampaignsPage() {
  const { workflow, label } = useWorkflowScope();
  usePageTitle(`${label} · Campaigns`);
  const list = useApi((signal) => api.listCampaigns(workflow, signal), [workflow]);
  const items = list.data?.items ?? [];
  const base = `/w/${encodeURIComponent(workflow)}`;
  return (
    <section className="page" aria-labelledby="campaigns-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="campaigns-title">Campaigns</h1>
        </div>
        <Link className="btn btn-primary" to={`${base}/campaigns/new`}>
          New campaign
        </Link>
      </div>
      {list.error ? (
        <ErrorAlert error={list.error} onRetry={list.reload} />
      ) : list.loading && !list.data ? (
        <Loading label="Loading campaigns…" />
      ) : items.length === 0 ? (
        <div className="empty">
          <p>No campaigns yet. Select patients in the list, or call all that match a search.</p>
          <Link className="btn" to={`${base}/patients`}>
            Go to patients
          </Link>
        </div>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Campaign</th>
                <th scope="col">Status</th>
                <th scope="col">Patients</th>
                <th scope="col">Mode</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={`/campaigns/${encodeURIComponent(c.id)}`}>{c.name ?? 'Campaign'}</Link>
                  </td>
                  <td>{STATUS_LABEL[c.status] ?? c.status}</td>
                  <td>{c.total}</td>
                  <td>{c.settings.mode === 'simulated' ? 'Simulated' : 'Phone'}</td>
                  <td>{when(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
