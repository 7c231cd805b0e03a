// The live call page in Voice mode, with a stand-in WebSocket and stand-in Web Audio (context,
// worklet nodes and their ports, getUserMedia): choosing Voice opens the microphone and sends
// audio.start in the chosen format, mic frames go out as binary frames once audio.ready came
// (silence while muted), the bot's frames and audio.clear reach the player, the keypad sends
// dtmf and plays its tone pair, and failures leave the call going by typing.
import axe from 'axe-core';
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { rememberLiveUrl } from '../../api/live';
import { installFakeApi, renderApp, signedIn, tenantOf } from '../../test/fakeApi';
import { orgWith, SCHEMA, WF } from '../../test/fixtures';

const org = orgWith(SCHEMA);
const me = { user: { id: 'u1', email: 'staff@test.example' }, organization: org };

type Sent = Record<string, unknown> | { binary: ArrayBuffer };

class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  url: string;
  readyState = 0;
  binaryType = 'blob';
  sent: Sent[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string | ArrayBuffer }) => void) | null = null;
  onclose: ((e: { wasClean: boolean }) => void) | null = null;
  constructor(url: string) {
    this.url = url;
    FakeSocket.all.push(this);
  }
  send(data: string | ArrayBuffer) {
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : { binary: data });
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  emit(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  emitBinary(buf: ArrayBuffer) {
    this.onmessage?.({ data: buf });
  }
  json() {
    return this.sent.filter((m) => !('binary' in m)) as Record<string, unknown>[];
  }
  binaries() {
    return this.sent.filter((m): m is { binary: ArrayBuffer } => 'binary' in m).map((m) => m.binary);
  }
}

class FakePort {
  sent: { type: string; [k: string]: unknown }[] = [];
  onmessage: ((e: { data: unknown }) => void) | null = null;
  postMessage(m: { type: string }) {
    this.sent.push(m);
  }
  types() {
    return this.sent.map((m) => m.type);
  }
}

class FakeNode {
  connect() {}
  disconnect() {}
}

class FakeWorkletNode extends FakeNode {
  static all: FakeWorkletNode[] = [];
  port = new FakePort();
  constructor(
    readonly ctx: FakeAudioContext,
    readonly name: string,
    readonly options: { processorOptions: { format: unknown } },
  ) {
    super();
    FakeWorkletNode.all.push(this);
  }
  static named(name: string) {
    return FakeWorkletNode.all.filter((n) => n.name === name).at(-1)!;
  }
}

const tones: number[] = [];

class FakeAudioContext {
  static all: FakeAudioContext[] = [];
  modules: string[] = [];
  closed = false;
  currentTime = 0;
  sampleRate = 48000;
  destination = new FakeNode();
  constructor() {
    FakeAudioContext.all.push(this);
  }
  get audioWorklet() {
    return { addModule: async (url: string) => void this.modules.push(url) };
  }
  async resume() {}
  async close() {
    this.closed = true;
  }
  createMediaStreamSource() {
    return new FakeNode();
  }
  createGain() {
    return { gain: { setValueAtTime() {}, linearRampToValueAtTime() {} }, connect() {} };
  }
  createOscillator() {
    const osc = { frequency: { value: 0 }, connect() {}, start() {}, stop() {} };
    queueMicrotask(() => tones.push(osc.frequency.value));
    return osc;
  }
}

function fakeMic(fail?: string) {
  const track = { stop: vi.fn(), onended: null };
  const stream = { getAudioTracks: () => [track], getTracks: () => [track] };
  const getUserMedia = vi.fn(async () => {
    if (fail) throw Object.assign(new Error(fail), { name: fail });
    return stream;
  });
  Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia }, configurable: true });
  return { getUserMedia, track };
}

async function openCall(opts: { audio?: boolean; mic?: string } = {}) {
  signedIn();
  FakeSocket.all = [];
  FakeWorkletNode.all = [];
  FakeAudioContext.all = [];
  tones.length = 0;
  vi.stubGlobal('WebSocket', FakeSocket);
  if (opts.audio !== false) {
    vi.stubGlobal('AudioContext', FakeAudioContext);
    vi.stubGlobal('AudioWorkletNode', FakeWorkletNode);
  } else {
    vi.stubGlobal('AudioContext', undefined);
  }
  const mic = fakeMic(opts.mic);
  installFakeApi({
    'GET /api/tenant': [200, tenantOf(org)],
    'GET /api/me': [200, me],
    'GET /api/sessions/s1': [200, { id: 's1', patient_id: 'p1', workflow: WF, status: 'in_progress', transcript: { messages: [] } }],
  });
  rememberLiveUrl('s1', 'ws://bot.test/calls/s1/live?token=t');
  renderApp('/calls/s1/live');
  expect(await screen.findByRole('heading', { name: 'Live call' })).toBeTruthy();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  const ws = FakeSocket.all[0];
  act(() => {
    ws.open();
    ws.emit({ type: 'status', status: 'in_progress' });
  });
  return { ws, mic };
}

const ready16k = { type: 'audio.ready', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20, stt: 'pocketsphinx', tts: 'flite' };

function micFrame(bytes: number, fill: number, levelDb = -20) {
  const data = new Uint8Array(bytes).fill(fill).buffer;
  act(() => FakeWorkletNode.named('sova-capture').port.onmessage?.({ data: { type: 'frame', bytes: data, levelDb } }));
}

describe('a voice call', () => {
  it('starts the microphone, sends audio.start, streams frames both ways, clears on barge-in, sends dtmf and mute', async () => {
    const { ws, mic } = await openCall();
    expect(ws.binaryType).toBe('arraybuffer');
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    expect(await screen.findByText('Connecting the audio…')).toBeTruthy();
    expect(screen.getByText(/Use a headset/)).toBeTruthy();

    expect(mic.getUserMedia).toHaveBeenCalledWith({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const ctx = FakeAudioContext.all[0];
    expect(ctx.modules).toHaveLength(2);
    expect(ctx.modules[0]).toMatch(/capture\.worklet/);
    expect(ctx.modules[1]).toMatch(/playback\.worklet/);
    expect(FakeWorkletNode.named('sova-capture').options.processorOptions.format).toEqual({ encoding: 'pcm_s16le', sample_rate: 16000, channels: 1 });
    expect(ws.json().at(-1)).toEqual({ type: 'audio.start', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1 });

    micFrame(640, 7); // before audio.ready: not sent
    expect(ws.binaries()).toHaveLength(0);
    act(() => ws.emit(ready16k));
    expect(screen.getByText('Listening')).toBeTruthy();
    expect(screen.getByText(/16 kHz PCM, pocketsphinx \/ flite/)).toBeTruthy();
    const player = FakeWorkletNode.named('sova-playback').port;
    expect(player.sent.at(-1)).toEqual({ type: 'format', format: { encoding: 'pcm_s16le', sample_rate: 16000, channels: 1 } });

    micFrame(640, 7, -20);
    expect(ws.binaries()).toHaveLength(1);
    expect(new Uint8Array(ws.binaries()[0])).toEqual(new Uint8Array(640).fill(7));
    const meter = screen.getByRole('meter', { name: 'Microphone' });
    expect(Number(meter.getAttribute('aria-valuenow'))).toBeLessThan(-20); // smoothed up from the floor
    expect(meter.getAttribute('aria-valuemin')).toBe('-60');

    // the agent's audio to the player; audio.clear drops it at once
    act(() => ws.emitBinary(new ArrayBuffer(640)));
    expect(player.types().at(-1)).toBe('frame');
    act(() => ws.emit({ type: 'audio.clear' }));
    expect(player.types().at(-1)).toBe('clear');

    // hearing, interim and final lines
    act(() => {
      ws.emit({ type: 'speech', state: 'started' });
      ws.emit({ type: 'transcript', role: 'user', text: 'wait a', final: false, turn: 2 });
    });
    expect(screen.getByText('Hearing you')).toBeTruthy();
    const log = screen.getByRole('log');
    expect(within(log).getByText('wait a').closest('li')!.className).toContain('line-interim');
    act(() => {
      ws.emit({ type: 'speech', state: 'stopped' });
      ws.emit({ type: 'transcript', role: 'user', text: 'Wait a second.', final: true, turn: 2 });
    });
    expect(within(log).queryByText('wait a')).toBeNull();
    expect(within(log).getByText('Wait a second.').closest('li')!.className).not.toContain('line-interim');
    expect(screen.getByText('Listening')).toBeTruthy();

    // keypad: a click and a typed key
    fireEvent.click(screen.getByRole('button', { name: 'Key 5' }));
    expect(ws.json().at(-1)).toEqual({ type: 'dtmf', digits: '5' });
    fireEvent.keyDown(screen.getByRole('button', { name: 'Key 1' }), { key: '#' });
    expect(ws.json().at(-1)).toEqual({ type: 'dtmf', digits: '#' });
    await waitFor(() => expect(tones).toEqual([770, 1336, 941, 1477]));

    // mute: said to the bot, and silence goes out instead of the microphone
    fireEvent.click(screen.getByRole('button', { name: 'Mute' }));
    expect(ws.json().at(-1)).toEqual({ type: 'mute', muted: true });
    expect(screen.getByRole('button', { name: 'Unmute' }).getAttribute('aria-pressed')).toBe('true');
    micFrame(640, 7);
    expect(new Uint8Array(ws.binaries().at(-1)!)).toEqual(new Uint8Array(640));
    expect(meter.getAttribute('aria-valuetext')).toBe('muted');
    fireEvent.click(screen.getByRole('button', { name: 'Unmute' }));
    expect(ws.json().at(-1)).toEqual({ type: 'mute', muted: false });

    // typing still works in a voice call
    fireEvent.change(screen.getByLabelText('Your line'), { target: { value: 'Typed line' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(ws.json().at(-1)).toEqual({ type: 'say', text: 'Typed line' });

    // back to text: the microphone and the context are released
    fireEvent.click(screen.getByRole('radio', { name: 'Text' }));
    expect(mic.track.stop).toHaveBeenCalled();
    expect(ctx.closed).toBe(true);
    expect(screen.queryByRole('meter')).toBeNull();
  });

  it('is axe-clean with the voice controls, an interim line and an interrupted one', async () => {
    const { ws } = await openCall();
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    await waitFor(() => expect(ws.json().some((m) => m.type === 'audio.start')).toBe(true));
    act(() => {
      ws.emit(ready16k);
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Your appointment is', turn: 2, interrupted: true });
      ws.emit({ type: 'transcript', role: 'user', text: 'wait', final: false, turn: 3 });
    });
    expect(screen.getByRole('group', { name: /Keypad/ })).toBeTruthy();
    const result = await axe.run(document.body, { rules: { 'color-contrast': { enabled: false } } });
    expect(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(', ')}`)).toEqual([]);
  });

  it('marks the agent line that was cut off with what was played', async () => {
    const { ws } = await openCall();
    act(() => {
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Your appointment is on Monday at nine.', turn: 2 });
      ws.emit({ type: 'transcript', role: 'assistant', text: 'Your appointment is', turn: 2, interrupted: true });
    });
    const log = screen.getByRole('log');
    expect(within(log).queryByText(/Monday at nine/)).toBeNull();
    const line = within(log).getByText(/Your appointment is/).closest('li')!;
    expect(line.textContent).toContain('interrupted');
  });

  it('phone quality: μ-law at 8 kHz, chosen before, and switched during the call with a new audio.start', async () => {
    const { ws, mic } = await openCall();
    fireEvent.click(screen.getByRole('checkbox', { name: /Phone quality/ }));
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    await waitFor(() => expect(ws.json().at(-1)).toEqual({ type: 'audio.start', encoding: 'mulaw', sample_rate: 8000, channels: 1 }));
    expect(FakeWorkletNode.named('sova-capture').options.processorOptions.format).toEqual({ encoding: 'mulaw', sample_rate: 8000, channels: 1 });
    act(() => ws.emit({ ...ready16k, encoding: 'mulaw', sample_rate: 8000 }));
    expect(await screen.findByText(/phone quality \(μ-law 8 kHz\)/)).toBeTruthy();
    // muted: a μ-law silence frame is 0xFF bytes
    fireEvent.click(screen.getByRole('button', { name: 'Mute' }));
    micFrame(160, 3);
    expect(new Uint8Array(ws.binaries().at(-1)!)).toEqual(new Uint8Array(160).fill(0xff));

    const first = FakeAudioContext.all[0];
    fireEvent.click(screen.getByRole('checkbox', { name: /Phone quality/ }));
    await waitFor(() => expect(ws.json().filter((m) => m.type === 'audio.start')).toHaveLength(2));
    expect(ws.json().filter((m) => m.type === 'audio.start').at(-1)).toEqual({ type: 'audio.start', encoding: 'pcm_s16le', sample_rate: 16000, channels: 1 });
    expect(ws.json().at(-1)).toEqual({ type: 'mute', muted: true }); // still muted after the restart
    expect(first.closed).toBe(true);
    expect(mic.track.stop).toHaveBeenCalled();
    const sentBefore = ws.binaries().length;
    micFrame(640, 3); // the new audio.start waits for its audio.ready
    expect(ws.binaries()).toHaveLength(sentBefore);
  });
});

describe('when voice cannot run', () => {
  it('says the microphone was denied, and the call goes on by typing', async () => {
    const { ws } = await openCall({ mic: 'NotAllowedError' });
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Microphone access was denied');
    expect(screen.getByText('Voice is off; the call goes on by typing.')).toBeTruthy();
    expect(ws.json().some((m) => m.type === 'audio.start')).toBe(false);
    fireEvent.change(screen.getByLabelText('Your line'), { target: { value: 'Hello' } });
    fireEvent.keyDown(screen.getByLabelText('Your line'), { key: 'Enter' });
    expect(ws.json().at(-1)).toEqual({ type: 'say', text: 'Hello' });
  });

  it('says so when the browser has no AudioWorklet', async () => {
    await openCall({ audio: false });
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    expect((await screen.findByRole('alert')).textContent).toContain('no AudioWorklet');
  });

  it('stops the audio when the bot refuses audio.start, and offers to try again', async () => {
    const { ws, mic } = await openCall();
    fireEvent.click(screen.getByRole('radio', { name: 'Voice' }));
    await waitFor(() => expect(ws.json().some((m) => m.type === 'audio.start')).toBe(true));
    act(() => ws.emit({ type: 'error', message: 'voice is not enabled for this call' }));
    expect(screen.getByRole('alert').textContent).toContain('Voice is not available: voice is not enabled for this call');
    await waitFor(() => expect(mic.track.stop).toHaveBeenCalled());
    fireEvent.click(screen.getByRole('button', { name: 'Try voice again' }));
    await waitFor(() => expect(ws.json().filter((m) => m.type === 'audio.start')).toHaveLength(2));
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('says when the connection is lost', async () => {
    const { ws } = await openCall();
    act(() => {
      ws.readyState = 3;
      ws.onclose?.({ wasClean: false });
    });
    expect(screen.getByRole('alert').textContent).toContain('The connection to the call was lost');
  });
});
