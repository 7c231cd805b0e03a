// /users (administrators): the clinic's users and open invitations. An administrator invites
// (a one-time link to pass on: Sova sends no email), changes roles, disables and enables, and
// makes password reset links. The server refuses what would lock the clinic out (disabling or
// demoting oneself, the last active administrator); its reasons are shown as they come.
import { useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import { useApi } from '../api/useApi';
import type { Invite, User } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { AdminOnly, asApiError, ShownOnce, useRowAction } from '../components/admin';
import { ErrorAlert, sentence } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { usePageTitle } from '../components/usePageTitle';

const ROLE_LABEL: Record<string, string> = { admin: 'Administrator', staff: 'Staff' };

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A one-time link to pass on, in full, with a copy button. */
function LinkBox({ title, text, link, onClose }: { title: string; text: string; link: string; onClose: () => void }) {
  return (
    <ShownOnce id="one-time-link" label="One-time link" value={window.location.origin + link} copyLabel="Copy link" onClose={onClose}>
      <strong>{title}</strong> {text}
    </ShownOnce>
  );
}

function InviteForm({ onInvited }: { onInvited: (email: string, link: string) => void }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<'staff' | 'admin'>('staff');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setProblem(null);
    if (!email.trim()) {
      setErrors({ email: 'Enter the email address of the person to invite.' });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const res = await api.inviteUser({ email: email.trim(), name: name.trim() || undefined, role });
      onInvited(res.invite.email, res.link);
      setEmail('');
      setName('');
      setRole('staff');
    } catch (err) {
      const e2 = asApiError(err);
      if ((e2.status === 422 || e2.status === 409) && Object.keys(e2.fields).length) {
        setErrors(Object.fromEntries(Object.entries(e2.fields).map(([k, v]) => [k, sentence(v)])));
      } else {
        setProblem(e2);
      }
    } finally {
      setBusy(false);
    }
  }

  const field = (id: string, key: string, label: string, input: ReactNode) => (
    <div className={`field${errors[key] ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {input}
      {errors[key] && (
        <p className="error-text" id={`${id}-error`}>
          {errors[key]}
        </p>
      )}
    </div>
  );
  const a11y = (id: string, key: string) => ({
    id,
    'aria-invalid': Boolean(errors[key]) || undefined,
    'aria-describedby': errors[key] ? `${id}-error` : undefined,
  });

  return (
    <form className="card" onSubmit={submit} noValidate aria-busy={busy} aria-labelledby="invite-title">
      <h2 id="invite-title">Invite someone</h2>
      <p className="hint users-note">
        Sova sends no email: you get a link that works once, for 72 hours. Send it to them yourself.
      </p>
      {problem && <ErrorAlert error={problem} />}
      <div className="form-grid">
        {field('invite-email', 'email', 'Email',
          <input {...a11y('invite-email', 'email')} className="input" type="email" value={email} maxLength={254}
            onChange={(e) => setEmail(e.target.value)} />)}
        {field('invite-name', 'name', 'Name (optional)',
          <input {...a11y('invite-name', 'name')} className="input" value={name} maxLength={100}
            onChange={(e) => setName(e.target.value)} />)}
        {field('invite-role', 'role', 'Role',
          <select {...a11y('invite-role', 'role')} className="input" value={role}
            onChange={(e) => setRole(e.target.value === 'admin' ? 'admin' : 'staff')}>
            <option value="staff">Staff</option>
            <option value="admin">Administrator</option>
          </select>)}
      </div>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Creating the link…' : 'Create invitation link'}
        </button>
      </div>
    </form>
  );
}

interface Shown {
  title: string;
  text: string;
  link: string;
}

export function UsersPage() {
  const { user: me } = useAuth();
  usePageTitle('Users');
  const admin = me?.role === 'admin';
  // staff are told the page is not theirs, and the server is not asked
  const list = useApi(
    (signal) => (admin ? api.listUsers(signal) : Promise.resolve({ items: [] as User[], invites: [] as Invite[] })),
    [admin],
  );
  const [shown, setShown] = useState<Shown | null>(null);
  // one change at a time; the list is read again after it, and a refusal is shown above the table
  const { busyId, problem, act } = useRowAction(() => list.reload());

  if (!admin) return <AdminOnly id="users-title" title="Users" manages="users" />;

  const resetLink = (u: User) =>
    act(u.id, async () => {
      const r = await api.passwordResetLink(u.id);
      setShown({
        title: `Password reset link for ${u.name || u.email}.`,
        text: 'It works once, for 24 hours, and replaces any earlier one. Send it to them yourself: Sova sends no email.',
        link: r.link,
      });
    });

  const users = list.data?.items ?? [];
  const invites: Invite[] = list.data?.invites ?? [];

  return (
    <section className="page" aria-labelledby="users-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">Administration</p>
          <h1 id="users-title">Users</h1>
        </div>
      </div>
      {shown && <LinkBox {...shown} onClose={() => setShown(null)} />}
      {problem && <ErrorAlert error={problem} />}
      <InviteForm
        onInvited={(email, link) => {
          setShown({ title: `Invitation for ${email}.`, text: 'It works once, for 72 hours. Send it to them yourself: Sova sends no email.', link });
          list.reload();
        }}
      />
      {list.error ? (
        <ErrorAlert error={list.error} onRetry={list.reload} />
      ) : list.loading && !list.data ? (
        <Loading label="Loading users…" />
      ) : (
        <>
          <h2 className="users-section">People</h2>
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => {
                  const self = u.id === me.id;
                  const busy = busyId === u.id;
                  const label = u.name || u.email;
                  return (
                    <tr key={u.id}>
                      <td>{u.name ? `${u.name}${self ? ' (you)' : ''}` : self ? 'You' : '—'}</td>
                      <td>{u.email}</td>
                      <td>
                        {self ? (
                          ROLE_LABEL[u.role ?? ''] ?? u.role
                        ) : (
                          <select
                            className="input input-compact"
                            aria-label={`Role of ${label}`}
                            value={u.role}
                            disabled={busy}
                            onChange={(e) => void act(u.id, () => api.updateUser(u.id, { role: e.target.value as 'admin' | 'staff' }))}
                          >
                            <option value="staff">Staff</option>
                            <option value="admin">Administrator</option>
                          </select>
                        )}
                      </td>
                      <td>
                        <span className={`badge ${u.status === 'active' ? 'badge-ok' : 'badge-idle'}`}>
                          {u.status === 'active' ? 'Active' : 'Disabled'}
                        </span>
                      </td>
                      <td>
                        <div className="actions">
                          {!self && (
                            <button
                              type="button"
                              className={`btn btn-small${u.status === 'active' ? ' btn-danger-quiet' : ''}`}
                              disabled={busy}
                              onClick={() =>
                                void act(u.id, () => api.updateUser(u.id, { status: u.status === 'active' ? 'disabled' : 'active' }))
                              }
                            >
                              {u.status === 'active' ? 'Disable' : 'Enable'}{' '}
                              <span className="sr-only">{label}</span>
                            </button>
                          )}
                          {self ? (
                            <Link className="btn btn-small" to="/account">
                              Change your password
                            </Link>
                          ) : (
                            <button type="button" className="btn btn-small" disabled={busy} onClick={() => void resetLink(u)}>
                              Reset link <span className="sr-only">for {label}</span>
                            </button>
                          )}
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <h2 className="users-section">Open invitations</h2>
          {invites.length === 0 ? (
            <p className="muted">No open invitations.</p>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Role</th>
                    <th scope="col">Link works until</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {invites.map((i) => (
                    <tr key={i.id}>
                      <td>
                        {i.email}
                        {i.name ? ` (${i.name})` : ''}
                      </td>
                      <td>{ROLE_LABEL[i.role] ?? i.role}</td>
                      <td>{i.expired ? 'Expired: invite again for a new link' : when(i.expires_at)}</td>
                      <td>
                        <button
                          type="button"
                          className="btn btn-small btn-danger-quiet"
                          disabled={busyId === i.id}
                          onClick={() => void act(i.id, () => api.revokeInvite(i.id))}
                        >
                          Revoke <span className="sr-only">invitation of {i.email}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
