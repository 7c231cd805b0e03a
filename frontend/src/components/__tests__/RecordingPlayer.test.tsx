// The session page plays a recorded call: the <audio> element gets a link from the API (it cannot
// send the token), the transcript's lines seek it to their time from the call's start, the line
// being heard is marked, an expired link is replaced where playback was, and the markup is axe-clean.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen } from '@testing-library/react';
import axe from 'axe-core';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { offsetSeconds } from '../RecordingPlayer';

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example', role: 'staff' }, organization: org };

const recorded = {
  id: 's1', patient_id: 'p1', workflow: WF, mode: 'browser', status: 'completed',
  created_at: '2026-01-02T10:00:00Z', updated_at: '2026-01-02T10:05:00Z', started_at: '2026-01-02T10:00:00Z',
  recording: { bytes: 640044, duration_seconds: 10, content_type: 'audio/wav' },
  transcript: {
    messages: [
      { role: 'assistant', content: 'Hello, this is the clinic.', timestamp: '2026-01-02T10:00:01Z' },
      { role: 'user', content: 'Hi, go ahead.', timestamp: '2026-01-02T10:00:04.500Z' },
      { role: 'assistant', content: 'Thank you.', timestamp: '2026-01-02T10:00:08Z' },
    ],
    summary: 'ok',
  },
};

function setup(session: object, linkReplies: [number, unknown][] = []) {
  signedIn();
  let n = 0;
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, me],
    'GET /api/sessions/s1': [200, session],
    'POST /api/sessions/s1/recording/link': () =>
      linkReplies[n++] ?? [200, { url: `/api/sessions/s1/recording?token=t${n}`, expires_in: 900 }],
  });
}

afterEach(() => vi.restoreAllMocks());

describe('the recording on the session page', () => {
  it('computes offsets from the session start', () => {
    expect(offsetSeconds('2026-01-02T10:00:00Z', '2026-01-02T10:00:04.500Z')).toBe(4.5);
    expect(offsetSeconds('2026-01-02T10:00:05Z', '2026-01-02T10:00:04Z')).toBe(0);
    expect(offsetSeconds(undefined, '2026-01-02T10:00:04Z')).toBeNull();
    expect(offsetSeconds('2026-01-02T10:00:00Z', 'soon')).toBeNull();
  });

  it('plays through a link fetched with the token, and a line seeks to its time', async () => {
    const api = setup(recorded);
    const play = vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
    renderApp('/sessions/s1');
    const player = (await screen.findByLabelText(/Call recording, 10 s/)) as HTMLAudioElement;
    expect(player.tagName).toBe('AUDIO');
    expect(player.getAttribute('src')).toBe('/api/sessions/s1/recording?token=t1');
    expect(player.getAttribute('preload')).toBe('metadata');
    expect(player.hasAttribute('controls')).toBe(true);
    const link = api.calls.find((c) => c.path === '/api/sessions/s1/recording/link');
    expect(link?.method).toBe('POST');
    expect(link?.auth).toBe('Bearer test-token');

    fireEvent.click(screen.getByRole('button', { name: 'Play from 0:04: Hi, go ahead.' }));
    expect(player.currentTime).toBe(4.5);
    expect(play).toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Play from 0:01: Hello, this is the clinic.' }));
    expect(player.currentTime).toBe(1);
  });

  it('marks the line being heard', async () => {
    setup(recorded);
    renderApp('/sessions/s1');
    const player = (await screen.findByLabelText(/Call recording/)) as HTMLAudioElement;
    player.currentTime = 5;
    fireEvent.timeUpdate(player);
    const current = document.querySelector('[aria-current="true"]');
    expect(current?.textContent).toContain('Hi, go ahead.');
    player.currentTime = 9;
    fireEvent.timeUpdate(player);
    expect(document.querySelector('[aria-current="true"]')?.textContent).toContain('Thank you.');
  });

  it('replaces an expired link and resumes where it was', async () => {
    const api = setup(recorded);
    const play = vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
    vi.spyOn(HTMLMediaElement.prototype, 'paused', 'get').mockReturnValue(false);
    renderApp('/sessions/s1');
    const player = (await screen.findByLabelText(/Call recording/)) as HTMLAudioElement;
    player.currentTime = 7;
    await act(async () => {
      fireEvent.error(player);
    });
    const relinked = (await screen.findByLabelText(/Call recording/)) as HTMLAudioElement;
    await vi.waitFor(() => expect(relinked.getAttribute('src')).toBe('/api/sessions/s1/recording?token=t2'));
    fireEvent.loadedMetadata(relinked);
    expect(relinked.currentTime).toBe(7);
    expect(play).toHaveBeenCalled();
    expect(api.calls.filter((c) => c.path.endsWith('/recording/link'))).toHaveLength(2);
  });

  it('says so when the link cannot be had', async () => {
    setup(recorded, [[503, { error: { code: 'audit_unavailable', message: 'cannot record this access; nothing was served' } }]]);
    renderApp('/sessions/s1');
    expect((await screen.findByRole('alert')).textContent).toMatch(/cannot record this access/i);
    expect(document.querySelector('audio')).toBeNull();
  });

  it('shows no player and plain lines without a recording', async () => {
    const api = setup({ ...recorded, recording: undefined });
    renderApp('/sessions/s1');
    expect(await screen.findByText('Hi, go ahead.')).toBeTruthy();
    expect(document.querySelector('audio')).toBeNull();
    expect(screen.queryByRole('button', { name: /Play from/ })).toBeNull();
    expect(api.calls.some((c) => c.path.includes('/recording'))).toBe(false);
  });

  it('is axe-clean with the player and seekable lines', async () => {
    setup(recorded);
    const { container } = renderApp('/sessions/s1');
    await screen.findByLabelText(/Call recording/);
    const result = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' ')}`)).toEqual([]);
  });
});
