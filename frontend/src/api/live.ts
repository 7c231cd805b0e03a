// The live test call: a WebSocket to `sova bot` at the live_url the API handed out
// (POST /api/patients/{id}/calls). In: {"type":"say","text"} and {"type":"hangup"}; in a voice
// call also audio.start, dtmf, mute and binary audio frames. Out: transcript, status, event and
// error messages, audio.ready / audio.clear / speech and binary audio (docs/live-protocol.md).
// A phone call's socket only watches: the bot answers anything sent on it with an error.
import type { LiveClientMessage, LiveMessage } from './types';

/** The codes of an ended call's statuses (the platform's vocabulary). */
export { TERMINAL_STATUSES } from '../schema/fields';

export interface LiveHandlers {
  onMessage: (msg: LiveMessage) => void;
  /** A binary frame: the agent's audio in the format audio.ready named. */
  onAudio?: (frame: ArrayBuffer) => void;
  onOpen?: () => void;
  /** The socket closed; `clean` when the bot closed it normally (the call ended). */
  onClose?: (clean: boolean) => void;
}

export interface LiveConnection {
  say: (text: string) => boolean;
  hangup: () => boolean;
  send: (msg: LiveClientMessage) => boolean;
  /** One binary frame of the other party's audio. */
  sendAudio: (frame: ArrayBuffer) => boolean;
  close: () => void;
  readonly isOpen: boolean;
}

function parse(data: unknown): LiveMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const v = JSON.parse(data) as { type?: unknown };
    if (v && typeof v === 'object' && typeof v.type === 'string') return v as LiveMessage;
  } catch {
    // not JSON: ignored
  }
  return null;
}

export function connectLive(url: string, handlers: LiveHandlers): LiveConnection {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let closedByUs = false;
  ws.onopen = () => handlers.onOpen?.();
  ws.onmessage = (ev) => {
    if (ev.data instanceof ArrayBuffer) {
      handlers.onAudio?.(ev.data);
      return;
    }
    const msg = parse(ev.data);
    if (msg) handlers.onMessage(msg);
  };
  ws.onclose = (ev) => {
    if (!closedByUs) handlers.onClose?.(ev.wasClean);
  };
  const send = (obj: LiveClientMessage) => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  };
  return {
    say: (text) => send({ type: 'say', text }),
    hangup: () => send({ type: 'hangup' }),
    send,
    sendAudio: (frame) => {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(frame);
      return true;
    },
    close: () => {
      closedByUs = true;
      ws.close();
    },
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
  };
}

// The live_url carries a short-lived token: kept per browser tab so a reload can reconnect. A phone
// call's is kept marked as one, so the reloaded page opens watching (it never offers to take part).
const KEY = (sessionId: string) => `sova.live.${sessionId}`;
const WATCH_KEY = (sessionId: string) => `sova.live.${sessionId}.watch`;

export function rememberLiveUrl(sessionId: string, url: string, watchOnly = false): void {
  try {
    sessionStorage.setItem(KEY(sessionId), url);
    if (watchOnly) sessionStorage.setItem(WATCH_KEY(sessionId), '1');
  } catch {
    // storage unavailable: a reload will show the session instead
  }
}

export function recallLiveUrl(sessionId: string): string | null {
  try {
    return sessionStorage.getItem(KEY(sessionId));
  } catch {
    return null;
  }
}

/** The call at this live_url is a phone call: the page watches it. */
export function recallWatchOnly(sessionId: string): boolean {
  try {
    return sessionStorage.getItem(WATCH_KEY(sessionId)) === '1';
  } catch {
    return false;
  }
}
