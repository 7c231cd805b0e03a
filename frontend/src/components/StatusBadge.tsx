import { statusLabel, statusTone } from '../schema/fields';

/** A call or session status as a coloured pill (the text carries the meaning, not the colour). */
export function StatusBadge({ status }: { status: string | undefined | null }) {
  return <span className={`badge badge-${statusTone(status)}`}>{statusLabel(status ?? 'Not Started')}</span>;
}
