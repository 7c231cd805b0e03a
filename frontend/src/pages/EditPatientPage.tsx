// /patients/:id/edit: the same form, filled in; only changed fields are sent (PATCH).
import { useMemo } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { PatientForm } from '../components/PatientForm';
import { usePageTitle } from '../components/usePageTitle';
import { schemaOf, valuesFromPatient, workflowLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';

export function EditPatientPage() {
  const { id = '' } = useParams();
  const { org } = useAuth();
  const navigate = useNavigate();
  const patient = useApi((signal) => api.getPatient(id, signal), [id]);
  const wf = patient.data?.workflow;
  const fields = schemaOf(org, wf);
  useScopeWorkflow(fields ? wf : undefined);
  usePageTitle('Edit patient');
  const initial = useMemo(
    () => (fields && patient.data ? valuesFromPatient(fields, patient.data) : undefined),
    [fields, patient.data],
  );

  if (patient.error?.isNotFound) return <NotFoundPage what="patient" />;
  if (patient.error) return <ErrorAlert error={patient.error} onRetry={patient.reload} />;
  if (patient.loading || !patient.data) return <Loading label="Loading patient…" />;
  if (!fields || !wf) return <NotFoundPage what="workflow" />;
  const back = `/patients/${encodeURIComponent(id)}`;

  return (
    <section className="page page-form" aria-labelledby="edit-title">
      <p className="crumbs">
        <Link to={back}>← Back to patient</Link>
      </p>
      <div className="page-head">
        <div>
          <p className="eyebrow">{workflowLabel(org, wf)}</p>
          <h1 id="edit-title">Edit patient</h1>
        </div>
      </div>
      <div className="card">
        <PatientForm
          key={patient.data.id}
          fields={fields}
          mode="update"
          initial={initial}
          submitLabel="Save changes"
          onSubmit={async (payload) => {
            await api.updatePatient(id, payload);
            navigate(back, { state: { flash: 'Changes saved.' } });
          }}
          onNothingChanged={() => navigate(back, { state: { flash: 'Nothing changed.' } })}
          onCancel={() => navigate(back)}
        />
      </div>
    </section>
  );
}
