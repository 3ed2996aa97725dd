/**
 * How a version-2 word tokenizer cuts text: into tokens that concatenate back to it, line
 * breaks aside (they are `<eos>`), with a corpus's own `<unk>` and `<eos>` markers read as the
 * special tokens.
 */

/** The special tokens' text, as corpora such as WikiText write them. */
const SPECIAL = /<unk>|<eos>/g;
/** A grapheme that starts a word: letters, digits, marks. */
const WORDLIKE = /^[\p{L}\p{N}\p{M}]/u;
/** Scripts written without spaces between words: each grapheme is a token of its own. */
const UNSPACED = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const APOSTROPHE = /^['’]$/u;
const WHITESPACE = /^\s/u;
const ASCII = /^[\x20-\x7e\t]*$/;

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The grapheme clusters of `text`: an emoji ZWJ sequence, a flag or a letter with its marks is one. */
function clusters(text: string): string[] {
  // Printable ASCII has no multi-character clusters; the segmenter is the slow part of a corpus.
  if (ASCII.test(text)) return text.split('');
  return Array.from(graphemes.segment(text), (s) => s.segment);
}

const inWord = (g: string | undefined): boolean => g !== undefined && WORDLIKE.test(g) && !UNSPACED.test(g);

/**
 * The units of one stretch of a line: whitespace clusters, words (runs of word clusters,
 * with an apostrophe allowed between two of them: "don't"), and every other cluster alone.
 */
function units(text: string): string[] {
  const g = clusters(text);
  const out: string[] = [];
  let i = 0;
  while (i < g.length) {
    if (!inWord(g[i])) {
      out.push(g[i] as string);
      i++;
      continue;
    }
    let j = i + 1;
    for (;;) {
      if (inWord(g[j])) j++;
      else if (APOSTROPHE.test(g[j] ?? '') && inWord(g[j + 1])) j += 2;
      else break;
    }
    out.push(g.slice(i, j).join(''));
    i = j;
  }
  return out;
}

/**
 * Appends the tokens of one line (no '\n' in it) to `out`. A single space before a word or a
 * symbol goes into its token (" the"); any other whitespace is a token as written. A `<unk>`
 * or `<eos>` marker carries no space: decoding puts one before `<unk>` after a non-space, so
 * the space before a marker there is dropped, and kept as a token of its own elsewhere.
 */
function splitLine(line: string, out: string[]): void {
  const first = out.length;
  let space = '';
  const pushSpace = (): void => {
    if (space !== '') out.push(space);
    space = '';
  };
  const stretch = (text: string): void => {
    for (const unit of units(text)) {
      if (WHITESPACE.test(unit)) {
        space += unit;
      } else if (space.endsWith(' ')) {
        space = space.slice(0, -1);
        pushSpace();
        out.push(` ${unit}`);
      } else {
        pushSpace();
        out.push(unit);
      }
    }
  };
  let last = 0;
  for (const match of line.matchAll(SPECIAL)) {
    stretch(line.slice(last, match.index));
    const before = out.length > first ? out.at(-1)?.at(-1) : undefined;
    if (space.endsWith(' ') && before !== undefined && !WHITESPACE.test(before)) space = space.slice(0, -1);
    pushSpace();
    out.push(match[0]);
    last = match.index + match[0].length;
  }
  stretch(line.slice(last));
  pushSpace();
}

/** The tokens of `text`, with `<eos>` for each '\n'. */
export function splitSpaced(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    splitLine(line, out);
    if (i < lines.length - 1) out.push('<eos>');
  });
  return out;
}
