// /w/:workflow/patients/import: patients from a CSV file. The server reads the file first and
// writes nothing (mode validate): the page shows the rows as it read them, each error in its row
// and column, and only then imports, all of them (when none has an error) or only the good ones.
// Each file gets its own import_id, so "Try again" after a failure finishes the import without
// writing any patient twice. Afterwards: the list, or a campaign of exactly these patients (the
// selection NewCampaignPage takes from the list, in the route's state).
import { useState, type ChangeEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import type { FieldDef, PatientImportCheck, PatientImportError, PatientImportResult } from '../api/types';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';
import { sortedFields } from '../schema/fields';
import type { CampaignSelection } from './NewCampaignPage';
import { useWorkflowScope } from './WorkflowScope';

/** The server takes request bodies up to 1 MiB (the file's text in JSON). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Rows shown in the preview at once (rows with errors can be shown alone). */
export const PREVIEW_ROWS = 100;

type Mode = 'all_or_nothing' | 'good_rows';

function newImportId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `imp-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The header row of a file that fits the workflow: its fields' labels, in form order. */
export function templateCsv(fields: FieldDef[]): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return sortedFields(fields).map((f) => quote(f.label)).join(',') + '\r\n';
}

function FieldsHint({ fields }: { fields: FieldDef[] }) {
  const sorted = sortedFields(fields);
  return (
    <p className="hint">
      The first row names the columns, by label or key:{' '}
      {sorted.map((f, i) => (
        <span key={f.key}>
          {i > 0 && ', '}
          {f.label}
          {f.required && f.default === undefined ? ' (required)' : ''}
        </span>
      ))}
      . Dates as YYYY-MM-DD or MM/DD/YYYY, phone numbers with their country code (+1…), yes/no for checkboxes.
    </p>
  );
}

function Preview({ check, onlyErrors }: { check: PatientImportCheck; onlyErrors: boolean }) {
  const byRow = new Map<number, PatientImportError[]>();
  for (const e of check.errors) {
    if (e.row === 1) continue;
    const list = byRow.get(e.row) ?? [];
    list.push(e);
    byRow.set(e.row, list);
  }
  const rows = check.preview.filter((r) => !onlyErrors || byRow.has(r.row));
  const shown = rows.slice(0, PREVIEW_ROWS);
  const names = check.columns.map((c) => c.column);
  return (
    <>
      <div className="table-wrap">
        <table className="table import-table">
          <caption className="sr-only">The file's rows as read, with their errors</caption>
          <thead>
            <tr>
              <th scope="col">Row</th>
              {check.columns.map((c, i) => (
                <th scope="col" key={i} className={c.field ? undefined : 'cell-invalid'}>
                  {c.column || `Column ${i + 1}`}
                </th>
              ))}
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => {
              const errs = byRow.get(r.row) ?? [];
              const cellErr = (i: number) => errs.filter((e) => e.column === names[i]);
              const other = errs.filter((e) => !names.includes(e.column));
              return (
                <tr key={r.row} className={errs.length ? 'row-invalid' : undefined}>
                  <th scope="row">{r.row}</th>
                  {check.columns.map((_, i) => {
                    const here = cellErr(i);
                    return (
                      <td key={i} className={here.length ? 'cell-invalid' : undefined} aria-invalid={here.length ? true : undefined}>
                        <span className="cell-text">{r.cells[i] ?? ''}</span>
                        {here.map((e, k) => (
                          <span key={k} className="error-text cell-error">
                            {e.message}
                          </span>
                        ))}
                      </td>
                    );
                  })}
                  <td>
                    {other.map((e, k) => (
                      <span key={k} className="error-text cell-error">
                        {e.column}: {e.message}
                      </span>
                    ))}
                    {errs.length === 0 && <span className="muted">OK</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {rows.length > shown.length && (
        <p className="hint">
          Showing the first {shown.length} of {plural(rows.length, 'row')}.
        </p>
      )}
    </>
  );
}

export function ImportPatientsPage() {
  const { workflow, label, fields } = useWorkflowScope();
  usePageTitle(`${label} · Import patients`);
  const navigate = useNavigate();
  const listHref = `/w/${encodeURIComponent(workflow)}/patients`;

  const [file, setFile] = useState<{ name: string; text: string; importId: string } | null>(null);
  const [check, setCheck] = useState<PatientImportCheck | null>(null);
  const [checking, setChecking] = useState(false);
  const [importing, setImporting] = useState<Mode | null>(null);
  const [failed, setFailed] = useState<{ error: ApiError | string; mode?: Mode } | null>(null);
  const [result, setResult] = useState<PatientImportResult | null>(null);
  const [onlyErrors, setOnlyErrors] = useState(false);
  const [inputKey, setInputKey] = useState(0);

  function reset() {
    setFile(null);
    setCheck(null);
    setFailed(null);
    setResult(null);
    setOnlyErrors(false);
    setInputKey((k) => k + 1);
  }

  async function runCheck(text: string) {
    setChecking(true);
    setFailed(null);
    try {
      const c = await api.checkPatientImport(workflow, text);
      setCheck(c);
      setOnlyErrors(c.invalid > 0 && c.rows > PREVIEW_ROWS);
    } catch (err) {
      setFailed({ error: err instanceof ApiError ? err : 'The file could not be checked.' });
    } finally {
      setChecking(false);
    }
  }

  async function onFile(e: ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0];
    setCheck(null);
    setResult(null);
    setFailed(null);
    if (!f) {
      setFile(null);
      return;
    }
    const text = await f.text();
    // read as UTF-8: bytes that are not (Excel's plain "CSV" is Windows-1252) become U+FFFD
    if (text.includes('\uFFFD')) {
      setFile(null);
      setFailed({ error: `The file ${f.name} is not UTF-8 text: save it as “CSV UTF-8” and choose it again` });
      return;
    }
    if (new Blob([JSON.stringify({ csv: text, mode: 'validate' })]).size > MAX_BODY_BYTES) {
      setFile(null);
      setFailed({ error: `The file ${f.name} is too big to import at once (over 1 MiB): split it into smaller files` });
      return;
    }
    setFile({ name: f.name, text, importId: newImportId() });
    await runCheck(text);
  }

  async function runImport(mode: Mode) {
    if (!file) return;
    setImporting(mode);
    setFailed(null);
    try {
      setResult(await api.importPatients(workflow, { csv: file.text, mode, import_id: file.importId }));
    } catch (err) {
      setFailed({ error: err instanceof ApiError ? err : 'The import failed.', mode });
    } finally {
      setImporting(null);
    }
  }

  const fileErrors = check ? check.errors.filter((e) => e.row === 1) : [];
  const blocked = !check || fileErrors.length > 0 || check.rows === 0;
  const busy = checking || importing !== null;

  if (result) {
    const n = result.imported;
    const selection: CampaignSelection = { patientIds: result.patient_ids };
    return (
      <section className="page" aria-labelledby="import-title">
        <div className="page-head">
          <div>
            <p className="eyebrow">{label}</p>
            <h1 id="import-title">Import patients</h1>
          </div>
        </div>
        <div className="alert alert-success" role="status">
          <p>
            Imported {plural(n, 'patient')} from {file?.name ?? 'the file'}.
            {result.invalid > 0 && ` ${plural(result.invalid, 'row')} with errors ${result.invalid === 1 ? 'was' : 'were'} left out.`}
          </p>
        </div>
        <div className="form-actions">
          <Link className="btn" to={listHref}>
            See the patient list
          </Link>
          {n > 0 && (
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => navigate(`/w/${encodeURIComponent(workflow)}/campaigns/new`, { state: selection })}
            >
              Start a campaign with these {plural(n, 'patient')}
            </button>
          )}
          <button type="button" className="btn" onClick={reset}>
            Import another file
          </button>
        </div>
      </section>
    );
  }

  return (
    <section className="page" aria-labelledby="import-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="import-title">Import patients</h1>
          <p className="muted">Nothing is saved until you choose to import, after the check.</p>
        </div>
        <Link className="btn" to={listHref}>
          Back to the list
        </Link>
      </div>

      <div className="card">
        <div className="field">
          <label htmlFor="import-file">CSV file</label>
          <input
            key={inputKey}
            id="import-file"
            className="input"
            type="file"
            accept=".csv,text/csv"
            disabled={busy}
            onChange={(e) => void onFile(e)}
            aria-describedby="import-file-hint"
          />
          <div id="import-file-hint">
            <FieldsHint fields={fields} />
          </div>
          <p className="hint">
            <a href={`data:text/csv;charset=utf-8,${encodeURIComponent(templateCsv(fields))}`} download={`${workflow}_patients.csv`}>
              Download a template
            </a>{' '}
            with these columns. At most 2000 rows and 1 MiB per file.
          </p>
        </div>
      </div>

      {failed && (
        <ErrorAlert
          error={failed.error}
          onRetry={failed.mode ? () => void runImport(failed.mode as Mode) : file ? () => void runCheck(file.text) : undefined}
        />
      )}
      {checking && <Loading label="Checking the file…" />}
      {importing && <Loading label={`Importing… (this can take a few seconds for a large file)`} />}

      {check && file && !checking && (
        <div className="card">
          <h2>{file.name}</h2>
          <p role="status">
            {plural(check.rows, 'row')} of patients: {check.valid} ready to import
            {check.invalid > 0 ? `, ${check.invalid} with errors` : ''}.
            {check.errors_truncated && ' (Only the first 1000 errors are listed.)'}
          </p>
          {fileErrors.length > 0 && (
            <div className="alert alert-error" role="alert">
              <p>The file's columns do not fit {label}; nothing can be imported until they do:</p>
              <ul>
                {fileErrors.map((e, i) => (
                  <li key={i}>
                    <strong>{e.column}</strong>: {e.message}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {check.rows === 0 && <p className="alert alert-warning">The file has a header row but no patients.</p>}
          {check.invalid > 0 && fileErrors.length === 0 && (
            <div className="checkbox-row">
              <input
                id="only-errors"
                className="checkbox"
                type="checkbox"
                checked={onlyErrors}
                onChange={(e) => setOnlyErrors(e.target.checked)}
              />
              <label htmlFor="only-errors">Show only the rows with errors</label>
            </div>
          )}
          {check.rows > 0 && <Preview check={check} onlyErrors={onlyErrors} />}
          <div className="form-actions">
            <button
              type="button"
              className="btn btn-primary"
              disabled={blocked || check.invalid > 0 || busy}
              onClick={() => void runImport('all_or_nothing')}
            >
              Import all {plural(check.rows, 'patient')}
            </button>
            {check.invalid > 0 && check.valid > 0 && !blocked && (
              <button type="button" className="btn" disabled={busy} onClick={() => void runImport('good_rows')}>
                Import only the {plural(check.valid, 'good row')}
              </button>
            )}
            <button type="button" className="btn" disabled={busy} onClick={reset}>
              Choose another file
            </button>
          </div>
          {check.invalid > 0 && !blocked && (
            <p className="hint">Fix the rows with errors in the file and choose it again, or import only the good rows.</p>
          )}
        </div>
      )}
    </section>
  );
}
