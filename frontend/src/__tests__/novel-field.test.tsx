// DESIGN principle 1: a field added to a workflow's schema in the database shows up in the list
// and in the form with no code change. The app below is the real one (routes, pages, API client)
// against a stand-in API whose schema has a field no code has ever heard of.
import { describe, expect, it } from 'vitest';
import { fireEvent, screen, within } from '@testing-library/react';
import { installSignedInApi, renderApp } from '../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../test/fixtures';
import type { FieldDef } from '../api/types';

const suffix = Math.random().toString(36).slice(2, 8);
const NOVEL: FieldDef[] = [
  { key: `novel_${suffix}`, label: `Novel Label ${suffix}`, type: 'select', options: ['One', 'Two'], default: 'Two', display_in_list: true, display_order: 0, required: true },
  { key: `other_${suffix}`, label: `Other Label ${suffix}`, type: 'number', min: 1, max: 5, display_in_list: false, display_order: 99 },
];

function setup() {
  return installSignedInApi(orgWith([...SCHEMA, ...NOVEL]), {
    [`GET /api/workflows/${WF}/patients`]: [
      200,
      { items: [{ id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Someone', [NOVEL[0].key]: 'One' }], next_cursor: null },
    ],
    [`POST /api/workflows/${WF}/patients`]: (body) => [201, { id: 'p9', workflow: WF, ...(body as object) }],
    'GET /api/patients/p9': [200, { id: 'p9', workflow: WF }],
    'GET /api/patients/p9/sessions': [200, { items: [] }],
  });
}

describe('a field added to the schema', () => {
  it('is a column of the patient list, in its display_order, with its values', async () => {
    setup();
    renderApp(`/w/${WF}/patients`);
    const table = await screen.findByRole('table');
    const heads = within(table).getAllByRole('columnheader').map((h) => h.textContent);
    expect(heads[0]).toBe('Select'); // the campaign's checkboxes, then the schema's columns
    expect(heads[1]).toBe(NOVEL[0].label);
    expect(heads).not.toContain(NOVEL[1].label);
    expect(within(table).getAllByRole('row')[1].textContent).toContain('One');
  });

  it('is an input of the add-patient form, and is sent with the rest', async () => {
    const api = setup();
    renderApp(`/w/${WF}/patients/new`);
    const select = (await screen.findByLabelText(new RegExp(`^${NOVEL[0].label}`))) as HTMLSelectElement;
    expect(select.tagName).toBe('SELECT');
    expect(select.value).toBe('Two');
    const num = screen.getByLabelText(new RegExp(`^${NOVEL[1].label}`)) as HTMLInputElement;
    expect(num.type).toBe('number');

    fireEvent.change(screen.getByLabelText(/^Alpha Text/), { target: { value: 'Someone' } });
    fireEvent.change(screen.getByLabelText(/^Beta Day/), { target: { value: '2001-02-03' } });
    fireEvent.change(screen.getByLabelText(/^Eta Line/), { target: { value: '+15165551234' } });
    fireEvent.change(num, { target: { value: '9' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add patient' }));
    expect(await screen.findByText('Must be at most 5.')).toBeTruthy();

    fireEvent.change(num, { target: { value: '4' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add patient' }));
    await screen.findByRole('heading', { level: 1, name: /Patient|Someone|—/ });
    const post = api.calls.find((c) => c.method === 'POST');
    expect(post?.path).toBe(`/api/workflows/${WF}/patients`);
    expect(post?.auth).toBe('Bearer test-token');
    expect(post?.body).toMatchObject({ [NOVEL[0].key]: 'Two', [NOVEL[1].key]: 4 });
  });
});
