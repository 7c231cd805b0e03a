// The patient list's search: what staff see when a query is too short for the API to tell
// (search_capped: the items are some of the matches, not the newest).
import { describe, expect, it } from 'vitest';
import { screen } from '@testing-library/react';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';

function setup(capped: boolean | undefined, tooShort = false) {
  const org = orgWith(SCHEMA);
  signedIn();
  return installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, { user: { id: 'u1', email: 'staff@test.example' }, organization: org }],
    [`GET /api/workflows/${WF}/patients`]: [
      200,
      {
        items: tooShort ? [] : [{ id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Jo Someone' }],
        next_cursor: null,
        ...(capped === undefined ? {} : { search_capped: capped, search_too_short: tooShort }),
      },
    ],
  });
}

describe('searching patients', () => {
  it('says when more patients match than one search reads, and how to narrow it', async () => {
    const api = setup(true);
    renderApp(`/w/${WF}/patients?q=j`);
    const note = (await screen.findByText(/than one search reads/)).closest('[role="status"]');
    expect(note?.textContent).toContain('More patients match “j” than one search reads');
    expect(note?.textContent).toContain('Type more');
    expect(await screen.findByText('Jo Someone')).toBeTruthy();
    expect(api.calls.some((c) => c.path.includes('q=j'))).toBe(true);
  });

  it('says nothing more when the search read every match', async () => {
    setup(false);
    renderApp(`/w/${WF}/patients?q=jo`);
    expect(await screen.findByText('Jo Someone')).toBeTruthy();
    expect(screen.queryByText(/than one search reads/)).toBeNull();
  });

  it('asks for 3 letters when the query is too short to look up, and says no more', async () => {
    setup(false, true);
    renderApp(`/w/${WF}/patients?q=j`);
    expect(await screen.findByText(/Type at least 3 letters or digits/)).toBeTruthy();
    expect(screen.queryByText(/No patients match/)).toBeNull();
    expect(screen.queryByText(/than one search reads/)).toBeNull();
  });
});
