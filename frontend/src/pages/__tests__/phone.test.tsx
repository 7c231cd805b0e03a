// A phone call from the web UI: "Place phone call" asks first, then opens the live page watching
// (202) or says why the API refused (422: no telephony, no voice, no number) and changes nothing
// else. The watching page sends nothing on the socket, offers nothing to type, say or press, and
// shows the line's progress from its events, the live transcript and the events; a reload keeps
// it watching. The session page names the phone mode and who answered. While the call runs,
// Listen plays its audio (listenToCall stands in here: src/api/__tests__/listen.test.ts has it).
import axe from 'axe-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { ApiError } from '../../api/client';
import type { ListenHandlers, Listening } from '../../api/listen';
import { rememberLiveUrl } from '../../api/live';
import { installFakeApi, renderApp, signedIn, tenantOf, type Reply } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { answeredByLine, eventLine } from '../SessionPage';

const listenToCall = vi.hoisted(() => vi.fn<(sessionId: string, handlers: ListenHandlers) => Promise<Listening>>());
vi.mock('../../api/listen', () => ({ listenToCall }));

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example', role: 'staff' }, organization: org };
const patient = { id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Someone', beta_day: '2001-02-03', eta_line: '+15165550123' };
const LIVE = 'ws://bot.test/calls/s1/live?token=t';
const running = { id: 's1', patient_id: 'p1', workflow: WF, mode: 'phone', status: 'in_progress', created_at: '2026-01-02T10:00:00Z', updated_at: '2026-01-02T10:00:00Z', transcript: { messages: [] }, events: [] };

class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  url: string;
  readyState = 0;
  binaryType = 'blob';
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { wasClean: boolean }) => void) | null = null;
  constructor(url: string) {
    this.url = url;
    FakeSocket.all.push(this);
  }
  send(data: unknown) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  emit(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  end() {
    this.readyState = 3;
    this.onclose?.({ wasClean: true });
  }
}

function setup(routes: Record<string, Reply> = {}) {
  signedIn();
  FakeSocket.all = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, me],
    'GET /api/patients/p1': [200, patient],
    'GET /api/patients/p1/sessions': [200, { items: [] }],
    'POST /api/patients/p1/calls': [202, { session_id: 's1', live_url: LIVE }],
    'GET /api/sessions/s1': [200, running],
    ...routes,
  });
}

async function socket(): Promise<FakeSocket> {
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  const ws = FakeSocket.all[0];
  act(() => {
    ws.open();
    ws.emit({ type: 'status', status: 'in_progress' });
  });
  return ws;
}

/** The line's steps as read: name and phase ("Ringing: now"). */
function steps(): string[] {
  const list = screen.getByRole('list', { name: 'The phone line' });
  return within(list)
    .getAllByRole('listitem')
    .map((li) => `${li.querySelector('.line-step-name')!.textContent}: ${li.querySelector('.sr-only')!.textContent!.trim().slice(1, -1)}`);
}

async function watching(routes: Record<string, Reply> = {}): Promise<FakeSocket> {
  setup(routes);
  rememberLiveUrl('s1', LIVE, true);
  renderApp('/calls/s1/live');
  expect(await screen.findByRole('heading', { name: 'Phone call — watching' })).toBeTruthy();
  return socket();
}

const axeViolations = async () => {
  const result = await axe.run(document.body, { rules: { 'color-contrast': { enabled: false } } });
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(', ')}`);
};

afterEach(() => vi.restoreAllMocks());

describe('Place phone call', () => {
  it('asks first, naming the patient, then starts a phone call and opens the live page watching it', async () => {
    const api = setup();
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true);
    renderApp('/patients/p1');
    fireEvent.click(await screen.findByRole('button', { name: 'Place phone call' }));
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(confirm.mock.calls[0][0]).toMatch(/^Place a real phone call to .+\? Sova dials the number in their record now\.$/);
    expect(confirm.mock.calls[0][0]).not.toContain('+1516'); // the number is not repeated in a dialog
    expect(await screen.findByRole('heading', { name: 'Phone call — watching' })).toBeTruthy();
    expect(api.calls.filter((c) => c.method === 'POST').map((c) => [c.path, c.body])).toEqual([['/api/patients/p1/calls', { mode: 'phone' }]]);
    const ws = await socket();
    expect(ws.url).toBe(LIVE);
    expect(screen.getByRole('link', { name: '← Back to patient' }).getAttribute('href')).toBe('/patients/p1');
  });

  it('does nothing when the staff member does not confirm', async () => {
    const api = setup();
    vi.spyOn(window, 'confirm').mockReturnValue(false);
    renderApp('/patients/p1');
    fireEvent.click(await screen.findByRole('button', { name: 'Place phone call' }));
    expect(api.calls.some((c) => c.method === 'POST')).toBe(false);
    expect(screen.getByRole('heading', { level: 1 })).toBeTruthy();
    expect(screen.queryByRole('heading', { name: 'Phone call — watching' })).toBeNull();
  });

  it.each([
    ['telephony_not_configured', 'phone calls need Twilio credentials: set BETA_TWILIO_ACCOUNT_SID, BETA_TWILIO_AUTH_TOKEN', 'Phone calls need Twilio credentials: set BETA_TWILIO_ACCOUNT_SID, BETA_TWILIO_AUTH_TOKEN.'],
    ['voice_not_configured', 'phone calls need speech engines: no stt in services.yaml', 'Phone calls need speech engines: no stt in services.yaml.'],
    ['no_number', "the patient's eta_line is not a phone number in E.164 form (+15551234567)", "The patient's eta_line is not a phone number in E.164 form (+15551234567)."],
  ])('on 422 %s shows what the API says in the page, and changes nothing else', async (code, message, shown) => {
    const api = setup({ 'POST /api/patients/p1/calls': [422, { error: { code, message, fields: { mode: 'x' } } }] });
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    renderApp('/patients/p1');
    const button = await screen.findByRole('button', { name: 'Place phone call' });
    const before = screen.getByRole('heading', { level: 1 }).textContent;
    fireEvent.click(button);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe(shown);
    // still the patient's page, the buttons usable again, no socket, nothing remembered
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe(before);
    expect((screen.getByRole('button', { name: 'Place phone call' }) as HTMLButtonElement).disabled).toBe(false);
    expect((screen.getByRole('button', { name: 'Start test call' }) as HTMLButtonElement).disabled).toBe(false);
    expect(FakeSocket.all).toHaveLength(0);
    expect(sessionStorage.length).toBe(0);
    expect(api.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
    expect(await axeViolations()).toEqual([]);
  });
});

describe('watching a phone call', () => {
  it('shows the line’s progress from its events, the live transcript and the events, and sends nothing', async () => {
    const ws = await watching();
    // nothing to take part with
    expect(screen.queryByRole('textbox')).toBeNull();
    expect(screen.queryByRole('radio')).toBeNull();
    expect(screen.queryByRole('checkbox')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Hang up' })).toBeNull();
    expect(screen.queryByRole('group', { name: /Keypad/ })).toBeNull();
    expect(screen.getByText(/Nothing on this page reaches the call/)).toBeTruthy();
    expect(steps()).toEqual(['Dialing: now', 'Ringing: not yet', 'Answered: not yet', 'Ended: not yet']);

    act(() => ws.emit({ type: 'event', event: 'dialed' }));
    expect(steps()[0]).toBe('Dialing: now');
    act(() => ws.emit({ type: 'event', event: 'ringing' }));
    expect(steps().slice(0, 2)).toEqual(['Dialing: done', 'Ringing: now']);
    expect(document.querySelector('.page-sub')!.textContent).toContain('line: Ringing');
    act(() => ws.emit({ type: 'event', event: 'answered' }));
    expect(steps().slice(0, 3)).toEqual(['Dialing: done', 'Ringing: done', 'Answered: now']);
    act(() => ws.emit({ type: 'event', event: 'answered_by', by: 'human' }));
    expect(steps()[2]).toBe('Answered (person): now');
    expect(document.querySelector('[aria-current="step"]')!.textContent).toContain('Answered (person)');

    const log = screen.getByRole('log');
    act(() => {
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Hello, this is the clinic calling.', turn: 1 });
      ws.emit({ type: 'speech', state: 'started' });
      ws.emit({ type: 'transcript', role: 'user', text: 'who is', final: false, turn: 2 });
    });
    expect(screen.getByText('The other party is speaking…')).toBeTruthy();
    expect(within(log).getByText('who is').closest('li')!.className).toContain('line-interim');
    act(() => {
      ws.emit({ type: 'transcript', role: 'user', text: 'Who is calling?', final: true, turn: 2 });
      ws.emit({ type: 'speech', state: 'stopped' });
      ws.emit({ type: 'turn', expecting: 'other_party', turn: 2 });
      ws.emit({ type: 'event', event: 'dtmf', digits: '1' });
      ws.emit({ type: 'event', event: 'dtmf_received', digits: '42#' });
      ws.emit({ type: 'event', event: 'transfer', to: '+15165550000' });
      ws.emit({ type: 'event', event: 'node' });
    });
    expect(within(log).queryByText('who is')).toBeNull();
    expect(within(log).getByText('Who is calling?')).toBeTruthy();
    expect(within(log).getByText('Answered by a person')).toBeTruthy();
    expect(within(log).queryByText(/^(Dialed|Ringing|Answered)$/)).toBeNull(); // the steps show those
    expect(within(log).getByText('Keypad tones: 1 (the agent)')).toBeTruthy();
    expect(within(log).getByText('Keys pressed: 42# (the other party)')).toBeTruthy();
    expect(within(log).getByText('Transfer to +15165550000')).toBeTruthy();
    expect(screen.queryByText(/Your turn/)).toBeNull();
    expect(screen.queryByText('The other party is speaking…')).toBeNull();

    act(() => ws.emit({ type: 'speech', state: 'started', probe: true }));
    expect(screen.getByText('On hold: checking whether someone is back on the line…')).toBeTruthy();

    act(() => {
      ws.emit({ type: 'status', status: 'completed' });
      ws.end();
    });
    expect(steps()).toEqual(['Dialing: done', 'Ringing: done', 'Answered (person): done', 'Ended: Completed: now']);
    expect(screen.getByRole('link', { name: /View the session/ }).getAttribute('href')).toBe('/sessions/s1');
    expect(ws.sent).toEqual([]);
  });

  it.each([
    ['busy', 'Busy'],
    ['canceled', 'Canceled'],
    ['no_answer', 'No Answer'],
  ])('a line that ends %s: its badge, and the steps it never reached', async (code, label) => {
    const ws = await watching();
    act(() => {
      ws.emit({ type: 'event', event: 'dialed' });
      ws.emit({ type: 'event', event: 'ringing' });
      ws.emit({ type: 'status', status: code });
      ws.end();
    });
    const badge = document.querySelector('.page-sub .badge')!;
    expect(badge.textContent).toBe(label);
    expect(badge.className).toContain('badge-bad');
    expect(steps()).toEqual(['Dialing: done', 'Ringing: done', 'Answered: not reached', `Ended: ${label}: now`]);
    expect(screen.getByText(`The call has ended (${label}).`, { exact: false })).toBeTruthy();
    expect(screen.getByText('Nothing was said.')).toBeTruthy();
    expect(ws.sent).toEqual([]);
  });

  it('says an answering machine answered', async () => {
    const ws = await watching();
    act(() => ws.emit({ type: 'event', event: 'answered_by', by: 'machine_end_beep' }));
    expect(steps()).toEqual(['Dialing: done', 'Ringing: done', 'Answered (answering machine): now', 'Ended: not yet']);
    expect(within(screen.getByRole('log')).getByText('Answered by an answering machine')).toBeTruthy();
  });

  it('after a reload, watches again and takes the line so far from the session', async () => {
    await watching({
      'GET /api/sessions/s1': [200, { ...running, events: [
        { type: 'dialed', timestamp: '2026-01-02T10:00:00Z' },
        { type: 'ringing', timestamp: '2026-01-02T10:00:01Z' },
        { type: 'answered', timestamp: '2026-01-02T10:00:05Z' },
        { type: 'answered_by', by: 'machine_end_silence', timestamp: '2026-01-02T10:00:09Z' },
      ] }],
    });
    await waitFor(() => expect(steps()[2]).toBe('Answered (answering machine): now'));
    expect(steps().slice(0, 2)).toEqual(['Dialing: done', 'Ringing: done']);
  });

  it('knows a phone call from its session when this tab did not start it', async () => {
    setup();
    rememberLiveUrl('s1', LIVE); // not marked watch-only
    renderApp('/calls/s1/live');
    expect(await screen.findByRole('heading', { name: 'Phone call — watching' })).toBeTruthy();
    const ws = await socket();
    expect(screen.queryByRole('textbox')).toBeNull();
    expect(ws.sent).toEqual([]);
  });

  it('keeps the browser test call as it was', async () => {
    setup({ 'GET /api/sessions/s1': [200, { ...running, mode: 'browser' }] });
    rememberLiveUrl('s1', LIVE);
    renderApp('/calls/s1/live');
    expect(await screen.findByRole('heading', { name: 'Live call' })).toBeTruthy();
    await socket();
    expect(screen.getByLabelText('Your line')).toBeTruthy();
    expect(screen.queryByRole('list', { name: 'The phone line' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Listen' })).toBeNull();
  });

  it('is axe-clean while the call runs and once it has ended', async () => {
    const ws = await watching();
    act(() => {
      ws.emit({ type: 'event', event: 'ringing' });
      ws.emit({ type: 'event', event: 'answered' });
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Hello.', turn: 1 });
      ws.emit({ type: 'transcript', role: 'user', text: 'hel', final: false, turn: 2 });
      ws.emit({ type: 'speech', state: 'started' });
    });
    expect(await axeViolations()).toEqual([]);
    act(() => {
      ws.emit({ type: 'status', status: 'voicemail' });
      ws.end();
    });
    expect(await axeViolations()).toEqual([]);
  });
});

describe('listening to a watched phone call', () => {
  /** listenToCall's answer, held until the test gives it; what it was given, and the handle's stop. */
  function listening() {
    const stop = vi.fn();
    let give!: () => void;
    let fail!: (e: unknown) => void;
    listenToCall.mockImplementation(
      () =>
        new Promise<Listening>((resolve, reject) => {
          give = () => resolve({ stop });
          fail = reject;
        }),
    );
    const handlers = () => listenToCall.mock.calls[0][1];
    return { stop, give: () => act(async () => give()), fail: (e: unknown) => act(async () => fail(e)), handlers };
  }
  const listen = () => screen.getByRole('button', { name: 'Listen' });
  const stopButton = () => screen.getByRole('button', { name: 'Stop listening' });
  const state = () => document.querySelector('.listen-state')!.textContent;

  beforeEach(() => {
    listenToCall.mockReset();
  });

  it('starts in the click itself, plays until Stop listening, and says it is audited', async () => {
    const ws = await watching();
    const l = listening();
    expect(listen().getAttribute('aria-pressed')).toBe('false');
    expect(screen.getByText('Listening is recorded in the audit log, and in the call’s events.')).toBeTruthy();
    fireEvent.click(listen());
    // at once, not after a render or a request: the browser lets audio start only in the gesture
    expect(listenToCall).toHaveBeenCalledTimes(1);
    expect(listenToCall.mock.calls[0][0]).toBe('s1');
    expect(stopButton().getAttribute('aria-pressed')).toBe('true');
    expect(state()).toBe('Connecting to the call’s audio…');
    await l.give();
    act(() => l.handlers().onReady?.({ encoding: 'pcm_s16le', sample_rate: 8000, channels: 1 }));
    expect(state()).toBe('Listening: both sides of the call, 8 kHz.');
    act(() => l.handlers().onBuffered?.(140));
    expect(screen.getByText('140 ms buffered')).toBeTruthy();
    expect(l.stop).not.toHaveBeenCalled();
    fireEvent.click(stopButton());
    expect(l.stop).toHaveBeenCalledTimes(1);
    expect(listen().getAttribute('aria-pressed')).toBe('false');
    expect(state()).toBe('');
    // a later word from the stopped socket changes nothing
    act(() => l.handlers().onEnded?.('call_ended'));
    expect(state()).toBe('');
    expect(ws.sent).toEqual([]);
  });

  it('stops when the page goes away', async () => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    await l.give();
    cleanup();
    expect(l.stop).toHaveBeenCalledTimes(1);
  });

  it('stops the handle that comes after Stop listening was pressed while it started', async () => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    fireEvent.click(stopButton());
    expect(listen().getAttribute('aria-pressed')).toBe('false');
    await l.give();
    expect(l.stop).toHaveBeenCalledTimes(1);
    expect(state()).toBe('');
  });

  it.each([
    ['call_ended', 'The call ended.'],
    ['fell_behind', 'Listening stopped: the connection fell behind.'],
    ['lost', 'Listening stopped: the connection to the call’s audio was lost.'],
  ] as const)('when the socket ends by itself (%s): back to Listen, saying why', async (why, said) => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    await l.give();
    act(() => l.handlers().onReady?.({ encoding: 'pcm_s16le', sample_rate: 8000, channels: 1 }));
    act(() => l.handlers().onEnded?.(why));
    expect(listen().getAttribute('aria-pressed')).toBe('false');
    expect(state()).toBe(said);
    expect(screen.getByText(said).getAttribute('role')).toBe('status'); // told as it happens
    // and Listen again starts afresh
    listening();
    fireEvent.click(listen());
    expect(listenToCall).toHaveBeenCalledTimes(2);
    expect(state()).toBe('Connecting to the call’s audio…');
  });

  it.each([
    [new ApiError(409, 'call_not_in_progress', 'the call is not in progress'), 'The call has ended.'],
    [new ApiError(503, 'audit_unavailable', 'audit log unavailable'), 'Listening is not available right now (the access could not be recorded).'],
    [new ApiError(404, 'not_found', 'no such session'), 'No such session.'],
    [new Error('This browser cannot play the call here (no AudioWorklet).'), 'This browser cannot play the call here (no AudioWorklet).'],
  ])('says why it could not start: %s', async (err, said) => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    await l.fail(err);
    expect(screen.getByRole('alert').textContent).toBe(said);
    expect(listen().getAttribute('aria-pressed')).toBe('false');
    expect(l.stop).not.toHaveBeenCalled();
    expect(await axeViolations()).toEqual([]);
  });

  it('says the bot’s refusal, and not the close that follows it', async () => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    await l.give();
    act(() => l.handlers().onRefused?.('this call has 4 listeners already'));
    act(() => l.handlers().onEnded?.('call_ended'));
    expect(screen.getByRole('alert').textContent).toBe('This call has 4 listeners already.');
    expect(state()).toBe('');
    expect(listen().getAttribute('aria-pressed')).toBe('false');
  });

  it('is offered while the call is queued or in progress, gone once it ended (stopping what played)', async () => {
    setup();
    rememberLiveUrl('s1', LIVE, true);
    renderApp('/calls/s1/live');
    expect(await screen.findByRole('heading', { name: 'Phone call — watching' })).toBeTruthy();
    expect(listen()).toBeTruthy(); // queued: nothing heard yet
    const ws = await socket();
    const l = listening();
    fireEvent.click(listen());
    await l.give();
    act(() => {
      ws.emit({ type: 'status', status: 'completed' });
      ws.end();
    });
    expect(screen.queryByRole('button', { name: /listen/i })).toBeNull();
    expect(screen.queryByText(/recorded in the audit log/)).toBeNull();
    expect(l.stop).toHaveBeenCalledTimes(1);
  });

  it('is not offered once the session says the call ended', async () => {
    setup({ 'GET /api/sessions/s1': [200, { ...running, status: 'completed' }] });
    rememberLiveUrl('s1', LIVE, true);
    renderApp('/calls/s1/live');
    await waitFor(() => expect(screen.getByText(/The call has ended/)).toBeTruthy());
    expect(screen.queryByRole('button', { name: /listen/i })).toBeNull();
  });

  it('shows listening in the events in plain words, without the listener’s id', async () => {
    const ws = await watching();
    act(() => {
      ws.emit({ type: 'event', event: 'listening_started', user_id: 'u-secret-7' });
      ws.emit({ type: 'event', event: 'listening_ended', user_id: 'u-secret-7' });
    });
    const log = screen.getByRole('log');
    expect(within(log).getByText('A staff member started listening to the call')).toBeTruthy();
    expect(within(log).getByText('A staff member stopped listening to the call')).toBeTruthy();
    expect(document.body.textContent).not.toContain('u-secret-7');
  });

  it('is axe-clean while listening', async () => {
    await watching();
    const l = listening();
    fireEvent.click(listen());
    await l.give();
    act(() => l.handlers().onReady?.({ encoding: 'pcm_s16le', sample_rate: 8000, channels: 1 }));
    expect(await axeViolations()).toEqual([]);
  });
});

describe('a phone call’s session page', () => {
  const ended = {
    ...running, status: 'voicemail', ended_by: 'agent', duration_seconds: 41,
    phone: { call_sid: 'CA0123456789abcdef0123456789abcdef', answered_by: 'machine_end_beep' },
    voice: { stt: 'pocketsphinx', tts: 'flite', encoding: 'mulaw', sample_rate: 8000 },
    events: [
      { type: 'dialed', timestamp: '2026-01-02T10:00:00Z' },
      { type: 'answered_by', by: 'machine_end_beep', timestamp: '2026-01-02T10:00:09Z' },
      { type: 'telephony_error', what: 'press', reason: 'HTTP 500', timestamp: '2026-01-02T10:00:10Z' },
      { type: 'listening_started', user_id: 'u-secret-7', timestamp: '2026-01-02T10:00:11Z' },
      { type: 'listening_ended', user_id: 'u-secret-7', timestamp: '2026-01-02T10:00:30Z' },
    ],
  };
  const row = (dt: string) => screen.getByText(dt, { selector: 'dt' }).nextElementSibling as HTMLElement;

  it('names the mode, who answered, and the line’s events', async () => {
    setup({ 'GET /api/sessions/s1': [200, ended] });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(row('Mode').textContent).toBe('Phone call');
    expect(row('Answered by').textContent).toBe('An answering machine (machine_end_beep)');
    expect(document.querySelector('.page-sub .badge')!.textContent).toBe('Voicemail');
    expect(screen.getByText('Answered by: An answering machine (machine_end_beep)')).toBeTruthy();
    expect(screen.getByText('Telephony error (press): HTTP 500')).toBeTruthy();
    expect(screen.getByText('Dialed')).toBeTruthy();
    expect(screen.getByText('A staff member started listening to the call')).toBeTruthy();
    expect(screen.getByText('A staff member stopped listening to the call')).toBeTruthy();
    expect(document.body.textContent).not.toContain('u-secret-7');
    expect(await axeViolations()).toEqual([]);
  });

  it('leaves out who answered when Twilio was not asked', async () => {
    setup({ 'GET /api/sessions/s1': [200, { ...ended, phone: { call_sid: 'CA0123456789abcdef0123456789abcdef' } }] });
    renderApp('/sessions/s1');
    await screen.findByRole('heading', { name: 'Call session' });
    expect(screen.queryByText('Answered by', { selector: 'dt' })).toBeNull();
  });

  it('words the verdicts', () => {
    expect(answeredByLine('human')).toBe('A person (human)');
    expect(answeredByLine('machine_end_other')).toBe('An answering machine (machine_end_other)');
    expect(answeredByLine('fax')).toBe('A fax machine (fax)');
    expect(answeredByLine('unknown')).toBe('Not known (unknown)');
    expect(eventLine({ type: 'answered_by' }, [])).toBe('Answered by: Not known');
    expect(eventLine({ type: 'ringing' }, [])).toBe('Ringing');
  });
});
