// A stand-in for `sova api` in unit tests: fetch answers from a table of "METHOD /path" routes.
import { vi } from 'vitest';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { AppRoutes } from '../App';
import { AuthProvider } from '../auth/AuthContext';
import { TenantProvider } from '../tenant/TenantContext';
import type { Organization, Tenant } from '../api/types';

export type Reply = [number, unknown];
export type Route = (body: unknown, url: URL) => Reply;

export interface FakeApi {
  calls: { method: string; path: string; body: unknown; auth: string | null }[];
}

export function installFakeApi(routes: Record<string, Route | Reply>): FakeApi {
  const api: FakeApi = { calls: [] };
  vi.stubGlobal('fetch', async (input: string, init: RequestInit = {}) => {
    const url = new URL(input, 'http://clinic.localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    const headers = (init.headers ?? {}) as Record<string, string>;
    api.calls.push({ method, path: url.pathname + url.search, body, auth: headers.Authorization ?? null });
    const route = routes[`${method} ${url.pathname}`];
    const [status, data]: Reply = !route
      ? [404, { error: { code: 'not_found', message: 'no such endpoint' } }]
      : typeof route === 'function'
        ? route(body, url)
        : route;
    // a string is a text body as it is (a download), anything else JSON
    return new Response(status === 204 ? null : typeof data === 'string' ? data : JSON.stringify(data), {
      status,
      headers: { 'content-type': typeof data === 'string' ? 'text/yaml' : 'application/json' },
    });
  });
  return api;
}

export function tenantOf(org: Organization): Tenant {
  return {
    name: org.name,
    slug: org.slug,
    branding: org.branding,
    workflows: Object.entries(org.workflows)
      .filter(([, w]) => w.enabled)
      .map(([key, w]) => ({ key, label: w.label })),
  };
}

/** Signed in already (a token in this origin's storage), as after a reload. */
export function signedIn(): void {
  localStorage.setItem(
    'sova.auth',
    JSON.stringify({ token: 'test-token', expires_at: new Date(Date.now() + 3600_000).toISOString(), idle_timeout_seconds: 900 }),
  );
}

/** Signed in as staff of org, with the tenant and the session's user answered, and routes. */
export function installSignedInApi(org: Organization, routes: Record<string, Route | Reply>): FakeApi {
  signedIn();
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, { user: { id: 'u1', email: 'staff@test.example' }, organization: org }],
    ...routes,
  });
}

export function renderApp(path: string) {
  return render(
    <TenantProvider>
      <AuthProvider>
        <MemoryRouter initialEntries={[path]}>
          <AppRoutes />
        </MemoryRouter>
      </AuthProvider>
    </TenantProvider>,
  );
}
