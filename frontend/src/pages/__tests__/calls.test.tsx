// A test call from start to session: "Start test call" opens the live view on the live_url,
// lines stream in, the staff member's lines and "Hang up" go out over the socket, the end links
// to the session, which shows the outcome labelled from the schema and the flow that ran. And
// the dashboard counts by status and by each select field.
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen, within } from '@testing-library/react';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example' }, organization: org };
const patient = { id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Someone', beta_day: '2001-02-03' };

class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  url: string;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { wasClean: boolean }) => void) | null = null;
  constructor(url: string) {
    this.url = url;
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  // the bot's side
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

function base(extra: Record<string, unknown> = {}) {
  signedIn();
  FakeSocket.all = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, me],
    'GET /api/patients/p1': [200, patient],
    'GET /api/patients/p1/sessions': [200, { items: [] }],
    'POST /api/patients/p1/calls': [202, { session_id: 's1', live_url: 'ws://bot.test/calls/s1/live?token=t' }],
    'GET /api/sessions/s1': [200, { id: 's1', patient_id: 'p1', workflow: WF, status: 'queued', transcript: { messages: [] } }],
    ...(extra as object),
  });
}

describe('a browser test call', () => {
  it('starts from the patient, streams the transcript, sends lines, hangs up, and links to the session', async () => {
    const api = base();
    renderApp('/patients/p1');
    fireEvent.click(await screen.findByRole('button', { name: 'Start test call' }));
    expect(await screen.findByRole('heading', { name: 'Live call' })).toBeTruthy();
    expect(api.calls.find((c) => c.method === 'POST')?.body).toEqual({ mode: 'browser' });

    await act(async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    expect(FakeSocket.all).toHaveLength(1);
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe('ws://bot.test/calls/s1/live?token=t');
    act(() => {
      ws.open();
      ws.emit({ type: 'status', status: 'in_progress' });
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Hello, this is the agent.' });
    });
    const log = screen.getByRole('log');
    expect(within(log).getByText('Hello, this is the agent.')).toBeTruthy();
    expect(screen.getByText('In Progress')).toBeTruthy();
    expect(screen.getByText('The agent is speaking…')).toBeTruthy();
    act(() => ws.emit({ type: 'turn', expecting: 'other_party', turn: 1 }));
    expect(screen.getByText('Your turn: the agent is waiting for you.')).toBeTruthy();

    const box = screen.getByLabelText('Your line');
    fireEvent.change(box, { target: { value: 'Hi, who is calling?' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(ws.sent).toEqual([{ type: 'say', text: 'Hi, who is calling?' }]);
    expect((box as HTMLTextAreaElement).value).toBe('');
    act(() => {
      ws.emit({ type: 'transcript', role: 'user', text: 'Hi, who is calling?', turn: 2 });
      ws.emit({ type: 'event', event: 'transfer', to: '+15165550000' });
    });
    expect(within(log).getByText('Transfer to +15165550000')).toBeTruthy();
    expect(screen.getByText('The agent is speaking…')).toBeTruthy(); // the line opened the agent's turn

    fireEvent.click(screen.getByRole('button', { name: 'Hang up' }));
    expect(ws.sent[1]).toEqual({ type: 'hangup' });
    act(() => {
      ws.emit({ type: 'status', status: 'completed' });
      ws.end();
    });
    const link = screen.getByRole('link', { name: /View the session/ });
    expect(link.getAttribute('href')).toBe('/sessions/s1');
    expect(screen.queryByLabelText('Your line')).toBeNull();
  });

  it('starts a voice call from the patient: mode browser_voice, the live page in Voice mode', async () => {
    const api = base();
    renderApp('/patients/p1');
    fireEvent.click(await screen.findByRole('button', { name: 'Start voice call' }));
    expect(await screen.findByRole('heading', { name: 'Live call' })).toBeTruthy();
    expect(api.calls.find((c) => c.method === 'POST')?.body).toEqual({ mode: 'browser_voice' });
    expect((screen.getByRole('radio', { name: 'Voice' }) as HTMLInputElement).checked).toBe(true);
  });

  it('says plainly when the call runtime is unavailable', async () => {
    base({
      'POST /api/patients/p1/calls': [503, { error: { code: 'bot_unavailable', message: 'the call runtime is unavailable; try again shortly' } }],
    });
    renderApp('/patients/p1');
    fireEvent.click(await screen.findByRole('button', { name: 'Start test call' }));
    expect((await screen.findByRole('alert')).textContent).toContain('The call runtime is unavailable');
  });
});

describe('the session view', () => {
  it('shows status, reason, who ended it, duration, summary, the outcome by schema label, the flow and the transcript', async () => {
    base({
      'GET /api/sessions/s1': [
        200,
        {
          id: 's1',
          patient_id: 'p1',
          workflow: WF,
          status: 'completed',
          reason: 'all confirmed',
          ended_by: 'other_party',
          duration_seconds: 75,
          flow: { path: 'clients/test_clinic/wf_one', sha256: 'abcdef0123456789abcdef' },
          outcome: { delta_choice: 'Blue', zeta_flag: true },
          transcript: {
            summary: 'The call went well.',
            messages: [
              { role: 'assistant', content: 'Hello from the agent.' },
              { role: 'user', content: 'Hello back.' },
            ],
          },
          events: [{ type: 'set', field: 'delta_choice', value: 'Blue', timestamp: '2026-11-27T10:00:00Z' }],
        },
      ],
    });
    renderApp('/sessions/s1');
    expect(await screen.findByRole('heading', { name: 'Call session' })).toBeTruthy();
    expect(screen.getByText('Why it ended').nextElementSibling?.textContent).toBe('all confirmed');
    expect(screen.queryByText('Missing')).toBeNull();
    expect(screen.getByText('Ended by').nextElementSibling?.textContent).toBe('The other party');
    expect(screen.getByText('1 min 15 s')).toBeTruthy();
    expect(screen.getByText('The call went well.')).toBeTruthy();
    const outcome = document.querySelector('.outcome')!;
    expect(within(outcome as HTMLElement).getByText('Delta Choice').nextElementSibling?.textContent).toBe('Blue');
    expect(within(outcome as HTMLElement).getByText('Zeta Flag').nextElementSibling?.textContent).toBe('Yes');
    expect(screen.getByText('clients/test_clinic/wf_one')).toBeTruthy();
    expect(screen.getByText('abcdef012345')).toBeTruthy();
    expect(screen.getByText('Hello back.')).toBeTruthy();
    expect(screen.getByText('Recorded Delta Choice: Blue')).toBeTruthy();
  });


  it('for an incomplete call: the warning badge, why it ended, and what is missing by schema label', async () => {
    base({
      'GET /api/sessions/s1': [
        200,
        {
          id: 's1',
          patient_id: 'p1',
          workflow: WF,
          status: 'incomplete',
          reason: 'the other party hung up',
          missing: ['zeta_flag', 'delta_choice', 'gone_field'],
          ended_by: 'other_party',
          outcome: {},
          transcript: { messages: [] },
        },
      ],
    });
    renderApp('/sessions/s1');
    expect(await screen.findByRole('heading', { name: 'Call session' })).toBeTruthy();
    const badge = document.querySelector('.page-sub .badge')!;
    expect(badge.textContent).toBe('Incomplete');
    expect(badge.className).toContain('badge-warn');
    expect(screen.getByText('Why it ended').nextElementSibling?.textContent).toBe('the other party hung up');
    expect(screen.getByText('Missing').nextElementSibling?.textContent).toBe('Zeta Flag, Delta Choice, gone_field');
  });
});

describe('save as test scenario', () => {
  const ended = { id: 's1', patient_id: 'p1', workflow: WF, status: 'completed', transcript: { messages: [] } };
  const asAdmin = { ...me, user: { ...me.user, role: 'admin' } };

  it('gives an administrator the scenario YAML as a download named after the session', async () => {
    const yaml = 'name: "Session s1"\nlines:\n  - "Hello."\n';
    const api = base({ 'GET /api/me': [200, asAdmin], 'GET /api/sessions/s1': [200, ended], 'GET /api/sessions/s1/scenario': [200, yaml] });
    const blobs: Blob[] = [];
    const downloads: string[] = [];
    const { createObjectURL, revokeObjectURL } = URL;
    URL.createObjectURL = (b: Blob) => {
      blobs.push(b);
      return 'blob:scenario';
    };
    URL.revokeObjectURL = () => {};
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      downloads.push(this.download);
    });
    try {
      renderApp('/sessions/s1');
      fireEvent.click(await screen.findByRole('button', { name: 'Save as test scenario' }));
      await vi.waitFor(() => expect(downloads).toEqual(['session-s1.yaml']));
      expect(await blobs[0].text()).toBe(yaml);
      expect(api.calls.some((c) => c.path === '/api/sessions/s1/scenario' && c.auth === 'Bearer test-token')).toBe(true);
    } finally {
      URL.createObjectURL = createObjectURL;
      URL.revokeObjectURL = revokeObjectURL;
      click.mockRestore();
    }
  });

  it('is not offered to staff who are not administrators', async () => {
    base({ 'GET /api/sessions/s1': [200, ended] });
    renderApp('/sessions/s1');
    expect(await screen.findByRole('heading', { name: 'Call session' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Save as test scenario' })).toBeNull();
  });

  it('is not offered while the call is still running', async () => {
    base({ 'GET /api/me': [200, asAdmin], 'GET /api/sessions/s1': [200, { ...ended, status: 'in_progress' }] });
    renderApp('/sessions/s1');
    expect(await screen.findByText(/the call is still running/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Save as test scenario' })).toBeNull();
  });

  it('says why when the export is refused', async () => {
    base({
      'GET /api/me': [200, asAdmin],
      'GET /api/sessions/s1': [200, ended],
      'GET /api/sessions/s1/scenario': [409, { error: { code: 'not_exportable', message: "the session's patient record is gone" } }],
    });
    renderApp('/sessions/s1');
    fireEvent.click(await screen.findByRole('button', { name: 'Save as test scenario' }));
    expect((await screen.findByRole('alert')).textContent).toContain('patient record is gone');
  });
});

describe('the dashboard', () => {
  it('counts by call status and by each select field, with calls per day', async () => {
    base({
      [`GET /api/workflows/${WF}/dashboard`]: [
        200,
        {
          workflow: WF,
          total: 3,
          by_call_status: { Completed: 2, 'Not Started': 1 },
          by_field: { delta_choice: { Red: 0, Green: 1, Blue: 2 } },
          calls_per_day: { [new Date().toISOString().slice(0, 10)]: 2 },
        },
      ],
    });
    renderApp(`/w/${WF}/dashboard`);
    expect(await screen.findByRole('heading', { name: 'By Delta Choice' })).toBeTruthy();
    const byField = screen.getByRole('heading', { name: 'By Delta Choice' }).parentElement!;
    expect(within(byField).getAllByRole('rowheader').map((r) => r.textContent)).toEqual(['Red', 'Green', 'Blue']);
    expect(screen.getByRole('img', { name: /Calls per day over the last 30 days: 2 in all/ })).toBeTruthy();
  });

  it('says "No data" for calls per day when the API has none', async () => {
    base({
      [`GET /api/workflows/${WF}/dashboard`]: [
        200,
        { workflow: WF, total: 0, by_call_status: {}, by_field: { delta_choice: { Red: 0, Green: 0, Blue: 0 } } },
      ],
    });
    renderApp(`/w/${WF}/dashboard`);
    const chart = (await screen.findByRole('heading', { name: 'Calls per day' })).parentElement!;
    expect(within(chart).getByText('No data.')).toBeTruthy();
  });
});
