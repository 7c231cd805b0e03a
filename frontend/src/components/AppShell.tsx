// The frame of every signed-in page: the clinic's brand, the workflow in use and its pages,
// the signed-in user, their account, the clinic's users and webhooks (administrators) and
// "Sign out"; the idle guard; the page in <main>.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { Link, NavLink, Navigate, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useAuth } from '../auth/AuthContext';
import { IdleGuard } from '../auth/IdleGuard';
import { useTenant } from '../tenant/TenantContext';
import { enabledWorkflows, workflowLabel } from '../schema/fields';
import { BrandMark } from './BrandMark';
import { Loading } from './Loading';

// ---- the workflow the page is about (from the URL, or from the patient or session shown) ----

const WorkflowCtx = createContext<{ workflow: string | null; set: (wf: string | null) => void }>({
  workflow: null,
  set: () => undefined,
});

/** Tells the frame which workflow the page shows (null: none, e.g. the picker). */
export function useScopeWorkflow(workflow: string | null | undefined): void {
  const { set } = useContext(WorkflowCtx);
  useEffect(() => {
    if (workflow !== undefined) set(workflow);
  }, [workflow, set]);
}

// ---- guard ----

export function RequireAuth({ children }: { children: ReactNode }) {
  const auth = useAuth();
  const location = useLocation();
  if (auth.status === 'checking') return <Loading label="Signing you in…" full />;
  if (auth.status === 'unreachable') {
    return (
      <main className="center-page" id="main">
        <div className="card narrow">
          <h1>Cannot reach Sova</h1>
          <p>The server cannot be reached right now.</p>
          <button type="button" className="btn btn-primary" onClick={auth.retry}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (auth.status !== 'signed_in') {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}

// ---- the frame ----

export function AppShell() {
  const tenant = useTenant();
  const { user, org, logout } = useAuth();
  const navigate = useNavigate();
  const [workflow, setWorkflow] = useState<string | null>(null);
  const workflows = enabledWorkflows(org);

  const signOut = async () => {
    await logout('You signed out.');
    navigate('/login', { replace: true });
  };

  return (
    <WorkflowCtx.Provider value={{ workflow, set: setWorkflow }}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          {/* named by its visible text (an aria-label would hide the initials from voice control) */}
          <Link to="/" className="brand-link">
            <BrandMark branding={tenant.branding} name={tenant.name} compact />
            <span className="sr-only">: start page</span>
          </Link>
          {workflows.length > 0 && (
            <div className="wf-switch">
              <label htmlFor="wf-select" className="sr-only">
                Workflow
              </label>
              <select
                id="wf-select"
                className="input input-compact"
                value={workflow ?? ''}
                onChange={(e) => e.target.value && navigate(`/w/${encodeURIComponent(e.target.value)}/patients`)}
              >
                {!workflow && <option value="">Choose a workflow…</option>}
                {workflows.map((w) => (
                  <option key={w.key} value={w.key}>
                    {w.label}
                  </option>
                ))}
              </select>
            </div>
          )}
          <div className="topbar-user">
            <span className="user-email" title={user?.email}>
              {user?.name || user?.email}
            </span>
            {user?.role === 'admin' && (
              <NavLink to="/users" className="btn btn-on-brand btn-small">
                Users
              </NavLink>
            )}
            {user?.role === 'admin' && (
              <NavLink to="/webhooks" className="btn btn-on-brand btn-small">
                Webhooks
              </NavLink>
            )}
            <NavLink to="/account" className="btn btn-on-brand btn-small">
              Account
            </NavLink>
            <button type="button" className="btn btn-on-brand btn-small" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
        {workflow && (
          <nav className="subnav" aria-label={`${workflowLabel(org, workflow)} pages`}>
            <div className="subnav-inner">
              <NavLink end to={`/w/${encodeURIComponent(workflow)}/patients`}>
                Patients
              </NavLink>
              <NavLink to={`/w/${encodeURIComponent(workflow)}/patients/new`}>Add patient</NavLink>
              <NavLink to={`/w/${encodeURIComponent(workflow)}/dashboard`}>Dashboard</NavLink>
              <NavLink to={`/w/${encodeURIComponent(workflow)}/campaigns`}>Campaigns</NavLink>
            </div>
          </nav>
        )}
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
      <IdleGuard />
    </WorkflowCtx.Provider>
  );
}
