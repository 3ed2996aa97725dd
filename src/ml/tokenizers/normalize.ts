/**
 * The one normalisation every text goes through before a tokenizer that records it reads it:
 * corpora for training, prompts for generation, texts for scoring. A corpus saved on Windows
 * and the same corpus saved on Linux become the same tokens; so do a precomposed "é" and "e"
 * followed by a combining accent.
 */

/**
 * The normalisations a tokenizer can record: `nfc-lf` drops a leading byte-order mark, turns
 * CRLF and lone CR into LF and applies Unicode NFC. A tokenizer without one (saved before it
 * was recorded) reads text as it comes.
 */
export type Normalization = 'nfc-lf';

/** What tokenizers trained from now on record. */
export const CURRENT_NORMALIZATION: Normalization = 'nfc-lf';

/** `text` as a tokenizer recording `normalization` reads it; idempotent. */
export function normalizeText(text: string, normalization: Normalization | undefined): string {
  if (normalization === undefined) return text;
  return text
    .replace(/^\uFEFF+/, '')
    .replace(/\r\n?/g, '\n')
    .normalize('NFC');
}
