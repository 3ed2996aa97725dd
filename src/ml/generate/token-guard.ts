/**
 * Keeps generated text clean for one row of a generation: a logits processor, per step, that
 * rules out the tokens that could only come out as garbage. Those are the tokenizer's
 * `suppressIds` (`<unk>`; bytes the training text never held, such as control characters), and
 * for byte-level bpe every token that would not continue the UTF-8 bytes generated so far
 * validly (it would decode to U+FFFD).
 */
import {
  BpeTokenizer,
  utf8Advance,
  utf8StateKey,
  type Tokenizer,
  type Utf8State,
} from '../tokenizers/index.js';
import { suppressTokens, type LogitsProcessor } from './logits.js';

/** Gives, for where a row's bytes stand, the processor that masks what must not follow. */
export type TokenGuard = (state: Utf8State) => LogitsProcessor;

/**
 * Whether `bytes`, after the unfinished character `partial` (one char per byte), spell only
 * characters of the alphabet: `prefixes` holds the UTF-8 prefixes of its characters, `whole`
 * their full encodings.
 */
function staysInAlphabet(
  partial: string,
  bytes: Uint8Array,
  prefixes: ReadonlySet<string>,
  whole: ReadonlySet<string>,
): boolean {
  let at = partial;
  for (const byte of bytes) {
    at += String.fromCharCode(byte);
    if (whole.has(at)) at = '';
    else if (!prefixes.has(at)) return false;
  }
  return true;
}

/**
 * A guard for `tokenizer`. Masks are computed once per UTF-8 state (a handful of them; with
 * an alphabet, one per unfinished character prefix seen) and shared by every row and step
 * that reaches it. A bpe tokenizer that recorded its corpus's alphabet allows only tokens that
 * keep the text within it: no character the corpus never held, however its bytes combine.
 */
export function createTokenGuard(tokenizer: Tokenizer): TokenGuard {
  const always = [...tokenizer.suppressIds];
  const plain = suppressTokens(always);
  if (!(tokenizer instanceof BpeTokenizer)) return () => plain;
  const byState = new Map<string, LogitsProcessor>();
  const suppressed = new Set(always);
  const prefixes = new Set<string>();
  const whole = new Set<string>();
  const encoder = new TextEncoder();
  for (const ch of tokenizer.alphabet ?? '') {
    const bytes = String.fromCharCode(...encoder.encode(ch));
    whole.add(bytes);
    for (let k = 1; k < bytes.length; k++) prefixes.add(bytes.slice(0, k));
  }
  const allowed = (state: Utf8State, bytes: Uint8Array): boolean =>
    tokenizer.alphabet === undefined
      ? utf8Advance(state, bytes) !== undefined
      : staysInAlphabet(state.partial ?? '', bytes, prefixes, whole);
  return (state) => {
    const key = utf8StateKey(state);
    let processor = byState.get(key);
    if (processor === undefined) {
      const banned = [...always];
      for (let id = 0; id < tokenizer.vocabSize; id++) {
        if (!suppressed.has(id) && !allowed(state, tokenizer.tokenBytes(id))) banned.push(id);
      }
      processor = suppressTokens(banned);
      byState.set(key, processor);
    }
    return processor;
  };
}
