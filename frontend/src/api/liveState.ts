// What the live call page shows, as one pure reducer over the bot's messages (and a few local
// happenings): the transcript with the other party's interim words, the agent's interrupted
// lines, whose turn it is, whether the bot hears the other party, the voice audio's state, and a
// phone call's line (dialing, ringing, answered and by whom).
// The page keeps the side effects (the socket, the microphone, the player) and dispatches here.
import type { TranscriptLine } from '../components/TranscriptView';
import type { AudioFormat } from './voice/pcm';
import type { LiveMessage } from './types';

export type AudioState =
  | { phase: 'off' }
  /** audio.start sent: waiting for audio.ready. */
  | { phase: 'starting'; format: AudioFormat }
  | { phase: 'ready'; format: AudioFormat; stt?: string; tts?: string }
  /** The bot refused voice or the browser could not run it: the call goes on by typing. */
  | { phase: 'failed'; message: string };

/** How far a phone call's line got, in order; it never goes back. */
export const LINE_STEPS = ['dialing', 'ringing', 'answered'] as const;
export type LineStep = (typeof LINE_STEPS)[number];

/** A phone call's line as its events tell it. */
export interface LineState {
  reached: LineStep | null;
  /** The answering-machine verdict (answered_by's `by`: human, machine_end_beep, fax, unknown...). */
  answeredBy: string | null;
}

// the line events and the step each one shows the line has reached
const LINE_EVENTS: Record<string, LineStep> = { dialed: 'dialing', ringing: 'ringing', answered: 'answered', answered_by: 'answered' };

function lineAfter(line: LineState, m: Extract<LiveMessage, { type: 'event' }>): LineState {
  const step = LINE_EVENTS[m.event];
  if (!step) return line;
  // events may come late or twice (a reload replays the session's): the furthest step stays
  const reached = line.reached && LINE_STEPS.indexOf(line.reached) > LINE_STEPS.indexOf(step) ? line.reached : step;
  const answeredBy = m.event === 'answered_by' && typeof m.by === 'string' ? m.by : line.answeredBy;
  if (reached === line.reached && answeredBy === line.answeredBy) return line;
  return { reached, answeredBy };
}

export interface LiveState {
  lines: TranscriptLine[];
  /** The other party's words so far in the current utterance (replaced, then made final). */
  interim: { text: string; turn?: number } | null;
  status: string;
  /** The bot said the agent's turn is over. */
  yourTurn: boolean;
  problem: string | null;
  audio: AudioState;
  /** The bot hears the other party speaking (speech started, not yet stopped). */
  hearing: boolean;
  /** On hold, what the bot hears may be a person back on the line (speech started with probe). */
  probing: boolean;
  /** A phone call's line; stays at its start in browser calls, which have no line events. */
  line: LineState;
  /** audio.clear messages so far: each one a barge-in that dropped the agent's audio. */
  clears: number;
  nextId: number;
}

export type LiveAction =
  | { type: 'message'; msg: LiveMessage }
  /** What was said before this tab joined (from the session), when nothing has come yet. */
  | { type: 'history'; said: { role: string; text: string }[] }
  | { type: 'event'; text: string }
  | { type: 'problem'; message: string | null }
  | { type: 'audio-start'; format: AudioFormat }
  | { type: 'audio-failed'; message: string }
  /** The audio stopped (voice switched off, format changed, call ended); a failure stays shown. */
  | { type: 'audio-stop' }
  /** Voice chosen again after a failure. */
  | { type: 'audio-reset' };

export const initialLiveState: LiveState = {
  lines: [],
  interim: null,
  status: 'queued',
  yourTurn: false,
  problem: null,
  audio: { phase: 'off' },
  hearing: false,
  probing: false,
  line: { reached: null, answeredBy: null },
  clears: 0,
  nextId: 0,
};

function append(s: LiveState, line: Omit<TranscriptLine, 'id'>): LiveState {
  return { ...s, lines: [...s.lines, { ...line, id: s.nextId }], nextId: s.nextId + 1 };
}

function transcript(s: LiveState, m: Extract<LiveMessage, { type: 'transcript' }>): LiveState {
  if (m.role === 'user') {
    if (m.final === false) return { ...s, interim: { text: m.text, turn: m.turn } };
    // the final line (or a typed line echoed back): the interim it completes goes
    return { ...append(s, { kind: 'say', role: 'user', text: m.text, turn: m.turn }), interim: null, yourTurn: false };
  }
  // the agent moved on to a turn at least as new as the interim's: those words were not taken
  // (a backchannel such as "mm-hm" said over the agent, or noise)
  const interim = s.interim && m.turn != null && s.interim.turn != null && m.turn >= s.interim.turn ? null : s.interim;
  if (m.interrupted) {
    let at = -1;
    for (let i = s.lines.length - 1; i >= 0; i--) {
      const l = s.lines[i];
      if (l.kind === 'say' && l.role === m.role && l.turn === m.turn) {
        at = i;
        break;
      }
    }
    if (at >= 0) {
      const lines = s.lines.slice();
      lines[at] = { ...lines[at], text: m.text, interrupted: true };
      return { ...s, lines, interim };
    }
    return { ...append(s, { kind: 'say', role: m.role, text: m.text, turn: m.turn, interrupted: true }), interim };
  }
  return { ...append(s, { kind: 'say', role: m.role, text: m.text, turn: m.turn }), interim };
}

function message(s: LiveState, m: LiveMessage): LiveState {
  switch (m.type) {
    case 'transcript':
      return transcript(s, m);
    case 'turn':
      return { ...s, yourTurn: true };
    case 'status':
      return { ...s, status: m.status };
    case 'event': {
      // the page words events (with the schema's labels) and dispatches 'event'; here only the line
      const line = lineAfter(s.line, m);
      return line === s.line ? s : { ...s, line };
    }
    case 'error':
      // an error while audio.start waits is the bot refusing voice; the call stays text-only
      if (s.audio.phase === 'starting') {
        return { ...s, audio: { phase: 'failed', message: m.message }, problem: `Voice is not available: ${m.message}` };
      }
      return { ...s, problem: m.message };
    case 'audio.ready':
      if (s.audio.phase !== 'starting') return s; // stopped meanwhile
      return {
        ...s,
        audio: {
          phase: 'ready',
          format: { encoding: m.encoding, sample_rate: m.sample_rate, channels: 1 },
          stt: m.stt,
          tts: m.tts,
        },
      };
    case 'audio.clear':
      return { ...s, clears: s.clears + 1 };
    case 'speech':
      return { ...s, hearing: m.state === 'started', probing: m.state === 'started' && m.probe === true };
    default:
      return s; // a message type this page does not know yet
  }
}

export function liveReducer(s: LiveState, a: LiveAction): LiveState {
  switch (a.type) {
    case 'message':
      return message(s, a.msg);
    case 'history':
      if (s.lines.length || !a.said.length) return s;
      return a.said.reduce((acc, m) => append(acc, { kind: 'say', role: m.role, text: m.text }), s);
    case 'event':
      return append(s, { kind: 'event', role: 'system', text: a.text });
    case 'problem':
      return { ...s, problem: a.message };
    case 'audio-start':
      return { ...s, audio: { phase: 'starting', format: a.format } };
    case 'audio-failed':
      return { ...s, audio: { phase: 'failed', message: a.message }, problem: a.message };
    case 'audio-stop':
      return { ...s, audio: s.audio.phase === 'failed' ? s.audio : { phase: 'off' }, hearing: false, probing: false };
    case 'audio-reset':
      return { ...s, audio: { phase: 'off' }, problem: s.audio.phase === 'failed' ? null : s.problem };
  }
}

/** The lines to show: the transcript, then the interim words greyed at its end. */
export function shownLines(s: LiveState): TranscriptLine[] {
  if (!s.interim) return s.lines;
  return [...s.lines, { id: -1, kind: 'say', role: 'user', text: s.interim.text, turn: s.interim.turn, interim: true }];
}
