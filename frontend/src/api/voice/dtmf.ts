// DTMF keys and their tone pairs (ITU-T Q.23): the keypad sends {"type":"dtmf"} and plays the
// pair locally so the key press is heard.
export const DTMF_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'] as const;

const ROWS = [697, 770, 852, 941];
const COLS = [1209, 1336, 1477, 1633];
const LAYOUT = ['123A', '456B', '789C', '*0#D'];

/** The [low, high] frequencies of a key, or null for anything that is not one. */
export function dtmfTones(key: string): [number, number] | null {
  for (let r = 0; r < LAYOUT.length; r++) {
    const c = LAYOUT[r].indexOf(key.toUpperCase());
    if (key.length === 1 && c >= 0) return [ROWS[r], COLS[c]];
  }
  return null;
}
