// Listening to a call: the listen URL from the API, the socket's listen.ready then frames to the
// player, a refusal and the end told (the call's end, a listener that fell behind, a lost
// connection), and nothing ever sent on the socket.
import { describe, expect, it, vi } from 'vitest';
import { listen, requestListen, type ListenPlayer } from '../listen';
import { ApiError, setAuthToken } from '../client';
import { installFakeApi } from '../../test/fakeApi';

class FakeSocket {
  static last: FakeSocket | null = null;
  binaryType = 'blob';
  sent: unknown[] = [];
  closed = false;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev?: { code: number }) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.last = this;
  }

  send(data: unknown): void {
    this.sent.push(data);
  }

  close(): void {
    this.closed = true;
    this.onclose?.();
  }

  receive(data: unknown): void {
    this.onmessage?.({ data });
  }
}

function fakePlayer() {
  const calls: string[] = [];
  const frames: ArrayBuffer[] = [];
  const player: ListenPlayer = {
    setFormat: (f) => calls.push(`format ${f.encoding} ${f.sample_rate}`),
    play: (frame) => frames.push(frame),
    stop: () => calls.push('stop'),
  };
  return { player, calls, frames };
}

const READY = JSON.stringify({ type: 'listen.ready', encoding: 'pcm_s16le', sample_rate: 8000, channels: 1, frame_ms: 20 });

describe('listening to a call', () => {
  it('asks the API for the listen URL of the session', async () => {
    const fake = installFakeApi({
      'POST /api/sessions/s%201/listen': [200, { listen_url: 'ws://bot/calls/s1/listen?token=1.2.3', expires_in: 60 }],
    });
    setAuthToken('tok');
    const got = await requestListen('s 1');
    expect(got).toEqual({ listen_url: 'ws://bot/calls/s1/listen?token=1.2.3', expires_in: 60 });
    expect(fake.calls[0]).toMatchObject({ method: 'POST', auth: 'Bearer tok' });
    setAuthToken(null);
  });

  it('an ended call is a 409 ApiError', async () => {
    installFakeApi({
      'POST /api/sessions/s1/listen': [409, { error: { code: 'call_not_in_progress', message: 'the call has ended' } }],
    });
    const err = await requestListen('s1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'call_not_in_progress' });
  });

  it('plays the frames that follow listen.ready, in its format, and sends nothing', () => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const { player, calls, frames } = fakePlayer();
    const onReady = vi.fn();
    listen('ws://bot/calls/s1/listen?token=t', player, { onReady });
    const ws = FakeSocket.last!;
    expect(ws.url).toBe('ws://bot/calls/s1/listen?token=t');
    expect(ws.binaryType).toBe('arraybuffer');
    ws.receive(new ArrayBuffer(320)); // before listen.ready: not audio yet
    ws.receive(READY);
    const a = new ArrayBuffer(320);
    const b = new ArrayBuffer(320);
    ws.receive(a);
    ws.receive(b);
    ws.receive('not json');
    expect(calls).toEqual(['format pcm_s16le 8000']);
    expect(onReady).toHaveBeenCalledWith({ encoding: 'pcm_s16le', sample_rate: 8000, channels: 1 });
    expect(frames).toEqual([a, b]);
    expect(frames[0]).toBe(a);
    expect(ws.sent).toEqual([]);
  });

  it('tells a refusal, and the end of the call, and stops the player', () => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const { player, calls } = fakePlayer();
    const onRefused = vi.fn();
    const onEnded = vi.fn();
    listen('ws://bot/x', player, { onRefused, onEnded });
    const ws = FakeSocket.last!;
    ws.receive(JSON.stringify({ type: 'error', message: 'not authorized to listen to this call' }));
    expect(onRefused).toHaveBeenCalledWith('not authorized to listen to this call');
    ws.onclose?.({ code: 1000 });
    expect(onEnded).toHaveBeenCalledTimes(1);
    expect(calls).toEqual(['stop']);
  });

  it.each([
    [1000, 'call_ended'],
    [1008, 'fell_behind'],
    [1006, 'lost'],
    [undefined, 'lost'],
  ])('tells why the socket closed by itself (code %s: %s)', (code, why) => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const onEnded = vi.fn();
    listen('ws://bot/x', fakePlayer().player, { onEnded });
    FakeSocket.last!.onclose?.(code === undefined ? undefined : { code });
    expect(onEnded.mock.calls).toEqual([[why]]);
  });

  it('stop closes the socket and is not told as an end', () => {
    vi.stubGlobal('WebSocket', FakeSocket);
    const { player, calls } = fakePlayer();
    const onEnded = vi.fn();
    const l = listen('ws://bot/x', player, { onEnded });
    l.stop();
    l.stop();
    expect(FakeSocket.last!.closed).toBe(true);
    expect(onEnded).not.toHaveBeenCalled();
    expect(calls.filter((c) => c === 'stop').length).toBeGreaterThanOrEqual(1);
  });
});
