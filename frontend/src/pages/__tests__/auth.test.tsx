// Signing in and out: plain errors (wrong password, another clinic, throttling), the clinic at
// this address (or none), a 401 anywhere sends you back to sign in, and idle sign-out.
import { describe, expect, it } from 'vitest';
import { act, fireEvent, screen } from '@testing-library/react';
import { vi } from 'vitest';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';
import { idlePhase } from '../../auth/idle';

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example' }, organization: org };
const login = {
  token: 'fresh-token',
  expires_at: new Date(Date.now() + 3600_000).toISOString(),
  idle_timeout_seconds: 900,
  ...me,
};

function fillLogin() {
  fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'staff@test.example' } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'secret-password' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('the clinic at this address', () => {
  it('shows its name on the sign-in page', async () => {
    installFakeApi({ 'GET /api/tenant': [200, tenantOf(org)] });
    renderApp('/');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByText('Test Clinic')).toBeTruthy();
  });

  it('says so when no clinic is served here', async () => {
    installFakeApi({
      'GET /api/tenant': [404, { error: { code: 'unknown_tenant', message: 'no clinic is served at x.localhost' } }],
    });
    renderApp('/login');
    expect(await screen.findByRole('heading', { name: 'No clinic here' })).toBeTruthy();
    expect(screen.getByText(/No clinic is served at/)).toBeTruthy();
    expect(screen.queryByLabelText('Password')).toBeNull();
  });
});

describe('signing in', () => {
  it('goes back to the page that asked for it', async () => {
    const api = installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'POST /api/auth/login': [200, login],
      [`GET /api/workflows/${WF}/patients`]: [200, { items: [], next_cursor: null }],
      'GET /api/me': [200, me],
    });
    renderApp(`/w/${WF}/patients`);
    await screen.findByRole('heading', { name: 'Sign in' });
    fillLogin();
    expect(await screen.findByRole('heading', { name: 'Patients' })).toBeTruthy();
    expect(await screen.findByText(/No patients in Workflow One yet/)).toBeTruthy();
    expect(api.calls.find((c) => c.path.startsWith(`/api/workflows/${WF}/patients`))?.auth).toBe('Bearer fresh-token');
    expect(JSON.parse(localStorage.getItem('sova.auth')!).token).toBe('fresh-token');
  });

  it('says plainly that the email or password is wrong', async () => {
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'POST /api/auth/login': [401, { error: { code: 'invalid_credentials', message: 'invalid email or password' } }],
    });
    renderApp('/login');
    await screen.findByRole('heading', { name: 'Sign in' });
    fillLogin();
    expect((await screen.findByRole('alert')).textContent).toContain('Wrong email or password');
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
  });

  it('says plainly that sign-in is throttled (429)', async () => {
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'POST /api/auth/login': [
        429,
        { error: { code: 'too_many_attempts', message: 'too many failed logins; wait 15 minutes and try again' } },
      ],
    });
    renderApp('/login');
    await screen.findByRole('heading', { name: 'Sign in' });
    fillLogin();
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Too many failed sign-ins');
    expect(alert.textContent).toContain('15 minutes');
  });

  it("refuses another clinic's account with the server's words", async () => {
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'POST /api/auth/login': [
        403,
        { error: { code: 'wrong_tenant', message: "this account belongs to another clinic; sign in at your clinic's address" } },
      ],
    });
    renderApp('/login');
    await screen.findByRole('heading', { name: 'Sign in' });
    fillLogin();
    expect((await screen.findByRole('alert')).textContent).toContain('belongs to another clinic');
  });

  it('asks for both fields before asking the server', async () => {
    const api = installFakeApi({ 'GET /api/tenant': [200, tenantOf(org)] });
    renderApp('/login');
    await screen.findByRole('heading', { name: 'Sign in' });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(screen.getByText('Enter your email address.')).toBeTruthy();
    expect(screen.getByText('Enter your password.')).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST')).toBe(false);
  });
});

describe('being signed in', () => {
  it('offers the enabled workflows only', async () => {
    signedIn();
    installFakeApi({ 'GET /api/tenant': [200, tenantOf(org)], 'GET /api/me': [200, me] });
    renderApp('/');
    expect(await screen.findByRole('heading', { name: 'Choose a workflow' })).toBeTruthy();
    expect(screen.getByRole('link', { name: /Workflow One/ }).getAttribute('href')).toBe(`/w/${WF}/patients`);
    expect(screen.queryByText('Switched Off')).toBeNull();
  });

  it('a disabled or unknown workflow in the URL is not found', async () => {
    signedIn();
    installFakeApi({ 'GET /api/tenant': [200, tenantOf(org)], 'GET /api/me': [200, me] });
    renderApp('/w/wf_off/patients');
    expect(await screen.findByRole('heading', { name: 'Not found' })).toBeTruthy();
  });

  it("another clinic's patient (404) is not found", async () => {
    signedIn();
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'GET /api/me': [200, me],
      'GET /api/patients/abc': [404, { error: { code: 'not_found', message: 'patient not found' } }],
      'GET /api/patients/abc/sessions': [404, { error: { code: 'not_found', message: 'patient not found' } }],
    });
    renderApp('/patients/abc');
    expect(await screen.findByRole('heading', { name: 'Not found' })).toBeTruthy();
    expect(screen.getByText(/This patient was not found/)).toBeTruthy();
  });

  it('a 401 from the API sends you to sign in, saying why', async () => {
    signedIn();
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'GET /api/me': [200, me],
      [`GET /api/workflows/${WF}/patients`]: [
        401,
        { error: { code: 'session_idle', message: 'signed out after 15 minutes without activity' } },
      ],
    });
    renderApp(`/w/${WF}/patients`);
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByText('Signed out after 15 minutes without activity.')).toBeTruthy();
    expect(localStorage.getItem('sova.auth')).toBeNull();
  });

  it('"Sign out" ends the session on the server and here', async () => {
    signedIn();
    const api = installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'GET /api/me': [200, me],
      'POST /api/auth/logout': [204, null],
    });
    renderApp('/');
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST' && c.path === '/api/auth/logout')).toBe(true);
    expect(localStorage.getItem('sova.auth')).toBeNull();
  });
});

describe('idle sign-out', () => {
  it('idlePhase: active, then a warning in the last minute, then expired', () => {
    const T = 900_000;
    expect(idlePhase(0 + T - 60_001, 0, T)).toEqual({ phase: 'active' });
    expect(idlePhase(0 + T - 60_000, 0, T)).toEqual({ phase: 'warning', remainingMs: 60_000 });
    expect(idlePhase(0 + T - 1, 0, T)).toEqual({ phase: 'warning', remainingMs: 1 });
    expect(idlePhase(0 + T, 0, T)).toEqual({ phase: 'expired' });
  });

  it('warns a minute before, and signs out after the idle time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    signedIn();
    const api = installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      'GET /api/me': [200, me],
      'POST /api/auth/logout': [204, null],
    });
    renderApp('/');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(100);
    });
    expect(screen.getByRole('heading', { name: 'Choose a workflow' })).toBeTruthy();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(13 * 60_000);
    });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(60_000 + 2_000);
    });
    expect(screen.getByRole('alertdialog').textContent).toMatch(/signed out in \d+ seconds/);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(60_000);
    });
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByText('You were signed out after 15 minutes without activity.')).toBeTruthy();
    expect(api.calls.some((c) => c.path === '/api/auth/logout')).toBe(true);
  });

  it('"Stay signed in" keeps the session', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    signedIn();
    installFakeApi({ 'GET /api/tenant': [200, tenantOf(org)], 'GET /api/me': [200, me] });
    renderApp('/');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(100);
    });
    await act(async () => {
      await vi.advanceTimersByTimeAsync(14 * 60_000 + 5_000);
    });
    fireEvent.click(screen.getByRole('button', { name: 'Stay signed in' }));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2 * 60_000);
    });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Choose a workflow' })).toBeTruthy();
  });
});
