// Everything the UI derives from a workflow's patient_schema: field order, list columns, form
// values and the payload sent back, and how values read. No field is named here (DESIGN 1).
import type { FieldDef, FieldValue, Organization, Patient } from '../api/types';
import { isEmpty, trim } from './validate';
import { VOCABULARY } from './vocabulary';

type CallStatus = (typeof VOCABULARY.call_statuses)[number];
const STATUS_BY_CODE = new Map<string, CallStatus>(VOCABULARY.call_statuses.map((s) => [s.code, s]));
const STATUS_BY_LABEL = new Map<string, CallStatus>(VOCABULARY.call_statuses.map((s) => [s.label, s]));

/** Call status labels in the order a call goes through them (what patients.call_status holds). */
export const CALL_STATUS_LABELS: string[] = VOCABULARY.call_statuses.map((s) => s.label);
/** The codes of the statuses of an ended call. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(
  VOCABULARY.call_statuses.filter((s) => s.terminal).map((s) => s.code),
);

/** The value an input holds: text for most types, a boolean for checkboxes. */
export type FormValue = string | boolean;
export type FormValues = Record<string, FormValue>;

function order(f: FieldDef): number {
  return typeof f.display_order === 'number' ? f.display_order : Number.POSITIVE_INFINITY;
}

/** All fields by display_order (fields without one keep their schema order, last). */
export function sortedFields(fields: FieldDef[]): FieldDef[] {
  return fields
    .map((f, i) => ({ f, i }))
    .sort((a, b) => order(a.f) - order(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

/** The patient list's columns: display_in_list fields in display_order. */
export function listColumns(fields: FieldDef[]): FieldDef[] {
  return sortedFields(fields.filter((f) => f.display_in_list === true));
}

/** The select fields: what the dashboard counts and the outcomes a call may write. */
export function selectFields(fields: FieldDef[]): FieldDef[] {
  return sortedFields(fields.filter((f) => f.type === 'select'));
}

export function schemaOf(org: Organization | null | undefined, workflow: string | undefined): FieldDef[] | null {
  if (!org || !workflow) return null;
  const wf = org.workflows?.[workflow];
  if (!wf || wf.enabled === false) return null;
  return wf.patient_schema?.fields ?? [];
}

export function enabledWorkflows(org: Organization | null | undefined): { key: string; label: string }[] {
  if (!org) return [];
  return Object.entries(org.workflows ?? {})
    .filter(([, w]) => w.enabled !== false)
    .map(([key, w]) => ({ key, label: w.label || key }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

export function workflowLabel(org: Organization | null | undefined, workflow: string): string {
  return org?.workflows?.[workflow]?.label || workflow;
}

// ---- form values ----

/** "2026-03-04T09:30:00Z" -> "2026-03-04T09:30" for <input type="datetime-local">. */
export function toDatetimeLocal(v: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})/.exec(v);
  return m ? `${m[1]}T${m[2]}` : v;
}

function toFormValue(field: FieldDef, v: FieldValue | undefined): FormValue {
  if (field.type === 'boolean') return v === true;
  if (v === null || v === undefined) return '';
  if (field.type === 'datetime' && typeof v === 'string') return toDatetimeLocal(v);
  return String(v);
}

/** A new patient's form: each field's default, or empty. */
export function initialValues(fields: FieldDef[]): FormValues {
  const out: FormValues = {};
  for (const f of fields) out[f.key] = toFormValue(f, f.default ?? null);
  return out;
}

/** An existing patient's form. */
export function valuesFromPatient(fields: FieldDef[], patient: Patient): FormValues {
  const out: FormValues = {};
  for (const f of fields) out[f.key] = toFormValue(f, patient[f.key]);
  return out;
}

/**
 * What the API gets for one input: a number for number fields (the raw text when it does not
 * read as one, so validation says so), a boolean for checkboxes, null for an empty input.
 */
export function payloadValue(field: FieldDef, v: FormValue): unknown {
  if (field.type === 'boolean') return v === true;
  const s = typeof v === 'string' ? v : String(v);
  if (isEmpty(s)) return null;
  if (field.type === 'number') {
    const t = trim(s);
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : s;
  }
  return s;
}

/** POST body: every non-empty input (an empty one is left out, so its default applies). */
export function createPayload(fields: FieldDef[], values: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = payloadValue(f, values[f.key] ?? '');
    if (v !== null) out[f.key] = v;
  }
  return out;
}

/** PATCH body: only the inputs that changed (null clears an optional field). */
export function changedPayload(fields: FieldDef[], initial: FormValues, values: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const before = initial[f.key] ?? (f.type === 'boolean' ? false : '');
    const now = values[f.key] ?? before;
    if (typeof before === 'string' && typeof now === 'string' ? trim(before) === trim(now) : before === now) continue;
    out[f.key] = payloadValue(f, now);
  }
  return out;
}

// ---- reading values ----

const dateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});

export const EMPTY = '—';

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });

/** An instant's time of day, to the second (call events). */
export function formatTime(v: string): string {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : timeFmt.format(d);
}

export function formatDate(v: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return v;
  return dateFmt.format(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))));
}

/** A stored date-time: with a zone it is an instant; without one it reads as written. */
export function formatDateTime(v: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(v);
  if (!m) return v;
  const d = m[7]
    ? new Date(v)
    : new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  return Number.isNaN(d.getTime()) ? v : dateTimeFmt.format(d);
}

/** How a field's value reads in the list, the detail page and a session's outcome. */
export function formatValue(field: FieldDef | undefined, v: FieldValue | undefined): string {
  if (v === null || v === undefined || v === '') return EMPTY;
  switch (field?.type) {
    case 'boolean':
      return v === true ? 'Yes' : v === false ? 'No' : String(v);
    case 'date':
      return typeof v === 'string' ? formatDate(v) : String(v);
    case 'datetime':
      return typeof v === 'string' ? formatDateTime(v) : String(v);
    case 'number':
      return typeof v === 'number' ? v.toLocaleString() : String(v);
    default:
      if (typeof v === 'boolean') return v ? 'Yes' : 'No';
      return String(v);
  }
}

/**
 * A call status by its code (sessions, live calls: "no_answer") or by its label (what
 * patients.call_status stores: "No Answer"), from the platform's vocabulary.
 */
export function callStatus(s: string | undefined | null): CallStatus | undefined {
  return s ? (STATUS_BY_CODE.get(s) ?? STATUS_BY_LABEL.get(s)) : undefined;
}

/** "no_answer" and "No Answer" both read "No Answer"; a word the vocabulary lacks reads as itself, capitalized. */
export function statusLabel(s: string | undefined | null): string {
  if (!s) return EMPTY;
  const known = callStatus(s);
  if (known) return known.label;
  const t = s.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const EVENT_LABELS = new Map<string, string>(VOCABULARY.session_events.map((e) => [e.type, e.label]));

/** A session event type in words, as the vocabulary names it; an unknown type reads as itself. */
export function eventLabel(type: string): string {
  return EVENT_LABELS.get(type) ?? statusLabel(type);
}

/** A staff member's listening to a call, in words. The event names the listener by user id only,
 * which says nothing to the reader: it is not shown. */
export function listeningLine(type: 'listening_started' | 'listening_ended'): string {
  return type === 'listening_started' ? 'A staff member started listening to the call' : 'A staff member stopped listening to the call';
}

/** A CSS class suffix for a status: tone, not meaning. Incomplete (ended without a required outcome) is a warning. */
export function statusTone(s: string | undefined | null): 'ok' | 'warn' | 'bad' | 'busy' | 'idle' {
  const code = callStatus(s)?.code;
  if (code === 'completed') return 'ok';
  if (code === 'incomplete') return 'warn';
  if (code === 'not_started' || code === undefined) return 'idle';
  return callStatus(s)?.terminal ? 'bad' : 'busy';
}

export function formatDuration(seconds: number | undefined | null): string {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return EMPTY;
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}
