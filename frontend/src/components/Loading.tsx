/** A polite "loading" line (announced to screen readers), or a full-page one at start-up. */
export function Loading({ label = 'Loading…', full = false }: { label?: string; full?: boolean }) {
  return (
    <div className={full ? 'loading loading-full' : 'loading'} role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}
