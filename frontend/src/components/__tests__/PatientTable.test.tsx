// The list's columns come from the schema: display_in_list fields, in display_order, then the
// call status.
import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { PatientTable } from '../PatientTable';
import { listColumns } from '../../schema/fields';
import { SCHEMA } from '../../test/fixtures';
import type { FieldDef, Patient } from '../../api/types';

const rows: Patient[] = [
  {
    id: 'p1',
    workflow: 'wf_one',
    call_status: 'Completed',
    created_at: '2026-11-30T09:00:00.000Z',
    updated_at: '2026-11-30T09:05:00.000Z',
    alpha_text: 'First',
    beta_day: '2020-05-06',
    delta_choice: 'Blue',
    zeta_flag: true,
    eta_line: '+15165551234',
  },
  {
    id: 'p2',
    workflow: 'wf_one',
    call_status: 'Not Started',
    created_at: '2026-11-30T08:00:00.000Z',
    updated_at: '2026-11-30T08:00:00.000Z',
    alpha_text: 'Second',
    beta_day: '2021-01-02',
    zeta_flag: false,
  },
];

function headers(): string[] {
  return within(screen.getByRole('table'))
    .getAllByRole('columnheader')
    .map((th) => th.textContent ?? '');
}

function renderTable(fields: FieldDef[] = SCHEMA, patients = rows) {
  render(
    <MemoryRouter>
      <PatientTable fields={fields} patients={patients} />
    </MemoryRouter>,
  );
}

describe('listColumns', () => {
  it('keeps display_in_list fields only, sorted by display_order', () => {
    const want = SCHEMA.filter((f) => f.display_in_list)
      .sort((a, b) => a.display_order! - b.display_order!)
      .map((f) => f.key);
    expect(listColumns(SCHEMA).map((f) => f.key)).toEqual(want);
  });
  it('puts fields without display_order last, in schema order', () => {
    const fields: FieldDef[] = [
      { key: 'c', label: 'C', type: 'string', display_in_list: true },
      { key: 'b', label: 'B', type: 'string', display_in_list: true, display_order: 9 },
      { key: 'a', label: 'A', type: 'string', display_in_list: true },
    ];
    expect(listColumns(fields).map((f) => f.key)).toEqual(['b', 'c', 'a']);
  });
});

describe('PatientTable', () => {
  it('has a column per listed field in display_order, then the call status', () => {
    renderTable();
    expect(headers()).toEqual([...listColumns(SCHEMA).map((f) => f.label), 'Call status']);
    for (const f of SCHEMA.filter((x) => !x.display_in_list)) expect(headers()).not.toContain(f.label);
  });

  it('shows values as people read them, and links each row to its patient', () => {
    renderTable();
    const [first, second] = within(screen.getByRole('table')).getAllByRole('row').slice(1);
    const cells = within(first).getAllByRole('cell').map((c) => c.textContent);
    // beta_day (order 1), alpha_text (2), delta_choice (5), zeta_flag (7), status
    expect(cells).toEqual(['May 6, 2020', 'First', 'Blue', 'Yes', 'Completed']);
    expect(within(second).getAllByRole('cell').map((c) => c.textContent)).toEqual([
      'Jan 2, 2021',
      'Second',
      '—',
      'No',
      'Not Started',
    ]);
    expect(within(first).getByRole('link').getAttribute('href')).toBe('/patients/p1');
  });

  it('follows the schema when display_in_list and display_order change', () => {
    const changed = SCHEMA.map((f) =>
      f.key === 'eta_line' ? { ...f, display_in_list: true, display_order: 0 } : f.key === 'alpha_text' ? { ...f, display_in_list: false } : f,
    );
    renderTable(changed);
    expect(headers()).toEqual(['Eta Line', 'Beta Day', 'Delta Choice', 'Zeta Flag', 'Call status']);
  });
});
