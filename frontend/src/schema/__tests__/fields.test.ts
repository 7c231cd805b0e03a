// Deriving from the schema: form values and payloads, and how values read.
import { describe, expect, it } from 'vitest';
import {
  changedPayload,
  createPayload,
  enabledWorkflows,
  eventLabel,
  formatValue,
  initialValues,
  payloadValue,
  schemaOf,
  statusLabel,
  toDatetimeLocal,
} from '../fields';
import { dailySeries } from '../../components/DailyChart';
import { VOCABULARY } from '../vocabulary';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';

const f = (k: string) => SCHEMA.find((x) => x.key === k)!;

describe('form values', () => {
  it('start from the defaults: the select default, a false checkbox, empty text', () => {
    const v = initialValues(SCHEMA);
    expect(v.delta_choice).toBe('Green');
    expect(v.zeta_flag).toBe(false);
    expect(v.alpha_text).toBe('');
  });
  it('turn into typed payload values', () => {
    expect(payloadValue(f('epsilon_amount'), ' 4.5 ')).toBe(4.5);
    expect(payloadValue(f('epsilon_amount'), 'abc')).toBe('abc'); // left for validation to refuse
    expect(payloadValue(f('epsilon_amount'), '')).toBeNull();
    expect(payloadValue(f('zeta_flag'), true)).toBe(true);
    expect(payloadValue(f('alpha_text'), '   ')).toBeNull();
  });
  it('create leaves empty inputs out so the server applies defaults', () => {
    expect(createPayload(SCHEMA, { ...initialValues(SCHEMA), alpha_text: 'x' })).toEqual({
      alpha_text: 'x',
      delta_choice: 'Green',
      zeta_flag: false,
    });
  });
  it('an edit sends only what changed (whitespace alone is no change)', () => {
    const before = { ...initialValues(SCHEMA), alpha_text: 'Same', epsilon_amount: '3' };
    expect(changedPayload(SCHEMA, before, { ...before, alpha_text: ' Same ' })).toEqual({});
    expect(changedPayload(SCHEMA, before, { ...before, epsilon_amount: '' })).toEqual({ epsilon_amount: null });
  });
  it('datetime values fit a datetime-local input', () => {
    expect(toDatetimeLocal('2026-12-01T10:30:00+05:30')).toBe('2026-12-01T10:30');
  });
});

describe('reading values', () => {
  it('by type', () => {
    expect(formatValue(f('zeta_flag'), false)).toBe('No');
    expect(formatValue(f('beta_day'), '2020-05-06')).toBe('May 6, 2020');
    expect(formatValue(f('alpha_text'), null)).toBe('—');
    expect(formatValue(undefined, 'raw')).toBe('raw');
  });
  it('statuses from the bot and from the patient read alike', () => {
    expect(statusLabel('no_answer')).toBe('No Answer');
    expect(statusLabel('No Answer')).toBe('No Answer');
    expect(statusLabel('In Progress')).toBe('In Progress');
    expect(statusLabel('ended')).toBe('Ended'); // not a call status: read as itself
  });
});

describe('session events', () => {
  it('read as the vocabulary names them, and an unknown type as itself', () => {
    expect(VOCABULARY.session_events.length).toBeGreaterThan(0);
    for (const e of VOCABULARY.session_events) expect(eventLabel(e.type)).toBe(e.label);
    expect(eventLabel('hold_started')).toBe('Hold started');
  });
});

describe('workflows', () => {
  it('only enabled ones are offered or resolved', () => {
    const org = orgWith(SCHEMA);
    expect(enabledWorkflows(org).map((w) => w.key)).toEqual([WF]);
    expect(schemaOf(org, 'wf_off')).toBeNull();
    expect(schemaOf(org, 'nope')).toBeNull();
    expect(schemaOf(org, WF)).toBe(SCHEMA);
  });
});

describe('calls per day', () => {
  it('fills 30 days up to today with zeros', () => {
    const today = Date.parse('2026-11-27T12:00:00Z');
    const s = dailySeries({ '2026-11-27': 3, '2026-11-20': 1, '2025-01-01': 9 }, 30, today);
    expect(s).toHaveLength(30);
    expect(s[29]).toEqual({ day: '2026-11-27', n: 3 });
    expect(s[0].day).toBe('2026-10-29');
    expect(s.reduce((a, d) => a + d.n, 0)).toBe(4);
  });
});
