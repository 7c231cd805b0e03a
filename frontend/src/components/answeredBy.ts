// Twilio's answering-machine verdict (AnsweredBy, the session's phone.answered_by) in words. The
// machine_* verdicts differ only in how the greeting ended: to staff they are all a machine.

export interface AnsweredBy {
  /** "person", "answering machine", "fax machine": for "Answered (person)". */
  short: string;
  /** "a person", "an answering machine": for "Answered by a person". */
  long: string;
}

const PERSON: AnsweredBy = { short: 'person', long: 'a person' };
const MACHINE: AnsweredBy = { short: 'answering machine', long: 'an answering machine' };
const FAX: AnsweredBy = { short: 'fax machine', long: 'a fax machine' };

/** The verdict in words; null for "unknown" (Twilio could not tell) and for no verdict. */
export function answeredBy(by: string | null | undefined): AnsweredBy | null {
  if (!by || by === 'unknown') return null;
  if (by === 'human') return PERSON;
  if (by === 'fax') return FAX;
  if (by.startsWith('machine')) return MACHINE;
  return { short: by, long: by }; // a verdict this UI does not know yet: shown as it came
}
