import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { isRnnlmError } from '../../../../src/errors.js';
import {
  createStreamingDecoder,
  normalizeText,
  tokenizerFromJSON,
} from '../../../../src/ml/tokenizers/index.js';
import { WordTokenizer } from '../../../../src/ml/tokenizers/word.js';

const tokens = (tok: WordTokenizer, text: string): string[] =>
  tok.encode(text).map((id) => tok.tokenText(id));

const roundTrip = (text: string): string => {
  const tok = WordTokenizer.train(text);
  return tok.decode(tok.encode(text));
};

test('word gives back punctuation, quotes and brackets as written', () => {
  const text = 'don\'t stop, he said: "no" (ok).';
  assert.equal(roundTrip(text), text);
  const tok = WordTokenizer.train(text);
  assert.deepEqual(tokens(tok, text), [
    "don't",
    ' stop',
    ',',
    ' he',
    ' said',
    ':',
    ' "',
    'no',
    '"',
    ' (',
    'ok',
    ')',
    '.',
  ]);
});

test('word keeps emoji sequences, flags and combining marks whole', () => {
  const text = '👍🏽 🇯🇵 家族👨‍👩‍👧。 नमस्ते, Привет!';
  assert.equal(roundTrip(text), text);
  const tok = WordTokenizer.train(text);
  assert.deepEqual(tokens(tok, text), ['👍🏽', ' 🇯🇵', ' 家', '族', '👨‍👩‍👧', '。', ' नमस्ते', ',', ' Привет', '!']);
  // No token is a bare zero-width joiner, a modifier or half a flag.
  for (const t of tokens(tok, text)) assert.doesNotMatch(t, /^ ?(\u200d|\u{1F3FD}|\u{1F1EF})$/u);
});

test('word keeps runs of spaces, tabs and blank lines', () => {
  const text = 'the cat  sat on the mat .\n\tthe dog ran !\n\nthe end  \n';
  assert.equal(roundTrip(text), text);
  const tok = WordTokenizer.train(text);
  const ids = tok.encode('a b\n\nc\nd');
  assert.deepEqual(
    ids.filter((id) => id === tok.eosId),
    [tok.eosId, tok.eosId, tok.eosId],
  );
  assert.deepEqual(tok.boundaryIds, [tok.eosId]);
});

test('word reads a corpus’s own <unk> and <eos> markers as the special tokens', () => {
  const text = 'the <unk> sat on the <unk> .<eos>the end\n';
  const tok = WordTokenizer.train(text);
  const ids = tok.encode(text);
  assert.equal(ids.filter((id) => id === tok.unkId).length, 2);
  assert.equal(ids.filter((id) => id === tok.eosId).length, 2);
  assert.ok(!tok.toJSON().vocab.some((w) => w.includes('unk') && w !== '<unk>'));
  assert.ok(!tok.toJSON().vocab.includes('<'));
  assert.equal(tok.decode(tok.encode('the <unk> sat')), 'the <unk> sat');
  // WikiText's lines: a space first, markers spaced like words.
  const wiki = ' = Valkyria <unk> = \n <unk> are mostly the <unk> , <unk> .\n';
  assert.equal(WordTokenizer.train(wiki).decode(WordTokenizer.train(wiki).encode(wiki)), wiki);
});

test('word maps out-of-vocabulary words to <unk>, spaced as the word was', () => {
  const tok = WordTokenizer.train('the cat sat');
  const ids = tok.encode('the zebra sat');
  assert.equal(ids[1], tok.unkId);
  assert.equal(tok.decode(ids), 'the <unk> sat');
});

test('word normalises CRLF, CR, a BOM and NFC before it reads, and records it', () => {
  const tok = WordTokenizer.train('\uFEFFcafe\u0301 one\r\ntwo\rthree\r\n');
  assert.ok(!tok.toJSON().vocab.some((w) => w.includes('\r') || w.includes('\uFEFF')));
  assert.deepEqual(tok.encode('café one\ntwo\nthree\n'), tok.encode('cafe\u0301 one\r\ntwo\rthree\r\n'));
  assert.equal(tok.toJSON().normalize, 'nfc-lf');
  assert.equal(tok.toJSON().version, 2);
});

test('word orders the vocabulary by frequency with ties in order of first occurrence', () => {
  const tok = WordTokenizer.train('b a c a c d');
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', ' a', ' c', 'b', ' d']);
});

test('word minFrequency leaves rare words out of the vocabulary', () => {
  const tok = WordTokenizer.train('a a a b b c', { minFrequency: 2 });
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', ' a', ' b']);
  assert.equal(tok.encode(' c')[0], tok.unkId);
});

test('word vocabSize caps the vocabulary, specials included, keeping the most frequent', () => {
  const tok = WordTokenizer.train(' a a a b b c d', { vocabSize: 4 });
  assert.equal(tok.vocabSize, 4);
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', ' a', ' b']);
  assert.deepEqual(tok.encode(' a b c d'), [2, 3, 0, 0]);
});

test('word lowercase folds case at training and at encoding time', () => {
  const tok = WordTokenizer.train('The the THE cat', { lowercase: true });
  assert.deepEqual(tok.toJSON().vocab, ['<unk>', '<eos>', ' the', 'the', ' cat']);
  assert.deepEqual(tokens(tok, ' CAT The'), [' cat', ' the']);
  const cased = WordTokenizer.train('The the cat');
  assert.equal(cased.encode('THE')[0], cased.unkId);
});

test('word rejects a bad vocabSize or minFrequency with RNNLM_INVALID_CONFIG', () => {
  for (const options of [{ vocabSize: 1 }, { vocabSize: 2.5 }, { minFrequency: 0 }, { minFrequency: NaN }]) {
    assert.throws(
      () => WordTokenizer.train('a b', options),
      (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG'),
    );
  }
});

test('a word tokenizer saved before version 2 splits and decodes exactly as before', () => {
  const old = tokenizerFromJSON({
    type: 'word',
    vocab: ['<unk>', '<eos>', 'the', 'cat', 'sat', '.', "don't", ',', '<', 'unk', '>', '\r'],
    lowercase: false,
  });
  const text = "the cat  sat .\n\tthe <unk> cat , don't\r\nsat";
  assert.equal(old.decode(old.encode(text)), "the cat sat .\nthe < unk > cat , don't\nsat");
  assert.deepEqual(old.toJSON(), {
    type: 'word',
    vocab: ['<unk>', '<eos>', 'the', 'cat', 'sat', '.', "don't", ',', '<', 'unk', '>', '\r'],
    lowercase: false,
  });
  const stream = createStreamingDecoder(old, { after: 'the' });
  assert.equal(
    old
      .encode('cat sat')
      .map((id) => stream.push(id))
      .join(''),
    ' cat sat',
  );
});

test('the streaming decoder of a version-2 word tokenizer gives what decode gives', () => {
  const text = 'the <unk> sat,\n  "on" the mat.';
  const tok = WordTokenizer.train('the sat, "on" mat. x');
  const ids = tok.encode(text);
  const stream = createStreamingDecoder(tok, { after: 'x' });
  assert.equal(ids.map((id) => stream.push(id)).join('') + stream.flush(), tok.decode(ids));
});

/** Text of words, punctuation, emoji sequences, CJK, combining marks and whitespace. */
const pieces = fc.constantFrom(
  'the',
  'Cat',
  "don't",
  'naïve',
  'cafe\u0301',
  'e\u0301\u0323',
  'Привет',
  'नमस्ते',
  '家族',
  'テスト',
  '👍🏽',
  '🇯🇵',
  '👨‍👩‍👧',
  '\u200d',
  ',',
  '.',
  '"',
  '(',
  ')',
  '—',
  '...',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '\uFEFF',
  '42',
  "'",
  '’',
);
const prose = fc.array(fc.oneof(pieces, fc.string({ unit: 'grapheme', maxLength: 6 })), { maxLength: 40 });

test('property: a word tokenizer gives back the normalised text it was trained on', () => {
  fc.assert(
    fc.property(prose, (parts) => {
      const text = parts.join('').replaceAll(/<unk>|<eos>/g, '');
      assert.equal(roundTrip(text), normalizeText(text, 'nfc-lf'));
    }),
    { numRuns: 300 },
  );
});

test('property: any text its vocabulary covers round-trips, whatever else it was trained on', () => {
  fc.assert(
    fc.property(prose, prose, (a, b) => {
      const covered = a.join('').replaceAll(/<unk>|<eos>/g, '');
      const tok = WordTokenizer.train(`${covered}\n${b.join('')}`);
      const ids = tok.encode(covered);
      if (ids.includes(tok.unkId)) return;
      assert.equal(tok.decode(ids), normalizeText(covered, 'nfc-lf'));
    }),
    { numRuns: 200 },
  );
});
