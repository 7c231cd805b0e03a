// The start page: the clinic's enabled workflows. Choosing one puts it in the URL
// (/w/<workflow>/patients), so a tab can be reloaded or shared within the clinic.
import { Link } from 'react-router-dom';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { usePageTitle } from '../components/usePageTitle';
import { enabledWorkflows } from '../schema/fields';

export function WorkflowPickerPage() {
  const { org } = useAuth();
  useScopeWorkflow(null);
  usePageTitle('Workflows');
  const workflows = enabledWorkflows(org);
  return (
    <section className="page" aria-labelledby="picker-title">
      <h1 id="picker-title">Choose a workflow</h1>
      {workflows.length === 0 ? (
        <p className="empty">This clinic has no workflow enabled yet. Ask your administrator.</p>
      ) : (
        <ul className="wf-cards">
          {workflows.map((w) => {
            const n = org?.workflows[w.key]?.patient_schema?.fields?.length ?? 0;
            return (
              <li key={w.key}>
                <Link className="wf-card" to={`/w/${encodeURIComponent(w.key)}/patients`}>
                  <span className="wf-card-title">{w.label}</span>
                  <span className="wf-card-meta">
                    {n} patient field{n === 1 ? '' : 's'} · patients, test calls, dashboard
                  </span>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
