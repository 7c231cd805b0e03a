// A phone call's line as staff watching it see it: Dialing → Ringing → Answered (by a person or
// a machine) → Ended with its status. The steps come from the line's events (sova.bot.phone's
// dialed, ringing, answered, answered_by); a step the call never reached (a busy line is never
// answered) reads "not reached" once the call has ended.
import { LINE_STEPS, type LineState, type LineStep } from '../api/liveState';
import { statusLabel, statusTone } from '../schema/fields';
import { answeredBy } from './answeredBy';

type Phase = 'done' | 'current' | 'todo' | 'skipped';

const MARK: Record<Phase, string> = { done: '✓', current: '●', todo: '○', skipped: '–' };
const SAID: Record<Phase, string> = { done: 'done', current: 'now', todo: 'not yet', skipped: 'not reached' };

function stepName(step: LineStep, line: LineState): string {
  if (step === 'dialing') return 'Dialing';
  if (step === 'ringing') return 'Ringing';
  const by = answeredBy(line.answeredBy);
  return by ? `Answered (${by.short})` : 'Answered';
}

/** Where the line is, in words ("Ringing", "Answered (person)", "Ended: Busy"). */
export function lineNow(line: LineState, status: string, ended: boolean): string {
  if (ended) return `Ended: ${statusLabel(status)}`;
  return stepName(line.reached ?? 'dialing', line);
}

export function LineProgress({ line, status, ended }: { line: LineState; status: string; ended: boolean }) {
  const at = line.reached ? LINE_STEPS.indexOf(line.reached) : -1;
  // before the first event the call is being placed: Dialing is where it is
  const current = ended ? -1 : Math.max(at, 0);
  const steps: { key: string; name: string; phase: Phase; tone?: string }[] = LINE_STEPS.map((step, i) => {
    const phase: Phase = i === current ? 'current' : i <= at ? 'done' : ended ? 'skipped' : 'todo';
    return { key: step, name: stepName(step, line), phase };
  });
  // the end takes its status's colour, as the status badge does (the words carry the meaning)
  steps.push({ key: 'ended', name: ended ? `Ended: ${statusLabel(status)}` : 'Ended', phase: ended ? 'current' : 'todo',
    tone: ended ? statusTone(status) : undefined });
  return (
    <ol className="line-progress" aria-label="The phone line">
      {steps.map((s) => (
        <li key={s.key} className={`line-step line-step-${s.phase}${s.tone ? ` line-step-${s.tone}` : ''}`} aria-current={s.phase === 'current' ? 'step' : undefined}>
          <span className="line-step-mark" aria-hidden="true">
            {MARK[s.phase]}
          </span>
          <span className="line-step-name">{s.name}</span>
          <span className="sr-only"> ({SAID[s.phase]})</span>
        </li>
      ))}
    </ol>
  );
}
