// The one place that talks HTTP to `sova api`. Same origin (/api): the API resolves the clinic
// from the page's Host. Every call carries the Bearer token; a 401 on an authenticated call
// signs the user out (the app sends them to the login page).
import type {
  CallSession,
  CallStart,
  Campaign,
  CampaignDetail,
  CampaignRequest,
  Dashboard,
  ErrorBody,
  InviteCreated,
  LinkInfo,
  LoginResponse,
  MeResponse,
  Patient,
  PatientImportCheck,
  PatientImportRequest,
  PatientImportResult,
  PatientPage,
  RecordingLink,
  ResetLink,
  Tenant,
  User,
  UserChange,
  UserList,
  Webhook,
  WebhookChange,
  WebhookCreated,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookRequest,
} from './types';

export const API_BASE = '/api';

/** Any non-2xx answer, or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string>;

  constructor(status: number, code: string, message: string, fields?: Record<string, string>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields ?? {};
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }
}

let authToken: string | null = null;
let unauthorizedHandler: ((err: ApiError) => void) | null = null;
let lastRequestAt = 0;

export function setAuthToken(token: string | null): void {
  authToken = token;
}

/** Called when an authenticated request answers 401 (session ended, idle, expired). */
export function onUnauthorized(handler: ((err: ApiError) => void) | null): void {
  unauthorizedHandler = handler;
}

/** When the last request was sent (ms since epoch): the server's idle clock restarts then. */
export function lastApiRequestAt(): number {
  return lastRequestAt;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface RequestOptions {
  body?: unknown;
  /** false for login: its 401 means a wrong password, not an ended session. */
  auth?: boolean;
  signal?: AbortSignal;
  /** The body as text (a download, e.g. YAML or CSV), not JSON. */
  text?: boolean;
}

function statusMessage(status: number): string {
  if (status === 502 || status === 504) return 'The server cannot be reached right now. Try again shortly.';
  if (status >= 500) return 'The server had a problem. Try again shortly.';
  return `The request failed (HTTP ${status}).`;
}

export async function request<T>(method: Method, path: string, opts: RequestOptions = {}): Promise<T> {
  const auth = opts.auth !== false;
  const headers: Record<string, string> = { Accept: opts.text ? 'text/yaml, text/csv, application/json' : 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && authToken) headers.Authorization = `Bearer ${authToken}`;
  let res: Response;
  try {
    lastRequestAt = Date.now();
    res = await fetch(API_BASE + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      credentials: 'same-origin',
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  const text = await res.text();
  if (opts.text && res.ok) return text as T;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const body = (data as ErrorBody | null)?.error;
    const err = new ApiError(
      res.status,
      body?.code ?? 'http_' + res.status,
      body?.message ?? statusMessage(res.status),
      body?.fields,
    );
    if (auth && res.status === 401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return data as T;
}

function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

const seg = encodeURIComponent;

/** Typed endpoints (README "API"). */
export const api = {
  tenant: (signal?: AbortSignal) => request<Tenant>('GET', '/tenant', { auth: false, signal }),

  login: (email: string, password: string) =>
    request<LoginResponse>('POST', '/auth/login', { auth: false, body: { email, password } }),
  logout: () => request<void>('POST', '/auth/logout'),
  me: (signal?: AbortSignal) => request<MeResponse>('GET', '/me', { signal }),

  listPatients: (
    workflow: string,
    params: { q?: string; cursor?: string | null; limit?: number },
    signal?: AbortSignal,
  ) =>
    request<PatientPage>('GET', `/workflows/${seg(workflow)}/patients${qs(params)}`, { signal }),
  createPatient: (workflow: string, fields: Record<string, unknown>) =>
    request<Patient>('POST', `/workflows/${seg(workflow)}/patients`, { body: fields }),
  getPatient: (id: string, signal?: AbortSignal) =>
    request<Patient>('GET', `/patients/${seg(id)}`, { signal }),
  updatePatient: (id: string, changes: Record<string, unknown>) =>
    request<Patient>('PATCH', `/patients/${seg(id)}`, { body: changes }),
  deletePatient: (id: string) => request<void>('DELETE', `/patients/${seg(id)}`),
  /** A CSV file checked against the workflow's fields: nothing written. */
  checkPatientImport: (workflow: string, csv: string) =>
    request<PatientImportCheck>('POST', `/workflows/${seg(workflow)}/patients/import`, { body: { csv, mode: 'validate' } }),
  /** A CSV file imported (the same import_id again after a failure finishes it, writing none twice). */
  importPatients: (workflow: string, body: PatientImportRequest & { mode: 'all_or_nothing' | 'good_rows' }) =>
    request<PatientImportResult>('POST', `/workflows/${seg(workflow)}/patients/import`, { body }),

  patientSessions: (id: string, signal?: AbortSignal) =>
    request<{ items: CallSession[] }>('GET', `/patients/${seg(id)}/sessions`, { signal }),
  getSession: (id: string, signal?: AbortSignal) =>
    request<CallSession>('GET', `/sessions/${seg(id)}`, { signal }),
  /** The call as a `sova flow eval` scenario (YAML, no PHI; administrators). */
  sessionScenario: (id: string) => request<string>('GET', `/sessions/${seg(id)}/scenario`, { text: true }),
  /** A 15-minute URL of the call's recording for an <audio> element (which cannot send the token). */
  recordingLink: (id: string, signal?: AbortSignal) =>
    request<RecordingLink>('POST', `/sessions/${seg(id)}/recording/link`, { signal }),

  startCall: (patientId: string, mode: 'browser' | 'browser_voice' | 'phone' = 'browser') =>
    request<CallStart>('POST', `/patients/${seg(patientId)}/calls`, { body: { mode } }),

  dashboard: (workflow: string, signal?: AbortSignal) =>
    request<Dashboard>('GET', `/workflows/${seg(workflow)}/dashboard`, { signal }),

  listCampaigns: (workflow: string, signal?: AbortSignal) =>
    request<{ items: Campaign[] }>('GET', `/workflows/${seg(workflow)}/campaigns`, { signal }),
  createCampaign: (workflow: string, body: CampaignRequest) =>
    request<Campaign>('POST', `/workflows/${seg(workflow)}/campaigns`, { body }),
  getCampaign: (id: string, signal?: AbortSignal) =>
    request<CampaignDetail>('GET', `/campaigns/${seg(id)}`, { signal }),
  campaignAction: (id: string, action: 'pause' | 'resume' | 'cancel') =>
    request<Campaign>('POST', `/campaigns/${seg(id)}/${action}`),
  /** One CSV row per patient: fields, attempts, result (audited as an export). */
  campaignReport: (id: string) => request<string>('GET', `/campaigns/${seg(id)}/report.csv`, { text: true }),

  // the clinic's users (administrators) and one's own password
  listUsers: (signal?: AbortSignal) => request<UserList>('GET', '/users', { signal }),
  inviteUser: (body: { email: string; name?: string; role: 'admin' | 'staff' }) =>
    request<InviteCreated>('POST', '/users/invites', { body }),
  revokeInvite: (id: string) => request<void>('DELETE', `/users/invites/${seg(id)}`),
  updateUser: (id: string, changes: UserChange) => request<User>('PATCH', `/users/${seg(id)}`, { body: changes }),
  passwordResetLink: (id: string) => request<ResetLink>('POST', `/users/${seg(id)}/password-reset`),
  changePassword: (current_password: string, new_password: string) =>
    request<void>('POST', '/me/password', { body: { current_password, new_password } }),

  // one-time links, without a sign-in (their 401s are no ended session)
  showInvite: (token: string, signal?: AbortSignal) =>
    request<LinkInfo>('GET', `/invites/${seg(token)}`, { auth: false, signal }),
  acceptInvite: (token: string, body: { password: string; name?: string }) =>
    request<{ user: User }>('POST', `/invites/${seg(token)}/accept`, { auth: false, body }),
  showPasswordReset: (token: string, signal?: AbortSignal) =>
    request<LinkInfo>('GET', `/password-resets/${seg(token)}`, { auth: false, signal }),
  resetPassword: (token: string, password: string) =>
    request<void>('POST', `/password-resets/${seg(token)}`, { auth: false, body: { password } }),

  // the clinic's webhooks (administrators)
  listWebhooks: (signal?: AbortSignal) => request<{ items: Webhook[] }>('GET', '/webhooks', { signal }),
  createWebhook: (body: WebhookRequest) => request<WebhookCreated>('POST', '/webhooks', { body }),
  updateWebhook: (id: string, changes: WebhookChange) => request<Webhook>('PATCH', `/webhooks/${seg(id)}`, { body: changes }),
  deleteWebhook: (id: string) => request<void>('DELETE', `/webhooks/${seg(id)}`),
  testWebhook: (id: string) => request<WebhookDelivery>('POST', `/webhooks/${seg(id)}/test`),
  webhookDeliveries: (params: { endpoint?: string; status?: string; cursor?: string | null; limit?: number }, signal?: AbortSignal) =>
    request<WebhookDeliveryPage>('GET', `/webhooks/deliveries${qs(params)}`, { signal }),
  replayDelivery: (id: string) => request<WebhookDelivery>('POST', `/webhook-deliveries/${seg(id)}/replay`),
};
