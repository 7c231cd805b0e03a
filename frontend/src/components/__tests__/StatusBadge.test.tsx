// The status pill: the vocabulary's label, a tone by what the status means (an incomplete call,
// which ended without an outcome its flow requires, is a warning rather than a success or a failure).
import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/react';
import { StatusBadge } from '../StatusBadge';

function badge(status: string | undefined) {
  const { container } = render(<StatusBadge status={status} />);
  return container.querySelector('.badge')!;
}

describe('StatusBadge', () => {
  it('shows an incomplete call as a warning, by code (sessions) and by label (patients)', () => {
    for (const s of ['incomplete', 'Incomplete']) {
      const b = badge(s);
      expect(b.textContent).toBe('Incomplete');
      expect(b.className).toBe('badge badge-warn');
    }
  });
  it('keeps the other tones', () => {
    expect(badge('completed').className).toBe('badge badge-ok');
    expect(badge('No Answer').className).toBe('badge badge-bad');
    expect(badge('in_progress').className).toBe('badge badge-busy');
    expect(badge(undefined).textContent).toBe('Not Started');
  });
});
