// The live call page's reducer: interim words replaced by the next interim and then by the
// final, the agent's interrupted line replaced by what was played, audio.start/ready/error,
// audio.clear, speech started/stopped, and the text call's messages as before.
import { describe, expect, it } from 'vitest';
import { initialLiveState, liveReducer, shownLines, type LiveAction, type LiveState } from '../liveState';
import type { LiveMessage } from '../types';
import { BROWSER_FORMAT } from '../voice/pcm';

// the page's own actions; anything else is a bot message (the bot's `event` is worded by the page)
const ACTIONS = new Set(['history', 'event', 'problem', 'audio-start', 'audio-failed', 'audio-stop', 'audio-reset']);
const run = (msgs: (LiveMessage | LiveAction)[], from: LiveState = initialLiveState) =>
  msgs.reduce<LiveState>(
    (s, m) => liveReducer(s, ACTIONS.has(m.type) ? (m as LiveAction) : { type: 'message', msg: m as LiveMessage }),
    from,
  );
const texts = (s: LiveState) => shownLines(s).map((l) => `${l.role}${l.interim ? '~' : ''}${l.interrupted ? '!' : ''}: ${l.text}`);

describe('interim and final transcripts', () => {
  it('shows the interim at the end, replaces it with the next interim, then with the final', () => {
    let s = run([
      { type: 'transcript', role: 'assistant', text: 'Hello, is this Sam?', turn: 1 },
      { type: 'turn', expecting: 'other_party', turn: 1 },
      { type: 'transcript', role: 'user', text: 'yes', final: false, turn: 2 },
    ]);
    expect(texts(s)).toEqual(['assistant: Hello, is this Sam?', 'user~: yes']);
    s = run([{ type: 'transcript', role: 'user', text: 'yes this is', final: false, turn: 2 }], s);
    expect(texts(s)).toEqual(['assistant: Hello, is this Sam?', 'user~: yes this is']);
    expect(s.yourTurn).toBe(true); // interim words do not end the other party's turn
    s = run([{ type: 'transcript', role: 'user', text: 'Yes, this is Sam.', final: true, turn: 2 }], s);
    expect(texts(s)).toEqual(['assistant: Hello, is this Sam?', 'user: Yes, this is Sam.']);
    expect(s.yourTurn).toBe(false);
    expect(s.interim).toBeNull();
  });

  it('keeps the interim below the agent lines of the same turn it is said over', () => {
    const s = run([
      { type: 'transcript', role: 'assistant', text: 'I am calling about', turn: 3 },
      { type: 'transcript', role: 'user', text: 'mm-hm', final: false, turn: 4 },
      { type: 'transcript', role: 'assistant', text: 'your appointment.', turn: 3 },
    ]);
    expect(texts(s)).toEqual(['assistant: I am calling about', 'assistant: your appointment.', 'user~: mm-hm']);
  });

  it('drops an interim the bot never took (a backchannel) once the agent speaks in its turn', () => {
    const s = run([
      { type: 'transcript', role: 'user', text: 'mm-hm', final: false, turn: 4 },
      { type: 'transcript', role: 'assistant', text: 'Are you still there?', turn: 4 },
    ]);
    expect(texts(s)).toEqual(['assistant: Are you still there?']);
  });

  it('takes a typed line echoed back (no final field) as final', () => {
    const s = run([
      { type: 'transcript', role: 'user', text: 'hel', final: false, turn: 2 },
      { type: 'transcript', role: 'user', text: 'Hello there', turn: 2 },
    ]);
    expect(texts(s)).toEqual(['user: Hello there']);
  });
});

describe('interrupted agent lines', () => {
  it('replace the full line of the same turn with what was played, marked', () => {
    const s = run([
      { type: 'transcript', role: 'assistant', text: 'Hello.', turn: 1 },
      { type: 'transcript', role: 'user', text: 'Hi.', final: true, turn: 2 },
      { type: 'transcript', role: 'assistant', text: 'Your appointment is on Monday at nine in the morning.', turn: 2 },
      { type: 'transcript', role: 'user', text: 'wait', final: false, turn: 3 },
      { type: 'transcript', role: 'assistant', text: 'Your appointment is on Monday', turn: 2, interrupted: true },
    ]);
    expect(texts(s)).toEqual([
      'assistant: Hello.',
      'user: Hi.',
      'assistant!: Your appointment is on Monday',
      'user~: wait',
    ]);
    expect(s.lines.map((l) => l.id)).toEqual([0, 1, 2]); // replaced in place, not appended
  });

  it('are appended, marked, when the full line never came', () => {
    const s = run([{ type: 'transcript', role: 'assistant', text: 'Good mor', turn: 1, interrupted: true }]);
    expect(texts(s)).toEqual(['assistant!: Good mor']);
  });
});

describe('audio', () => {
  it('goes starting, then ready in the format the bot answered', () => {
    let s = run([{ type: 'audio-start', format: BROWSER_FORMAT }]);
    expect(s.audio).toEqual({ phase: 'starting', format: BROWSER_FORMAT });
    s = run(
      [{ type: 'audio.ready', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20, stt: 'pocketsphinx', tts: 'flite' }],
      s,
    );
    expect(s.audio).toEqual({ phase: 'ready', format: BROWSER_FORMAT, stt: 'pocketsphinx', tts: 'flite' });
  });

  it('takes an error while audio.start waits as the bot refusing voice; the call goes on', () => {
    const s = run([
      { type: 'audio-start', format: BROWSER_FORMAT },
      { type: 'error', message: 'voice is not enabled for this call' },
      { type: 'audio-stop' },
    ]);
    expect(s.audio).toEqual({ phase: 'failed', message: 'voice is not enabled for this call' });
    expect(s.problem).toBe('Voice is not available: voice is not enabled for this call');
    const again = run([{ type: 'audio-reset' }], s);
    expect(again.audio).toEqual({ phase: 'off' });
    expect(again.problem).toBeNull();
  });

  it('leaves the audio alone for an error once it is ready', () => {
    const s = run([
      { type: 'audio-start', format: BROWSER_FORMAT },
      { type: 'audio.ready', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20 },
      { type: 'error', message: 'unknown message type' },
    ]);
    expect(s.audio.phase).toBe('ready');
    expect(s.problem).toBe('unknown message type');
  });

  it('ignores an audio.ready that comes after the audio was stopped', () => {
    const s = run([
      { type: 'audio-start', format: BROWSER_FORMAT },
      { type: 'audio-stop' },
      { type: 'audio.ready', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20 },
    ]);
    expect(s.audio).toEqual({ phase: 'off' });
  });

  it('counts audio.clear (each a barge-in) and leaves the transcript as it was', () => {
    const before = run([{ type: 'transcript', role: 'assistant', text: 'Hello.', turn: 1 }]);
    const s = run([{ type: 'audio.clear' }, { type: 'audio.clear' }], before);
    expect(s.clears).toBe(2);
    expect(s.lines).toBe(before.lines);
  });

  it('shows speech started and stopped, and forgets it when the audio stops', () => {
    let s = run([{ type: 'speech', state: 'started' }]);
    expect(s.hearing).toBe(true);
    s = run([{ type: 'speech', state: 'stopped' }], s);
    expect(s.hearing).toBe(false);
    s = run([{ type: 'speech', state: 'started' }, { type: 'audio-stop' }], s);
    expect(s.hearing).toBe(false);
  });
});

describe('the text call', () => {
  it('keeps status, turn, events and history', () => {
    let s = run([{ type: 'history', said: [{ role: 'assistant', text: 'Earlier line.' }] }]);
    s = run([{ type: 'history', said: [{ role: 'assistant', text: 'ignored: lines came already' }] }], s);
    s = run([{ type: 'status', status: 'in_progress' }, { type: 'turn', expecting: 'other_party', turn: 1 }, { type: 'event', text: 'Transfer' }], s);
    expect(texts(s)).toEqual(['assistant: Earlier line.', 'system: Transfer']);
    expect(s.status).toBe('in_progress');
    expect(s.yourTurn).toBe(true);
  });
});

describe('a phone call’s line', () => {
  // the bot's `event` messages (run() takes a bare `event` for the page's own action)
  const events = (evs: { event: string; by?: string }[], from: LiveState = initialLiveState) =>
    evs.reduce<LiveState>((s, e) => liveReducer(s, { type: 'message', msg: { type: 'event', ...e } }), from);

  it('goes dialing, ringing, answered, and keeps who answered', () => {
    let s = events([{ event: 'dialed' }]);
    expect(s.line).toEqual({ reached: 'dialing', answeredBy: null });
    s = events([{ event: 'ringing' }, { event: 'answered' }], s);
    expect(s.line).toEqual({ reached: 'answered', answeredBy: null });
    s = events([{ event: 'answered_by', by: 'machine_end_beep' }], s);
    expect(s.line).toEqual({ reached: 'answered', answeredBy: 'machine_end_beep' });
    expect(s.lines).toEqual([]); // the page words events into lines, not the reducer
  });

  it('never goes back: late and replayed events leave the furthest step', () => {
    const s = events([{ event: 'answered_by', by: 'human' }, { event: 'answered' }, { event: 'ringing' }, { event: 'dialed' }]);
    expect(s.line).toEqual({ reached: 'answered', answeredBy: 'human' });
  });

  it('ignores the other events, and leaves the state as it was', () => {
    const s = events([{ event: 'node' }, { event: 'transfer' }, { event: 'dtmf' }]);
    expect(s).toBe(initialLiveState);
  });

  it('tells a probe on hold from speech', () => {
    let s = run([{ type: 'speech', state: 'started', probe: true }]);
    expect([s.hearing, s.probing]).toEqual([true, true]);
    s = run([{ type: 'speech', state: 'started' }], s);
    expect([s.hearing, s.probing]).toEqual([true, false]);
    s = run([{ type: 'speech', state: 'started', probe: true }, { type: 'speech', state: 'stopped' }], s);
    expect([s.hearing, s.probing]).toEqual([false, false]);
  });
});
