// The client's checks say what the server's lua/sova/schema.lua says, reason for reason.
import { describe, expect, it } from 'vitest';
import type { FieldDef } from '../../api/types';
import {
  checkFieldValue,
  DATE_REASON,
  DATETIME_REASON,
  EMAIL_REASON,
  parseDatetime,
  PHONE_REASON,
  validatePatient,
} from '../validate';
import { SCHEMA } from '../../test/fixtures';

const field = (over: Partial<FieldDef>): FieldDef => ({ key: 'k', label: 'K', type: 'string', ...over });
const reason = (f: FieldDef, v: unknown) => {
  const r = checkFieldValue(f, v);
  return r.ok ? null : r.reason;
};
const value = (f: FieldDef, v: unknown) => {
  const r = checkFieldValue(f, v);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('required and empty values', () => {
  it('a required field refuses null, missing and blank text', () => {
    const f = field({ required: true });
    expect(reason(f, null)).toBe('required');
    expect(reason(f, undefined)).toBe('required');
    expect(reason(f, '  \t')).toBe('required');
  });
  it('an optional field clears to null', () => {
    expect(value(field({}), '   ')).toBeNull();
  });
  it('false is a value, not an empty one, for a required checkbox', () => {
    expect(value(field({ type: 'boolean', required: true }), false)).toBe(false);
  });
});

describe('string', () => {
  it('trims and counts UTF-8 bytes against max_length', () => {
    const f = field({ max_length: 4 });
    expect(value(f, '  abcd ')).toBe('abcd');
    expect(reason(f, 'abcde')).toBe('must be at most 4 characters');
    expect(reason(f, 'ééé')).toBe('must be at most 4 characters'); // 6 bytes
  });
  it('defaults to 1000 and refuses control characters', () => {
    expect(reason(field({}), 'x'.repeat(1001))).toBe('must be at most 1000 characters');
    expect(reason(field({}), 'a\u0007b')).toBe('must not contain control characters');
    expect(reason(field({}), 'a\u0000b')).toBe('must not contain NUL bytes');
    expect(reason(field({}), 42)).toBe('must be a string');
  });
});

describe('date and datetime', () => {
  it('accepts ISO and US dates and normalizes them', () => {
    const f = field({ type: 'date' });
    expect(value(f, '2024-02-29')).toBe('2024-02-29');
    expect(value(f, '3/7/1980')).toBe('1980-03-07');
    expect(reason(f, '2023-02-29')).toBe(DATE_REASON);
    expect(reason(f, '2024-13-01')).toBe(DATE_REASON);
    expect(reason(f, 'tomorrow')).toBe(DATE_REASON);
  });
  it('accepts what a datetime-local input gives, with seconds added', () => {
    const f = field({ type: 'datetime' });
    expect(value(f, '2026-12-01T10:30')).toBe('2026-12-01T10:30:00');
    expect(value(f, '2026-12-01 10:30:15.250Z')).toBe('2026-12-01T10:30:15Z');
    expect(value(f, '2026-12-01T10:30+0530')).toBe('2026-12-01T10:30:00+05:30');
    expect(reason(f, '2026-12-01T24:00')).toBe(DATETIME_REASON);
    expect(reason(f, '2026-12-01')).toBe(DATETIME_REASON);
  });
  it('reads US-style times with AM/PM like the server', () => {
    expect(parseDatetime('12/1/2024 12:05 AM')).toBe('2024-12-01T00:05:00');
    expect(parseDatetime('12/01/2024 02:30 p.m.')).toBe('2024-12-01T14:30:00');
    expect(parseDatetime('12/01/2024 13:30 PM')).toBeNull();
  });
});

describe('select', () => {
  const f = field({ type: 'select', options: ['Red', 'Green'] });
  it('takes one of its options, exactly', () => {
    expect(value(f, 'Green')).toBe('Green');
    expect(reason(f, 'green')).toBe('must be one of: Red, Green');
  });
});

describe('number', () => {
  const f = field({ type: 'number', min: 0, max: 10 });
  it('checks min and max', () => {
    expect(value(f, 0)).toBe(0);
    expect(value(f, 10)).toBe(10);
    expect(reason(f, -1)).toBe('must be at least 0');
    expect(reason(f, 10.5)).toBe('must be at most 10');
  });
  it('wants a finite number', () => {
    expect(reason(f, '3')).toBe('must be a number');
    expect(reason(f, Number.POSITIVE_INFINITY)).toBe('must be a finite number');
  });
  it('prints fractional bounds as the server does', () => {
    expect(reason(field({ type: 'number', min: 0.5 }), 0.25)).toBe('must be at least 0.5');
  });
});

describe('phone (E.164)', () => {
  const f = field({ type: 'phone' });
  it('accepts + and the country code, ignoring spaces, dashes, dots and brackets', () => {
    expect(value(f, '+1 (516) 555-1234')).toBe('+15165551234');
    expect(value(f, '+44.20.7946.0958')).toBe('+442079460958');
  });
  it('refuses numbers without +, starting with 0, too short or too long', () => {
    for (const bad of ['5165551234', '+05165551234', '+1234567', '+12345678901234567', '+1 516 CALL NOW']) {
      expect(reason(f, bad)).toBe(PHONE_REASON);
    }
  });
});

describe('email', () => {
  const f = field({ type: 'email' });
  it('lower-cases the domain and keeps the local part', () => {
    expect(value(f, ' Jane.Doe+x@Example.ORG ')).toBe('Jane.Doe+x@example.org');
  });
  it('refuses what the server refuses', () => {
    for (const bad of ['no-at.example.org', 'a@b', 'a@@b.org', '.a@b.org', 'a..b@b.org', 'a@-b.org', 'a@b.123', 'a b@c.org']) {
      expect(reason(f, bad)).toBe(EMAIL_REASON);
    }
    expect(reason(f, 'x'.repeat(250) + '@b.org')).toBe('must be at most 254 characters');
  });
});

describe('validatePatient', () => {
  it('create: required fields are named, defaults fill the gaps', () => {
    const r = validatePatient(SCHEMA, {}, 'create');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(
      SCHEMA.filter((f) => f.required).map((f) => f.key).sort(),
    );
    const good = validatePatient(
      SCHEMA,
      { [SCHEMA[0].key]: 'x', [SCHEMA[1].key]: '2020-01-02', [SCHEMA[6].key]: '+15165551234' },
      'create',
    );
    expect(good.ok).toBe(true);
    if (!good.ok) return;
    for (const f of SCHEMA.filter((x) => x.default !== undefined)) expect(good.doc[f.key]).toBe(f.default);
  });
  it('refuses unknown keys and the platform own keys', () => {
    const r = validatePatient(SCHEMA, { nope: 1, call_status: 'Completed', 'a.b': 1 }, 'update');
    expect(r).toEqual({
      ok: false,
      errors: { nope: 'unknown field', call_status: 'system field, not settable', 'a.b': 'invalid field name' },
    });
  });
  it('update: only the given keys; blank clears an optional field and is refused for a required one', () => {
    const optional = SCHEMA.find((f) => !f.required && f.type === 'string')!;
    const required = SCHEMA.find((f) => f.required)!;
    expect(validatePatient([...SCHEMA, { ...optional, key: 'opt_text', required: false }], { opt_text: '' }, 'update')).toEqual({
      ok: true,
      doc: { opt_text: null },
    });
    expect(validatePatient(SCHEMA, { [required.key]: ' ' }, 'update')).toEqual({
      ok: false,
      errors: { [required.key]: 'required' },
    });
  });
});
