// Calls per day as an SVG bar chart (no chart library): the last `days` days up to today (or
// the newest day in the data). The numbers are also in a table for screen readers.
import { useMemo } from 'react';

const DAY = 86_400_000;

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The days shown, oldest first, with their counts (days without calls count 0). */
export function dailySeries(perDay: Record<string, number>, days: number, today = Date.now()): { day: string; n: number }[] {
  const keys = Object.keys(perDay).filter((k) => /^\d{4}-\d{2}-\d{2}$/.test(k));
  const newest = keys.length ? keys.reduce((a, b) => (a > b ? a : b)) : isoDay(today);
  const endDay = newest > isoDay(today) ? newest : isoDay(today);
  const end = Date.parse(endDay + 'T00:00:00Z');
  const out: { day: string; n: number }[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const day = isoDay(end - i * DAY);
    out.push({ day, n: Number(perDay[day] ?? 0) });
  }
  return out;
}

const shortDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const label = (day: string) => shortDay.format(new Date(day + 'T00:00:00Z'));

export function DailyChart({ perDay, days = 30 }: { perDay: Record<string, number>; days?: number }) {
  const series = useMemo(() => dailySeries(perDay, days), [perDay, days]);
  const max = Math.max(1, ...series.map((d) => d.n));
  const total = series.reduce((a, d) => a + d.n, 0);
  const W = 720;
  const H = 200;
  const pad = { l: 32, r: 8, t: 12, b: 28 };
  const bw = (W - pad.l - pad.r) / series.length;
  const y = (n: number) => pad.t + (H - pad.t - pad.b) * (1 - n / max);
  const ticks = max <= 4 ? Array.from({ length: max + 1 }, (_, i) => i) : [0, Math.round(max / 2), max];

  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Calls per day over the last ${days} days: ${total} in all, at most ${max} on one day.`}
        preserveAspectRatio="none"
      >
        {ticks.map((t) => (
          <g key={t}>
            <line x1={pad.l} x2={W - pad.r} y1={y(t)} y2={y(t)} className="chart-grid" />
            <text x={pad.l - 6} y={y(t) + 4} className="chart-axis" textAnchor="end">
              {t}
            </text>
          </g>
        ))}
        {series.map((d, i) => {
          const h = H - pad.b - y(d.n);
          return (
            <g key={d.day}>
              <rect
                x={pad.l + i * bw + bw * 0.15}
                y={y(d.n)}
                width={bw * 0.7}
                height={Math.max(0, h)}
                rx={2}
                className="chart-bar"
              >
                <title>{`${label(d.day)}: ${d.n} call${d.n === 1 ? '' : 's'}`}</title>
              </rect>
              {(i % 7 === series.length % 7 || i === series.length - 1) && (
                <text x={pad.l + i * bw + bw / 2} y={H - 8} className="chart-axis" textAnchor="middle">
                  {label(d.day)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="muted">
        {total} call{total === 1 ? '' : 's'} in the last {days} days (UTC days)
      </figcaption>
      <table className="sr-only">
        <caption>Calls per day</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Calls</th>
          </tr>
        </thead>
        <tbody>
          {series
            .filter((d) => d.n > 0)
            .map((d) => (
              <tr key={d.day}>
                <td>{d.day}</td>
                <td>{d.n}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </figure>
  );
}
