// Automatic sign-out after the clinic's idle time (idle_timeout_seconds, 15 minutes), with a
// warning a minute before. Activity in any tab of the clinic counts: the last moment is kept in
// localStorage, which every tab of this origin shares.

export const WARNING_MS = 60_000;

export type IdlePhase = { phase: 'active' } | { phase: 'warning'; remainingMs: number } | { phase: 'expired' };

export function idlePhase(now: number, lastActivity: number, timeoutMs: number, warningMs = WARNING_MS): IdlePhase {
  const remainingMs = lastActivity + timeoutMs - now;
  if (remainingMs <= 0) return { phase: 'expired' };
  if (remainingMs <= Math.min(warningMs, timeoutMs)) return { phase: 'warning', remainingMs };
  return { phase: 'active' };
}

export function readActivity(key: string, fallback: number): number {
  try {
    const v = Number(localStorage.getItem(key));
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

export function writeActivity(key: string, at: number): void {
  try {
    localStorage.setItem(key, String(at));
  } catch {
    // storage unavailable: this tab's own clock still works
  }
}
