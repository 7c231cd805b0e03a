// /account: the signed-in user's account: who they are, and changing their own password. The
// current password is checked by the server (wrong guesses are throttled like sign-ins); a
// change signs out every other place the user is signed in.
import { useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, sentence } from '../components/ErrorAlert';
import { newPasswordProblem, PasswordField, PASSWORD_MIN } from '../components/PasswordField';
import { usePageTitle } from '../components/usePageTitle';

export function AccountPage() {
  const { user } = useAuth();
  usePageTitle('Your account');
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const currentRef = useRef<HTMLInputElement>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const errs: Record<string, string> = {};
    if (!current) errs.current_password = 'Enter your current password.';
    const pw = newPasswordProblem(next);
    if (pw) errs.new_password = pw;
    else if (confirm !== next) errs.confirm = 'The two new passwords differ.';
    setErrors(errs);
    setProblem(null);
    setDone(false);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      await api.changePassword(current, next);
      setDone(true);
      setCurrent('');
      setNext('');
      setConfirm('');
    } catch (err) {
      const e2 = err instanceof ApiError ? err : new ApiError(0, 'client', 'Something went wrong.');
      if ((e2.status === 422 || e2.status === 403) && Object.keys(e2.fields).length) {
        setErrors(Object.fromEntries(Object.entries(e2.fields).map(([k, v]) => [k, sentence(v)])));
        if (e2.fields.current_password) {
          setCurrent('');
          currentRef.current?.focus();
        }
      } else {
        setProblem(e2);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="page page-form" aria-labelledby="account-title">
      <div className="page-head">
        <div>
          <p className="eyebrow">{user?.role === 'admin' ? 'Administrator' : 'Staff'}</p>
          <h1 id="account-title">Your account</h1>
          <p className="page-sub">
            {user?.name ? `${user.name} · ` : ''}
            {user?.email}
          </p>
        </div>
      </div>
      <div className="card narrow">
        <h2>Change your password</h2>
        {done && (
          <div className="alert alert-success" role="status">
            <p>Your password is changed. Every other place you were signed in is signed out.</p>
          </div>
        )}
        {problem && <ErrorAlert error={problem} />}
        <form onSubmit={submit} noValidate aria-busy={busy}>
          <input type="email" name="email" autoComplete="username" value={user?.email ?? ''} readOnly hidden />
          <PasswordField
            id="account-current"
            label="Current password"
            autoComplete="current-password"
            value={current}
            onChange={setCurrent}
            error={errors.current_password}
            inputRef={currentRef}
          />
          <PasswordField
            id="account-new"
            label="New password"
            hint={`At least ${PASSWORD_MIN} characters.`}
            autoComplete="new-password"
            value={next}
            onChange={setNext}
            error={errors.new_password}
          />
          <PasswordField
            id="account-confirm"
            label="New password again"
            autoComplete="new-password"
            value={confirm}
            onChange={setConfirm}
            error={errors.confirm}
          />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Changing…' : 'Change password'}
            </button>
          </div>
        </form>
      </div>
    </section>
  );
}
