// User administration in the web UI: the Users link only for administrators; inviting gives a
// full one-time link to pass on (no email is sent, and the page says so); disabling, role
// changes, revoking and reset links send the right requests, and the server's refusals (the last
// administrator) are shown; the invitation and reset pages work without signing in and say
// plainly when a link is not valid; one's own password change shows a wrong current password
// beside its field.
import axe from 'axe-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { installFakeApi, installSignedInApi, renderApp, tenantOf, type Reply } from '../../test/fakeApi';
import { orgWith, SCHEMA } from '../../test/fixtures';

const org = orgWith(SCHEMA);
const ADMIN = { id: 'u1', email: 'boss@test.example', name: 'Bo Boss', role: 'admin', status: 'active' };
const NURSE = { id: 'u2', email: 'nurse@test.example', name: 'Nia Nurse', role: 'staff', status: 'active' };
const INVITE = { id: 'i1', email: 'new@test.example', role: 'staff', created_at: '2026-12-04T09:00:00Z',
  expires_at: '2026-12-07T09:00:00Z', expired: false };
const TOKEN = 'ab'.repeat(32);
const asAdmin: Record<string, Reply> = { 'GET /api/me': [200, { user: ADMIN, organization: org }] };

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

function fill(label: string, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

describe('the users page', () => {
  it('is linked for administrators only', async () => {
    installSignedInApi(org, {});
    renderApp('/');
    expect(await screen.findByRole('link', { name: 'Account' })).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'Users' })).toBeNull();
    cleanup();
    installSignedInApi(org, { ...asAdmin, 'GET /api/users': [200, { items: [ADMIN], invites: [] }] });
    renderApp('/');
    fireEvent.click(await screen.findByRole('link', { name: 'Users' }));
    expect(await screen.findByRole('heading', { name: 'Users' })).toBeTruthy();
  });

  it('invites someone and shows the whole link to pass on', async () => {
    let listed = 0;
    const api = installSignedInApi(org, {
      ...asAdmin,
      'GET /api/users': () => [200, { items: [ADMIN, NURSE], invites: listed++ ? [INVITE] : [] }],
      'POST /api/users/invites': [201, { invite: INVITE, link: `/invite/${TOKEN}` }],
    });
    const { container } = renderApp('/users');
    expect(await screen.findByText('nurse@test.example')).toBeTruthy();
    expect(screen.getByText(/Sova sends no email/)).toBeTruthy();
    fill('Email', ' new@test.example ');
    fill('Role', 'admin');
    fireEvent.click(screen.getByRole('button', { name: 'Create invitation link' }));
    const link = (await screen.findByLabelText('One-time link')) as HTMLInputElement;
    expect(link.value).toBe(`${window.location.origin}/invite/${TOKEN}`);
    expect(screen.getByText('Invitation for new@test.example.')).toBeTruthy();
    const sent = api.calls.find((c) => c.method === 'POST')?.body;
    expect(sent).toEqual({ email: 'new@test.example', role: 'admin' });
    expect(await screen.findByRole('button', { name: 'Revoke invitation of new@test.example' })).toBeTruthy();
    const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.map((v) => v.id)).toEqual([]);
  });

  it('shows a refused invitation beside its field', async () => {
    installSignedInApi(org, {
      ...asAdmin,
      'GET /api/users': [200, { items: [ADMIN], invites: [] }],
      'POST /api/users/invites': [409, { error: { code: 'email_taken', message: 'this email already belongs to a user of this clinic',
        fields: { email: 'already a user' } } }],
    });
    renderApp('/users');
    await screen.findByText('boss@test.example');
    fill('Email', 'nurse@test.example');
    fireEvent.click(screen.getByRole('button', { name: 'Create invitation link' }));
    expect(await screen.findByText('Already a user.')).toBeTruthy();
    expect(screen.getByLabelText('Email').getAttribute('aria-invalid')).toBe('true');
  });

  it('disables, changes roles, revokes, makes reset links; shows what the server refuses', async () => {
    const api = installSignedInApi(org, {
      ...asAdmin,
      'GET /api/users': [200, { items: [ADMIN, NURSE], invites: [INVITE] }],
      'PATCH /api/users/u2': (body) =>
        (body as { role?: string }).role
          ? [409, { error: { code: 'last_admin', message: "this is the clinic's last active administrator" } }]
          : [200, { ...NURSE, status: 'disabled' }],
      'DELETE /api/users/invites/i1': [204, null],
      'POST /api/users/u2/password-reset': [201, { link: `/reset/${TOKEN}`, expires_at: '2026-12-05T09:00:00Z', user: NURSE }],
    });
    renderApp('/users');
    // oneself: no disabling, no role change
    await screen.findByText('nurse@test.example');
    expect(screen.queryByRole('button', { name: 'Disable Bo Boss' })).toBeNull();
    expect(screen.queryByLabelText('Role of Bo Boss')).toBeNull();
    expect(screen.getByRole('link', { name: 'Change your password' }).getAttribute('href')).toBe('/account');

    fireEvent.click(screen.getByRole('button', { name: 'Disable Nia Nurse' }));
    await waitFor(() => expect(api.calls.some((c) => c.method === 'PATCH')).toBe(true));
    expect(api.calls.find((c) => c.method === 'PATCH')?.body).toEqual({ status: 'disabled' });

    fireEvent.change(screen.getByLabelText('Role of Nia Nurse'), { target: { value: 'admin' } });
    expect((await screen.findByRole('alert')).textContent).toContain("This is the clinic's last active administrator.");

    fireEvent.click(screen.getByRole('button', { name: 'Revoke invitation of new@test.example' }));
    await waitFor(() => expect(api.calls.some((c) => c.method === 'DELETE' && c.path === '/api/users/invites/i1')).toBe(true));

    fireEvent.click(screen.getByRole('button', { name: 'Reset link for Nia Nurse' }));
    const link = (await screen.findByLabelText('One-time link')) as HTMLInputElement;
    expect(link.value).toBe(`${window.location.origin}/reset/${TOKEN}`);
    expect(screen.getByText('Password reset link for Nia Nurse.')).toBeTruthy();
  });
});

describe('a one-time link, without signing in', () => {
  it('accepts an invitation: the name, a password typed twice, then sign in', async () => {
    const api = installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      [`GET /api/invites/${TOKEN}`]: [200, { email: 'new@test.example', name: 'Nu Hire', role: 'staff', clinic: 'Test Clinic',
        expires_at: '2026-12-07T09:00:00Z' }],
      [`POST /api/invites/${TOKEN}/accept`]: [201, { user: { id: 'u3', email: 'new@test.example', role: 'staff', status: 'active' } }],
    });
    const { container } = renderApp(`/invite/${TOKEN}`);
    expect(await screen.findByText(/You are invited to Test Clinic as new@test.example/)).toBeTruthy();
    expect((screen.getByLabelText('Your name') as HTMLInputElement).value).toBe('Nu Hire');
    const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
    expect(results.violations.map((v) => v.id)).toEqual([]);

    fill('New password', 'too short');
    fireEvent.click(screen.getByRole('button', { name: 'Create my account' }));
    expect(await screen.findByText('Use at least 12 characters.')).toBeTruthy();
    fill('New password', 'a long enough password');
    fill('New password again', 'a different password');
    fireEvent.click(screen.getByRole('button', { name: 'Create my account' }));
    expect(await screen.findByText('The two passwords differ.')).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'POST')).toBe(false);

    fill('New password again', 'a long enough password');
    fireEvent.click(screen.getByRole('button', { name: 'Create my account' }));
    expect(await screen.findByText(/Your account is ready/)).toBeTruthy();
    const sent = api.calls.find((c) => c.method === 'POST');
    expect(sent?.body).toEqual({ password: 'a long enough password', name: 'Nu Hire' });
    expect(sent?.auth).toBeNull();
    fireEvent.click(screen.getByRole('link', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
  });

  it('says plainly when the link is not valid', async () => {
    installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      [`GET /api/invites/${TOKEN}`]: [404, { error: { code: 'link_invalid', message: 'this invitation link is not valid' } }],
    });
    renderApp(`/invite/${TOKEN}`);
    expect((await screen.findByRole('alert')).textContent).toContain('This invitation link is not valid.');
    expect(screen.queryByLabelText('New password')).toBeNull();
  });

  it('sets a password from a reset link and shows the server\'s field errors', async () => {
    let tries = 0;
    const api = installFakeApi({
      'GET /api/tenant': [200, tenantOf(org)],
      [`GET /api/password-resets/${TOKEN}`]: [200, { email: 'nurse@test.example', clinic: 'Test Clinic', expires_at: '2026-12-05T09:00:00Z' }],
      [`POST /api/password-resets/${TOKEN}`]: () =>
        tries++ === 0
          ? [422, { error: { code: 'validation_failed', message: 'the password is not acceptable', fields: { password: 'at most 1024 bytes' } } }]
          : [204, null],
    });
    renderApp(`/reset/${TOKEN}`);
    expect(await screen.findByText(/Choose a new password for nurse@test.example/)).toBeTruthy();
    expect(screen.queryByLabelText('Your name')).toBeNull();
    fill('New password', 'a long enough password');
    fill('New password again', 'a long enough password');
    fireEvent.click(screen.getByRole('button', { name: 'Set my password' }));
    expect(await screen.findByText('At most 1024 bytes.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Set my password' }));
    expect(await screen.findByText(/Your password is set/)).toBeTruthy();
    expect(api.calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
      { password: 'a long enough password' },
      { password: 'a long enough password' },
    ]);
  });
});

describe('one\'s own password', () => {
  it('shows a wrong current password beside its field, then changes it', async () => {
    let tries = 0;
    const api = installSignedInApi(org, {
      'POST /api/me/password': () =>
        tries++ === 0
          ? [403, { error: { code: 'wrong_password', message: 'your current password is not right',
              fields: { current_password: 'not your current password' } } }]
          : [204, null],
    });
    renderApp('/account');
    expect(await screen.findByRole('heading', { name: 'Your account' })).toBeTruthy();
    fill('Current password', 'old guess');
    fill('New password', 'a long enough password');
    fill('New password again', 'a long enough password');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText('Not your current password.')).toBeTruthy();
    expect((screen.getByLabelText('Current password') as HTMLInputElement).value).toBe('');
    fill('Current password', 'the real one');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText(/Your password is changed/)).toBeTruthy();
    expect(api.calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
      { current_password: 'old guess', new_password: 'a long enough password' },
      { current_password: 'the real one', new_password: 'a long enough password' },
    ]);
  });
});
