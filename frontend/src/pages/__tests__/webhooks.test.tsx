// Webhooks in the web UI: the link only for administrators; adding an endpoint sends the URL and
// the chosen events and shows the signing secret once, with a copy button; the server's refusal
// of a URL is shown beside its field; the endpoints' test, disable and delete send the right
// requests; the delivery log shows each delivery's status, attempts, last answer and next retry,
// filters by status, and Replay queues a delivery again.
import axe from 'axe-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { installSignedInApi, renderApp, type Reply, type Route } from '../../test/fakeApi';
import { orgWith, SCHEMA } from '../../test/fixtures';

const org = orgWith(SCHEMA);
const ADMIN = { id: 'u1', email: 'boss@test.example', name: 'Bo Boss', role: 'admin', status: 'active' };
const asAdmin: Record<string, Reply> = { 'GET /api/me': [200, { user: ADMIN, organization: org }] };
const HOOK = {
  id: 'a'.repeat(24), url: 'https://ehr.example.com/sova', events: ['call.ended', 'campaign.finished'], enabled: true,
  description: 'EHR feed', secret_hint: 'whsec_…beef', created_at: '2026-12-04T09:00:00Z', updated_at: '2026-12-04T09:00:00Z',
};
const SECRET = 'whsec_' + 'ab'.repeat(32);
const DELIVERED = {
  id: 'd'.repeat(24), endpoint_id: HOOK.id, event: 'call.ended', status: 'delivered', attempts: 1, last_status_code: 200,
  last_error: null, next_at: null, created_at: '2026-12-04T10:00:00Z', delivered_at: '2026-12-04T10:00:01Z', replay_of: null,
  attempt_log: [],
};
const RETRYING = {
  ...DELIVERED, id: 'e'.repeat(24), event: 'campaign.finished', status: 'pending', attempts: 2, last_status_code: 503,
  last_error: 'answered HTTP 503', next_at: '2026-12-04T10:05:00Z', delivered_at: null,
};
const FAILED = {
  ...DELIVERED, id: 'f'.repeat(24), event: 'ping', status: 'failed', attempts: 7, last_status_code: null,
  last_error: 'Couldn\'t connect to server', delivered_at: null,
};

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

function routes(extra: Record<string, Route | Reply> = {}): Record<string, Route | Reply> {
  return {
    ...asAdmin,
    'GET /api/webhooks': [200, { items: [HOOK] }] as Reply,
    'GET /api/webhooks/deliveries': (_b: unknown, url: URL): Reply => {
      const status = url.searchParams.get('status');
      const all = [RETRYING, DELIVERED, FAILED];
      return [200, { items: status ? all.filter((d) => d.status === status) : all, next_cursor: null }];
    },
    ...extra,
  };
}

describe('the webhooks page', () => {
  it('is linked for administrators only', async () => {
    installSignedInApi(org, {});
    renderApp('/');
    expect(await screen.findByRole('link', { name: 'Account' })).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'Webhooks' })).toBeNull();
    cleanup();
    installSignedInApi(org, routes());
    renderApp('/');
    fireEvent.click(await screen.findByRole('link', { name: 'Webhooks' }));
    expect(await screen.findByRole('heading', { name: 'Webhooks' })).toBeTruthy();
  });

  it('tells staff that only administrators manage webhooks, and asks the server nothing', async () => {
    const api = installSignedInApi(org, {});
    renderApp('/webhooks');
    expect(await screen.findByText(/Only the clinic's administrators manage its webhooks/)).toBeTruthy();
    expect(api.calls.some((c) => c.path.startsWith('/api/webhooks'))).toBe(false);
  });

  it('adds an endpoint and shows its secret once, with a copy button', async () => {
    const writeText = vi.fn(async () => undefined);
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    const api = installSignedInApi(org, routes({
      'POST /api/webhooks': [201, { ...HOOK, id: 'b'.repeat(24), url: 'https://ehr.example.com/new', secret: SECRET }],
    }));
    const { container } = renderApp('/webhooks');
    expect(await screen.findByRole('button', { name: `Send test to ${HOOK.url}` })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Receiver URL'), { target: { value: ' https://ehr.example.com/new ' } });
    fireEvent.click(screen.getByRole('checkbox', { name: /Outcome written/ }));
    fireEvent.click(screen.getByRole('button', { name: 'Add webhook' }));
    const box = (await screen.findByLabelText('Signing secret')) as HTMLInputElement;
    expect(box.value).toBe(SECRET);
    expect(screen.getByText(/it\s+is not shown again/)).toBeTruthy();
    const sent = api.calls.find((c) => c.method === 'POST' && c.path === '/api/webhooks')?.body;
    expect(sent).toEqual({ url: 'https://ehr.example.com/new', events: ['call.ended', 'campaign.finished'] });
    fireEvent.click(screen.getByRole('button', { name: 'Copy secret' }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith(SECRET));
    expect(await screen.findByRole('button', { name: 'Copied' })).toBeTruthy();
    const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.map((v) => v.id)).toEqual([]);
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    expect(screen.queryByLabelText('Signing secret')).toBeNull();
  });

  it('shows a refused URL beside its field, and needs a URL and an event before asking', async () => {
    const api = installSignedInApi(org, routes({
      'POST /api/webhooks': [422, { error: { code: 'validation_failed', message: 'some fields are not valid',
        fields: { url: 'http://169.254.169.254 resolves to a link-local address' } } }],
    }));
    renderApp('/webhooks');
    await screen.findByRole('button', { name: `Send test to ${HOOK.url}` });
    fireEvent.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(await screen.findByText(/Enter the address of your receiver/)).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST')).toBe(false);
    fireEvent.change(screen.getByLabelText('Receiver URL'), { target: { value: 'http://169.254.169.254/' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(await screen.findByText(/resolves to a link-local address/)).toBeTruthy();
    expect(screen.getByLabelText('Receiver URL').getAttribute('aria-invalid')).toBe('true');
    expect(screen.queryByLabelText('Signing secret')).toBeNull();
  });

  it('sends a test, disables and deletes an endpoint', async () => {
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    const api = installSignedInApi(org, routes({
      [`POST /api/webhooks/${HOOK.id}/test`]: [202, { ...DELIVERED, status: 'pending', attempts: 0 }],
      [`PATCH /api/webhooks/${HOOK.id}`]: [200, { ...HOOK, enabled: false }],
      [`DELETE /api/webhooks/${HOOK.id}`]: [204, null],
    }));
    renderApp('/webhooks');
    fireEvent.click(await screen.findByRole('button', { name: `Send test to ${HOOK.url}` }));
    await waitFor(() => expect(api.calls.some((c) => c.method === 'POST' && c.path === `/api/webhooks/${HOOK.id}/test`)).toBe(true));
    fireEvent.click(await screen.findByRole('button', { name: `Disable ${HOOK.url}` }));
    await waitFor(() => expect(api.calls.find((c) => c.method === 'PATCH')?.body).toEqual({ enabled: false }));
    fireEvent.click(await screen.findByRole('button', { name: `Delete ${HOOK.url}` }));
    await waitFor(() => expect(api.calls.some((c) => c.method === 'DELETE' && c.path === `/api/webhooks/${HOOK.id}`)).toBe(true));
  });

  it('lists deliveries with status, attempts, last answer and next retry, filters, and replays', async () => {
    const api = installSignedInApi(org, routes({
      [`POST /api/webhook-deliveries/${DELIVERED.id}/replay`]: [202, { ...DELIVERED, id: 'c'.repeat(24), status: 'pending',
        replay_of: DELIVERED.id }],
    }));
    renderApp('/webhooks');
    const log = await screen.findByRole('region', { name: 'Delivery log' });
    const table = await within(log).findByRole('table');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(3);
    const cells = (r: HTMLElement) => within(r).getAllByRole('cell').map((c) => c.textContent);
    const [retry, done, failed] = rows.map(cells);
    expect(retry[1]).toBe('Campaign finished');
    expect(retry[3]).toBe('Pending');
    expect(retry[4]).toBe('2');
    expect(retry[5]).toBe('HTTP 503');
    expect(retry[6]).not.toBe('—');
    expect(done[3]).toBe('Delivered');
    expect(done[5]).toBe('HTTP 200');
    expect(done[6]).toBe('—');
    expect(failed[1]).toBe('Test ping');
    expect(failed[3]).toBe('Failed');
    expect(failed[5]).toBe("Couldn't connect to server");
    expect(done[2]).toBe(HOOK.url);
    fireEvent.change(within(log).getByLabelText('Status'), { target: { value: 'failed' } });
    await waitFor(() => expect(within(log).getAllByRole('row')).toHaveLength(2));
    expect(api.calls.some((c) => c.path === '/api/webhooks/deliveries?status=failed&limit=50')).toBe(true);
    fireEvent.change(within(log).getByLabelText('Status'), { target: { value: '' } });
    await waitFor(() => expect(within(log).getAllByRole('row')).toHaveLength(4));
    fireEvent.click(within(log).getByRole('button', { name: /^Replay Call ended/ }));
    expect(await screen.findByText('Call ended queued again.')).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST' && c.path === `/api/webhook-deliveries/${DELIVERED.id}/replay`)).toBe(true);
  });
});
