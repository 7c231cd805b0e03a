import { statusLabel, statusTone } from '../schema/fields';

/** A call or session status as a coloured pill (the text carries the meaning, not the colour). */
export function StatusBadge({ status }: { status: string | undefined | null }) {
  const shown = status ?? 'not_started'; // a patient without call_status has never been called
  return <span className={`badge badge-${statusTone(shown)}`}>{statusLabel(shown)}</span>;
}
