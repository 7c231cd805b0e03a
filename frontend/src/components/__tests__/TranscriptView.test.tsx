// An agent's line the other party cut off: marked "interrupted", the heard words as they are, the
// unheard rest struck through and introduced as "not heard:" for screen readers; a line cut off
// before its first word shows only the unheard text. Lines that were not cut off are unchanged.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import axe from 'axe-core';
import { TranscriptView, unsaidPart, type TranscriptLine } from '../TranscriptView';

const lines: TranscriptLine[] = [
  { id: 0, kind: 'say', role: 'assistant', text: 'Hello, this is the clinic.' },
  { id: 1, kind: 'say', role: 'user', text: 'Hi.' },
  { id: 2, kind: 'say', role: 'assistant', text: 'Your appointment is', interrupted: true, unsaid: 'on Tuesday at ten.' },
  { id: 3, kind: 'say', role: 'user', text: 'Sorry, which day?' },
  { id: 4, kind: 'say', role: 'assistant', text: '', interrupted: true, unsaid: 'Shall I repeat that?' },
];

describe('unsaidPart', () => {
  it('is the rest of the line after what was heard', () => {
    expect(unsaidPart('Your appointment is on Tuesday at ten.', 'Your appointment is')).toBe('on Tuesday at ten.');
    expect(unsaidPart('Shall I repeat that?', '')).toBe('Shall I repeat that?');
    expect(unsaidPart('All of it.', 'All of it.')).toBe('');
    // spacing that differs: by words
    expect(unsaidPart('Your  appointment is on Tuesday.', 'Your appointment')).toBe('is on Tuesday.');
  });
});

describe('interrupted lines in the transcript', () => {
  it('shows the mark, the heard words, and the unheard rest struck through', () => {
    render(<TranscriptView lines={lines} label="Transcript" />);
    const items = document.querySelectorAll('.transcript-list > li');
    const cut = items[2];
    expect(cut.className).toContain('line-interrupted');
    expect(cut.querySelector('.line-mark')!.textContent).toBe('interrupted');
    expect(cut.querySelector('.line-text')!.textContent).toBe('Your appointment is not heard: on Tuesday at ten.');
    const unsaid = cut.querySelector('.line-unsaid')!;
    expect(unsaid.textContent).toBe('not heard: on Tuesday at ten.');
    expect(unsaid.querySelector('.sr-only')!.textContent).toBe('not heard: ');
    // cut off before its first word: only the unheard text, greyed
    const silent = items[4];
    expect(silent.querySelector('.line-mark')).toBeTruthy();
    expect(silent.querySelector('.line-text')!.textContent).toBe('not heard: Shall I repeat that?');
    expect(silent.querySelector('.line-text')!.firstElementChild!.className).toBe('line-unsaid');
    // the others as before
    expect(items[0].querySelector('.line-mark')).toBeNull();
    expect(items[0].querySelector('.line-unsaid')).toBeNull();
    expect(items[0].className).not.toContain('line-interrupted');
    expect(items[0].querySelector('.line-text')!.textContent).toBe('Hello, this is the clinic.');
  });

  it('names both parts on a line that plays the recording', () => {
    const onSeek = vi.fn();
    render(<TranscriptView lines={lines.map((l) => ({ ...l, at: l.id * 2 }))} label="Transcript" onSeek={onSeek} />);
    const cut = screen.getByRole('button', { name: 'Play from 0:04: Your appointment is (interrupted; not heard: on Tuesday at ten.)' });
    fireEvent.click(cut);
    expect(onSeek).toHaveBeenCalledWith(4);
    expect(screen.getByRole('button', { name: 'Play from 0:08: nothing heard (interrupted; not heard: Shall I repeat that?)' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Play from 0:00: Hello, this is the clinic.' })).toBeTruthy();
  });

  it('has no axe violations', async () => {
    const { container } = render(<TranscriptView lines={lines} label="Transcript" />);
    const result = await axe.run(container);
    expect(result.violations.map((v) => v.id)).toEqual([]);
  });
});
