// /invite/:token and /reset/:token, reachable without signing in: a one-time link an
// administrator passed on. The page says whom the link is for, takes a new password (and, for an
// invitation, the name), and then sends the user to sign in. A used, revoked, expired or other
// clinic's link is one plain "not valid" (the server does not say which).
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import { useApi } from '../api/useApi';
import type { LinkInfo } from '../api/types';
import { useTenant } from '../tenant/TenantContext';
import { BrandMark } from '../components/BrandMark';
import { ErrorAlert, sentence } from '../components/ErrorAlert';
import { Loading } from '../components/Loading';
import { newPasswordProblem, PasswordField, PASSWORD_MIN } from '../components/PasswordField';
import { usePageTitle } from '../components/usePageTitle';

type Kind = 'invite' | 'reset';

const TEXT = {
  invite: {
    title: 'Join your clinic',
    load: 'Opening your invitation…',
    invalid: 'This invitation link is not valid',
    lead: (i: LinkInfo) => `You are invited to ${i.clinic} as ${i.email}. Choose your password to make your account.`,
    submit: 'Create my account',
    busy: 'Creating your account…',
    done: 'Your account is ready. Sign in with your email and the password you chose.',
  },
  reset: {
    title: 'Set a new password',
    load: 'Opening your reset link…',
    invalid: 'This password reset link is not valid',
    lead: (i: LinkInfo) => `Choose a new password for ${i.email} at ${i.clinic}. Every place you are signed in will be signed out.`,
    submit: 'Set my password',
    busy: 'Setting your password…',
    done: 'Your password is set. Sign in with it now.',
  },
};

function LinkForm({ kind, token, info }: { kind: Kind; token: string; info: LinkInfo }) {
  const text = TEXT[kind];
  const [name, setName] = useState(info.name ?? '');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const errs: Record<string, string> = {};
    const pw = newPasswordProblem(password);
    if (pw) errs.password = pw;
    else if (confirm !== password) errs.confirm = 'The two passwords differ.';
    if (kind === 'invite' && !name.trim()) errs.name = 'Enter your name.';
    setErrors(errs);
    setProblem(null);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      if (kind === 'invite') await api.acceptInvite(token, { password, name: name.trim() });
      else await api.resetPassword(token, password);
      setDone(true);
    } catch (err) {
      const e2 = err instanceof ApiError ? err : new ApiError(0, 'client', 'Something went wrong.');
      if (e2.status === 422 && Object.keys(e2.fields).length) {
        setErrors(Object.fromEntries(Object.entries(e2.fields).map(([k, v]) => [k, sentence(v)])));
      } else {
        setProblem(e2);
      }
    } finally {
      setBusy(false);
    }
  }

  if (done) {
    return (
      <>
        <div className="alert alert-success" role="status">
          <p>{text.done}</p>
        </div>
        <Link className="btn btn-primary btn-block" to="/login">
          Sign in
        </Link>
      </>
    );
  }
  return (
    <>
      <p>{text.lead(info)}</p>
      {problem && <ErrorAlert error={problem} />}
      <form onSubmit={submit} noValidate aria-busy={busy}>
        {/* for the browser's password manager: the account this password is for */}
        <input type="email" name="email" autoComplete="username" value={info.email} readOnly hidden />
        {kind === 'invite' && (
          <div className={`field${errors.name ? ' has-error' : ''}`}>
            <label htmlFor="link-name">Your name</label>
            <input
              id="link-name"
              className="input"
              autoComplete="name"
              value={name}
              maxLength={100}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={Boolean(errors.name) || undefined}
              aria-describedby={errors.name ? 'link-name-error' : undefined}
            />
            {errors.name && (
              <p className="error-text" id="link-name-error">
                {errors.name}
              </p>
            )}
          </div>
        )}
        <PasswordField
          id="link-password"
          label="New password"
          hint={`At least ${PASSWORD_MIN} characters. A few unrelated words make a strong one.`}
          autoComplete="new-password"
          value={password}
          onChange={setPassword}
          error={errors.password}
        />
        <PasswordField
          id="link-confirm"
          label="New password again"
          autoComplete="new-password"
          value={confirm}
          onChange={setConfirm}
          error={errors.confirm}
        />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? text.busy : text.submit}
        </button>
      </form>
    </>
  );
}

function AccountLinkPage({ kind }: { kind: Kind }) {
  const { token = '' } = useParams();
  const tenant = useTenant();
  const text = TEXT[kind];
  usePageTitle(text.title);
  const info = useApi(
    (signal) => (kind === 'invite' ? api.showInvite(token, signal) : api.showPasswordReset(token, signal)),
    [kind, token],
  );
  return (
    <main className="center-page login-page" id="main">
      <div className="card narrow">
        <div className="login-brand">
          <BrandMark branding={tenant.branding} name={tenant.name} />
        </div>
        <h1>{text.title}</h1>
        {info.loading ? (
          <Loading label={text.load} />
        ) : info.error?.status === 404 ? (
          <div className="alert alert-error" role="alert">
            <p>
              <strong>{text.invalid}.</strong> It may have been used already, replaced by a newer link, or expired. Ask
              your clinic's administrator for a new one.
            </p>
          </div>
        ) : info.error ? (
          <ErrorAlert error={info.error} onRetry={info.reload} />
        ) : info.data ? (
          <LinkForm kind={kind} token={token} info={info.data} />
        ) : null}
      </div>
      <p className="footnote">
        <Link to="/login">Sign in instead</Link>
      </p>
    </main>
  );
}

export function InvitePage() {
  return <AccountLinkPage kind="invite" />;
}

export function ResetPasswordPage() {
  return <AccountLinkPage kind="reset" />;
}
