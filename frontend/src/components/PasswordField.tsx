// A labelled password input with its error beside it, and the rules every new password meets
// (the server's: lua/sova/api/user_tokens.lua password_problem).
import type { Ref } from 'react';

export const PASSWORD_MIN = 12;

/** Why a new password would be refused, or null. Characters, not bytes, as the server counts. */
export function newPasswordProblem(pw: string): string | null {
  if (!pw) return 'Enter a password.';
  if ([...pw].length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  if (!pw.trim()) return 'Use more than spaces.';
  return null;
}

interface Props {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  hint?: string;
  autoComplete: 'current-password' | 'new-password';
  inputRef?: Ref<HTMLInputElement>;
}

export function PasswordField({ id, label, value, onChange, error, hint, autoComplete, inputRef }: Props) {
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      <input
        ref={inputRef}
        id={id}
        className="input"
        type="password"
        autoComplete={autoComplete}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={Boolean(error) || undefined}
        aria-describedby={described || undefined}
        maxLength={1024}
        required
      />
      {error && (
        <p className="error-text" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}
