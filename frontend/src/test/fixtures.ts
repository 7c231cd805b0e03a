// A made-up workflow schema with one field of every type, for the unit tests. Its keys are
// deliberately unlike any clinic's: the app must work from whatever the schema says.
import type { FieldDef, Organization } from '../api/types';

export const SCHEMA: FieldDef[] = [
  { key: 'alpha_text', label: 'Alpha Text', type: 'string', required: true, display_in_list: true, display_order: 2, max_length: 20 },
  { key: 'beta_day', label: 'Beta Day', type: 'date', required: true, display_in_list: true, display_order: 1 },
  { key: 'gamma_moment', label: 'Gamma Moment', type: 'datetime', required: false, display_in_list: false, display_order: 3 },
  {
    key: 'delta_choice',
    label: 'Delta Choice',
    type: 'select',
    options: ['Red', 'Green', 'Blue'],
    default: 'Green',
    required: false,
    display_in_list: true,
    display_order: 5,
  },
  { key: 'epsilon_amount', label: 'Epsilon Amount', type: 'number', min: 0, max: 10, required: false, display_in_list: false, display_order: 4 },
  { key: 'zeta_flag', label: 'Zeta Flag', type: 'boolean', default: false, required: false, display_in_list: true, display_order: 7 },
  { key: 'eta_line', label: 'Eta Line', type: 'phone', required: true, display_in_list: false, display_order: 6, help: 'Any reachable number' },
  { key: 'theta_mail', label: 'Theta Mail', type: 'email', required: false, display_in_list: false, display_order: 8 },
];

export const WF = 'wf_one';

export function orgWith(fields: FieldDef[], extra: Partial<Organization> = {}): Organization {
  return {
    id: 'org1',
    name: 'Test Clinic',
    slug: 'test_clinic',
    branding: { company_name: 'Test Clinic', primary_color: '#224466' },
    workflows: {
      [WF]: { enabled: true, label: 'Workflow One', patient_schema: { fields } },
      wf_off: { enabled: false, label: 'Switched Off', patient_schema: { fields } },
    },
    ...extra,
  };
}
