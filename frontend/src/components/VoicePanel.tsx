// The voice controls of a live call: the headset note, what the audio is doing, whether the bot
// hears the other party, the microphone's level, mute, and a DTMF keypad (click, or type the keys
// while it has focus).
import type { KeyboardEvent } from 'react';
import type { AudioState } from '../api/liveState';
import { DTMF_KEYS } from '../api/voice/dtmf';
import { SILENT_DB } from '../api/voice/pcm';
import { useLevel, type LevelStore } from '../api/voice/useVoice';

const KEY_NAMES: Record<string, string> = { '*': 'star', '#': 'pound' };
const METER_FLOOR = -60;

function formatName(a: AudioState): string {
  if (a.phase !== 'ready') return '';
  const f = a.format;
  const what = f.encoding === 'mulaw' ? `phone quality (μ-law ${f.sample_rate / 1000} kHz)` : `${f.sample_rate / 1000} kHz PCM`;
  const engines = [a.stt, a.tts].filter(Boolean).join(' / ');
  return engines ? `${what}, ${engines}` : what;
}

function Meter({ level, muted }: { level: LevelStore; muted: boolean }) {
  const db = useLevel(level);
  const shown = Math.max(METER_FLOOR, Math.min(0, Math.round(db)));
  const pct = ((shown - METER_FLOOR) / -METER_FLOOR) * 100;
  const text = muted ? 'muted' : db <= SILENT_DB ? 'silence' : `${shown} dBFS`;
  return (
    <div className="meter-row">
      <span className="meter-label" id="mic-level-label">
        Microphone
      </span>
      <div
        className={`meter${muted ? ' meter-muted' : ''}`}
        role="meter"
        aria-labelledby="mic-level-label"
        aria-valuemin={METER_FLOOR}
        aria-valuemax={0}
        aria-valuenow={shown}
        aria-valuetext={text}
      >
        <div className="meter-fill" style={{ width: `${pct}%` }} />
      </div>
      <span className="meter-value" aria-hidden="true">
        {text}
      </span>
    </div>
  );
}

interface Props {
  audio: AudioState;
  hearing: boolean;
  level: LevelStore;
  muted: boolean;
  buffered: number;
  disabled: boolean;
  onMute: (muted: boolean) => void;
  onKey: (key: string) => void;
  onRetry: () => void;
}

export function VoicePanel({ audio, hearing, level, muted, buffered, disabled, onMute, onKey, onRetry }: Props) {
  const live = audio.phase === 'ready' && !disabled;
  function onKeypadKey(e: KeyboardEvent<HTMLDivElement>) {
    if (disabled || e.ctrlKey || e.metaKey || e.altKey) return;
    if ((DTMF_KEYS as readonly string[]).includes(e.key)) {
      e.preventDefault();
      onKey(e.key);
    }
  }
  return (
    <div className="voice-panel" aria-label="Voice" role="region">
      <p className="voice-note">
        <strong>Use a headset.</strong> Through speakers the microphone picks up the agent, and the agent hears itself
        and stops mid-line.
      </p>
      {audio.phase === 'failed' ? (
        <div className="voice-failed">
          <p>Voice is off; the call goes on by typing.</p>
          <button type="button" className="btn btn-small" onClick={onRetry} disabled={disabled}>
            Try voice again
          </button>
        </div>
      ) : (
        <p className="voice-state" aria-live="polite">
          {audio.phase === 'off' && (disabled ? 'Voice starts once the call is connected.' : 'Starting the microphone…')}
          {audio.phase === 'starting' && 'Connecting the audio…'}
          {audio.phase === 'ready' && (
            <>
              <span className={`hearing${hearing ? ' hearing-on' : ''}`}>
                <span className="hearing-dot" aria-hidden="true" />
                {hearing ? 'Hearing you' : 'Listening'}
              </span>
              <span className="muted"> · {formatName(audio)}</span>
              {buffered > 0 && <span className="muted"> · agent audio {buffered} ms ahead</span>}
            </>
          )}
        </p>
      )}
      <Meter level={level} muted={muted} />
      <div className="voice-controls">
        <button
          type="button"
          className={`btn${muted ? ' btn-primary' : ''}`}
          aria-pressed={muted}
          disabled={!live}
          onClick={() => onMute(!muted)}
        >
          {muted ? 'Unmute' : 'Mute'}
        </button>
        <div className="keypad" role="group" aria-label="Keypad (type 0-9, * or # here)" onKeyDown={onKeypadKey}>
          {DTMF_KEYS.map((k) => (
            <button
              key={k}
              type="button"
              className="btn keypad-key"
              aria-label={`Key ${KEY_NAMES[k] ?? k}`}
              disabled={disabled}
              onClick={() => onKey(k)}
            >
              {k}
            </button>
          ))}
        </div>
      </div>
    </div>
  );
}
