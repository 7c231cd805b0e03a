// The platform's vocabulary as the UI uses it (generated from lua/sova/sandboxed/vocabulary.lua;
// the API serves the same at GET /api/meta): statuses read alike whether a session gives the code
// or a patient the label, and the system fields are the validator's.
import { describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES as LIVE_TERMINAL } from '../../api/live';
import { countRows } from '../../pages/DashboardPage';
import { CALL_STATUS_LABELS, statusLabel, statusTone, TERMINAL_STATUSES } from '../fields';
import { SYSTEM_FIELDS, validatePatient } from '../validate';
import { VOCABULARY } from '../vocabulary';

describe('call statuses', () => {
  it('read the same by code and by label', () => {
    for (const s of VOCABULARY.call_statuses) {
      expect(statusLabel(s.code)).toBe(s.label);
      expect(statusLabel(s.label)).toBe(s.label);
      expect(statusTone(s.code)).toBe(statusTone(s.label));
    }
  });
  it('have tones by what they mean', () => {
    expect(statusTone('completed')).toBe('ok');
    expect(statusTone('incomplete')).toBe('warn');
    expect(statusTone('Incomplete')).toBe('warn');
    expect(statusTone('No Answer')).toBe('bad');
    expect(statusTone('failed')).toBe('bad');
    // a phone line's ends: a busy line is not a call in progress ('busy' is the tone of a running call)
    expect(statusTone('busy')).toBe('bad');
    expect(statusTone('Busy')).toBe('bad');
    expect(statusTone('canceled')).toBe('bad');
    expect(statusLabel('busy')).toBe('Busy');
    expect(statusLabel('canceled')).toBe('Canceled');
    expect(statusTone('in_progress')).toBe('busy');
    expect(statusTone('Queued')).toBe('busy');
    expect(statusTone('Not Started')).toBe('idle');
    expect(statusTone(undefined)).toBe('idle');
  });
  it('that end a call are the terminal ones, for live calls too', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['busy', 'canceled', 'completed', 'failed', 'incomplete', 'no_answer', 'voicemail']);
    expect(LIVE_TERMINAL).toBe(TERMINAL_STATUSES);
  });
  it('order the dashboard as a call goes through them', () => {
    expect(CALL_STATUS_LABELS[0]).toBe('Not Started');
    const rows = countRows({ Failed: 1, Incomplete: 5, Completed: 2, 'Not Started': 3, Odd: 4 }, CALL_STATUS_LABELS);
    expect(rows.map((r) => r.key)).toEqual(['Not Started', 'Completed', 'Incomplete', 'Failed', 'Odd']);
  });
});

describe('system fields', () => {
  it('are the vocabulary’s, each refused by the validator', () => {
    expect([...SYSTEM_FIELDS]).toEqual([...VOCABULARY.system_fields]);
    const input = Object.fromEntries(VOCABULARY.system_fields.map((k) => [k, 'x']));
    const r = validatePatient([], input, 'update');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    for (const k of VOCABULARY.system_fields) expect(r.errors[k]).toBe('system field, not settable');
  });
});
