// The response-time waterfall of a voice call: each turn's stages stacked in order on one ms axis
// (widths proportional to the numbers), a missing stage left out (the unaccounted part of a known
// total shown as "not measured"), nearest-rank p50/p95 of the turn totals, nothing for no turns,
// the numbers in words for screen readers, rows that pick, and axe-clean markup.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import axe from 'axe-core';
import { axisTicks, formatMs, LatencyWaterfall, percentile, segmentsOf } from '../LatencyWaterfall';

const pctOf = (el: Element, prop: 'left' | 'width') => Number.parseFloat((el as HTMLElement).style[prop]);

describe('percentile (nearest rank, as the bot computes its own)', () => {
  it('takes the value at rank ceil(n·p)', () => {
    const xs = [900, 100, 500, 300, 700, 200, 400, 800, 600, 1000];
    expect(percentile(xs, 50)).toBe(500);
    expect(percentile(xs, 95)).toBe(1000);
    expect(percentile([42], 50)).toBe(42);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([], 50)).toBeNull();
  });

  it('does not reorder the caller’s array', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('segmentsOf', () => {
  it('stacks the stages in order from the end of speech', () => {
    expect(segmentsOf({ turn: 2, recognizer_ms: 100, model_ms: 350, platform_ms: 50, synthesizer_ms: 150, outbound_ms: 20,
      turn_ms: 670 }))
      .toEqual([
        { key: 'recognizer_ms', label: 'Recognizer', start: 0, ms: 100 },
        { key: 'model_ms', label: 'Model', start: 100, ms: 350 },
        { key: 'platform_ms', label: 'Platform', start: 450, ms: 50 },
        { key: 'synthesizer_ms', label: 'Synthesizer', start: 500, ms: 150 },
        { key: 'outbound_ms', label: 'Outbound', start: 650, ms: 20 },
      ]);
  });

  it('leaves a missing stage out and shows the rest of a known total as not measured', () => {
    expect(segmentsOf({ turn: 3, recognizer_ms: 100, synthesizer_ms: 150, outbound_ms: 20, turn_ms: 670 })).toEqual([
      { key: 'recognizer_ms', label: 'Recognizer', start: 0, ms: 100 },
      { key: 'synthesizer_ms', label: 'Synthesizer', start: 100, ms: 150 },
      { key: 'outbound_ms', label: 'Outbound', start: 250, ms: 20 },
      { key: 'unmeasured', label: 'Not measured', start: 270, ms: 400 },
    ]);
    // the greeting: no end of speech, so neither recognizer nor total
    expect(segmentsOf({ turn: 1, synthesizer_ms: 80.5, outbound_ms: 12 })).toEqual([
      { key: 'synthesizer_ms', label: 'Synthesizer', start: 0, ms: 80.5 },
      { key: 'outbound_ms', label: 'Outbound', start: 80.5, ms: 12 },
    ]);
    expect(segmentsOf({ turn: 4 })).toEqual([]);
  });

  it('ignores rounding differences when every stage is there', () => {
    const segs = segmentsOf({ turn: 2, recognizer_ms: 100.1, model_ms: 400.1, synthesizer_ms: 150.1, outbound_ms: 20.1, turn_ms: 670.2 });
    expect(segs.map((s) => s.key)).not.toContain('unmeasured');
  });
});

describe('axis and numbers', () => {
  it('ticks in round steps up to at least the longest turn', () => {
    expect(axisTicks(670)).toEqual([0, 200, 400, 600, 800]);
    expect(axisTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(axisTicks(2300)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(axisTicks(0)).toEqual([0]);
  });

  it('formats ms', () => {
    expect(formatMs(12.5)).toBe('12.5 ms');
    expect(formatMs(640.4)).toBe('640 ms');
    expect(formatMs(1240)).toBe('1,240 ms');
  });
});

describe('<LatencyWaterfall>', () => {
  const turns = [
    { turn: 1, synthesizer_ms: 80, outbound_ms: 20 },
    { turn: 2, recognizer_ms: 100, endpointing_ms: 50, model_ms: 300, platform_ms: 50, synthesizer_ms: 150, outbound_ms: 50,
      turn_ms: 700 },
    { turn: 3, recognizer_ms: 200, model_ms: 600, synthesizer_ms: 150, outbound_ms: 50, turn_ms: 1000 },
    { turn: 4, recognizer_ms: 100, model_ms: 300, outbound_ms: 20, turn_ms: 500 },
  ];

  it('renders nothing without turns', () => {
    const { container } = render(<LatencyWaterfall turns={[]} />);
    expect(container.innerHTML).toBe('');
  });

  it('draws each stage with a width proportional to its ms on the shared axis, and the total at the end', () => {
    render(<LatencyWaterfall turns={turns} />);
    // the axis runs 0–1000 ms (the longest turn), so 1 ms is 0.1 %
    const rows = document.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(4);
    const second = [...rows[1].querySelectorAll('.wf-seg')];
    expect(second.map((s) => s.getAttribute('data-stage'))).toEqual(['recognizer_ms', 'endpointing_ms', 'model_ms', 'platform_ms',
      'synthesizer_ms', 'outbound_ms']);
    expect(second.map((s) => pctOf(s, 'width'))).toEqual([10, 5, 30, 5, 15, 5]);
    expect(second.map((s) => pctOf(s, 'left'))).toEqual([0, 10, 15, 45, 50, 65]);
    const third = [...rows[2].querySelectorAll('.wf-seg')];
    expect(third.map((s) => pctOf(s, 'width'))).toEqual([20, 60, 15, 5]);
    expect(rows[1].querySelector('.waterfall-total')!.textContent).toBe('700 ms');
    expect(rows[2].querySelector('.waterfall-total')!.textContent).toBe('1,000 ms');
    // the greeting has no total; turn 4 misses its synthesizer: 80 ms of its 500 not measured
    expect(rows[0].querySelector('.waterfall-total')!.textContent).toBe('—');
    const fourth = [...rows[3].querySelectorAll('.wf-seg')];
    expect(fourth.map((s) => s.getAttribute('data-stage'))).toEqual(['recognizer_ms', 'model_ms', 'outbound_ms', 'unmeasured']);
    expect(fourth.map((s) => pctOf(s, 'width'))).toEqual([10, 30, 2, 8]);
  });

  it('heads with p50 and p95 of the measured turn totals, and a legend of the stages', () => {
    render(<LatencyWaterfall turns={turns} />);
    // totals 700, 1000, 500 (the greeting has none): p50 700, p95 1000
    const stats = document.querySelector('.waterfall-stats')!;
    expect(stats.textContent).toContain('p50 700 ms');
    expect(stats.textContent).toContain('p95 1,000 ms');
    expect(stats.textContent).toContain('4 turns');
    const legend = screen.getByRole('list', { name: 'Stages' });
    expect([...legend.querySelectorAll('li')].map((li) => li.firstChild?.nextSibling?.textContent)).toEqual([
      'Recognizer', 'End of turn', 'Model', 'Platform', 'Synthesizer', 'Outbound', 'Not measured',
    ]);
    // the axis: round steps, the unit on the last
    expect([...document.querySelectorAll('.waterfall-tick')].map((t) => t.textContent)).toEqual([
      '0', '200', '400', '600', '800', '1,000 ms',
    ]);
  });

  it('leaves "not measured" out of the legend when every turn is whole', () => {
    render(<LatencyWaterfall turns={turns.slice(1, 3)} />);
    expect(screen.getByRole('list', { name: 'Stages' }).textContent).not.toContain('Not measured');
  });

  it('says when no turn has a total', () => {
    render(<LatencyWaterfall turns={[{ turn: 1, synthesizer_ms: 80 }]} />);
    expect(document.querySelector('.waterfall-stats')!.textContent).toContain('no whole turn measured');
    expect(document.querySelector('.waterfall-stats')!.textContent).toContain('1 turn,');
  });

  it('gives screen readers every number of a row, missing stages named', () => {
    render(<LatencyWaterfall turns={turns} />);
    const rows = document.querySelectorAll('tbody tr');
    expect(rows[1].querySelector('.sr-only')!.textContent).toBe(
      '700 ms in all; recognizer 100 ms; end of turn 50 ms; model 300 ms; platform 50 ms; synthesizer 150 ms; outbound 50 ms',
    );
    expect(rows[0].querySelector('.sr-only')!.textContent).toBe(
      'total not measured; synthesizer 80 ms; outbound 20 ms; recognizer, end of turn, model, platform not measured',
    );
    expect(rows[3].querySelector('.sr-only')!.textContent).toContain('not measured 80 ms; end of turn, platform, synthesizer not measured');
    expect(screen.getByRole('table').querySelector('caption')!.textContent).toMatch(/Response time per turn/);
  });

  it('picks a turn by its button or a click on the row, and marks the picked one', () => {
    const onPick = vi.fn();
    const { rerender } = render(<LatencyWaterfall turns={turns} onPick={onPick} />);
    fireEvent.click(screen.getByRole('button', { name: /^Turn 3: 1,000 ms in all/ }));
    expect(onPick).toHaveBeenLastCalledWith(2);
    fireEvent.click(document.querySelectorAll('tbody tr')[1].querySelector('.waterfall-bar-cell')!);
    expect(onPick).toHaveBeenLastCalledWith(1);
    rerender(<LatencyWaterfall turns={turns} onPick={onPick} picked={1} />);
    expect(screen.getByRole('button', { name: /^Turn 2:/ }).getAttribute('aria-pressed')).toBe('true');
    expect(document.querySelectorAll('tbody tr')[1].className).toContain('waterfall-picked');
  });

  it('has no axe violations', async () => {
    const { container } = render(<LatencyWaterfall turns={turns} onPick={() => undefined} picked={0} />);
    const result = await axe.run(container);
    expect(result.violations.map((v) => v.id)).toEqual([]);
  });
});
