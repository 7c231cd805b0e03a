// Shapes of what `sova api` answers: generated from schemas/openapi.json into ./schema.d.ts
// (npm run gen:api; src/api/__tests__/schema.test.ts fails when it is stale). Patient fields are
// never named here: a patient is its system keys plus whatever the workflow's patient_schema defines.
import type { components } from './schema';

type Schemas = components['schemas'];

export type FieldType = Schemas['FieldType'];
/** One entry of organizations.workflows[wf].patient_schema.fields. */
export type FieldDef = Schemas['FieldDef'];
export type PatientSchema = Schemas['PatientSchema'];
export type Branding = Schemas['Branding'];
/** GET /api/tenant: public, no auth. */
export type Tenant = Schemas['Tenant'];
export type Workflow = Schemas['Workflow'];
export type Organization = Schemas['Organization'];
export type User = Schemas['User'];
export type LoginResponse = Schemas['LoginResponse'];
export type MeResponse = Schemas['Me'];
export type FieldValue = Schemas['FieldValue'];
/** A patient: system keys plus the schema's fields (flat, as the API stores them). */
export type Patient = Schemas['Patient'];
export type PatientPage = Schemas['PatientPage'];
export type TranscriptMessage = Schemas['TranscriptMessage'];
export type SessionEvent = Schemas['SessionEvent'];
export type CallSession = Schemas['Session'];
export type Dashboard = Schemas['Dashboard'];
export type CallStart = Schemas['CallStart'];
/** POST /api/sessions/{id}/recording/link: a short-lived URL an <audio> element can fetch by itself. */
export type RecordingLink = Schemas['RecordingLink'];
export type SessionRecording = NonNullable<CallSession['recording']>;
/** A voice call's speech engines and wire audio format. */
export type SessionVoice = NonNullable<CallSession['voice']>;
/** One agent turn of a voice call: ms per stage from the other party's end of speech (any may be missing). */
export type TurnLatency = Schemas['TurnLatency'];
/** A campaign (batch calls) as listed; its detail adds progress: counts, in flight, attempts. */
export type Campaign = Schemas['Campaign'];
export type CampaignDetail = Schemas['CampaignDetail'];
export type CampaignRequest = Schemas['CampaignRequest'];
export type CampaignResult = Schemas['CampaignResult'];
export type CallingWindow = Schemas['CallingWindow'];
export type RetryRule = Schemas['RetryRule'];
/** GET /api/users (administrators): the clinic's users and its invitations not used or revoked. */
export type UserList = Schemas['UserList'];
export type Invite = Schemas['Invite'];
/** POST /api/users/invites: the invitation and its one-time link (a path of this address). */
export type InviteCreated = Schemas['InviteCreated'];
export type UserChange = Schemas['UserChange'];
/** POST /api/users/{id}/password-reset: a one-time link (a path of this address). */
export type ResetLink = Schemas['ResetLink'];
/** What a one-time link is for: GET /api/invites/{token}, GET /api/password-resets/{token}. */
export type LinkInfo = Schemas['LinkInfo'];
/** POST /api/workflows/{wf}/patients/import: a CSV file checked (validate) or imported. */
export type PatientImportRequest = Schemas['PatientImportRequest'];
/** One problem of the file: row 1 is its header; the column as the file names it. */
export type PatientImportError = Schemas['PatientImportError'];
/** mode validate: the counts, the errors, the columns and the cells as the server read them. */
export type PatientImportCheck = Schemas['PatientImportCheck'];
/** An import done: the patients written, in the file's order. */
export type PatientImportResult = Schemas['PatientImportResult'];
/** The error body of every non-2xx answer. */
export type ErrorBody = Schemas['Error'];

/** Messages the bot sends over the live-call WebSocket (the bot's protocol, not the API's;
 * docs/live-protocol.md). In a voice call binary frames carry the audio; these stay text. */
export type LiveMessage =
  | {
      type: 'transcript';
      role: 'assistant' | 'user' | string;
      text: string;
      turn?: number;
      /** Voice, the other party's words: false while the recognizer may still change them. */
      final?: boolean;
      /** Voice, the agent's line: it was cut off; `text` is the part actually played. */
      interrupted?: boolean;
    }
  | { type: 'turn'; expecting: 'other_party'; turn: number }
  | { type: 'status'; status: string }
  /** `by`: the answering-machine verdict of an answered_by event (human, machine_end_beep, fax, ...). */
  | { type: 'event'; event: string; to?: string; digits?: string; by?: string }
  | { type: 'error'; message: string }
  /** The bot takes the voice call in this format, the same both ways. */
  | {
      type: 'audio.ready';
      encoding: 'pcm_s16le' | 'mulaw';
      sample_rate: number;
      channels: 1;
      frame_ms: number;
      stt?: string;
      tts?: string;
    }
  /** Drop everything buffered for playback now: the other party talked over the agent. */
  | { type: 'audio.clear' }
  /** The bot heard the other party start or stop speaking; `probe`: on hold, a voice may be back. */
  | { type: 'speech'; state: 'started' | 'stopped'; probe?: boolean };

/** Messages the browser sends to the bot. */
export type LiveClientMessage =
  | { type: 'say'; text: string }
  | { type: 'hangup' }
  | { type: 'audio.start'; encoding: 'pcm_s16le' | 'mulaw'; sample_rate: number; channels: 1 }
  | { type: 'dtmf'; digits: string }
  | { type: 'mute'; muted: boolean };
/** A clinic's webhook endpoint (administrators); the secret is shown once, at creation (WebhookCreated). */
export type Webhook = Schemas['Webhook'];
export type WebhookCreated = Schemas['WebhookCreated'];
export type WebhookEvent = Schemas['WebhookEvent'];
export type WebhookRequest = Schemas['WebhookRequest'];
export type WebhookChange = Schemas['WebhookChange'];
/** One delivery of the log: its status, attempts (each with its answer) and next retry. */
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookDeliveryPage = Schemas['WebhookDeliveryPage'];
