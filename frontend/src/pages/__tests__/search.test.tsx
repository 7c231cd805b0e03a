// The patient list's search: what staff see when one request's search stopped partway down the
// list (search_partial: the items are the matches above next_cursor, and the search goes on).
import { describe, expect, it } from 'vitest';
import { fireEvent, screen } from '@testing-library/react';
import { installSignedInApi, renderApp } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';

const JO = { id: 'p1', workflow: WF, call_status: 'Not Started', alpha_text: 'Jo Someone' };

function setup(partial: boolean | undefined, items = [JO], next: string | null = partial ? '4096-' : null) {
  return installSignedInApi(orgWith(SCHEMA), {
    [`GET /api/workflows/${WF}/patients`]: [
      200,
      { items, next_cursor: next, ...(partial === undefined ? {} : { search_partial: partial }) },
    ],
  });
}

describe('searching patients', () => {
  it('says when the search stopped partway, and goes on from there with Older', async () => {
    const api = setup(true);
    renderApp(`/w/${WF}/patients?q=jo`);
    const note = (await screen.findByText(/stopped partway down the list/)).closest('[role="status"]');
    expect(note?.textContent).toContain('The search for “jo” stopped partway down the list: Older → searches the older patients.');
    expect(await screen.findByText('Jo Someone')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Older →' }));
    await screen.findByText('Page 2');
    expect(api.calls.some((c) => c.path.includes('q=jo') && c.path.includes('cursor=4096-'))).toBe(true);
  });

  it('says there is no match so far rather than none at all', async () => {
    setup(true, []);
    renderApp(`/w/${WF}/patients?q=zq`);
    expect(await screen.findByText(/with no match so far/)).toBeTruthy();
    expect(screen.queryByText(/No patients match/)).toBeNull();
    expect((screen.getByRole('button', { name: 'Older →' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('says nothing more when the search read to the end', async () => {
    setup(false);
    renderApp(`/w/${WF}/patients?q=jo`);
    expect(await screen.findByText('Jo Someone')).toBeTruthy();
    expect(screen.queryByText(/stopped partway/)).toBeNull();
  });

  it('says no patient matches when a finished search found none', async () => {
    setup(false, []);
    renderApp(`/w/${WF}/patients?q=zq`);
    expect(await screen.findByText(/No patients match/)).toBeTruthy();
    expect(screen.queryByText(/stopped partway/)).toBeNull();
  });
});
