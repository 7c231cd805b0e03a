// Sign-in for the clinic at this address. Errors are said plainly: a wrong email or password,
// an account of another clinic, and login throttling (429) each get their own message.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router-dom';
import { ApiError } from '../api/client';
import { useAuth } from '../auth/AuthContext';
import { useTenant } from '../tenant/TenantContext';
import { usePageTitle } from '../components/usePageTitle';
import { BrandMark } from '../components/BrandMark';
import { sentence } from '../components/ErrorAlert';

interface Problem {
  title: string;
  text: string;
}

function describe(err: unknown): Problem {
  if (!(err instanceof ApiError)) return { title: 'Sign-in failed', text: 'Something went wrong. Try again.' };
  switch (err.status) {
    case 401:
      return { title: 'Wrong email or password', text: 'Check both and try again.' };
    case 403:
      return { title: 'Wrong clinic', text: sentence(err.message) };
    case 429:
      return {
        title: 'Too many failed sign-ins',
        text: 'For security, sign-in is paused for 15 minutes. Wait, then try again.',
      };
    case 0:
      return { title: 'No connection', text: sentence(err.message) };
    default:
      return { title: 'Sign-in failed', text: sentence(err.message) };
  }
}

export function LoginPage() {
  const tenant = useTenant();
  const auth = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  usePageTitle('Sign in');

  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const emailRef = useRef<HTMLInputElement>(null);
  const alertRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    emailRef.current?.focus();
  }, []);

  if (auth.status === 'signed_in') return <Navigate to={from && from !== '/login' ? from : '/'} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const errs: Record<string, string> = {};
    if (!email.trim()) errs.email = 'Enter your email address.';
    if (!password) errs.password = 'Enter your password.';
    setFieldErrors(errs);
    setProblem(null);
    if (Object.keys(errs).length) return;
    setBusy(true);
    try {
      await auth.login(email.trim(), password);
      navigate(from && from !== '/login' ? from : '/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && Object.keys(err.fields).length) {
        setFieldErrors(Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, sentence(v)])));
      } else {
        setProblem(describe(err));
        setPassword('');
        requestAnimationFrame(() => alertRef.current?.focus());
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="center-page login-page" id="main">
      <div className="card narrow">
        <div className="login-brand">
          <BrandMark branding={tenant.branding} name={tenant.name} />
        </div>
        <h1>Sign in</h1>
        {auth.signedOutReason && !problem && (
          <div className="alert alert-info" role="status">
            <p>{sentence(auth.signedOutReason)}</p>
          </div>
        )}
        {problem && (
          <div className="alert alert-error" role="alert" tabIndex={-1} ref={alertRef}>
            <p>
              <strong>{problem.title}.</strong> {problem.text}
            </p>
          </div>
        )}
        <form onSubmit={submit} noValidate aria-busy={busy}>
          <div className={`field${fieldErrors.email ? ' has-error' : ''}`}>
            <label htmlFor="login-email">Email</label>
            <input
              ref={emailRef}
              id="login-email"
              className="input"
              type="email"
              name="email"
              autoComplete="username"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              aria-invalid={Boolean(fieldErrors.email) || undefined}
              aria-describedby={fieldErrors.email ? 'login-email-error' : undefined}
              required
            />
            {fieldErrors.email && (
              <p className="error-text" id="login-email-error">
                {fieldErrors.email}
              </p>
            )}
          </div>
          <div className={`field${fieldErrors.password ? ' has-error' : ''}`}>
            <label htmlFor="login-password">Password</label>
            <input
              id="login-password"
              className="input"
              type="password"
              name="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={Boolean(fieldErrors.password) || undefined}
              aria-describedby={fieldErrors.password ? 'login-password-error' : undefined}
              required
            />
            {fieldErrors.password && (
              <p className="error-text" id="login-password-error">
                {fieldErrors.password}
              </p>
            )}
          </div>
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p className="hint">Forgot your password? Your clinic's administrator can give you a reset link.</p>
      </div>
      <p className="footnote">Sova · outbound calls for clinics</p>
    </main>
  );
}
