// The add / edit patient form, rendered from the workflow's patient_schema. Checks run on the
// client first (the server's rules, schema/validate.ts); the server's own 422 field errors are
// shown beside their fields too. Edit sends only the fields that changed.
import { useMemo, useRef, useState, type FormEvent } from 'react';
import type { FieldDef } from '../api/types';
import { ApiError } from '../api/client';
import {
  changedPayload,
  createPayload,
  initialValues,
  sortedFields,
  type FormValue,
  type FormValues,
} from '../schema/fields';
import { validatePatient } from '../schema/validate';
import { FieldControl, fieldInputId, reasonText } from './fields/FieldControl';

interface Props {
  fields: FieldDef[];
  mode: 'create' | 'update';
  /** Starting values (an existing patient's); defaults from the schema when absent. */
  initial?: FormValues;
  submitLabel: string;
  onSubmit: (payload: Record<string, unknown>) => Promise<void>;
  onCancel?: () => void;
  /** Called instead of onSubmit when an edit changed nothing. */
  onNothingChanged?: () => void;
}

export function PatientForm({ fields, mode, initial, submitLabel, onSubmit, onCancel, onNothingChanged }: Props) {
  const ordered = useMemo(() => sortedFields(fields), [fields]);
  const start = useMemo(() => initial ?? initialValues(fields), [initial, fields]);
  const [values, setValues] = useState<FormValues>(start);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const summaryRef = useRef<HTMLDivElement>(null);
  const formRef = useRef<HTMLFormElement>(null);

  const keys = useMemo(() => new Set(fields.map((f) => f.key)), [fields]);

  // The schema was re-read with a new field: give it its starting value, keep what was typed.
  const [startSeen, setStartSeen] = useState(start);
  if (startSeen !== start) {
    setStartSeen(start);
    const missing = Object.keys(start).filter((k) => !(k in values));
    if (missing.length > 0) {
      const next = { ...values };
      for (const k of missing) next[k] = start[k];
      setValues(next);
    }
  }

  function onChange(key: string, v: FormValue) {
    setValues((prev) => ({ ...prev, [key]: v }));
    if (errors[key]) {
      setErrors((prev) => {
        const next = { ...prev };
        delete next[key];
        return next;
      });
    }
  }

  function focusFirstError(errs: Record<string, string>) {
    const first = ordered.find((f) => errs[f.key]);
    // after React paints the error texts
    requestAnimationFrame(() => {
      if (first) {
        document.getElementById(fieldInputId(first.key))?.focus();
      } else {
        summaryRef.current?.focus();
      }
    });
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setFormError(null);
    const payload = mode === 'create' ? createPayload(fields, values) : changedPayload(fields, start, values);
    if (mode === 'update' && Object.keys(payload).length === 0) {
      setErrors({});
      onNothingChanged?.();
      return;
    }
    const check = validatePatient(fields, payload, mode);
    if (!check.ok) {
      setErrors(check.errors);
      focusFirstError(check.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await onSubmit(payload);
    } catch (err) {
      if (err instanceof ApiError) {
        const fieldErrs = err.fields ?? {};
        setErrors(fieldErrs);
        const other = Object.entries(fieldErrs).filter(([k]) => !keys.has(k));
        const message =
          err.status === 422 && other.length === 0 && Object.keys(fieldErrs).length > 0
            ? 'Some fields need attention.'
            : err.message + (other.length ? ' — ' + other.map(([k, r]) => `${k}: ${r}`).join('; ') : '');
        setFormError(message);
        focusFirstError(fieldErrs);
      } else {
        setFormError('Something went wrong. Try again.');
      }
    } finally {
      setBusy(false);
    }
  }

  const errorCount = Object.keys(errors).filter((k) => keys.has(k)).length;

  return (
    <form ref={formRef} className="patient-form" onSubmit={submit} noValidate aria-busy={busy}>
      {(formError || errorCount > 0) && (
        <div className="alert alert-error" role="alert" tabIndex={-1} ref={summaryRef}>
          <p>{formError ?? 'Some fields need attention.'}</p>
          {errorCount > 0 && (
            <ul>
              {ordered
                .filter((f) => errors[f.key])
                .map((f) => (
                  <li key={f.key}>
                    <a href={`#${fieldInputId(f.key)}`}>
                      {f.label}: {reasonText(errors[f.key])}
                    </a>
                  </li>
                ))}
            </ul>
          )}
        </div>
      )}
      <p className="form-note">
        Fields marked <span className="required" aria-hidden="true">*</span>
        <span className="sr-only">with an asterisk</span> are required.
      </p>
      <div className="form-grid">
        {ordered.map((f) => (
          <FieldControl
            key={f.key}
            field={f}
            value={values[f.key] ?? (f.type === 'boolean' ? false : '')}
            onChange={onChange}
            error={errors[f.key]}
            disabled={busy}
          />
        ))}
      </div>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
