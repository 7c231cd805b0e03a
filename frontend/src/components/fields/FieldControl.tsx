// A labelled input for one schema field: label, required marker, the type's renderer, hint and
// error (linked with aria-describedby so a screen reader reads them with the input).
import type { FieldDef } from '../../api/types';
import type { FormValue } from '../../schema/fields';
import { hintFor, renderers } from './renderers';

interface Props {
  field: FieldDef;
  value: FormValue;
  onChange: (key: string, v: FormValue) => void;
  error?: string;
  idPrefix?: string;
  disabled?: boolean;
}

export function fieldInputId(key: string, idPrefix = 'f'): string {
  return `${idPrefix}-${key}`;
}

/** A server or client reason as a sentence: "required" -> "This field is required." */
export function reasonText(reason: string): string {
  if (reason === 'required') return 'This field is required.';
  const t = reason.charAt(0).toUpperCase() + reason.slice(1);
  return /[.!?]$/.test(t) ? t : t + '.';
}

export function FieldControl({ field, value, onChange, error, idPrefix = 'f', disabled }: Props) {
  const id = fieldInputId(field.key, idPrefix);
  const hint = hintFor(field);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(' ') || undefined;
  const Renderer = renderers[field.type] ?? renderers.string;
  const required = field.required === true;
  const input = (
    <Renderer
      field={field}
      id={id}
      value={value}
      onChange={(v) => onChange(field.key, v)}
      describedBy={describedBy}
      invalid={Boolean(error)}
      disabled={disabled}
    />
  );
  const marker = required ? (
    <span className="required" aria-hidden="true">
      *
    </span>
  ) : null;
  const srRequired = required ? <span className="sr-only"> (required)</span> : null;

  return (
    <div className={`field field-${field.type}${error ? ' has-error' : ''}`} data-field={field.key}>
      {field.type === 'boolean' ? (
        <div className="checkbox-row">
          {input}
          <label htmlFor={id}>
            {field.label}
            {marker}
            {srRequired}
          </label>
        </div>
      ) : (
        <>
          <label htmlFor={id}>
            {field.label}
            {marker}
            {srRequired}
          </label>
          {input}
        </>
      )}
      {hint && (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p className="error-text" id={errorId}>
          {reasonText(error)}
        </p>
      )}
    </div>
  );
}
