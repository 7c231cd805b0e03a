// /w/:workflow/patients/new: the form from the workflow's schema; on success, the new patient.
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { PatientForm } from '../components/PatientForm';
import { usePageTitle } from '../components/usePageTitle';
import { useWorkflowScope } from './WorkflowScope';

export function NewPatientPage() {
  const { workflow, label, fields } = useWorkflowScope();
  const navigate = useNavigate();
  usePageTitle(`${label} · Add patient`);
  return (
    <section className="page page-form" aria-labelledby="new-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="new-title">Add patient</h1>
        </div>
      </div>
      <div className="card">
        <PatientForm
          key={workflow}
          fields={fields}
          mode="create"
          submitLabel="Add patient"
          onSubmit={async (payload) => {
            const p = await api.createPatient(workflow, payload);
            navigate(`/patients/${encodeURIComponent(p.id)}`, { state: { flash: 'Patient added.' } });
          }}
          onCancel={() => navigate(`/w/${encodeURIComponent(workflow)}/patients`)}
        />
      </div>
    </section>
  );
}
