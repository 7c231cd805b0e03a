// Shapes of what `sova api` answers (lua/sova/api/present.lua). Patient fields are never named
// here: a patient is its system keys plus whatever the workflow's patient_schema defines.

export type FieldType =
  | 'string'
  | 'date'
  | 'datetime'
  | 'select'
  | 'number'
  | 'boolean'
  | 'phone'
  | 'email';

/** One entry of organizations.workflows[wf].patient_schema.fields. */
export interface FieldDef {
  key: string;
  label: string;
  type: FieldType;
  required?: boolean;
  display_in_list?: boolean;
  display_order?: number;
  options?: string[];
  default?: string | number | boolean;
  min?: number;
  max?: number;
  max_length?: number;
  placeholder?: string;
  help?: string;
}

export interface PatientSchema {
  fields: FieldDef[];
}

export interface Branding {
  company_name: string;
  primary_color?: string;
  logo_url?: string;
}

/** GET /api/tenant: public, no auth. */
export interface Tenant {
  name: string;
  slug: string;
  branding?: Branding;
  workflows: { key: string; label: string }[];
}

export interface Workflow {
  enabled: boolean;
  label: string;
  patient_schema: PatientSchema;
}

export interface Organization {
  id: string;
  name: string;
  slug: string;
  branding?: Branding;
  workflows: Record<string, Workflow>;
}

export interface User {
  id: string;
  email: string;
  role?: string;
  name?: string;
  status?: string;
}

export interface LoginResponse {
  token: string;
  expires_at: string;
  idle_timeout_seconds: number;
  user: User;
  organization: Organization;
}

export interface MeResponse {
  user: User;
  organization: Organization;
}

export type FieldValue = string | number | boolean | null;

/** A patient: system keys plus the schema's fields (flat, as the API stores them). */
export interface Patient {
  id: string;
  workflow: string;
  call_status?: string;
  created_at?: string;
  updated_at?: string;
  last_call_at?: string;
  last_session_id?: string;
  [field: string]: FieldValue | undefined;
}

export interface PatientPage {
  items: Patient[];
  next_cursor: string | null;
}

export interface TranscriptMessage {
  role: 'assistant' | 'user' | string;
  content: string;
  timestamp?: string;
}

export interface SessionEvent {
  type: string;
  timestamp?: string;
  [k: string]: unknown;
}

export interface CallSession {
  id: string;
  patient_id: string;
  workflow: string;
  mode?: string;
  status: string;
  reason?: string;
  failure?: string;
  flow?: { path?: string; sha256?: string | null };
  transcript?: { messages?: TranscriptMessage[]; summary?: string | null };
  events?: SessionEvent[];
  outcome?: Record<string, FieldValue>;
  rejected_outcome?: { field: string; reason: string }[];
  duration_seconds?: number;
  created_at?: string;
  started_at?: string;
  ended_at?: string;
  updated_at?: string;
}

export interface Dashboard {
  workflow: string;
  total: number;
  by_call_status: Record<string, number>;
  by_field: Record<string, Record<string, number>>;
  /** {"2026-11-27": 3, ...}; absent from older APIs. */
  calls_per_day?: Record<string, number>;
}

export interface CallStart {
  session_id: string;
  live_url: string;
}

/** The error body of every non-2xx answer. */
export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string> };
}

/** Messages the bot sends over the live-call WebSocket. */
export type LiveMessage =
  | { type: 'transcript'; role: 'assistant' | 'user' | string; text: string }
  | { type: 'status'; status: string }
  | { type: 'event'; event: string; to?: string; digits?: string }
  | { type: 'error'; message: string };
