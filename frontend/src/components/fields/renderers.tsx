// One input renderer per patient_schema field type. A renderer knows its type, never a field:
// a field added to the schema gets the renderer of its type with no code change.
import type { ReactElement } from 'react';
import type { FieldDef, FieldType } from '../../api/types';
import type { FormValue } from '../../schema/fields';

export interface RendererProps {
  field: FieldDef;
  id: string;
  value: FormValue;
  onChange: (v: FormValue) => void;
  /** ids of the help and error texts */
  describedBy?: string;
  invalid: boolean;
  disabled?: boolean;
}

type Renderer = (p: RendererProps) => ReactElement;

/** Strings longer than this get a multi-line box. */
export const TEXTAREA_FROM_LENGTH = 500;

function common(p: RendererProps) {
  return {
    id: p.id,
    name: p.field.key,
    'aria-describedby': p.describedBy,
    'aria-invalid': p.invalid || undefined,
    'aria-required': p.field.required === true || undefined,
    disabled: p.disabled,
  };
}

const asText = (v: FormValue) => (typeof v === 'string' ? v : '');

const TextRenderer: Renderer = (p) => {
  const max = p.field.max_length;
  if (max !== undefined && max >= TEXTAREA_FROM_LENGTH) {
    return (
      <textarea
        {...common(p)}
        placeholder={p.field.placeholder}
        className="input"
        rows={3}
        value={asText(p.value)}
        onChange={(e) => p.onChange(e.target.value)}
      />
    );
  }
  return (
    <input
      {...common(p)}
      placeholder={p.field.placeholder}
      className="input"
      type="text"
      autoComplete="off"
      value={asText(p.value)}
      onChange={(e) => p.onChange(e.target.value)}
    />
  );
};

const DateRenderer: Renderer = (p) => (
  <input {...common(p)} className="input" type="date" value={asText(p.value)} onChange={(e) => p.onChange(e.target.value)} />
);

const DateTimeRenderer: Renderer = (p) => (
  <input
    {...common(p)}
    className="input"
    type="datetime-local"
    value={asText(p.value)}
    onChange={(e) => p.onChange(e.target.value)}
  />
);

const SelectRenderer: Renderer = (p) => {
  const options = p.field.options ?? [];
  const value = asText(p.value);
  // A blank choice unless the field is required and already has a value (a default).
  const blank = !(p.field.required === true && options.includes(value));
  return (
    <select
      {...common(p)}
      className="input"
      value={value}
      onChange={(e) => p.onChange(e.target.value)}
    >
      {blank && <option value="">{p.field.required ? 'Choose…' : '—'}</option>}
      {options.map((o) => (
        <option key={o} value={o}>
          {o}
        </option>
      ))}
    </select>
  );
};

const NumberRenderer: Renderer = (p) => (
  <input
    {...common(p)}
    placeholder={p.field.placeholder}
    className="input input-number"
    type="number"
    inputMode="decimal"
    step="any"
    min={p.field.min}
    max={p.field.max}
    value={asText(p.value)}
    onChange={(e) => p.onChange(e.target.value)}
  />
);

const CheckboxRenderer: Renderer = (p) => (
  <input
    {...common(p)}
    className="checkbox"
    type="checkbox"
    checked={p.value === true}
    onChange={(e) => p.onChange(e.target.checked)}
  />
);

const PhoneRenderer: Renderer = (p) => (
  <input
    {...common(p)}
    className="input"
    type="tel"
    inputMode="tel"
    autoComplete="off"
    placeholder={p.field.placeholder ?? '+15165551234'}
    value={asText(p.value)}
    onChange={(e) => p.onChange(e.target.value)}
  />
);

const EmailRenderer: Renderer = (p) => (
  <input
    {...common(p)}
    placeholder={p.field.placeholder}
    className="input"
    type="email"
    autoComplete="off"
    value={asText(p.value)}
    onChange={(e) => p.onChange(e.target.value)}
  />
);

export const renderers: Record<FieldType, Renderer> = {
  string: TextRenderer,
  date: DateRenderer,
  datetime: DateTimeRenderer,
  select: SelectRenderer,
  number: NumberRenderer,
  boolean: CheckboxRenderer,
  phone: PhoneRenderer,
  email: EmailRenderer,
};

/** A hint under the input, from the field's definition (its own help text first). */
export function hintFor(field: FieldDef): string | undefined {
  if (field.help) return field.help;
  switch (field.type) {
    case 'phone':
      return 'International format (E.164): + and the country code, e.g. +15165551234';
    case 'number':
      if (field.min !== undefined && field.max !== undefined) return `From ${field.min} to ${field.max}`;
      if (field.min !== undefined) return `At least ${field.min}`;
      if (field.max !== undefined) return `At most ${field.max}`;
      return undefined;
    case 'string':
      return field.max_length !== undefined && field.max_length >= TEXTAREA_FROM_LENGTH
        ? `Up to ${field.max_length} characters`
        : undefined;
    default:
      return undefined;
  }
}
