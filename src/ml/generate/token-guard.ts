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
 * A guard for `tokenizer`. Masks are computed once per UTF-8 state (a handful of them) and
 * shared by every row and step that reaches it.
 */
export function createTokenGuard(tokenizer: Tokenizer): TokenGuard {
  const always = [...tokenizer.suppressIds];
  const plain = suppressTokens(always);
  if (!(tokenizer instanceof BpeTokenizer)) return () => plain;
  const byState = new Map<string, LogitsProcessor>();
  const suppressed = new Set(always);
  return (state) => {
    const key = utf8StateKey(state);
    let processor = byState.get(key);
    if (processor === undefined) {
      const banned = [...always];
      for (let id = 0; id < tokenizer.vocabSize; id++) {
        if (!suppressed.has(id) && utf8Advance(state, tokenizer.tokenBytes(id)) === undefined)
          banned.push(id);
      }
      processor = suppressTokens(banned);
      byState.set(key, processor);
    }
    return processor;
  };
}
