// What a voice call leaves on its session page: the speech engines and the audio format in the
// call's details, the response time per turn (a waterfall whose rows pick their turn's line in the
// transcript, and play the recording from it), the agent's lines cut off by the other party, and
// the voice events labelled from the vocabulary. A text call shows none of it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, within } from '@testing-library/react';
import axe from 'axe-core';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { audioFormat, eventLine, turnLine } from '../SessionPage';

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example', role: 'staff' }, organization: org };

const voiceCall = {
  id: 's1', patient_id: 'p1', workflow: WF, mode: 'browser_voice', status: 'completed',
  created_at: '2026-01-02T10:00:00Z', updated_at: '2026-01-02T10:05:00Z', started_at: '2026-01-02T10:00:00Z',
  voice: { stt: 'pocketsphinx', tts: 'flite', encoding: 'pcm_s16le', sample_rate: 16000 },
  recording: { bytes: 320044, duration_seconds: 10, content_type: 'audio/wav' },
  latency: [
    { turn: 1, synthesizer_ms: 80.2, outbound_ms: 20 },
    { turn: 2, recognizer_ms: 310.4, model_ms: 420, synthesizer_ms: 150.5, outbound_ms: 19.1, turn_ms: 900 },
    { turn: 3, recognizer_ms: 290, model_ms: 610, synthesizer_ms: 180, outbound_ms: 20, turn_ms: 1100 },
  ],
  transcript: {
    messages: [
      { role: 'assistant', content: 'Hello, this is the clinic.', timestamp: '2026-01-02T10:00:01Z' },
      { role: 'user', content: 'Hi.', timestamp: '2026-01-02T10:00:03Z' },
      { role: 'assistant', content: 'Your appointment is', interrupted: true, said: 'Your appointment is on Tuesday at ten.', timestamp: '2026-01-02T10:00:04Z' },
      { role: 'user', content: 'Which day?', timestamp: '2026-01-02T10:00:06Z' },
      { role: 'assistant', content: 'Tuesday.', timestamp: '2026-01-02T10:00:08Z' },
      { role: 'assistant', content: '', interrupted: true, said: 'Anything else?', timestamp: '2026-01-02T10:00:09Z' },
    ],
    summary: 'ok',
  },
  events: [
    { type: 'interrupted', played_ms: 1240, timestamp: '2026-01-02T10:00:05Z' },
    { type: 'dtmf_received', digits: '12#', timestamp: '2026-01-02T10:00:07Z' },
  ],
};

function setup(session: object) {
  signedIn();
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, me],
    'GET /api/sessions/s1': [200, session],
    'POST /api/sessions/s1/recording/link': [200, { url: '/api/sessions/s1/recording?token=t1', expires_in: 900 }],
  });
}

const row = (dt: string) => screen.getByText(dt, { selector: 'dt' }).nextElementSibling as HTMLElement;

afterEach(() => vi.restoreAllMocks());

describe('helpers', () => {
  it('names the audio format', () => {
    expect(audioFormat({ stt: 'x', tts: 'y', encoding: 'pcm_s16le', sample_rate: 16000 })).toBe('16 kHz');
    expect(audioFormat({ stt: 'x', tts: 'y', encoding: 'pcm_s16le', sample_rate: 48000 })).toBe('48 kHz');
    expect(audioFormat({ stt: 'x', tts: 'y', encoding: 'mulaw', sample_rate: 8000 })).toBe('phone quality (8 kHz μ-law)');
  });

  it('finds the agent line of a turn (1 the greeting, n after the other party’s (n-1)-th line)', () => {
    const m = voiceCall.transcript.messages;
    expect(turnLine(m, 1)).toBe(0);
    expect(turnLine(m, 2)).toBe(2);
    expect(turnLine(m, 3)).toBe(4);
    expect(turnLine(m, 4)).toBeNull();
    expect(turnLine([{ role: 'user', content: 'Hello?' }, { role: 'assistant', content: 'Hi.' }], 1)).toBeNull();
  });

  it('words the voice events with their vocabulary labels', () => {
    expect(eventLine({ type: 'interrupted', played_ms: 1240 }, [])).toBe("Interrupted after 1.2 s of the agent's line");
    expect(eventLine({ type: 'interrupted' }, [])).toBe('Interrupted');
    expect(eventLine({ type: 'dtmf_received', digits: '12#' }, [])).toBe('Keys pressed: 12#');
    expect(eventLine({ type: 'dtmf', digits: '5' }, [])).toBe('Keypad tones: 5');
  });
});

describe('a voice call’s session page', () => {
  it('shows the mode, the engines and the audio format', async () => {
    setup({ ...voiceCall, recording: undefined });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(row('Mode').textContent).toBe('Browser voice test call');
    expect(row('Speech').textContent).toBe('recognizer pocketsphinx → , synthesizer flite, 16 kHz');
    expect(within(row('Speech')).getByText('pocketsphinx').tagName).toBe('CODE');
  });

  it('says phone quality for μ-law', async () => {
    setup({ ...voiceCall, voice: { stt: 'deepgram', tts: 'elevenlabs', encoding: 'mulaw', sample_rate: 8000 } });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(row('Speech').textContent).toContain('deepgram');
    expect(row('Speech').textContent).toContain('elevenlabs, phone quality (8 kHz μ-law)');
  });

  it('draws the waterfall with p50/p95 of the call', async () => {
    setup({ ...voiceCall, recording: undefined });
    renderApp('/sessions/s1');
    const wf = (await screen.findByRole('heading', { name: 'Response time per turn' })).closest('section')!;
    expect(wf.querySelector('.waterfall-stats')!.textContent).toContain('p50 900 ms');
    expect(wf.querySelector('.waterfall-stats')!.textContent).toContain('p95 1,100 ms');
    expect(wf.querySelectorAll('tbody tr')).toHaveLength(3);
  });

  it('marks the lines cut off, heard words and the unheard rest, and lists the voice events', async () => {
    setup({ ...voiceCall, recording: undefined });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    const items = document.querySelectorAll('.transcript-list > li');
    expect(items[2].querySelector('.line-mark')!.textContent).toBe('interrupted');
    expect(items[2].querySelector('.line-text')!.textContent).toBe('Your appointment is not heard: on Tuesday at ten.');
    expect(items[5].querySelector('.line-text')!.textContent).toBe('not heard: Anything else?');
    expect(items[4].querySelector('.line-mark')).toBeNull();
    expect(screen.getByText("Interrupted after 1.2 s of the agent's line")).toBeTruthy();
    expect(screen.getByText('Keys pressed: 12#')).toBeTruthy();
  });

  it('a turn picked in the waterfall marks its line in the transcript', async () => {
    setup({ ...voiceCall, recording: undefined });
    renderApp('/sessions/s1');
    fireEvent.click(await screen.findByRole('button', { name: /^Turn 2: 900 ms in all/ }));
    expect(document.querySelector('.transcript [aria-current="true"]')?.textContent).toContain('Your appointment is');
    fireEvent.click(screen.getByRole('button', { name: /^Turn 3:/ }));
    expect(document.querySelector('.transcript [aria-current="true"]')?.textContent).toContain('Tuesday.');
    expect(screen.getByRole('button', { name: /^Turn 3:/ }).getAttribute('aria-pressed')).toBe('true');
  });

  it('with a recording, a picked turn plays from its line', async () => {
    setup(voiceCall);
    const play = vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
    renderApp('/sessions/s1');
    const player = (await screen.findByLabelText(/Call recording/)) as HTMLAudioElement;
    fireEvent.click(screen.getByRole('button', { name: /^Turn 3:/ }));
    expect(player.currentTime).toBe(8);
    expect(play).toHaveBeenCalled();
    expect(document.querySelector('.transcript [aria-current="true"]')?.textContent).toContain('Tuesday.');
    // playing on: the line being heard is marked again
    player.currentTime = 3.5;
    fireEvent.timeUpdate(player);
    expect(document.querySelector('.transcript [aria-current="true"]')?.textContent).toContain('Hi.');
    expect(screen.getByRole('button', { name: /^Turn 3:/ }).getAttribute('aria-pressed')).toBe('false');
  });

  it('shows no waterfall for an empty or absent latency list', async () => {
    setup({ ...voiceCall, latency: [] });
    const { unmount } = renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(screen.queryByRole('heading', { name: 'Response time per turn' })).toBeNull();
    unmount();
    setup({ ...voiceCall, latency: undefined });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(screen.queryByRole('heading', { name: 'Response time per turn' })).toBeNull();
    expect(row('Speech').textContent).toContain('pocketsphinx');
  });

  it('is axe-clean', async () => {
    setup(voiceCall);
    const { container } = renderApp('/sessions/s1');
    await screen.findByLabelText(/Call recording/);
    const result = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' ')}`)).toEqual([]);
  });
});

describe('a text call’s session page', () => {
  it('has no speech row, no waterfall and no interruption marks', async () => {
    setup({ ...voiceCall, mode: 'browser', voice: undefined, latency: undefined, events: [],
      transcript: { messages: [{ role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Hi.' }] } });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(row('Mode').textContent).toBe('Browser test call');
    expect(screen.queryByText('Speech', { selector: 'dt' })).toBeNull();
    expect(screen.queryByRole('heading', { name: 'Response time per turn' })).toBeNull();
    expect(document.querySelector('.line-mark, .line-unsaid')).toBeNull();
  });
});
