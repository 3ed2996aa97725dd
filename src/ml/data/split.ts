import { errors } from '../../errors.js';

/** How far (as a share of the validation length) the cut may move forward to reach a line start. */
const LINE_SNAP_SHARE = 0.1;

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** UTF-16 width (1 or 2) of the code point that starts at `index`. */
function widthAt(text: string, index: number): number {
  return isHighSurrogate(text.charCodeAt(index)) && isLowSurrogate(text.charCodeAt(index + 1)) ? 2 : 1;
}

/**
 * Number of Unicode code points in `text`, the unit bits-per-character is measured in. A lone
 * surrogate counts as one, as it does for `Array.from(text)`; counting by hand avoids building
 * that array for a whole corpus.
 */
export function countCodePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i += widthAt(text, i)) count++;
  return count;
}

/** UTF-16 index of the code point `count` code points before the end of `text`. */
function indexFromEnd(text: string, count: number): number {
  let index = text.length;
  for (let k = 0; k < count; k++) {
    const pair =
      index >= 2 && isLowSurrogate(text.charCodeAt(index - 1)) && isHighSurrogate(text.charCodeAt(index - 2));
    index -= pair ? 2 : 1;
  }
  return index;
}

/**
 * The first line start at or after `from` that is at most `maxShift` code points away and
 * leaves text after it, or `from` itself when there is none.
 */
function snapToLineStart(text: string, from: number, maxShift: number): number {
  let index = from;
  for (let shift = 0; shift <= maxShift && index < text.length; shift++) {
    if (index === 0 || text.charCodeAt(index - 1) === 0x0a) return index;
    index += widthAt(text, index);
  }
  return from;
}

/**
 * Splits a corpus into train and validation text. Validation is the last `fraction` of the
 * text by code points (rounded), so it is held out from the end rather than sampled, which
 * keeps both parts contiguous streams. The cut moves forward to the next line start when one
 * lies within 10% of the validation length, so no line is split between the two parts.
 *
 * @param fraction - share of the text held out, in (0, 0.5].
 * @throws RnnlmError RNNLM_INVALID_CONFIG when `fraction` is out of range.
 * @throws RnnlmError RNNLM_CORPUS_TOO_SMALL when either part would be empty.
 */
export function splitText(text: string, fraction: number): { train: string; validation: string } {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 0.5) {
    throw errors.outOfRange('validationFraction', 'must be in (0, 0.5]', fraction);
  }
  const total = countCodePoints(text);
  const validationLength = Math.round(total * fraction);
  const cut = snapToLineStart(
    text,
    indexFromEnd(text, validationLength),
    Math.floor(validationLength * LINE_SNAP_SHARE),
  );
  const train = text.slice(0, cut);
  const validation = text.slice(cut);
  if (train.length === 0 || validation.length === 0) {
    throw errors.tooSmallToSplit(total, fraction);
  }
  return { train, validation };
}
