// /w/:workflow/patients: the workflow's patients, newest first. Columns come from the schema;
// search (?q= in the URL) and cursor pagination come from the API.
import { useEffect, useEffectEvent, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import { ErrorAlert } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { PatientTable } from '../components/PatientTable';
import { usePageTitle } from '../components/usePageTitle';
import { useWorkflowScope } from './WorkflowScope';

export const PAGE_SIZE = 25;

export function PatientListPage() {
  const { workflow, label, fields } = useWorkflowScope();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const [draft, setDraft] = useState(q);
  // cursors[i] opens page i (null: the first page); a new search or workflow starts over
  const scope = `${workflow}\u0000${q}`;
  const [paging, setPaging] = useState<{ scope: string; cursors: (string | null)[] }>({ scope, cursors: [null] });
  if (paging.scope !== scope) setPaging({ scope, cursors: [null] });
  const cursors = paging.scope === scope ? paging.cursors : [null];
  const setCursors = (f: (c: (string | null)[]) => (string | null)[]) =>
    setPaging((p) => ({ scope: p.scope, cursors: f(p.cursors) }));
  const page = cursors.length - 1;
  usePageTitle(`${label} · Patients`);
  const navigate = useNavigate();
  // patients ticked for a campaign, across pages and searches of this workflow
  const [picked, setPicked] = useState<{ workflow: string; ids: Set<string> }>({ workflow, ids: new Set() });
  if (picked.workflow !== workflow) setPicked({ workflow, ids: new Set() });
  const selected = picked.workflow === workflow ? picked.ids : new Set<string>();
  function toggle(id: string, on: boolean) {
    setPicked((p) => {
      const ids = new Set(p.ids);
      if (on) ids.add(id);
      else ids.delete(id);
      return { workflow: p.workflow, ids };
    });
  }
  const campaignBase = `/w/${encodeURIComponent(workflow)}/campaigns/new`;

  // another workflow or a query from the address: the search box shows it
  const [draftScope, setDraftScope] = useState(scope);
  if (draftScope !== scope) {
    setDraftScope(scope);
    if (draft.trim() !== q) setDraft(q);
  }

  // search as you type, a moment after the last key
  const search = useEffectEvent((v: string) => setQuery(v));
  useEffect(() => {
    if (draft.trim() === q) return;
    const t = window.setTimeout(() => search(draft), 350);
    return () => window.clearTimeout(t);
  }, [draft, q]);

  function setQuery(v: string) {
    const next = new URLSearchParams(params);
    if (v.trim()) next.set('q', v.trim());
    else next.delete('q');
    setParams(next, { replace: true });
  }

  const cursor = cursors[page];
  const list = useApi(
    (signal) => api.listPatients(workflow, { q: q || undefined, cursor, limit: PAGE_SIZE }, signal),
    [workflow, q, cursor],
  );

  function onSearch(e: FormEvent) {
    e.preventDefault();
    setQuery(draft);
  }

  const items = list.data?.items ?? [];
  const next = list.data?.next_cursor ?? null;
  // the search stopped at what one request reads: these are the matches among newer patients
  const partial = list.data?.search_partial === true && next !== null;

  return (
    <section className="page" aria-labelledby="list-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{label}</p>
          <h1 id="list-title">Patients</h1>
        </div>
        <div className="actions">
          <Link className="btn" to={`/w/${encodeURIComponent(workflow)}/patients/import`}>
            Import CSV
          </Link>
          <Link className="btn btn-primary" to={`/w/${encodeURIComponent(workflow)}/patients/new`}>
            Add patient
          </Link>
        </div>
      </div>

      <form className="search" role="search" onSubmit={onSearch}>
        <label htmlFor="patient-search">Search patients</label>
        <div className="search-row">
          <input
            id="patient-search"
            className="input"
            type="search"
            value={draft}
            maxLength={100}
            onChange={(e) => setDraft(e.target.value)}
            placeholder="Name, phone, ID…"
          />
          <button type="submit" className="btn">
            Search
          </button>
        </div>
      </form>

      {partial && !list.error && (
        <p className="alert alert-info" role="status">
          The search for <strong>“{q}”</strong> stopped partway down the list
          {items.length === 0 ? ', with no match so far' : ''}: <em>Older →</em> searches the older patients.
        </p>
      )}

      {items.length > 0 && (
        <div className="campaign-bar" role="group" aria-label="Campaign">
          {selected.size > 0 ? (
            <>
              <span>{selected.size} selected</span>
              <button
                type="button"
                className="btn btn-primary"
                onClick={() => navigate(campaignBase, { state: { patientIds: [...selected] } })}
              >
                Call the selected ({selected.size})
              </button>
              <button type="button" className="btn" onClick={() => setPicked({ workflow, ids: new Set() })}>
                Clear
              </button>
            </>
          ) : (
            <Link className="btn" to={q ? `${campaignBase}?q=${encodeURIComponent(q)}` : campaignBase}>
              {q ? 'Call all that match' : 'Call all patients'}
            </Link>
          )}
        </div>
      )}

      {list.error ? (
        <ErrorAlert error={list.error} onRetry={list.reload} />
      ) : list.loading && !list.data ? (
        <Loading label="Loading patients…" />
      ) : items.length === 0 && !partial ? (
        <div className="empty">
          {q ? (
            <p>
              No patients match <strong>“{q}”</strong>.
            </p>
          ) : page > 0 ? (
            <p>No more patients.</p>
          ) : (
            <>
              <p>No patients in {label} yet.</p>
              <Link className="btn btn-primary" to={`/w/${encodeURIComponent(workflow)}/patients/new`}>
                Add the first patient
              </Link>
            </>
          )}
        </div>
      ) : items.length === 0 ? null : (
        <div aria-busy={list.loading}>
          <PatientTable
            fields={fields}
            patients={items}
            caption={`${label} patients`}
            selected={selected}
            onToggle={toggle}
          />
        </div>
      )}

      {(page > 0 || next) && (
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            className="btn"
            disabled={page === 0 || list.loading}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            ← Newer
          </button>
          <span className="pager-info">Page {page + 1}</span>
          <button
            type="button"
            className="btn"
            disabled={!next || list.loading}
            onClick={() => next && setCursors((c) => [...c, next])}
          >
            Older →
          </button>
        </nav>
      )}
    </section>
  );
}
