/**
 * UTF-8 as a state machine over bytes, for byte-level tokens: which token may follow the bytes
 * generated so far without breaking a character (see generate/token-guard.ts), and how much of
 * a token stream is complete text (see the streaming decoder in index.ts).
 */

/**
 * Where a byte stream stands: `need` continuation bytes still to come (0 at a character
 * boundary), the next of which must lie in [`lo`, `hi`] (narrower than 80..BF right after
 * E0, ED, F0 and F4, which rules out overlong forms, surrogates and code points past U+10FFFF).
 */
export interface Utf8State {
  readonly need: number;
  readonly lo: number;
  readonly hi: number;
  /**
   * The bytes of the unfinished character so far, one char per byte ('' at a boundary), where
   * the tracker keeps them: what a guard needs to allow only characters a corpus held.
   */
  readonly partial?: string | undefined;
}

/** The state at a character boundary. */
export const UTF8_BOUNDARY: Utf8State = Object.freeze({ need: 0, lo: 0x80, hi: 0xbf });

function expect(need: number, lo = 0x80, hi = 0xbf): Utf8State {
  return { need, lo, hi };
}

/** The state after `byte`, or undefined where `byte` makes the stream invalid UTF-8. */
export function utf8Step(state: Utf8State, byte: number): Utf8State | undefined {
  if (state.need > 0) {
    if (byte < state.lo || byte > state.hi) return undefined;
    return state.need === 1 ? UTF8_BOUNDARY : expect(state.need - 1);
  }
  if (byte <= 0x7f) return UTF8_BOUNDARY;
  if (byte >= 0xc2 && byte <= 0xdf) return expect(1);
  if (byte === 0xe0) return expect(2, 0xa0, 0xbf);
  if (byte === 0xed) return expect(2, 0x80, 0x9f);
  if (byte >= 0xe1 && byte <= 0xef) return expect(2);
  if (byte === 0xf0) return expect(3, 0x90, 0xbf);
  if (byte >= 0xf1 && byte <= 0xf3) return expect(3);
  if (byte === 0xf4) return expect(3, 0x80, 0x8f);
  // 80..BF without a lead byte, C0, C1 (overlong) and F5..FF never occur in UTF-8.
  return undefined;
}

/** The state after all of `bytes`, or undefined where they break the stream. */
export function utf8Advance(state: Utf8State, bytes: Uint8Array): Utf8State | undefined {
  let s: Utf8State | undefined = state;
  for (const byte of bytes) {
    s = utf8Step(s, byte);
    if (s === undefined) return undefined;
  }
  return s;
}

/** A key that tells states apart, for caches. */
export function utf8StateKey(state: Utf8State): string {
  return `${state.need}:${state.lo}:${state.hi}:${state.partial ?? ''}`;
}
