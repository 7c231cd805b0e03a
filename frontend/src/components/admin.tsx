// What the administrators' pages (users, webhooks) share: the notice a staff member sees in
// their place, and row actions run one at a time with the last refusal kept to show.
import { useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';

export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'client', 'Something went wrong.');
}

/** In place of an administrators' page, for staff: what the page is, and whose. */
export function AdminOnly({ id, title, manages }: { id: string; title: string; manages: string }) {
  return (
    <section className="page" aria-labelledby={id}>
      <h1 id={id}>{title}</h1>
      <div className="alert alert-info" role="status">
        <p>Only the clinic's administrators manage its {manages}.</p>
      </div>
    </section>
  );
}

/** act(id, fn): runs fn with the row id busy and the last problem cleared; then after(), or the problem kept. */
export function useRowAction(after: () => void) {
  const [busyId, setBusyId] = useState<string | null>(null);
  const [problem, setProblem] = useState<ApiError | null>(null);
  async function act(id: string, fn: () => Promise<unknown>) {
    setBusyId(id);
    setProblem(null);
    try {
      await fn();
      after();
    } catch (err) {
      setProblem(asApiError(err));
    } finally {
      setBusyId(null);
    }
  }
  return { busyId, problem, setProblem, act };
}

/** A value shown this once (a one-time link, a signing secret), read-only, with a copy button. */
export function ShownOnce(props: {
  id: string;
  label: string;
  value: string;
  copyLabel: string;
  onClose: () => void;
  children: ReactNode;
}) {
  const { id, label, value, copyLabel, onClose, children } = props;
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="alert alert-success" role="status">
      <p>{children}</p>
      <div className="search-row">
        <label htmlFor={id} className="sr-only">
          {label}
        </label>
        <input id={id} className="input" readOnly value={value} onFocus={(e) => e.target.select()} />
        <button type="button" className="btn btn-small" onClick={() => void copy()}>
          {copied ? 'Copied' : copyLabel}
        </button>
        <button type="button" className="btn btn-small" onClick={onClose}>
          Done
        </button>
      </div>
    </div>
  );
}
