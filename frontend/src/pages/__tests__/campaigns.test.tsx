// Campaigns in the web UI: patients ticked in the list become a campaign's patient_ids (or all
// that match the search its filter); the server's 422 field errors show beside their fields;
// the campaign page shows the progress bar and counts, follows the campaign as it runs (polling),
// and pauses it.
import axe from 'axe-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { installSignedInApi, renderApp } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { POLL_MS } from '../CampaignPage';

const JO = { id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Jo Someone' };
const AL = { id: 'p2', workflow: WF, call_status: 'Not Started', alpha_text: 'Al Other' };
const SETTINGS = { mode: 'simulated', concurrency: 5, calls_per_second: 1, retry: {} };
const CAMPAIGN = { id: 'c1', name: 'Tomorrow', workflow: WF, status: 'running', total: 4, settings: SETTINGS,
  created_at: '2026-12-04T09:00:00Z' };

function detail(done: number, status = 'running') {
  return { ...CAMPAIGN, status, done,
    counts: { waiting: 4 - done - (done < 4 ? 1 : 0), in_flight: done < 4 ? 1 : 0, completed: done, busy: 0 },
    in_flight: done < 4 ? [{ patient_id: 'p1', session_id: 's9', attempt: 1, started_at: '2026-12-04T09:01:00Z' }] : [],
    next_at: null, attempts: [] };
}

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('campaigns', () => {
  it('starts a campaign of the patients ticked in the list', async () => {
    const api = installSignedInApi(orgWith(SCHEMA), {
      [`GET /api/workflows/${WF}/patients`]: [200, { items: [JO, AL], next_cursor: null }],
      [`POST /api/workflows/${WF}/campaigns`]: [201, CAMPAIGN],
      'GET /api/campaigns/c1': [200, detail(0)],
    });
    renderApp(`/w/${WF}/patients`);
    fireEvent.click(await screen.findByRole('checkbox', { name: 'Select Al Other' }));
    fireEvent.click(screen.getByRole('button', { name: 'Call the selected (1)' }));
    expect(await screen.findByText('Calls 1 selected patient.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Start campaign' }));
    await screen.findByRole('progressbar');
    const sent = api.calls.find((c) => c.method === 'POST')?.body as Record<string, unknown>;
    expect(sent.patient_ids).toEqual(['p2']);
    expect(sent.filter).toBeUndefined();
    expect(sent.mode).toBe('simulated');
    expect(sent.window).toEqual({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00', time_zone: 'org' });
  });

  it('calls all that match the search, and shows each refusal beside its field', async () => {
    const api = installSignedInApi(orgWith(SCHEMA), {
      [`GET /api/workflows/${WF}/patients`]: [200, { items: [JO], next_cursor: null }],
      [`POST /api/workflows/${WF}/campaigns`]: [422, { error: { code: 'validation_failed', message: 'the campaign\'s settings are not valid',
        fields: { concurrency: 'a whole number from 1 to 50: the calls at once', 'retry.busy.attempts': 'a whole number from 1 to 10' } } }],
    });
    renderApp(`/w/${WF}/patients?q=jo`);
    fireEvent.click(await screen.findByRole('link', { name: 'Call all that match' }));
    expect(await screen.findByText('Calls every patient matching “jo”.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Calls at once'), { target: { value: '80' } });
    fireEvent.click(screen.getByRole('button', { name: 'Start campaign' }));
    expect(await screen.findByText('a whole number from 1 to 50: the calls at once')).toBeTruthy();
    expect(screen.getByText('a whole number from 1 to 10')).toBeTruthy();
    expect(screen.getByLabelText('Calls at once').getAttribute('aria-invalid')).toBe('true');
    const sent = api.calls.find((c) => c.method === 'POST')?.body as Record<string, unknown>;
    expect(sent.filter).toEqual({ q: 'jo' });
    expect(sent.concurrency).toBe(80);
  });

  it('follows a running campaign until it is done, and pauses it', async () => {
    let done = 1;
    let paused = false;
    const api = installSignedInApi(orgWith(SCHEMA), {
      'GET /api/campaigns/c1': () => [200, detail(done, paused ? 'paused' : done === 4 ? 'finished' : 'running')],
      'POST /api/campaigns/c1/pause': () => {
        paused = true;
        return [200, { ...CAMPAIGN, status: 'paused' }];
      },
    });
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { container } = renderApp('/campaigns/c1');
    const bar = await screen.findByRole('progressbar');
    expect(bar.getAttribute('aria-valuenow')).toBe('1');
    expect(screen.getByText(/of 4 patients done/).textContent).toBe('1 of 4 patients done (25%)');
    expect(screen.getByText('In flight (1)')).toBeTruthy();
    done = 3;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS + 50);
    });
    await waitFor(() => expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('3'));
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    expect(await screen.findByRole('button', { name: 'Resume' })).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST' && c.path === '/api/campaigns/c1/pause')).toBe(true);
    vi.useRealTimers();
    const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.map((v) => v.id)).toEqual([]);
  });
});
