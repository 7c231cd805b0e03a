// Client-side mirror of the server's patient-schema validation (lua/sova/sandboxed/schema.lua:
// check_field_value and validate). Same rules, same reasons, so what the form says before
// submitting is what the server would answer with a 422. The server stays the authority.
import type { FieldDef } from '../api/types';
import { VOCABULARY } from './vocabulary';

export const PHONE_REASON = 'phone must be E.164, e.g. +15165551234';
export const EMAIL_REASON = 'must be a valid email address';
export const DATE_REASON = 'must be a valid date (YYYY-MM-DD)';
export const DATETIME_REASON = 'must be a valid date and time (YYYY-MM-DDTHH:MM)';
export const DEFAULT_MAX_LENGTH = 1000;
/** Where problems of the input as a whole are reported (never a field key). */
export const INPUT_ERROR_KEY = '_input';
/** More keys than this in one document: refused as a whole. */
export const MAX_INPUT_KEYS = 512;

/** Keys the platform owns on a patient: never settable through the schema. */
export const SYSTEM_FIELDS: ReadonlySet<string> = new Set(VOCABULARY.system_fields);

export type CheckResult = { ok: true; value: unknown } | { ok: false; reason: string };

const ok = (value: unknown): CheckResult => ({ ok: true, value });
const bad = (reason: string): CheckResult => ({ ok: false, reason });

// Lua's %s is the C locale's whitespace: \t \n \v \f \r and space, nothing else.
const EDGE_SPACE = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;
const NON_SPACE = /[^\t\n\v\f\r ]/;

export function trim(s: string): string {
  return s.replace(EDGE_SPACE, '');
}

/** null, undefined, or a string of only whitespace. */
export function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  return typeof v === 'string' && !NON_SPACE.test(v);
}

const encoder = new TextEncoder();
/** The server counts bytes of UTF-8 (Lua's #s). */
export function byteLength(s: string): number {
  return encoder.encode(s).length;
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true;
    }
  }
  return false;
}

function cleanText(s: string): CheckResult {
  if (s.includes('\u0000')) return bad('must not contain NUL bytes');
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s)) return bad('must not contain control characters');
  if (hasLoneSurrogate(s)) return bad('must be valid UTF-8 text');
  return ok(trim(s));
}

function wrongType(type: string): string {
  return type === 'email' ? 'must be an email' : 'must be a ' + type;
}

/** C's "%.14g", as the server prints a bound it names. */
function g14(n: number): string {
  const [mant, expText] = n.toExponential(13).split('e');
  const exp = Number(expText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 14) {
    const e = Math.abs(exp);
    return `${strip(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' + e : e}`;
  }
  return strip(n.toFixed(Math.max(0, 13 - exp)));
}

function num2str(n: number): string {
  if (Number.isInteger(n) && n > -1e15 && n < 1e15) return String(n);
  return g14(n);
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validYmd(y: number, m: number, d: number): boolean {
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  const dim = m === 2 && isLeap(y) ? 29 : MONTH_DAYS[m - 1];
  return d <= dim;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "YYYY-MM-DD" or "M/D/YYYY" -> "YYYY-MM-DD", or null. */
export function parseDate(s: string): string | null {
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  let y: number, mo: number, d: number;
  if (m) {
    [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  } else {
    m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
    if (!m) return null;
    [mo, d, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  if (!validYmd(y, mo, d)) return null;
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
}

function parseZone(z: string): string | null {
  if (z === '') return '';
  if (z === 'Z' || z === 'z') return 'Z';
  let m = /^([+-])(\d{2}):?(\d{2})$/.exec(z);
  let sign: string, hh: string, mm: string;
  if (m) {
    [sign, hh, mm] = [m[1], m[2], m[3]];
  } else {
    m = /^([+-])(\d{2})$/.exec(z);
    if (!m) return null;
    [sign, hh, mm] = [m[1], m[2], '00'];
  }
  if (Number(hh) > 14 || Number(mm) > 59) return null;
  return `${sign}${hh}:${mm}`;
}

/** ISO 8601 or US-style date-time -> "YYYY-MM-DDTHH:MM:SS[zone]", or null. */
export function parseDatetime(s: string): string | null {
  let y: number, mo: number, d: number, h: number, mi: number;
  let sec = 0;
  let zone = '';
  const iso = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(.*)$/s.exec(s);
  if (iso) {
    [y, mo, d, h, mi] = iso.slice(1, 6).map(Number);
    let rest = iso[6];
    const secs = /^:(\d{2})(.*)$/s.exec(rest);
    if (secs) {
      sec = Number(secs[1]);
      const frac = /^[.,]\d+(.*)$/s.exec(secs[2]);
      rest = frac ? frac[1] : secs[2];
    }
    const z = parseZone(rest);
    if (z === null) return null;
    zone = z;
  } else {
    const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})[\t\n\v\f\r ]+(\d{1,2}):(\d{2})(.*)$/s.exec(s);
    if (!us) return null;
    [mo, d, y, h, mi] = us.slice(1, 6).map(Number);
    const ampm = trim(us[6]);
    if (ampm !== '') {
      const ap = /^([ap])\.?m\.?$/.exec(ampm.toLowerCase());
      if (!ap || h < 1 || h > 12) return null;
      if (ap[1] === 'a') h = h === 12 ? 0 : h;
      else h = h === 12 ? 12 : h + 12;
    }
  }
  if (!validYmd(y, mo, d) || h > 23 || mi > 59 || sec > 59) return null;
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}${zone}`;
}

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;

export function normalizeEmail(s: string): CheckResult {
  if (byteLength(s) > 254) return bad('must be at most 254 characters');
  const m = /^([^@]+)@([^@]+)$/.exec(s);
  if (!m) return bad(EMAIL_REASON);
  const local = m[1];
  if (
    byteLength(local) > 64 ||
    !EMAIL_LOCAL.test(local) ||
    local.startsWith('.') ||
    local.endsWith('.') ||
    local.includes('..')
  ) {
    return bad(EMAIL_REASON);
  }
  const domain = m[2].toLowerCase();
  if (byteLength(domain) > 253) return bad(EMAIL_REASON);
  const labels = domain.split('.');
  for (const label of labels) {
    if (label.length < 1 || label.length > 63 || !/^[a-z0-9-]+$/.test(label) || label.startsWith('-') || label.endsWith('-')) {
      return bad(EMAIL_REASON);
    }
  }
  if (labels.length < 2 || !/[a-z]/.test(labels[labels.length - 1])) return bad(EMAIL_REASON);
  return ok(local + '@' + domain);
}

type Checker = (field: FieldDef, v: unknown) => CheckResult;

const checkers: Record<string, Checker> = {
  string(field, v) {
    if (typeof v !== 'string') return bad(wrongType('string'));
    const c = cleanText(v);
    if (!c.ok) return c;
    const s = c.value as string;
    const max = field.max_length ?? DEFAULT_MAX_LENGTH;
    if (byteLength(s) > max) return bad(`must be at most ${max} characters`);
    return ok(s);
  },
  date(_f, v) {
    if (typeof v !== 'string') return bad(wrongType('date'));
    const d = parseDate(trim(v));
    return d ? ok(d) : bad(DATE_REASON);
  },
  datetime(_f, v) {
    if (typeof v !== 'string') return bad(wrongType('datetime'));
    if (byteLength(v) > 64) return bad(DATETIME_REASON);
    const d = parseDatetime(trim(v));
    return d ? ok(d) : bad(DATETIME_REASON);
  },
  select(field, v) {
    const options = field.options;
    if (!Array.isArray(options)) return bad('select field has no options');
    if (typeof v === 'string' && options.includes(v)) return ok(v);
    return bad('must be one of: ' + options.map(String).join(', '));
  },
  number(field, v) {
    if (typeof v !== 'number') return bad(wrongType('number'));
    if (!Number.isFinite(v)) return bad('must be a finite number');
    if (typeof field.min === 'number' && v < field.min) return bad('must be at least ' + num2str(field.min));
    if (typeof field.max === 'number' && v > field.max) return bad('must be at most ' + num2str(field.max));
    return ok(v);
  },
  boolean(_f, v) {
    return typeof v === 'boolean' ? ok(v) : bad(wrongType('boolean'));
  },
  phone(_f, v) {
    if (typeof v !== 'string') return bad(wrongType('phone'));
    if (byteLength(v) > 64) return bad(PHONE_REASON);
    const p = trim(v).replace(/[ \-().]/g, '');
    if (!/^\+[1-9]\d+$/.test(p) || p.length < 9 || p.length > 16) return bad(PHONE_REASON);
    return ok(p);
  },
  email(_f, v) {
    if (typeof v !== 'string') return bad(wrongType('email'));
    if (byteLength(v) > 1024) return bad('must be at most 254 characters');
    const c = cleanText(v);
    if (!c.ok) return c;
    return normalizeEmail(c.value as string);
  },
};

/**
 * One value against one field (schema.check_field_value). An empty value is `null` (cleared)
 * unless the field is required.
 */
export function checkFieldValue(field: FieldDef, value: unknown): CheckResult {
  if (isEmpty(value)) return field.required === true ? bad('required') : ok(null);
  const checker = checkers[field.type];
  if (!checker) return bad('unknown field type ' + String(field.type));
  return checker(field, value);
}

export type ValidationResult =
  | { ok: true; doc: Record<string, unknown> }
  | { ok: false; errors: Record<string, string> };

/**
 * A patient document, or the changed part of one (schema.validate).
 * create: every required field present; a missing field takes its default.
 * update: only the given keys; an optional field given null/blank is cleared (null).
 */
export function validatePatient(fields: FieldDef[], input: unknown, mode: 'create' | 'update'): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: { [INPUT_ERROR_KEY]: 'must be a JSON object' } };
  }
  const entries = Object.entries(input);
  if (entries.length > MAX_INPUT_KEYS) return { ok: false, errors: { [INPUT_ERROR_KEY]: 'too many fields' } };
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const doc: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const [k, v] of entries) {
    const f = byKey.get(k);
    let reason: string | undefined;
    if (k.startsWith('$') || k.includes('.') || k.includes('\u0000')) reason = 'invalid field name';
    else if (SYSTEM_FIELDS.has(k)) reason = 'system field, not settable';
    else if (!f) reason = 'unknown field';
    else if (isEmpty(v)) {
      if (mode === 'update') {
        if (f.required === true) reason = 'required';
        else doc[k] = null;
      }
    } else {
      const r = checkFieldValue(f, v);
      if (r.ok) doc[k] = r.value;
      else reason = r.reason;
    }
    if (reason) errors[k] = reason;
  }
  if (mode === 'create') {
    for (const f of fields) {
      if (doc[f.key] !== undefined || errors[f.key] !== undefined) continue;
      if (f.default !== undefined && f.default !== null && !isEmpty(f.default)) {
        const r = checkFieldValue(f, f.default);
        if (r.ok) doc[f.key] = r.value;
        else errors[f.key] = 'invalid default: ' + r.reason;
      } else if (f.required === true) {
        errors[f.key] = 'required';
      }
    }
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, doc };
}
