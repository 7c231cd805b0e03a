// CSV import in the web UI: a file is checked before anything is written, its errors shown in
// their rows and cells; "Import all" only for a file without errors, else "Import only the good
// rows"; a failure is retried with the same import_id; the imported patients go on to a campaign
// as the list's selection does.
import axe from 'axe-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { installSignedInApi, renderApp } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { templateCsv } from '../ImportPatientsPage';

const PATH = `/api/workflows/${WF}/patients/import`;
const TEXT = 'Alpha Text,Beta Day,Eta Line\r\nJo,2020-01-01,+15165550101\r\nAl,2020-13-01,+15165550102\r\nCy,2020-01-03,+15165550103\r\n';

const columns = [
  { column: 'Alpha Text', field: 'alpha_text' },
  { column: 'Beta Day', field: 'beta_day' },
  { column: 'Eta Line', field: 'eta_line' },
];
const preview = [
  { row: 2, cells: ['Jo', '2020-01-01', '+15165550101'] },
  { row: 3, cells: ['Al', '2020-13-01', '+15165550102'] },
  { row: 4, cells: ['Cy', '2020-01-03', '+15165550103'] },
];
const BAD_DATE = { row: 3, column: 'Beta Day', field: 'beta_day', message: 'must be a valid date (YYYY-MM-DD)' };

function check(errors: unknown[], valid: number, invalid: number) {
  return { rows: valid + invalid, valid, invalid, errors, errors_truncated: false, columns, preview };
}
function result(ids: string[], invalid = 0) {
  return { rows: ids.length + invalid, valid: ids.length, invalid, errors: [], errors_truncated: false,
    import_id: 'x', imported: ids.length, patient_ids: ids };
}

async function chooseFile(text: string, name = 'patients.csv') {
  const input = (await screen.findByLabelText('CSV file')) as HTMLInputElement;
  const file = new File([text], name, { type: 'text/csv' });
  fireEvent.change(input, { target: { files: [file] } });
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('CSV import', () => {
  it('checks the file first, shows each error in its cell, and imports only the good rows', async () => {
    const api = installSignedInApi(orgWith(SCHEMA), {
      [`GET /api/workflows/${WF}/patients`]: [200, { items: [], next_cursor: null }],
      [`POST ${PATH}`]: (body) => {
        const b = body as { mode: string };
        if (b.mode === 'validate') return [200, check([BAD_DATE], 2, 1)];
        return [201, result(['p1', 'p3'], 1)];
      },
      [`POST /api/workflows/${WF}/campaigns`]: [201, { id: 'c1', name: '', workflow: WF, status: 'running', total: 2,
        settings: { mode: 'simulated', concurrency: 5, calls_per_second: 1, retry: {} }, created_at: '2026-12-04T09:00:00Z' }],
      'GET /api/campaigns/c1': [404, { error: { code: 'not_found', message: 'campaign not found' } }],
    });
    const { container } = renderApp(`/w/${WF}/patients`);
    fireEvent.click(await screen.findByRole('link', { name: 'Import CSV' }));
    await chooseFile(TEXT);

    expect(await screen.findByText('3 rows of patients: 2 ready to import, 1 with errors.')).toBeTruthy();
    const sent = api.calls.filter((c) => c.method === 'POST' && c.path === PATH);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toEqual({ csv: TEXT, mode: 'validate' });

    // the error sits in row 3's Beta Day cell, and nothing else is marked
    const table = screen.getByRole('table');
    const row3 = within(table).getByRole('rowheader', { name: '3' }).closest('tr') as HTMLElement;
    const bad = within(row3).getByText('must be a valid date (YYYY-MM-DD)').closest('td') as HTMLElement;
    expect(bad.getAttribute('aria-invalid')).toBe('true');
    expect(bad.textContent).toContain('2020-13-01');
    expect(container.querySelectorAll('td[aria-invalid="true"]')).toHaveLength(1);

    expect((screen.getByRole('button', { name: 'Import all 3 patients' }) as HTMLButtonElement).disabled).toBe(true);
    const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.map((v) => v.id)).toEqual([]);

    fireEvent.click(screen.getByRole('button', { name: 'Import only the 2 good rows' }));
    expect(await screen.findByText(/Imported 2 patients from patients\.csv\. 1 row with errors was left out\./)).toBeTruthy();
    const imported = api.calls.filter((c) => c.method === 'POST' && c.path === PATH)[1].body as Record<string, unknown>;
    expect(imported.mode).toBe('good_rows');
    expect(imported.csv).toBe(TEXT);
    expect(typeof imported.import_id).toBe('string');
    expect(screen.getByRole('link', { name: 'See the patient list' }).getAttribute('href')).toBe(`/w/${WF}/patients`);

    // a campaign of exactly these patients, as a selection from the list is
    fireEvent.click(screen.getByRole('button', { name: 'Start a campaign with these 2 patients' }));
    expect(await screen.findByText('Calls 2 selected patients.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Start campaign' }));
    await waitFor(() => expect(api.calls.some((c) => c.path === `/api/workflows/${WF}/campaigns`)).toBe(true));
    const campaign = api.calls.find((c) => c.path === `/api/workflows/${WF}/campaigns`)?.body as Record<string, unknown>;
    expect(campaign.patient_ids).toEqual(['p1', 'p3']);
  });

  it('imports all of a file without errors, and retries a failure with the same import_id', async () => {
    let attempts = 0;
    const api = installSignedInApi(orgWith(SCHEMA), {
      [`POST ${PATH}`]: (body) => {
        const b = body as { mode: string };
        if (b.mode === 'validate') return [200, check([], 3, 0)];
        attempts += 1;
        if (attempts === 1) {
          return [503, { error: { code: 'database_unavailable', message: 'the database failed after 1 of 3 patients were written; send the same request again (the same import_id) to finish without duplicates' },
            rows: 3, valid: 3, invalid: 0, errors: [], errors_truncated: false, import_id: 'x', imported: 1, patient_ids: ['p1'] }];
        }
        return [201, result(['p1', 'p2', 'p3'])];
      },
    });
    renderApp(`/w/${WF}/patients/import`);
    await chooseFile(TEXT);
    const all = await screen.findByRole('button', { name: 'Import all 3 patients' });
    expect((all as HTMLButtonElement).disabled).toBe(false);
    expect(screen.queryByRole('button', { name: /Import only/ })).toBeNull();
    fireEvent.click(all);
    expect(await screen.findByText(/The database failed after 1 of 3 patients were written/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('Imported 3 patients from patients.csv.')).toBeTruthy();
    const imports = api.calls.filter((c) => c.method === 'POST' && (c.body as { mode: string }).mode !== 'validate');
    expect(imports).toHaveLength(2);
    const [first, second] = imports.map((c) => c.body as Record<string, unknown>);
    expect(first.mode).toBe('all_or_nothing');
    expect(second.mode).toBe('all_or_nothing');
    expect(second.import_id).toBe(first.import_id);
  });

  it('lists the file\'s column problems and offers no import', async () => {
    installSignedInApi(orgWith(SCHEMA), {
      [`POST ${PATH}`]: [200, {
        ...check([
          { row: 1, column: 'Colour', field: null, message: 'no field of this workflow is called that' },
          { row: 1, column: 'Eta Line', field: 'eta_line', message: 'a required field has no column' },
        ], 0, 3),
        columns: [{ column: 'Alpha Text', field: 'alpha_text' }, { column: 'Beta Day', field: 'beta_day' }, { column: 'Colour' }],
      }],
    });
    renderApp(`/w/${WF}/patients/import`);
    await chooseFile(TEXT);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Colour: no field of this workflow is called that');
    expect(alert.textContent).toContain('Eta Line: a required field has no column');
    expect((screen.getByRole('button', { name: 'Import all 3 patients' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByRole('button', { name: /Import only/ })).toBeNull();
  });

  it('refuses a file over the server\'s limit without sending it', async () => {
    const api = installSignedInApi(orgWith(SCHEMA), {});
    renderApp(`/w/${WF}/patients/import`);
    await chooseFile('Alpha Text\r\n' + 'x'.repeat(1024 * 1024 + 10), 'huge.csv');
    expect(await screen.findByText(/The file huge\.csv is too big to import at once/)).toBeTruthy();
    expect(api.calls.some((c) => c.path === PATH)).toBe(false);
  });

  it('refuses a file that is not UTF-8 without sending it', async () => {
    const api = installSignedInApi(orgWith(SCHEMA), {});
    renderApp(`/w/${WF}/patients/import`);
    const input = (await screen.findByLabelText('CSV file')) as HTMLInputElement;
    // "José" in Windows-1252
    const file = new File([new Uint8Array([0x61, 0x0d, 0x0a, 0x4a, 0x6f, 0x73, 0xe9, 0x0d, 0x0a])], 'latin.csv', { type: 'text/csv' });
    fireEvent.change(input, { target: { files: [file] } });
    expect(await screen.findByText(/The file latin\.csv is not UTF-8 text/)).toBeTruthy();
    expect(api.calls.some((c) => c.path === PATH)).toBe(false);
  });

  it('offers a template with the workflow\'s columns in form order', () => {
    expect(templateCsv(SCHEMA)).toBe(
      'Beta Day,Alpha Text,Gamma Moment,Epsilon Amount,Delta Choice,Eta Line,Zeta Flag,Theta Mail\r\n',
    );
  });
});
