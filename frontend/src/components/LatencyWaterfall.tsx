// A voice call's response time per agent turn, as a waterfall: one row per turn, its stages
// (recognizer, end of turn, model, platform, synthesizer, outbound) stacked on one ms axis shared by every row, the
// turn's total at the end, and p50/p95 of the totals over the call in the header. The rows are a
// table, so a screen reader reads the same numbers the bars show; a turn's button picks its
// line in the transcript.
import type { TurnLatency } from '../api/types';

export type StageKey =
  | 'recognizer_ms'
  | 'endpointing_ms'
  | 'model_ms'
  | 'platform_ms'
  | 'synthesizer_ms'
  | 'outbound_ms';

/** The stages in the order they happen after the other party stops speaking. */
export const STAGES: { key: StageKey; label: string; about: string }[] = [
  { key: 'recognizer_ms', label: 'Recognizer', about: 'end of speech to the final transcript' },
  {
    key: 'endpointing_ms',
    label: 'End of turn',
    about: "the later of end of speech and final transcript to the turn's end (the flow's minimum silence)",
  },
  { key: 'model_ms', label: 'Model', about: "the turn's end to the model's first token" },
  { key: 'platform_ms', label: 'Platform', about: "the model's first token to the first line requested" },
  { key: 'synthesizer_ms', label: 'Synthesizer', about: 'line requested to the first synthesized audio' },
  { key: 'outbound_ms', label: 'Outbound', about: 'first synthesized audio to the first audio frame sent' },
];

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : null);

/** The p-th percentile (0–100) by nearest rank, as the bot's own stats take it; null for no values. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const xs = [...values].sort((a, b) => a - b);
  return xs[Math.max(1, Math.ceil((xs.length * p) / 100)) - 1];
}

/** "640 ms", "1,240 ms", "12.5 ms" (one decimal only under 100 ms). */
export function formatMs(ms: number): string {
  const rounded = ms < 100 ? Math.round(ms * 10) / 10 : Math.round(ms);
  return `${rounded.toLocaleString('en-US')} ms`;
}

export interface WaterfallSegment {
  key: StageKey | 'unmeasured';
  label: string;
  start: number;
  ms: number;
}

/** A turn's bar: its measured stages one after another from 0, and when a stage is missing but the
 * turn's total is known, the part of the total no stage accounts for ("not measured"). */
export function segmentsOf(t: TurnLatency): WaterfallSegment[] {
  const out: WaterfallSegment[] = [];
  let at = 0;
  let missing = false;
  for (const s of STAGES) {
    const ms = num(t[s.key]);
    if (ms == null) {
      missing = true;
      continue;
    }
    out.push({ key: s.key, label: s.label, start: at, ms });
    at += ms;
  }
  const total = num(t.turn_ms);
  if (missing && total != null && total - at >= 0.5) out.push({ key: 'unmeasured', label: 'Not measured', start: at, ms: total - at });
  return out;
}

/** Axis ticks: 0 and round steps (1, 2 or 5 × 10ⁿ ms) up to at least `max`, five steps or fewer. */
export function axisTicks(max: number): number[] {
  if (!(max > 0)) return [0];
  const raw = max / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) ticks.push(v);
  return ticks;
}

function rowLabel(t: TurnLatency, segs: WaterfallSegment[]): string {
  const total = num(t.turn_ms);
  const parts = segs.map((s) => `${s.label.toLowerCase()} ${formatMs(s.ms)}`);
  const unmeasured = STAGES.filter((s) => num(t[s.key]) == null).map((s) => s.label.toLowerCase());
  return [
    total != null ? `${formatMs(total)} in all` : 'total not measured',
    ...parts,
    ...(unmeasured.length ? [`${unmeasured.join(', ')} not measured`] : []),
  ].join('; ');
}

interface Props {
  turns: TurnLatency[];
  /** Picks a turn (its index in `turns`); rows become buttons. */
  onPick?: (index: number) => void;
  /** The picked turn's index. */
  picked?: number | null;
}

export function LatencyWaterfall({ turns, onPick, picked = null }: Props) {
  if (turns.length === 0) return null;
  const rows = turns.map((t) => ({ t, segs: segmentsOf(t) }));
  const totals = turns.map((t) => num(t.turn_ms)).filter((x): x is number => x != null);
  const unmeasured = rows.some((r) => r.segs.some((s) => s.key === 'unmeasured'));
  const p50 = percentile(totals, 50);
  const p95 = percentile(totals, 95);
  const longest = Math.max(0, ...totals, ...rows.map((r) => r.segs.reduce((a, s) => a + s.ms, 0)));
  const ticks = axisTicks(longest);
  const axis = ticks[ticks.length - 1] || 1;
  const pct = (ms: number) => `${((ms / axis) * 100).toFixed(3)}%`;

  return (
    <section className="waterfall" aria-labelledby="waterfall-title">
      <div className="waterfall-head">
        <h2 id="waterfall-title">Response time per turn</h2>
        <p className="waterfall-stats">
          {p50 != null && p95 != null ? (
            <>
              <span>
                p50 <strong>{formatMs(p50)}</strong>
              </span>
              <span>
                p95 <strong>{formatMs(p95)}</strong>
              </span>
            </>
          ) : (
            <span>no whole turn measured</span>
          )}
          <span className="muted">
            {turns.length} turn{turns.length === 1 ? '' : 's'}, from the other party&rsquo;s end of speech to the agent&rsquo;s first audio
          </span>
        </p>
      </div>
      <ul className="waterfall-legend" aria-label="Stages">
        {STAGES.map((s) => (
          <li key={s.key} title={s.about}>
            <span className={`wf-swatch wf-${s.key}`} aria-hidden="true" />
            {s.label}
            <span className="sr-only">: {s.about}</span>
          </li>
        ))}
        {unmeasured && (
          <li title="a stage missing from a turn whose total is known">
            <span className="wf-swatch wf-unmeasured" aria-hidden="true" />
            Not measured
          </li>
        )}
      </ul>
      <table className="waterfall-table">
        <caption className="sr-only">Response time per turn, by stage, in milliseconds</caption>
        <thead>
          <tr>
            <th scope="col">Turn</th>
            <th scope="col" className="waterfall-axis-cell">
              <span className="sr-only">Stages</span>
              <span className="waterfall-axis" aria-hidden="true">
                {ticks.map((v, i) => (
                  <span key={v} className="waterfall-tick" style={{ left: pct(v) }}>
                    {i === ticks.length - 1 ? formatMs(v) : v.toLocaleString('en-US')}
                  </span>
                ))}
              </span>
            </th>
            <th scope="col" className="waterfall-total">Total</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ t, segs }, i) => {
            const total = num(t.turn_ms);
            const label = rowLabel(t, segs);
            return (
              // a click anywhere on the row picks it; the button is its keyboard way (its click bubbles here)
              <tr key={i} className={picked === i ? 'waterfall-row waterfall-picked' : 'waterfall-row'} data-turn={t.turn}
                onClick={onPick ? () => onPick(i) : undefined}>
                <th scope="row">
                  {onPick ? (
                    <button type="button" className="waterfall-pick"
                      aria-pressed={picked === i} aria-label={`Turn ${t.turn}: ${label}. Show in the transcript`}>
                      Turn {t.turn}
                    </button>
                  ) : (
                    <>Turn {t.turn}</>
                  )}
                </th>
                <td className="waterfall-bar-cell">
                  <span className="sr-only">{label}</span>
                  <span className="waterfall-bar" aria-hidden="true">
                    {ticks.slice(1).map((v) => (
                      <span key={v} className="waterfall-grid" style={{ left: pct(v) }} />
                    ))}
                    {segs.map((s) => (
                      <span key={s.key} className={`wf-seg wf-${s.key}`} data-stage={s.key} data-ms={s.ms}
                        style={{ left: pct(s.start), width: pct(s.ms) }} title={`${s.label}: ${formatMs(s.ms)}`} />
                    ))}
                  </span>
                </td>
                <td className="waterfall-total">{total != null ? formatMs(total) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
