// The API client: same-origin /api, the Bearer token, the error shape, 401 handling.
import { describe, expect, it, vi } from 'vitest';
import { api, ApiError, onUnauthorized, setAuthToken } from '../client';
import { installFakeApi } from '../../test/fakeApi';

describe('api client', () => {
  it('sends the token and JSON to /api, and encodes query and path parts', async () => {
    const fake = installFakeApi({ 'GET /api/workflows/w%201/patients': [200, { items: [], next_cursor: null }] });
    setAuthToken('tok');
    await api.listPatients('w 1', { q: 'a&b', cursor: null, limit: 25 });
    expect(fake.calls[0]).toMatchObject({ method: 'GET', path: '/api/workflows/w%201/patients?q=a%26b&limit=25', auth: 'Bearer tok' });
    setAuthToken(null);
  });

  it('turns the error body into an ApiError with its field reasons', async () => {
    installFakeApi({
      'POST /api/workflows/w/patients': [422, { error: { code: 'validation_failed', message: 'some fields are not valid', fields: { k: 'required' } } }],
    });
    const err = await api.createPatient('w', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'validation_failed', fields: { k: 'required' } });
  });

  it('a 401 on an authenticated call signs out; a 401 at login does not', async () => {
    installFakeApi({
      'GET /api/me': [401, { error: { code: 'session_ended', message: 'your session has ended; sign in again' } }],
      'POST /api/auth/login': [401, { error: { code: 'invalid_credentials', message: 'invalid email or password' } }],
    });
    const handler = vi.fn();
    onUnauthorized(handler);
    await api.login('a@b.org', 'x').catch(() => undefined);
    expect(handler).not.toHaveBeenCalled();
    await api.me().catch(() => undefined);
    expect(handler).toHaveBeenCalledTimes(1);
    onUnauthorized(null);
  });

  it('a network failure is an ApiError with status 0 and plain words', async () => {
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('Failed to fetch')));
    const err = await api.tenant().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, code: 'network' });
    expect((err as Error).message).toMatch(/cannot be reached/);
  });
});
