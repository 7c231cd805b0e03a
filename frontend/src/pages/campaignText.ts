// How a campaign's statuses and results read (the codes are the API's: schemas/openapi.json).
export const STATUS_LABEL: Record<string, string> = {
  preparing: 'Preparing',
  running: 'Running',
  paused: 'Paused',
  cancelled: 'Cancelled',
  finished: 'Finished',
};

/** The counts, in the order staff read them: what is left, then how the calls ended. */
export const RESULT_ORDER = [
  'waiting',
  'in_flight',
  'completed',
  'incomplete',
  'voicemail',
  'no_answer',
  'busy',
  'failed',
  'skipped',
  'cancelled',
] as const;

export const RESULT_LABEL: Record<string, string> = {
  waiting: 'Waiting',
  in_flight: 'In flight',
  completed: 'Completed',
  incomplete: 'Incomplete',
  voicemail: 'Voicemail',
  no_answer: 'No answer',
  busy: 'Busy',
  failed: 'Failed',
  skipped: 'Skipped',
  cancelled: 'Cancelled',
};

/** An ISO time as the browser's local date and time ("" for none). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}
